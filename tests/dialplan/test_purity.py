"""dialplan/ is pure policy: no SIP objects, no I/O, no clock, no randomness (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import dialplan

ALLOWED = {"__future__", "collections", "dataclasses", "datetime", "enum", "typing", "msgspec", "dialplan"}


def test_dialplan_imports_only_pure_modules() -> None:
    package = Path(dialplan.__file__).parent
    found: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {node.module or ""}
            else:
                continue
            found.setdefault(path.name, set()).update(n.split(".")[0] for n in names)
    bad = {name: mods - ALLOWED for name, mods in found.items() if mods - ALLOWED}
    assert not bad, bad
