"""Rate plans, rates and credit administration on the SQLite billing store (see
``b2bua.billing.admin_sql``): a mixin of ``SqliteStore``, every operation one
transaction on the store's worker thread."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from . import admin_sql as q
from .credit import Balance
from .rating import RatePlan, RatingError
from .tariffs import PlanInfo, RateRow, plan_rows

if TYPE_CHECKING:
    from .store import BillingStore as _Base
else:
    _Base = object

T = TypeVar("T")
_sql_cache: dict[str, str] = {}


def sql(text: str) -> str:
    """PostgreSQL's ``$n`` placeholders as SQLite's ``?n``."""
    found = _sql_cache.get(text)
    if found is None:
        found = _sql_cache[text] = re.sub(r"\$(\d+)", r"?\1", text)
    return found


class SqliteAdmin(_Base):
    _tx: Callable[..., Any]
    _run: Callable[..., Any]

    _balance: Callable[[sqlite3.Connection, str], Balance | None]

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._run(self._tx, fn, False)
        return result

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._run(self._tx, fn)
        return result

    async def rates_version(self) -> int:
        return await self._read(lambda db: int(db.execute(q.VERSION).fetchone()[0]))

    async def rate_plan_infos(self) -> list[PlanInfo]:
        return await self._read(lambda db: [q.row_to_plan(r) for r in db.execute(q.PLANS)])

    async def rate_rows(self) -> list[RateRow]:
        return await self._read(lambda db: [q.row_to_rate(r) for r in db.execute(q.ALL_RATES)])

    async def seed_rate_plans(self, plans: Sequence[RatePlan], now: float) -> list[str]:
        def seed(db: sqlite3.Connection) -> list[str]:
            stored = {name for (name,) in db.execute(q.PLAN_NAMES)}
            added = [p for p in plans if p.name not in stored]
            for plan in added:
                db.execute(sql(q.INSERT_PLAN), (plan.name, plan.currency, now))
                db.executemany(sql(q.UPSERT_RATE), [q.rate_values(r) for r in plan_rows(plan)])
            if added:
                db.execute(q.BUMP)
            return [p.name for p in added]

        return await self._write(seed)

    async def save_rate_plan(self, name: str, currency: str, now: float, *, create: bool) -> None:
        def save(db: sqlite3.Connection) -> None:
            if create:
                try:
                    db.execute(sql(q.INSERT_PLAN), (name, currency, now))
                except sqlite3.IntegrityError:
                    raise RatingError(f"name: a rate plan {name!r} exists") from None
            elif db.execute(sql(q.UPDATE_PLAN), (name, currency, now)).rowcount == 0:
                raise RatingError(f"name: no rate plan {name!r}")
            db.execute(q.BUMP)

        await self._write(save)

    async def delete_rate_plan(self, name: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            db.execute(sql(q.DELETE_PLAN_RATES), (name,))
            gone = db.execute(sql(q.DELETE_PLAN), (name,)).rowcount == 1
            db.execute(q.BUMP)
            return gone

        return await self._write(delete)

    async def import_rates(self, rows: Sequence[RateRow], *, replace: bool = False) -> int:
        def load(db: sqlite3.Connection) -> int:
            stored = {name for (name,) in db.execute(q.PLAN_NAMES)}
            named = list(dict.fromkeys(r.plan for r in rows))
            missing = [p for p in named if p not in stored]
            if missing:
                raise RatingError(f"plan: no rate plan {missing[0]!r} (create it first)")
            if replace:
                db.executemany(sql(q.DELETE_PLAN_RATES), [(p,) for p in named])
            db.executemany(sql(q.UPSERT_RATE), [q.rate_values(r) for r in rows])
            db.execute(q.BUMP)
            return len(rows)

        return await self._write(load)

    async def delete_rate(self, plan: str, prefix: str, call_class: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            gone = db.execute(sql(q.DELETE_RATE), (plan, prefix, call_class)).rowcount == 1
            db.execute(q.BUMP)
            return gone

        return await self._write(delete)

    async def search_rates(self, plan: str, text: str, *, offset: int, limit: int) -> tuple[int, list[RateRow]]:
        args = (plan, text, q.like_pattern(text))

        def search(db: sqlite3.Connection) -> tuple[int, list[RateRow]]:
            (total,) = db.execute(sql(q.SEARCH_COUNT), args).fetchone()
            rows = [q.row_to_rate(r) for r in db.execute(sql(q.SEARCH), (*args, limit, offset))]
            return int(total), rows

        return await self._read(search)

    async def export_rates(self, plan: str = "") -> list[RateRow]:
        return await self._read(lambda db: [q.row_to_rate(r) for r in db.execute(sql(q.EXPORT), (plan,))])

    async def credit_accounts(self, text: str = "", *, offset: int = 0, limit: int = 100) -> tuple[int, list[Balance]]:
        args = (text, q.like_pattern(text))

        def accounts(db: sqlite3.Connection) -> tuple[int, list[Balance]]:
            (total,) = db.execute(sql(q.COUNT_ACCOUNTS), args).fetchone()
            rows = db.execute(sql(q.LIST_ACCOUNTS), (*args, limit, offset)).fetchall()
            return int(total), [q.row_to_balance(r) for r in rows]

        return await self._read(accounts)

    async def adjust_credit(self, account: str, amount: Decimal, *, admin: str, note: str, now: float) -> Balance | None:
        note = q.check_note(note)

        def adjust(db: sqlite3.Connection) -> Balance | None:
            bal = self._balance(db, account)
            if bal is None:
                return None
            minor = q.minor_amount(amount, bal.currency)
            try:
                db.execute(sql(q.ADJUST), (account, minor))
            except sqlite3.IntegrityError:
                raise ValueError(q.below_reserved(amount, bal)) from None
            db.execute(sql(q.RECORD_TOPUP), (account, minor, admin, now, note))
            return self._balance(db, account)

        return await self._write(adjust)

    async def credit_history(self, account: str, limit: int = 100) -> list[q.TopUp]:
        return await self._read(lambda db: [q.row_to_topup(r) for r in db.execute(sql(q.TOPUPS), (account, limit))])

    async def credit_charges(self, account: str, limit: int = 100) -> list[q.Charge]:
        return await self._read(lambda db: [q.row_to_charge(r) for r in db.execute(sql(q.CHARGES), (account, limit))])
