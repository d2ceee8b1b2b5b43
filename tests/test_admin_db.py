"""The administrative database's connection interface (b2bua.runtime.admin_db) on
SQLite and PostgreSQL: parameters, the version counter, transactions, and the
answer to a database that cannot be reached."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import pytest

from b2bua.runtime.admin_db import PG_MIGRATIONS, numbered, open_admin_db
from b2bua.runtime.admin_schema import upsert
from b2bua.runtime.admins import AdminStore
from b2bua.runtime.audit import AuditLog
from b2bua.runtime.authcodes import AuthCodeStore
from b2bua.runtime.codes import CodeStore, code_from_fields
from b2bua.runtime.config import ConfigError, ServerConfig, loads
from b2bua.runtime.store import StoreError
from tests.conftest import AdminBackend

NOWHERE = "postgresql://postgres:hunter2-secret@127.0.0.1:9/none"  # port 9: nothing listens


def test_placeholders_outside_literals_only() -> None:
    sql = "SELECT '?', \"a?b\", ?, 'it''s ?%', ? WHERE x LIKE '%?'"
    assert numbered(sql) == "SELECT '?', \"a?b\", $1, 'it''s ?%', $2 WHERE x LIKE '%?'"


def test_literals_with_percent_and_question_marks_on_both_engines(admin_backend: AdminBackend) -> None:
    db = admin_backend.open()
    assert tuple(db.execute("SELECT '%s?', ?, '%%', ?", ("a%b?", 7)).fetchone()) == ("%s?", "a%b?", "%%", 7)


def test_every_change_the_server_follows_bumps_the_version(admin_backend: AdminBackend) -> None:
    db = admin_backend.open()
    other = admin_backend.open()  # a change made by another process counts as well
    seen = [db.version()]

    def moved() -> bool:
        seen.append(db.version())
        return seen[-1] > seen[-2]

    codes = CodeStore(other)
    codes.add("g", code_from_fields({"code": "4711"}))
    assert moved()
    codes.set_active("g", "4711", False)
    assert moved()
    auth = AuthCodeStore(other)
    n = auth.add("13572468", "Reception")  # the salt (meta) and the code
    assert moved()
    auth.set_active(n, False)
    assert moved()
    other.execute("DELETE FROM account_codes")
    assert moved()
    AuditLog(other).record("root", "code.add", "***11")  # read where used: no reload for it
    AdminStore(other).add("root", "a long password")
    assert not moved()


def test_upsert_replaces_and_a_failed_transaction_leaves_nothing(admin_backend: AdminBackend) -> None:
    db = admin_backend.open()
    sql = upsert("meta", ("key", "value"), ("key",))
    db.execute(sql, ("k", "1"))
    db.execute(sql, ("k", "2"))
    assert db.execute("SELECT value FROM meta WHERE key = ?", ("k",)).fetchall() == [("2",)]
    with pytest.raises(db.IntegrityError):
        with db.transaction():
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("a", "1"))
            with db.transaction():  # nested: part of the same transaction
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", "3"))
    assert db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", ("a", "k")).fetchall() == [("k", "2")]
    assert db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                          [("k", "x"), ("b", "1"), ("c", "1")]) == 2


def test_processes_starting_at_once_migrate_once(fresh_schema: str, tmp_path: Path) -> None:
    server = ServerConfig(data_dir=str(tmp_path), database=fresh_schema)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_admin_db(server).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = open_admin_db(server)
    rows = db.execute("SELECT version FROM admin_migrations ORDER BY version").fetchall()
    db.close()
    assert [r[0] for r in rows] == list(range(1, len(PG_MIGRATIONS) + 1))


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        open_admin_db(ServerConfig(data_dir=str(tmp_path), database=NOWHERE))
    text = str(err.value)
    assert text.startswith("[server] database = postgresql://postgres@127.0.0.1:9/none: cannot connect")
    assert "hunter2" not in text
    with pytest.raises(ConfigError, match="database: a postgresql:// URL"):
        loads('[server]\ndatabase = "mysql://root@localhost/b2bua"\n')
    assert not msgspec.structs.asdict(ServerConfig())["database"]  # the SQLite file by default


@pytest.mark.parametrize("command", [["codes", "list"], ["admin", "list"], ["audit"], ["groups", "list"],
                                     ["serve"]])
def test_commands_and_the_server_refuse_an_unreachable_database(tmp_path: Path, command: list[str]) -> None:
    cfg = tmp_path / "b2bua.toml"
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\ndatabase = "{NOWHERE}"\n'
                   'listen = ["udp:127.0.0.1:0"]\n[http]\nenabled = false\n')
    proc = subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", *command, "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "[server] database = postgresql://postgres@127.0.0.1:9/none: cannot connect" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
