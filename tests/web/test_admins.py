"""Administrators (b2bua.runtime.admins, ``b2bua admin``), sessions and login
throttling (b2bua.web.sessions), clock-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from b2bua.runtime.admins import Admin, AdminError, AdminStore, hash_password, verify_password
from b2bua.web.sessions import LoginGuard, Sessions
from tests.conftest import AdminBackend


@pytest.fixture
def store(admin_backend: AdminBackend) -> AdminStore:
    return AdminStore(admin_backend.open())


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b and a.startswith("scrypt$") and "correct" not in a
    assert verify_password("correct horse battery", a) and not verify_password("wrong horse battery", a)
    assert not verify_password("x", "garbage") and not verify_password("x", "md5$1$00$00")


def test_roles_and_checks(store: AdminStore) -> None:
    store.add("root", "a long password")
    store.add("sales-admin", "another long one", group="sales")
    assert store.list() == [Admin(name="root", role="system"), Admin(name="sales-admin", role="group", group="sales")]
    assert store.check("root", "a long password") == Admin(name="root", role="system")
    assert store.check("root", "a wrong password") is None and store.check("nobody", "a long password") is None
    sales = store.get("sales-admin")
    assert sales is not None and sales.may_manage("sales") and not sales.may_manage("default")
    store.remove("sales-admin")
    assert store.get("sales-admin") is None
    with pytest.raises(AdminError, match="no administrator"):
        store.remove("sales-admin")


def test_the_last_system_administrator_is_kept(store: AdminStore) -> None:
    store.add("root", "a long password")
    store.add("sales-admin", "another long one", group="sales")
    with pytest.raises(AdminError, match="last system administrator"):
        store.remove("root", keep_system=True)
    store.remove("sales-admin", keep_system=True)  # a group administrator may go
    store.add("deputy", "a third long one")
    store.remove("root", keep_system=True)
    assert [a.name for a in store.list()] == ["deputy"]
    store.set_password("deputy", "a changed password")
    assert store.check("deputy", "a changed password") is not None and store.check("deputy", "a third long one") is None
    with pytest.raises(AdminError, match="at least 10"):
        store.set_password("deputy", "short")


@pytest.mark.parametrize("name, password, group, message", [
    ("root", "short", None, "at least 10"),
    ("bad name", "a long password", None, "a name is"),
    ("<b>", "a long password", None, "a name is"),
    ("x", "a long password", " ", "cannot be empty"),
])
def test_bad_admins_are_refused(store: AdminStore, name: str, password: str, group: str | None, message: str) -> None:
    with pytest.raises(AdminError, match=message):
        store.add(name, password, group=group)


def test_the_table_stores_no_password(store: AdminStore) -> None:
    store.add("root", "a long password")
    raw = store.db.execute("SELECT * FROM admins").fetchall()
    assert "a long password" not in repr(raw)
    with pytest.raises(AdminError, match="exists already"):
        store.add("root", "a long password")


def _cli(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", "admin", *args], input=stdin, cwd=tmp,
                          capture_output=True, text=True, timeout=60)


def test_cli(tmp_path: Path) -> None:
    assert _cli(tmp_path, "add", "root", "--password-stdin", stdin="a long password\n").returncode == 0
    cfg = tmp_path / "groups.toml"
    cfg.write_text('[groups.sales]\nmode = "optional"\n')
    bad = _cli(tmp_path, "add", "x", "--group", "nope", "--config", str(cfg), "--password-stdin", stdin="a long password\n")
    assert bad.returncode == 1 and "not defined" in bad.stderr
    ok = _cli(tmp_path, "add", "s", "--group", "sales", "--config", str(cfg), "--password-stdin", stdin="a long password\n")
    assert ok.returncode == 0 and "group sales" in ok.stdout
    listed = _cli(tmp_path, "list")
    assert "root" in listed.stdout and "long password" not in listed.stdout
    assert _cli(tmp_path, "remove", "root").returncode == 0
    assert _cli(tmp_path, "remove", "root").returncode == 1
    short = _cli(tmp_path, "add", "y", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "short" not in short.stderr


def test_sessions_expire_idle_and_at_most() -> None:
    ids = iter(f"t{i}" for i in range(100))
    sessions = Sessions(idle=60, max_age=300, max_sessions=2, token=lambda: next(ids))
    root = Admin(name="root", role="system")
    s = sessions.create(root, 0.0)
    assert s.id != s.csrf and s.csrf_ok(s.csrf) and not s.csrf_ok("") and not s.csrf_ok(None)
    assert sessions.get(s.id, 59.0) is s and sessions.get(s.id, 118.0) is s  # each use renews the idle time
    assert sessions.get(s.id, 179.0) is None  # idle
    t = sessions.create(root, 0.0)
    for now in range(50, 300, 50):
        assert sessions.get(t.id, float(now)) is t
    assert sessions.get(t.id, 301.0) is None  # at most max_age
    a, b, c = (sessions.create(root, 0.0) for _ in range(3))
    assert sessions.get(a.id, 1.0) is None and len(sessions) == 2  # least recently used ended
    sessions.end_admin("root")
    assert len(sessions) == 0


def test_login_guard_locks_name_and_address() -> None:
    guard = LoginGuard(max_failures=3, address_max_failures=5, window=60, lockout=120)
    assert not any(guard.failed("root", "192.0.2.1", 1.0) for _ in range(2))
    assert guard.failed("root", "192.0.2.1", 2.0)
    assert guard.locked("ROOT", "192.0.2.9", 3.0)  # the name, from anywhere
    assert not guard.locked("other", "192.0.2.9", 3.0)
    assert not guard.locked("root", "192.0.2.1", 123.0)  # lock over
    for name in ("a", "b", "c", "d", "e"):
        guard.failed(name, "198.51.100.7", 200.0)
    assert guard.locked("f", "198.51.100.7", 201.0)  # the address, whatever name
    assert guard.lockouts == 2 and guard.failures == 8
