"""The PostgreSQL billing store (asyncpg), for ``postgresql://`` URLs.

Same schema and semantics as the SQLite store (see ``b2bua.billing.store``).  Several
server processes may share one database: migrations take an advisory lock, a credit
reservation is one transaction whose conditional ``UPDATE credit_accounts ... WHERE
balance - reserved >= amount`` row-locks the account (READ COMMITTED re-evaluates the
condition on the latest row version, so two processes can never both spend the same
credit), and every transaction locks the reservation row before the account row, so
they cannot deadlock.  ``schema=`` puts the tables in their own schema (created if
missing) through the connection's ``search_path``.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, AsyncIterator, Callable, Sequence, TypeVar

import asyncpg  # type: ignore[import-untyped]

from b2bua.billing.cdr import Cdr, CdrWrite
from b2bua.billing.credit import Balance, Reservation, Settlement
from b2bua.billing.store import (
    COLUMN_NAMES, BillingStore, BillingStoreError, as_rejection, cdr_to_row, from_minor, latest_per_ref,
    new_reservation_id, row_to_cdr, settlement, to_minor,
)
from b2bua.migrations import Migrations, migrate_postgres

from . import admin_sql, record_sql
from .postgres_admin import PostgresAdmin

T = TypeVar("T")
MIGRATION_LOCK = 0x62696C6C  # "bill": pg_advisory_xact_lock key serialising migrations

# versioned as b2bua.migrations describes
MIGRATIONS: Migrations = [
    [
        """CREATE TABLE cdr (
            ref TEXT PRIMARY KEY, seq BIGINT NOT NULL, node TEXT NOT NULL,
            caller TEXT NOT NULL, caller_user TEXT NOT NULL, department TEXT NOT NULL,
            business_group TEXT NOT NULL, dialed TEXT NOT NULL, destination TEXT NOT NULL,
            call_class TEXT NOT NULL, route TEXT NOT NULL, source TEXT NOT NULL,
            account_code TEXT NOT NULL, code_valid BOOLEAN NOT NULL, code_source TEXT NOT NULL,
            code_changes JSONB NOT NULL, start_time DOUBLE PRECISION NOT NULL,
            answer_time DOUBLE PRECISION, end_time DOUBLE PRECISION, last_interim DOUBLE PRECISION,
            duration DOUBLE PRECISION NOT NULL, billable INTEGER NOT NULL,
            cost NUMERIC NOT NULL, currency TEXT NOT NULL, rate_plan TEXT NOT NULL, rate JSONB,
            status INTEGER NOT NULL, cause TEXT NOT NULL, hangup TEXT NOT NULL,
            a_call_id TEXT NOT NULL, b_call_id TEXT NOT NULL, recovered BOOLEAN NOT NULL
        )""",
        "CREATE INDEX cdr_start ON cdr (start_time)",
        "CREATE INDEX cdr_open ON cdr (node) WHERE end_time IS NULL",
        """CREATE TABLE credit_accounts (
            account TEXT PRIMARY KEY, currency TEXT NOT NULL,
            balance BIGINT NOT NULL, reserved BIGINT NOT NULL DEFAULT 0,
            CHECK (reserved >= 0 AND balance >= reserved)
        )""",
        """CREATE TABLE credit_reservations (
            id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES credit_accounts (account),
            amount BIGINT NOT NULL, state TEXT NOT NULL, charged BIGINT NOT NULL DEFAULT 0,
            created DOUBLE PRECISION NOT NULL, settled DOUBLE PRECISION
        )""",
        "CREATE INDEX credit_reservations_held ON credit_reservations (account) WHERE state = 'held'",
    ],
    [  # 2: the authorization code that allowed a call (its description and level)
        "ALTER TABLE cdr ADD COLUMN authorized_by TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cdr ADD COLUMN authorization_level INTEGER",
    ],
    [  # 3: how a prompted account code was keyed (rfc4733, info, inband)
        "ALTER TABLE cdr ADD COLUMN code_entry TEXT NOT NULL DEFAULT ''",
    ],
    # 4: rate plans, rates and credit top-ups managed by administrators (b2bua.billing.admin_sql)
    admin_sql.migration("BIGSERIAL PRIMARY KEY", "NUMERIC", "DOUBLE PRECISION"),
    record_sql.MIGRATION,  # 5: indexes of the record search
    admin_sql.OPENING_MIGRATION,  # 6: the creation of a credit account in its history
]

_COLS = ", ".join(COLUMN_NAMES)
_UPSERT = (
    f"INSERT INTO cdr ({_COLS}) VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMN_NAMES)))})"
    " ON CONFLICT (ref) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMN_NAMES if c != "ref")
    + " WHERE cdr.seq < EXCLUDED.seq"
)
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
# SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): errors
# about the records, not the database (which stays usable); see RecordRejected
_RECORD_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Refused(Exception):
    """Rolls back a credit transaction whose condition failed."""


class PostgresStore(record_sql.RecordQueries, PostgresAdmin, BillingStore):
    """Billing store in PostgreSQL (see the module docstring)."""

    dialect = record_sql.POSTGRES

    def __init__(
        self, url: str, *, schema: str | None = None, pool_size: int = 10,
        connect_timeout: float = 5.0, command_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise BillingStoreError("the billing database is not open")
        try:
            async with self._pool.acquire() as con, con.transaction():
                yield con
        except _DB_ERRORS as err:
            raise BillingStoreError(f"billing database: {err}") from err

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"search_path": quote_ident(self.schema)} if self.schema else None
        try:
            pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, timeout=self.connect_timeout,
                command_timeout=self.command_timeout, server_settings=settings,
            )
        except (*_DB_ERRORS, ValueError) as err:
            raise BillingStoreError(f"cannot connect to the billing database: {err}") from err
        self._pool = pool
        try:
            async with self._tx() as con:
                await con.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                if self.schema:
                    await con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
                await migrate_postgres(con, MIGRATIONS, "billing_migrations")
        except BillingStoreError:
            self._pool = None
            await pool.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- CDRs ------------------------------------------------------------------------

    async def apply(self, writes: Sequence[CdrWrite]) -> None:
        try:
            rows = [cdr_to_row(c) for c in latest_per_ref(writes)]
            if rows:
                async with self._tx() as con:
                    await con.executemany(_UPSERT, rows)
        except Exception as err:
            raise as_rejection(err, _RECORD_ERRORS)

    async def _select(self, where: str, *args: Any) -> list[Cdr]:
        async with self._tx() as con:
            rows = await con.fetch(f"SELECT {_COLS} FROM cdr WHERE {where} ORDER BY start_time, ref", *args)
        return [row_to_cdr(tuple(r)) for r in rows]

    async def _fetch(self, sql: str, args: Sequence[Any], convert: Callable[[Sequence[Any]], T]) -> list[T]:
        async with self._tx() as con:
            rows = await con.fetch(sql, *args)
        return [convert(tuple(r)) for r in rows]

    async def get(self, ref: str) -> Cdr | None:
        found = await self._select("ref = $1", ref)
        return found[0] if found else None

    async def query(
        self, *, start_from: float | None = None, start_to: float | None = None, include_open: bool = False
    ) -> list[Cdr]:
        where = "($1::float8 IS NULL OR start_time >= $1) AND ($2::float8 IS NULL OR start_time < $2)"
        if not include_open:
            where += " AND end_time IS NOT NULL"
        return await self._select(where, start_from, start_to)

    async def open_records(self, node: str | None = None) -> list[Cdr]:
        return await self._select("end_time IS NULL AND ($1::text IS NULL OR node = $1)", node)

    async def held_reservations_of_closed_calls(self) -> list[tuple[str, Decimal]]:
        async with self._tx() as con:
            rows = await con.fetch(
                "SELECT r.id, c.cost FROM credit_reservations r JOIN cdr c ON c.ref = r.id"
                " WHERE r.state = 'held' AND c.end_time IS NOT NULL"
            )
        return [(r["id"], r["cost"]) for r in rows]

    # -- credit ----------------------------------------------------------------------

    @staticmethod
    async def _balance(con: asyncpg.Connection, account: str) -> Balance | None:
        row = await con.fetchrow("SELECT currency, balance, reserved FROM credit_accounts WHERE account = $1", account)
        if row is None:
            return None
        cur = row["currency"]
        return Balance(
            account=account, currency=cur, balance=from_minor(row["balance"], cur), reserved=from_minor(row["reserved"], cur)
        )

    @staticmethod
    async def _reservation(con: asyncpg.Connection, rid: str, lock: bool = False) -> Reservation | None:
        row = await con.fetchrow(
            "SELECT r.account, a.currency, r.amount, r.state FROM credit_reservations r"
            " JOIN credit_accounts a ON a.account = r.account WHERE r.id = $1"
            + (" FOR UPDATE OF r" if lock else ""),
            rid,
        )
        if row is None:
            return None
        cur = row["currency"]
        return Reservation(id=rid, account=row["account"], currency=cur, amount=from_minor(row["amount"], cur), state=row["state"])

    @staticmethod
    async def _hold(con: asyncpg.Connection, account: str, minor: int) -> None:
        # The one conditional update that makes overspending impossible.
        row = await con.fetchrow(
            "UPDATE credit_accounts SET reserved = reserved + $2 WHERE account = $1 AND balance - reserved >= $2"
            " RETURNING reserved",
            account, minor,
        )
        if row is None:
            raise _Refused

    async def create_account(self, account: str, currency: str, balance: Decimal = Decimal(0), *,
                             admin: str | None = None, now: float = 0.0) -> Balance:
        minor = to_minor(balance, currency)
        try:
            async with self._tx() as con:
                await con.execute(
                    "INSERT INTO credit_accounts (account, currency, balance) VALUES ($1, $2, $3)", account, currency, minor
                )
                if admin is not None:
                    await con.execute(admin_sql.RECORD_OPENING, account, minor, admin, now)
                bal = await self._balance(con, account)
        except BillingStoreError as err:
            if isinstance(err.__cause__, asyncpg.IntegrityConstraintViolationError):
                raise BillingStoreError(f"credit account {account!r} exists or balance invalid") from None
            raise
        assert bal is not None
        return bal

    async def topup(self, account: str, amount: Decimal) -> Balance | None:
        try:
            async with self._tx() as con:
                cur = await con.fetchval("SELECT currency FROM credit_accounts WHERE account = $1 FOR UPDATE", account)
                if cur is None:
                    return None
                await con.execute(
                    "UPDATE credit_accounts SET balance = balance + $2 WHERE account = $1", account, to_minor(amount, cur)
                )
                return await self._balance(con, account)
        except BillingStoreError as err:
            if isinstance(err.__cause__, asyncpg.CheckViolationError):
                raise ValueError(f"a correction of {amount} would leave {account!r} below its reserved credit") from None
            raise

    async def balance(self, account: str) -> Balance | None:
        async with self._tx() as con:
            return await self._balance(con, account)

    async def reservation(self, reservation_id: str) -> Reservation | None:
        async with self._tx() as con:
            return await self._reservation(con, reservation_id)

    async def reserve(self, account: str, amount: Decimal, *, ref: str | None = None) -> Reservation | None:
        if amount < 0:
            raise ValueError("a reservation cannot be negative")
        rid = ref or new_reservation_id()
        try:
            async with self._tx() as con:
                cur = await con.fetchval("SELECT currency FROM credit_accounts WHERE account = $1", account)
                if cur is None:
                    return None
                minor = to_minor(amount, cur)
                inserted = await con.fetchval(
                    "INSERT INTO credit_reservations (id, account, amount, state, created)"
                    " VALUES ($1, $2, $3, 'held', $4) ON CONFLICT (id) DO NOTHING RETURNING id",
                    rid, account, minor, time.time(),
                )
                if inserted is None:  # a retried request: the reservation exists
                    return await self._reservation(con, rid)
                await self._hold(con, account, minor)
                return await self._reservation(con, rid)
        except _Refused:
            return None

    async def extend(self, reservation_id: str, amount: Decimal) -> Reservation | None:
        if amount < 0:
            raise ValueError("an extension cannot be negative")
        try:
            async with self._tx() as con:
                res = await self._reservation(con, reservation_id, lock=True)
                if res is None or res.state != "held":
                    return None
                minor = to_minor(amount, res.currency)
                await self._hold(con, res.account, minor)
                await con.execute(
                    "UPDATE credit_reservations SET amount = amount + $2 WHERE id = $1", reservation_id, minor
                )
                return await self._reservation(con, reservation_id)
        except _Refused:
            return None

    async def commit(self, reservation_id: str, actual_cost: Decimal) -> Settlement | None:
        if actual_cost < 0:
            raise ValueError("a cost cannot be negative")
        async with self._tx() as con:
            res = await self._reservation(con, reservation_id, lock=True)
            if res is None or res.state != "held":
                return None
            held = to_minor(res.amount, res.currency)
            actual = to_minor(actual_cost, res.currency)
            charged = min(actual, held)
            await con.execute(
                "UPDATE credit_accounts SET balance = balance - $2, reserved = reserved - $3 WHERE account = $1",
                res.account, charged, held,
            )
            await con.execute(
                "UPDATE credit_reservations SET state = $2, charged = $3, settled = $4 WHERE id = $1",
                reservation_id, "committed" if actual else "released", charged, time.time(),
            )
        return settlement(res, charged, held, actual)
