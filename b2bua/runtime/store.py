"""The server's own SQLite database (registrations, account codes, authorization
codes, portal administrators, groups' and users' code settings, the audit log), created on
first start by ``open_database``.  With ``[server] database`` set to a PostgreSQL URL the
administrative tables live there instead (:mod:`b2bua.runtime.admin_db`); registrations
stay here.

Schema migrations are versioned as ``b2bua.migrations`` describes (the applied
steps in ``schema_migrations``); a database from before that style, which kept one
number in ``schema_version``, is taken over at that version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from b2bua.calls.registrar import Binding, LocationService
from b2bua.migrations import Migrations, migrate_sqlite, version_table

from .admin_schema import MOVED_USERS, sqlite_version_step, sqlite_version_triggers
from b2bua.sip.endpoint import Address

log = logging.getLogger("b2bua.store")

DB_NAME = "b2bua.sqlite3"

MIGRATION_TABLE = "schema_migrations"
MIGRATIONS: Migrations = [
    ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"],
    [
        """CREATE TABLE IF NOT EXISTS registrations (
            aor TEXT NOT NULL,
            contact TEXT NOT NULL,
            contact_uri TEXT NOT NULL,
            source TEXT NOT NULL,
            expires_at REAL NOT NULL,
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            user_agent TEXT NOT NULL DEFAULT '',
            q REAL
        )""",
    ],
    [
        """CREATE TABLE IF NOT EXISTS account_codes (
            grp TEXT NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            department TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            active_from TEXT,
            active_until TEXT,
            min_digits INTEGER,
            max_digits INTEGER,
            blocked_prefixes TEXT NOT NULL DEFAULT '',
            allowed_numbers TEXT NOT NULL DEFAULT '',
            allowed_prefixes TEXT NOT NULL DEFAULT '',
            allowed_classes TEXT NOT NULL DEFAULT '',
            rate_plan TEXT,
            credit_account TEXT,
            PRIMARY KEY (grp, code)
        )""",
    ],
    [
        """CREATE TABLE IF NOT EXISTS auth_codes (
            id INTEGER PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL,
            level INTEGER NOT NULL DEFAULT 0,
            classes TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1
        )""",
    ],
    [
        # portal administrators (b2bua.runtime.admins): role 'system', or 'group'
        # bound to one business group; password as 'scrypt$N$salt$hash'
        """CREATE TABLE IF NOT EXISTS admins (
            name TEXT PRIMARY KEY,
            password TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'group')),
            grp TEXT,
            created_at REAL NOT NULL,
            CHECK ((role = 'group') = (grp IS NOT NULL))
        )""",
    ],
    [
        # JSON API clients (b2bua.runtime.admins): the SHA-256 of each token, never the token
        """CREATE TABLE IF NOT EXISTS api_tokens (
            name TEXT PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('system', 'group')),
            grp TEXT,
            created_at REAL NOT NULL,
            CHECK ((role = 'group') = (grp IS NOT NULL))
        )""",
    ],
    [
        # business groups' account-code settings (b2bua.runtime.code_settings): the
        # group's dialplan.policy.GroupPolicy as JSON; seeded from [groups.NAME]
        """CREATE TABLE IF NOT EXISTS group_settings (
            grp TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            changed_at REAL NOT NULL,
            changed_by TEXT NOT NULL DEFAULT ''
        )""",
    ],
    [
        # users' account-code settings (b2bua.runtime.code_settings): a mode instead
        # of the group's (NULL: the group's) and an assigned code; seeded from [[users]]
        """CREATE TABLE IF NOT EXISTS user_code_settings (
            extension TEXT PRIMARY KEY,
            mode TEXT,
            assigned_code TEXT,
            changed_at REAL NOT NULL,
            changed_by TEXT NOT NULL DEFAULT ''
        )""",
    ],
    [
        # who changed what (b2bua.runtime.audit): an administrator, token:NAME or cli;
        # the group the change belongs to (NULL: none, system administrators only)
        """CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            object TEXT NOT NULL DEFAULT '',
            grp TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS audit_log_grp ON audit_log (grp, id)",
    ],
    # the version of the data the running server keeps in memory (b2bua.runtime.admin_schema)
    sqlite_version_step(),
    [
        # business groups made and deleted in the database (b2bua.runtime.groups): a
        # configured group deleted here is not seeded again; a user moved to another
        # group than the configuration file's
        """CREATE TABLE IF NOT EXISTS deleted_groups (
            grp TEXT PRIMARY KEY,
            deleted_at REAL NOT NULL,
            deleted_by TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE IF NOT EXISTS user_groups (
            extension TEXT PRIMARY KEY,
            grp TEXT NOT NULL,
            changed_at REAL NOT NULL,
            changed_by TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    ],
    # the server keeps the users' groups in memory: their changes bump the version
    sqlite_version_triggers(MOVED_USERS),
]


class StoreError(Exception):
    """The database cannot be opened or migrated; the message says why."""


def open_database(data_dir: str | Path) -> sqlite3.Connection:
    """Open (create, migrate) the database in ``data_dir``.  The connection may be
    used from a worker thread (the binding writer), one user at a time."""
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path / DB_NAME, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db)
    except (OSError, sqlite3.Error) as err:
        raise StoreError(f"cannot open the database in {path}: {err}") from None
    return db


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns its version."""
    legacy = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone()
    if legacy is not None:  # the single-number style: its steps were ours, take them over
        db.execute("BEGIN IMMEDIATE")
        db.execute(version_table(MIGRATION_TABLE))
        (version,) = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        db.executemany(f"INSERT OR IGNORE INTO {MIGRATION_TABLE} VALUES (?, ?)",
                       [(v, time.time()) for v in range(1, int(version) + 1)])
        db.execute("DROP TABLE schema_version")
        db.execute("COMMIT")
    return migrate_sqlite(db, MIGRATIONS, MIGRATION_TABLE)


SECRET_NAME = "secret"


def load_secret(data_dir: str | Path) -> bytes:
    """The long-term part of the key nonces are signed with, kept in the data
    directory (mode 0600); the server adds a part of its own per start, so
    the nonces of an earlier run (whose nonce-count replay state is gone) are
    answered stale=true and the phone simply retries."""
    path = Path(data_dir) / SECRET_NAME
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror}") from None
    data = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as err:
        raise StoreError(f"cannot write {path}: {err.strerror}") from None
    return data


def _addr_text(a: Any) -> str:
    return f"{a.transport}:{a.host}:{a.port}"


def _addr(text: str) -> Address:
    transport, rest = text.split(":", 1)
    host, port = rest.rsplit(":", 1)
    return Address(transport, host, int(port))


Row = tuple[Any, ...]


def binding_rows(location: LocationService, aor: str, now: float, wall_offset: float) -> list[Row]:
    """One AOR's bindings as rows (expiry in wall-clock seconds: ``now + wall_offset``)."""
    return [
        (aor, b.contact, b.contact_uri, _addr_text(b.source), b.expires_at + wall_offset, b.call_id, b.cseq,
         b.user_agent, b.q)
        for b in location.lookup(aor, now)
    ]


def write_bindings(db: sqlite3.Connection, rows_by_aor: dict[str, list[Row]]) -> None:
    """Replace the stored bindings of these AORs, in one transaction."""
    db.execute("BEGIN")
    try:
        for aor, rows in rows_by_aor.items():
            db.execute("DELETE FROM registrations WHERE aor = ?", (aor,))
            db.executemany("INSERT INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class BindingWriter:
    """REGISTER bindings written through to the database off the event loop.

    ``changed(aor)`` (on the loop; never blocks) marks an AOR; one task writes the
    current bindings of every marked AOR in a worker thread, so a burst of
    REGISTERs (refreshes, several contacts) costs one write per AOR, and AORs
    marked while a write runs go in the next one.  ``stop()`` writes what is
    still marked.  A failed write is logged and its AORs marked again for the
    next change.
    """

    def __init__(self, db: sqlite3.Connection, location: LocationService, loop: asyncio.AbstractEventLoop) -> None:
        self.db = db
        self.location = location
        self.loop = loop
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        self.failures = 0

    def changed(self, aor: str) -> None:
        self._dirty.add(aor)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._write(), name="registrations-writer")

    @property
    def pending(self) -> int:
        return len(self._dirty)

    async def _write(self) -> None:
        while self._dirty:
            now = self.loop.time()
            offset = time.time() - now
            batch = {aor: binding_rows(self.location, aor, now, offset) for aor in self._dirty}
            self._dirty.clear()
            try:
                await asyncio.to_thread(write_bindings, self.db, batch)
                self.writes += 1
            except (sqlite3.Error, OSError) as err:
                self.failures += 1
                log.error("cannot store the registrations of %s: %s", ", ".join(sorted(batch)), err)
                self._dirty.update(batch)
                return  # retried with the next change, not in a tight loop

    async def stop(self) -> None:
        """Write what is marked (at shut-down, before the database is closed)."""
        if self._task is not None:
            await self._task
        if self._dirty:
            self._task = None
            await self._write()


def load_registrations(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Unexpired rows: (aor, contact, source, seconds left, user_agent)."""
    now = time.time()
    return [
        (aor, contact, source, int(expires - now), ua)
        for aor, contact, source, expires, ua in db.execute(
            "SELECT aor, contact, source, expires_at, user_agent FROM registrations"
            " WHERE expires_at > ? ORDER BY aor, expires_at",
            (now,),
        )
    ]


def restore_bindings(db: sqlite3.Connection, location: LocationService, now: float) -> int:
    """Load unexpired bindings at start-up so phones stay reachable across a restart."""
    offset = time.time() - now
    bindings = [
        Binding(
            aor=aor, contact=contact, contact_uri=uri, source=_addr(source), expires_at=exp - offset,
            call_id=cid, cseq=cseq, user_agent=ua, q=q,
        )
        for aor, contact, uri, source, exp, cid, cseq, ua, q in db.execute(
            "SELECT * FROM registrations WHERE expires_at > ?", (time.time(),)
        )
    ]
    location.restore(bindings, now)
    return len(bindings)
