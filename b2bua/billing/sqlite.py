"""The SQLite billing store (the default): one file, WAL, created on first start.

``sqlite3`` blocks, so every operation runs on one dedicated worker thread that owns
the connection; the event loop only awaits.  Each operation is one transaction;
credit operations use ``BEGIN IMMEDIATE`` (the database write lock, also across
processes sharing the file) around their conditional updates.  ``synchronous=FULL``:
a committed billing record survives a power loss, the writer's batching keeps the
fsyncs few.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from b2bua.billing.cdr import Cdr, CdrWrite
from b2bua.billing.credit import Balance, Reservation, Settlement
from b2bua.billing.store import (
    COLUMN_NAMES, BillingStore, BillingStoreError, as_rejection, cdr_to_row, from_minor, latest_per_ref, new_reservation_id,
    row_to_cdr, settlement, to_minor,
)
from b2bua.migrations import Migrations, migrate_sqlite

from . import admin_sql, record_sql
from .sqlite_admin import SqliteAdmin, sql

T = TypeVar("T")

# versioned as b2bua.migrations describes
MIGRATIONS: Migrations = [
    [
        """CREATE TABLE cdr (
            ref TEXT PRIMARY KEY, seq INTEGER NOT NULL, node TEXT NOT NULL,
            caller TEXT NOT NULL, caller_user TEXT NOT NULL, department TEXT NOT NULL,
            business_group TEXT NOT NULL, dialed TEXT NOT NULL, destination TEXT NOT NULL,
            call_class TEXT NOT NULL, route TEXT NOT NULL, source TEXT NOT NULL,
            account_code TEXT NOT NULL, code_valid INTEGER NOT NULL, code_source TEXT NOT NULL,
            code_changes TEXT NOT NULL, start_time REAL NOT NULL, answer_time REAL,
            end_time REAL, last_interim REAL, duration REAL NOT NULL, billable INTEGER NOT NULL,
            cost TEXT NOT NULL, currency TEXT NOT NULL, rate_plan TEXT NOT NULL, rate TEXT,
            status INTEGER NOT NULL, cause TEXT NOT NULL, hangup TEXT NOT NULL,
            a_call_id TEXT NOT NULL, b_call_id TEXT NOT NULL, recovered INTEGER NOT NULL
        )""",
        "CREATE INDEX cdr_start ON cdr (start_time)",
        "CREATE INDEX cdr_open ON cdr (node) WHERE end_time IS NULL",
        """CREATE TABLE credit_accounts (
            account TEXT PRIMARY KEY, currency TEXT NOT NULL,
            balance INTEGER NOT NULL, reserved INTEGER NOT NULL DEFAULT 0,
            CHECK (reserved >= 0 AND balance >= reserved)
        )""",
        """CREATE TABLE credit_reservations (
            id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES credit_accounts (account),
            amount INTEGER NOT NULL, state TEXT NOT NULL, charged INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, settled REAL
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
    admin_sql.migration("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT", "REAL"),
    record_sql.MIGRATION,  # 5: indexes of the record search
    admin_sql.OPENING_MIGRATION,  # 6: the creation of a credit account in its history
]

_COLS = ", ".join(COLUMN_NAMES)
_UPSERT = (
    f"INSERT INTO cdr ({_COLS}) VALUES ({', '.join('?' * len(COLUMN_NAMES))}) ON CONFLICT (ref) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMN_NAMES if c != "ref")
    + " WHERE excluded.seq > cdr.seq"
)


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/file``, ``sqlite:rel/file`` or a plain path -> a path."""
    if url.startswith("sqlite://"):
        return url[len("sqlite://"):]
    if url.startswith("sqlite:"):
        return url[len("sqlite:"):]
    return url


_COST = COLUMN_NAMES.index("cost")
# errors about the records, not the database (which stays usable): see RecordRejected
_RECORD_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)


def _sqlite_row(cdr: Cdr) -> list[Any]:
    row = cdr_to_row(cdr)
    row[_COST] = str(cdr.cost)  # exact decimal text, never REAL
    return row


class SqliteStore(record_sql.RecordQueries, SqliteAdmin, BillingStore):
    """Billing store in a SQLite file (see the module docstring)."""

    dialect = record_sql.SQLITE

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="billing-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise BillingStoreError(f"billing database {self.path} is not open")
        return self._db

    def _tx(self, fn: Callable[[sqlite3.Connection], T], immediate: bool = True) -> T:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                result = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        except sqlite3.Error as err:
            raise BillingStoreError(f"billing database {self.path}: {err}") from err

    # -- lifecycle -------------------------------------------------------------------

    def _open_sync(self) -> None:
        if self._db is not None:
            return
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise BillingStoreError(f"cannot open billing database {self.path}: {err}") from err
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            migrate_sqlite(db, MIGRATIONS, "billing_migrations")
            db.create_aggregate("decsum", 1, record_sql.DecimalSum)  # type: ignore[arg-type]  # text result
            self._db = db
        except sqlite3.Error as err:
            self._db = None
            db.close()
            raise BillingStoreError(f"cannot open billing database {self.path}: {err}") from err

    async def open(self) -> None:
        await self._run(self._open_sync)

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def close(self) -> None:
        if self._executor is not None:
            await self._run(self._close_sync)
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- CDRs ------------------------------------------------------------------------

    async def apply(self, writes: Sequence[CdrWrite]) -> None:
        await self._run(self._apply, writes)

    def _apply(self, writes: Sequence[CdrWrite]) -> None:
        try:
            rows = [_sqlite_row(c) for c in latest_per_ref(writes)]
            if rows:
                self._tx(lambda db: db.executemany(_UPSERT, rows))
        except Exception as err:
            raise as_rejection(err, _RECORD_ERRORS)

    def _select(self, where: str, args: Sequence[Any]) -> list[Cdr]:
        sql = f"SELECT {_COLS} FROM cdr WHERE {where} ORDER BY start_time, ref"
        try:
            return [row_to_cdr(r) for r in self._conn().execute(sql, args)]
        except sqlite3.Error as err:
            raise BillingStoreError(f"billing database {self.path}: {err}") from err

    async def _fetch(self, sql: str, args: Sequence[Any], convert: Callable[[Sequence[Any]], T]) -> list[T]:
        def fetch() -> list[T]:
            try:
                return [convert(r) for r in self._conn().execute(sql, args)]
            except sqlite3.Error as err:
                raise BillingStoreError(f"billing database {self.path}: {err}") from err

        return await self._run(fetch)

    async def get(self, ref: str) -> Cdr | None:
        found = await self._run(self._select, "ref = ?", (ref,))
        return found[0] if found else None

    async def query(
        self, *, start_from: float | None = None, start_to: float | None = None, include_open: bool = False
    ) -> list[Cdr]:
        where, args = ["1 = 1"], []
        if start_from is not None:
            where.append("start_time >= ?")
            args.append(start_from)
        if start_to is not None:
            where.append("start_time < ?")
            args.append(start_to)
        if not include_open:
            where.append("end_time IS NOT NULL")
        return await self._run(self._select, " AND ".join(where), args)

    async def open_records(self, node: str | None = None) -> list[Cdr]:
        if node is None:
            return await self._run(self._select, "end_time IS NULL", ())
        return await self._run(self._select, "end_time IS NULL AND node = ?", (node,))

    async def held_reservations_of_closed_calls(self) -> list[tuple[str, Decimal]]:
        sql = (
            "SELECT r.id, c.cost FROM credit_reservations r JOIN cdr c ON c.ref = r.id"
            " WHERE r.state = 'held' AND c.end_time IS NOT NULL"
        )
        rows = await self._run(lambda: self._conn().execute(sql).fetchall())
        return [(ref, Decimal(cost)) for ref, cost in rows]

    # -- credit ----------------------------------------------------------------------

    @staticmethod
    def _balance(db: sqlite3.Connection, account: str) -> Balance | None:
        row = db.execute("SELECT currency, balance, reserved FROM credit_accounts WHERE account = ?", (account,)).fetchone()
        if row is None:
            return None
        cur, bal, res = row
        return Balance(account=account, currency=cur, balance=from_minor(bal, cur), reserved=from_minor(res, cur))

    @staticmethod
    def _reservation(db: sqlite3.Connection, rid: str) -> Reservation | None:
        row = db.execute(
            "SELECT r.account, a.currency, r.amount, r.state FROM credit_reservations r"
            " JOIN credit_accounts a ON a.account = r.account WHERE r.id = ?", (rid,),
        ).fetchone()
        if row is None:
            return None
        acc, cur, amount, state = row
        return Reservation(id=rid, account=acc, currency=cur, amount=from_minor(amount, cur), state=state)

    async def create_account(self, account: str, currency: str, balance: Decimal = Decimal(0), *,
                             admin: str | None = None, now: float = 0.0) -> Balance:
        minor = to_minor(balance, currency)

        def create(db: sqlite3.Connection) -> Balance:
            try:
                db.execute("INSERT INTO credit_accounts (account, currency, balance) VALUES (?, ?, ?)", (account, currency, minor))
            except sqlite3.IntegrityError:
                raise BillingStoreError(f"credit account {account!r} exists or balance invalid") from None
            if admin is not None:
                db.execute(sql(admin_sql.RECORD_OPENING), (account, minor, admin, now))
            bal = self._balance(db, account)
            assert bal is not None
            return bal

        return await self._run(self._tx, create)

    async def topup(self, account: str, amount: Decimal) -> Balance | None:
        def topup(db: sqlite3.Connection) -> Balance | None:
            bal = self._balance(db, account)
            if bal is None:
                return None
            try:
                db.execute(
                    "UPDATE credit_accounts SET balance = balance + ? WHERE account = ?",
                    (to_minor(amount, bal.currency), account),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"a correction of {amount} would leave {account!r} below its reserved credit") from None
            return self._balance(db, account)

        return await self._run(self._tx, topup)

    async def balance(self, account: str) -> Balance | None:
        return await self._run(self._tx, lambda db: self._balance(db, account), False)

    async def reservation(self, reservation_id: str) -> Reservation | None:
        return await self._run(self._tx, lambda db: self._reservation(db, reservation_id), False)

    @staticmethod
    def _hold(db: sqlite3.Connection, account: str, minor: int) -> bool:
        # The one conditional update that makes overspending impossible.
        cur = db.execute(
            "UPDATE credit_accounts SET reserved = reserved + ? WHERE account = ? AND balance - reserved >= ?",
            (minor, account, minor),
        )
        return cur.rowcount == 1

    async def reserve(self, account: str, amount: Decimal, *, ref: str | None = None) -> Reservation | None:
        if amount < 0:
            raise ValueError("a reservation cannot be negative")
        rid = ref or new_reservation_id()

        def reserve(db: sqlite3.Connection) -> Reservation | None:
            existing = self._reservation(db, rid)
            if existing is not None:
                return existing
            bal = self._balance(db, account)
            if bal is None:
                return None
            minor = to_minor(amount, bal.currency)
            if not self._hold(db, account, minor):
                return None
            db.execute(
                "INSERT INTO credit_reservations (id, account, amount, state, created) VALUES (?, ?, ?, 'held', ?)",
                (rid, account, minor, time.time()),
            )
            return self._reservation(db, rid)

        return await self._run(self._tx, reserve)

    async def extend(self, reservation_id: str, amount: Decimal) -> Reservation | None:
        if amount < 0:
            raise ValueError("an extension cannot be negative")

        def extend(db: sqlite3.Connection) -> Reservation | None:
            res = self._reservation(db, reservation_id)
            if res is None or res.state != "held":
                return None
            minor = to_minor(amount, res.currency)
            if not self._hold(db, res.account, minor):
                return None
            db.execute("UPDATE credit_reservations SET amount = amount + ? WHERE id = ?", (minor, reservation_id))
            return self._reservation(db, reservation_id)

        return await self._run(self._tx, extend)

    async def commit(self, reservation_id: str, actual_cost: Decimal) -> Settlement | None:
        if actual_cost < 0:
            raise ValueError("a cost cannot be negative")

        def commit(db: sqlite3.Connection) -> Settlement | None:
            res = self._reservation(db, reservation_id)
            if res is None or res.state != "held":
                return None
            held = to_minor(res.amount, res.currency)
            actual = to_minor(actual_cost, res.currency)
            charged = min(actual, held)
            db.execute(
                "UPDATE credit_accounts SET balance = balance - ?, reserved = reserved - ? WHERE account = ?",
                (charged, held, res.account),
            )
            db.execute(
                "UPDATE credit_reservations SET state = ?, charged = ?, settled = ? WHERE id = ?",
                ("committed" if actual else "released", charged, time.time(), reservation_id),
            )
            return settlement(res, charged, held, actual)

        return await self._run(self._tx, commit)

