"""Versioned schema migrations: the one style of every database the server keeps.

``migrations[i]`` (a list of SQL statements) brings a schema from version ``i`` to
``i + 1`` in one transaction, and the step is recorded as a row ``(version,
applied_at)`` in the database's version table: ``billing_migrations`` in the billing
database (SQLite or PostgreSQL), ``schema_migrations`` in the server's own SQLite
database (registrations, account codes), ``admin_migrations`` in a PostgreSQL database
of the administrative data (``b2bua.runtime.admin_db``).  A schema change is a new list appended at
the end; a released step is never edited.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, ContextManager, Protocol, Sequence

Migrations = Sequence[Sequence[str]]


def version_table(table: str, real: str = "REAL") -> str:
    """The DDL of a version table (``real``: the backend's floating-point type)."""
    return f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, applied_at {real} NOT NULL)"


def migrate_sqlite(db: sqlite3.Connection, migrations: Migrations, table: str) -> int:
    """Apply the steps ``db`` (autocommit mode) lacks, each in its own ``BEGIN
    IMMEDIATE`` transaction (several processes may open the file at once: the
    version is read under the write lock).  Returns the schema version."""
    db.execute(version_table(table))
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute(f"SELECT coalesce(max(version), 0) FROM {table}").fetchone()[0]
            if version >= len(migrations):
                db.execute("COMMIT")
                return int(version)
            for statement in migrations[version]:
                db.execute(statement)
            db.execute(f"INSERT INTO {table} VALUES (?, ?)", (version + 1, time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


async def migrate_postgres(con: Any, migrations: Migrations, table: str) -> int:
    """The same on PostgreSQL: ``con`` (an asyncpg connection) is inside the caller's
    transaction, which holds the lock that serialises migrating processes."""
    await con.execute(version_table(table, "DOUBLE PRECISION"))
    version = int(await con.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))
    for target in range(version, len(migrations)):
        for statement in migrations[target]:
            await con.execute(statement)
        await con.execute(f"INSERT INTO {table} VALUES ($1, $2)", target + 1, time.time())
    return len(migrations)


class Blocking(Protocol):
    """A synchronous connection with ``?`` parameters (``b2bua.runtime.admin_db``)."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any: ...

    def transaction(self) -> ContextManager[None]: ...


def migrate_postgres_blocking(db: Blocking, migrations: Migrations, table: str, lock: int) -> int:
    """The same through a synchronous connection, in one transaction that holds the
    advisory lock ``lock`` (processes starting at once migrate one after the other)."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(?)", (lock,))
        db.execute(version_table(table, "DOUBLE PRECISION"))
        version = int(db.execute(f"SELECT coalesce(max(version), 0) FROM {table}").fetchone()[0])
        for target in range(version, len(migrations)):
            for statement in migrations[target]:
                db.execute(statement)
            db.execute(f"INSERT INTO {table} VALUES (?, ?)", (target + 1, time.time()))
    return len(migrations)
