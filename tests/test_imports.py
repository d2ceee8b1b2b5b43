"""The import contract (DESIGN.md): the deciding layers do no I/O and read no clock
or randomness, no layer below ``runtime`` imports the wiring, and no module
imports another that (directly or not) imports it back.

Checked on the source (AST), so an import inside a function or under
``TYPE_CHECKING`` counts like one at the top, and again by importing the pure
modules in a fresh interpreter and looking at ``sys.modules`` (that catches what a
third-party or standard module would pull in; ``time`` is left to the AST check
because the interpreter itself loads it at start-up).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("b2bua", "dialplan")

# the deciding layers: packages (every module in them) and single modules
PURE_PACKAGES = ("b2bua.sip", "b2bua.calls", "b2bua.media", "dialplan")
PURE_MODULES = ("b2bua.billing.rating", "b2bua.billing.cdr", "b2bua.billing.credit", "b2bua.billing.reports")
FORBIDDEN = frozenset({"asyncio", "socket", "sqlite3", "asyncpg", "time", "random"})
# the shell: what the deciding layers must not import
SHELL = ("b2bua.runtime", "b2bua.transport", "b2bua.web")
# the HTTP side (portal, metrics) sits on top: no layer below the wiring imports it
BELOW_WEB = ("b2bua.sip", "b2bua.calls", "b2bua.billing", "b2bua.transport", "b2bua.media", "dialplan")

# Known layering leak being removed: Route.trunk is a runtime TrunkConfig.  The
# integrator deletes this entry when calls/routing.py has routing types of its own.
KNOWN_LEAKS: set[tuple[str, str]] = set()  # none: the call layer imports no runtime


def module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = module_files()


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (never run: annotations only)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imported_names(name: str, path: Path, *, annotations: bool = True) -> set[str]:
    """Every module ``name`` imports anywhere in its source (absolute names; for
    ``from X import Y`` both X and X.Y, since Y may be a submodule); without
    ``annotations``, imports under ``if TYPE_CHECKING:`` are left out."""
    tree = ast.parse(path.read_text(), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    skip = set() if annotations else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out.add(source)
            out.update(f"{source}.{alias.name}" for alias in node.names)
    return out


IMPORTS = {name: imported_names(name, path) for name, path in MODULES.items()}
GRAPH = {name: {m for m in names if m in MODULES and m != name} for name, names in IMPORTS.items()}
# what runs: a module and its classes may name each other in annotations
# (``if TYPE_CHECKING:``), which is no import cycle
RUNTIME_GRAPH = {
    name: {m for m in imported_names(name, path, annotations=False) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def is_pure(name: str) -> bool:
    return name in PURE_MODULES or any(name == p or name.startswith(p + ".") for p in PURE_PACKAGES)


def reachable(start: str) -> set[str]:
    """Project modules ``start`` imports, directly or through other project modules."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for dep in GRAPH[node]:
            if dep not in seen and (node, dep) not in KNOWN_LEAKS:
                seen.add(dep)
                todo.append(dep)
    return seen


PURE = sorted(name for name in MODULES if is_pure(name))


def test_the_contract_covers_the_pure_layers() -> None:
    assert {"b2bua.sip.endpoint", "b2bua.calls.events", "dialplan.policy", "b2bua.billing.cdr"} <= set(PURE)
    assert all(m in MODULES for m in PURE_MODULES)


def violations(name: str, edges: dict[str, set[str]], bad: Callable[[str], bool]) -> list[str]:
    """``mod imports dep`` for every module ``name`` reaches whose import is ``bad``."""
    return sorted(
        f"{mod} imports {dep}"
        for mod in {name} | reachable(name)
        for dep in edges[mod]
        if bad(dep) and (mod, dep) not in KNOWN_LEAKS
    )


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io_clock_or_randomness(name: str) -> None:
    assert not violations(name, IMPORTS, lambda dep: dep.split(".")[0] in FORBIDDEN)


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_not_import_the_shell(name: str) -> None:
    assert not violations(name, GRAPH, lambda dep: dep.startswith(SHELL))


MEDIA = sorted(name for name in MODULES if name == "b2bua.media" or name.startswith("b2bua.media."))


def test_the_contract_covers_the_media_layer() -> None:
    assert {"b2bua.media.rtp", "b2bua.media.rfc4733", "b2bua.media.g711"} <= set(MEDIA) <= set(PURE)


@pytest.mark.parametrize("name", MEDIA)
def test_media_imports_only_the_standard_library_msgspec_and_itself(name: str) -> None:
    """The media core stands alone: no other project layer (not even the SIP
    core), no third-party package but msgspec."""

    def allowed(dep: str) -> bool:
        top = dep.split(".")[0]
        if top in PACKAGES:
            return dep == "b2bua.media" or dep.startswith("b2bua.media.")
        return top in sys.stdlib_module_names or top in ("msgspec", "__future__")

    assert sorted(dep for dep in IMPORTS[name] if not allowed(dep)) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(BELOW_WEB)))
def test_lower_layers_do_not_import_the_web(name: str) -> None:
    assert not violations(name, GRAPH, lambda dep: dep.startswith("b2bua.web"))


def test_the_web_contract_covers_the_web_package() -> None:
    assert "b2bua.web.http" in MODULES and "b2bua.billing.writer" in MODULES


def test_pure_modules_load_no_io_modules_when_imported() -> None:
    """All pure modules in one fresh interpreter: none drags in an I/O module."""
    checked = sorted(FORBIDDEN - {"time"})
    code = (
        "import importlib, sys\n"
        f"for name in {PURE!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(m for m in {checked!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"loaded by importing the pure layers: {proc.stdout.strip()}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, deps = work[-1]
            for dep in deps:
                if dep not in index:
                    index[dep] = low[dep] = len(index)
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, iter(sorted(graph[dep]))))
                    break
                if dep in on_stack:
                    low[node] = min(low[node], index[dep])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


MEDIA = sorted(name for name in MODULES if name == "b2bua.media" or name.startswith("b2bua.media."))


@pytest.mark.parametrize("name", MEDIA)
def test_media_imports_only_the_standard_library_msgspec_and_itself(name: str) -> None:
    """The media layer stands alone: the standard library, msgspec and its own
    modules (so the call layer and the runtime can use it, never the reverse)."""
    outside = sorted(
        dep
        for dep in IMPORTS[name]
        if dep
        and not dep.startswith("b2bua.media")
        and dep.split(".")[0] not in sys.stdlib_module_names
        and dep.split(".")[0] not in ("msgspec", "__future__")
    )
    assert not outside, f"{name} imports {outside}"


def test_media_is_covered() -> None:
    assert {"b2bua.media.tones", "b2bua.media.dtmf", "b2bua.media.collector", "b2bua.media.prompt"} <= set(MEDIA)


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_anywhere() -> None:
    assert cycles(RUNTIME_GRAPH) == []


def test_annotation_only_imports_are_told_apart() -> None:
    assert "b2bua.calls.leg" in GRAPH["b2bua.calls.call"]  # Call's legs are typed as Leg
    assert "b2bua.calls.leg" not in RUNTIME_GRAPH["b2bua.calls.call"]


def test_function_local_imports_are_seen() -> None:
    """The graph sees imports in function bodies (the way cycles used to hide)."""
    names = imported_names("b2bua.runtime.cli", MODULES["b2bua.runtime.cli"])
    assert "b2bua.runtime.server" in names  # imported inside cmd_serve
