"""The server's own database: versioned migrations (one style with billing), the
account codes' in-memory copy and the registrations written off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from b2bua.calls.registrar import Binding, LocationService
from b2bua.runtime.admin_db import open_admin_db
from b2bua.runtime.authcodes import AuthCodeStore
from b2bua.runtime.codes import CodeError, CodesUnavailable, CodeStore, code_from_fields
from b2bua.runtime.store import (
    DB_NAME, MIGRATION_TABLE, MIGRATIONS, BindingWriter, open_database, restore_bindings,
)
from b2bua.runtime.config import ServerConfig
from b2bua.sip.endpoint import Address
from tests.conftest import AdminBackend


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


# -- account codes: an in-memory copy the store keeps current ---------------------------


class NoIO:
    """Stands in for a connection the call path must not touch."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"database used on the call path: {name}")


async def test_codes_are_looked_up_in_memory_and_follow_other_processes(admin_backend: AdminBackend) -> None:
    cli = CodeStore(admin_backend.open())  # what `b2bua codes ...` does: a connection of its own
    cli.add("default", code_from_fields({"code": "12345", "name": "Acme"}))
    store = CodeStore(admin_backend.open())
    await store.start(poll=3600)  # only explicit refreshes in this test
    try:
        lookup = store.for_group("default")
        db, store.db = store.db, NoIO()  # type: ignore[assignment]
        found = lookup.get("12345")
        assert found is not None and found.active and found.name == "Acme"
        assert lookup.get("99999") is None and store.for_group("lobby").get("12345") is None
        store.db = db
        assert not await store.refresh()  # nothing changed: nothing reloaded
        cli.set_active("default", "12345", False)
        assert await store.refresh()
        found = lookup.get("12345")
        assert found is not None and not found.active
    finally:
        await store.stop()


async def test_the_poller_picks_up_a_change_without_a_call(admin_backend: AdminBackend) -> None:
    cli = CodeStore(admin_backend.open())
    store = CodeStore(admin_backend.open())
    await store.start(poll=0.02)
    try:
        assert store.for_group("default").get("24680") is None
        cli.add("default", code_from_fields({"code": "24680"}))
        for _ in range(200):  # bounded: 4 s at most
            if store.for_group("default").get("24680") is not None:
                break
            await asyncio.sleep(0.02)
        assert store.for_group("default").get("24680") is not None
    finally:
        await store.stop()


async def test_a_database_that_cannot_be_read_keeps_the_copy_in_use(
    admin_backend: AdminBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the first load nothing is guessed (lookups fail: the policy refuses);
    afterwards a database that cannot be read (down, restarting) leaves the last
    copy in use, is logged once, and the next poll that can read it reloads."""
    cli = CodeStore(admin_backend.open())
    cli.add("default", code_from_fields({"code": "12345"}))
    store = CodeStore(admin_backend.open())
    with pytest.raises(CodesUnavailable):  # not loaded yet
        store.for_group("default").get("12345")
    await store.start(poll=3600)
    try:
        assert store.for_group("default").get("12345") is not None
        cli.db.execute("ALTER TABLE admin_version RENAME TO gone")
        assert not await store.refresh()
        assert not await store.refresh()
        assert store.for_group("default").get("12345") is not None  # the copy read last
        assert store.for_group("default").get("99999") is None
        errors = [r for r in caplog.records if r.name == "b2bua.codes" and r.levelname == "ERROR"]
        assert len(errors) == 1 and "stays in use" in errors[0].getMessage()
        cli.db.execute("ALTER TABLE gone RENAME TO admin_version")
        cli.add("default", code_from_fields({"code": "55555"}))
        assert await store.refresh()
        assert store.for_group("default").get("55555") is not None
        if admin_backend.name == "postgresql":  # the connection itself lost: made again
            cli.db.execute("SELECT pg_terminate_backend(?)", (store.db._con.info.backend_pid,))  # type: ignore[attr-defined]
            cli.set_active("default", "55555", False)
            assert not await store.refresh()
            assert store.for_group("default").get("55555").active  # type: ignore[union-attr]
            assert await store.refresh()
            assert not store.for_group("default").get("55555").active  # type: ignore[union-attr]
        # a row the command line would never write: that code fails closed, the others work
        cli.db.execute("INSERT INTO account_codes (grp, code, allowed_classes) VALUES ('default', '777', 'bogus')")
        await store.refresh()
        with pytest.raises(CodeError):
            store.for_group("default").get("777")
        assert store.for_group("default").get("12345") is not None
    finally:
        await store.stop()


# -- registrations: written off the loop, coalesced per AOR -----------------------------

def binding(aor: str, contact: str, expires_at: float) -> Binding:
    return Binding(aor=aor, contact=f"<{contact}>", contact_uri=contact, expires_at=expires_at, call_id="c",
                   cseq=1, source=Address("udp", "127.0.0.1", 5070))


def stored(tmp_path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(tmp_path / DB_NAME)
    try:
        return db.execute("SELECT aor, contact_uri FROM registrations ORDER BY aor, contact_uri").fetchall()
    finally:
        db.close()


async def test_bindings_are_written_off_the_loop_once_per_burst(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    location = LocationService()
    writer = BindingWriter(open_database(tmp_path), location, loop)
    location.update("1001", [binding("1001", "sip:1001@127.0.0.1:5070", now + 60)], now)
    for _ in range(5):  # a burst of refreshes of one AOR
        writer.changed("1001")
    location.update("1002", [binding("1002", "sip:1002@127.0.0.1:5072", now + 60)], now)
    writer.changed("1002")
    assert stored(tmp_path) == []  # changed() never writes in the caller's step
    await writer.stop()
    assert stored(tmp_path) == [("1001", "sip:1001@127.0.0.1:5070"), ("1002", "sip:1002@127.0.0.1:5072")]
    assert writer.writes == 1 and writer.pending == 0
    location.remove_all("1001")
    writer.changed("1001")
    await writer.stop()
    assert stored(tmp_path) == [("1002", "sip:1002@127.0.0.1:5072")]
    # restored at start as before
    again = LocationService()
    assert restore_bindings(open_database(tmp_path), again, loop.time()) == 1
    assert [b.contact_uri for b in again.lookup("1002", loop.time())] == ["sip:1002@127.0.0.1:5072"]


def test_codes_csv_export_is_spreadsheet_safe_and_imports_back(admin_backend: AdminBackend, tmp_path: Path) -> None:
    """``b2bua codes export``: text cells a spreadsheet would run as a formula get a
    leading ' (OWASP); the import takes that quote off again, so a round trip is exact."""
    store = CodeStore(admin_backend.open())
    fields = {"code": "4711", "name": "=HYPERLINK(\"http://x\")", "department": "@SUM(A1)",
              "allowed_prefixes": "44,33", "active": "yes"}
    store.add("office", code_from_fields(fields))
    text = store.export_csv("office")
    row = text.splitlines()[1]
    assert "'=HYPERLINK" in row and "'@SUM(A1)" in row and "44,33" in row
    again = CodeStore(open_admin_db(ServerConfig(data_dir=str(tmp_path / "other"))))
    assert again.import_csv("office", text) == (1, [])
    assert again.list("office") == store.list("office")


async def test_authorization_codes_follow_other_processes(admin_backend: AdminBackend) -> None:
    """``b2bua authcodes add|disable`` in another process applies to the next call."""
    cli = AuthCodeStore(admin_backend.open())
    cli.add("24681357", "Night manager", level=5)
    store = CodeStore(admin_backend.open())
    table = AuthCodeStore(store.db).table()
    store.followers.append(table)
    await store.start(poll=3600)  # only explicit refreshes in this test
    try:
        found = table.find("24681357")
        assert found is not None and found.active and found.description == "Night manager"
        assert table.find("13572468") is None
        cli.add("13572468", "Reception")
        cli.set_active(found.id, False)
        assert await store.refresh()
        again = table.find("24681357")
        assert again is not None and not again.active  # found, refused by the policy as disabled
        assert table.find("13572468") is not None
    finally:
        await store.stop()
