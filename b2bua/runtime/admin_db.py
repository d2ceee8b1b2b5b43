"""Where the administrative data lives: one small connection interface, two engines.

The account codes, authorization codes, groups' and users' code settings,
portal administrators, API tokens, the audit log and ``meta`` (the salt of the
authorization codes) are kept in the database ``[server] database`` names:

* ``""`` (the default): the server's SQLite file in ``data_dir``
  (:func:`b2bua.runtime.store.open_database`), as the registrations;
* ``postgresql://...``: a PostgreSQL database several nodes (and the command
  line, and the portal of each) share; its tables are made by
  :data:`PG_MIGRATIONS` (version table ``admin_migrations``).

Every store (:mod:`~b2bua.runtime.codes`, :mod:`~b2bua.runtime.code_settings`,
:mod:`~b2bua.runtime.authcodes`, :mod:`~b2bua.runtime.admins`,
:mod:`~b2bua.runtime.audit`) is written once against :class:`AdminDb`:
``execute`` with ``?`` parameters (a cursor to fetch from, ``rowcount``),
``executemany``, ``transaction()`` (nested: one transaction), ``version()``
(:mod:`~b2bua.runtime.admin_schema`), and the driver's ``Error`` and
``IntegrityError``.  Its SQL is what both engines speak (``ON CONFLICT``,
``RETURNING``, no PRAGMA).  Synchronous: used from worker threads, one user at a
time per connection.  A PostgreSQL connection that broke (the server restarted,
the network failed) is made again by the next statement outside a transaction.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from typing import Any, Final, Iterator, Sequence

from b2bua.migrations import Migrations, migrate_postgres_blocking

from .admin_schema import MOVED_USERS, VERSION, postgres_step, postgres_version_step, postgres_version_triggers
from .config import ServerConfig
from .store import MIGRATIONS, StoreError, open_database

MIGRATION_TABLE: Final = "admin_migrations"
MIGRATION_LOCK: Final = 0x61646D6E  # "admn": pg_advisory_xact_lock key serialising migrations
CONNECT_TIMEOUT: Final = 5  # seconds
# the SQLite steps of the shared tables (meta, account codes, auth codes, admins,
# API tokens, group and user settings, audit log), then the version counter, then
# the deleted groups and users' groups (whose changes bump it too)
PG_MIGRATIONS: Migrations = [postgres_step(MIGRATIONS[i]) for i in (0, 2, 3, 4, 5, 6, 7, 8)] + [
    postgres_version_step(),
    postgres_step(MIGRATIONS[10]) + postgres_version_triggers(MOVED_USERS),
]
SETTING: Final = "[server] database"


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``; a ``?`` inside a quoted
    literal or identifier ('...', "...") stays what it is."""
    out: list[str] = []
    n = 0
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return url


class AdminDb:
    """The connection interface every administrative store uses (see the module docstring)."""

    engine: str
    Error: type[Exception]
    IntegrityError: type[Exception]

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> int:
        """Rows changed in all."""
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def version(self) -> int:
        """The counter every change of the data the server keeps in memory bumps."""
        return int(self.execute(VERSION).fetchone()[0])


class SqliteAdminDb(AdminDb):
    engine = "sqlite"
    Error = sqlite3.Error
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con  # autocommit (isolation_level=None), as open_database makes it
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> sqlite3.Cursor:
        return self.con.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> int:
        return max(self.con.executemany(sql, rows).rowcount, 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN IMMEDIATE")  # the write lock first: no upgrade deadlock
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._depth = 0

    def close(self) -> None:
        self.con.close()


class PostgresAdminDb(AdminDb):
    engine = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.Error = psycopg.Error
        self.IntegrityError = psycopg.IntegrityError
        self.url = url
        self._psycopg = psycopg
        self._depth = 0
        self._con = self._connect()

    def _connect(self) -> Any:
        psycopg = self._psycopg
        return psycopg.connect(self.url, autocommit=True, cursor_factory=psycopg.RawCursor,
                               connect_timeout=CONNECT_TIMEOUT)

    def _live(self) -> Any:
        if self._con.broken and self._depth == 0:  # a lost connection: a new one
            self._con.close()
            self._con = self._connect()
        return self._con

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        if not params:
            return self._live().execute(sql)
        return self._live().execute(numbered(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]], /) -> int:
        cur = self._live().cursor()
        cur.executemany(numbered(sql), rows)
        return max(cur.rowcount, 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        con = self._live()
        self._depth += 1
        try:
            with con.transaction():
                yield
        finally:
            self._depth -= 1

    def close(self) -> None:
        self._con.close()


def open_admin_db(server: ServerConfig) -> AdminDb:
    """The administrative database ``server.database`` names, created or migrated;
    StoreError (naming the setting) when it cannot be opened."""
    url = server.database
    if not url:
        return SqliteAdminDb(open_database(server.data_dir))
    import psycopg

    try:
        db = PostgresAdminDb(url)
    except psycopg.Error as err:
        raise StoreError(f"{SETTING} = {safe_url(url)}: cannot connect: {_one_line(err)}") from None
    try:
        migrate_postgres_blocking(db, PG_MIGRATIONS, MIGRATION_TABLE, MIGRATION_LOCK)
    except psycopg.Error as err:
        db.close()
        raise StoreError(f"{SETTING} = {safe_url(url)}: cannot create or migrate the tables: "
                         f"{_one_line(err)}") from None
    return db


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
