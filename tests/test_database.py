"""The server's own database: versioned migrations (one style with billing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from b2bua.runtime.store import DB_NAME, MIGRATION_TABLE, MIGRATIONS, open_database


def versions(db: sqlite3.Connection) -> list[int]:
    return [v for (v,) in db.execute(f"SELECT version FROM {MIGRATION_TABLE} ORDER BY version")]


def test_a_new_database_gets_every_step_once(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    assert versions(db) == list(range(1, len(MIGRATIONS) + 1))
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "registrations", "account_codes"} <= tables
    db.close()
    again = open_database(tmp_path)  # reopening applies nothing twice
    assert versions(again) == list(range(1, len(MIGRATIONS) + 1))


def test_a_database_of_the_single_number_style_is_taken_over(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (2)")
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        old.execute(statement)
    old.execute("INSERT INTO registrations VALUES ('1001', 'c', 'sip:c', 'udp:h:1', 9e9, 'id', 1, '', NULL)")
    old.close()
    db = open_database(tmp_path)
    assert versions(db) == list(range(1, len(MIGRATIONS) + 1))
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'schema_version'").fetchone() is None
    assert db.execute("SELECT aor FROM registrations").fetchall() == [("1001",)]
    assert db.execute("SELECT count(*) FROM account_codes").fetchone() == (0,)
