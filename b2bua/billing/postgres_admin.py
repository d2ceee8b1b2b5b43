"""Rate plans, rates and credit administration on the PostgreSQL billing store (see
``b2bua.billing.admin_sql``): a mixin of ``PostgresStore``, every operation one
transaction.  Rate changes take the row of ``rates_version`` first (its UPDATE), so
concurrent imports from several nodes apply one after the other."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

import asyncpg  # type: ignore[import-untyped]

from . import admin_sql as q
from .credit import Balance
from .rating import RatePlan, RatingError
from .tariffs import PlanInfo, RateRow, plan_rows

if TYPE_CHECKING:
    from .store import BillingStore as _Base
else:
    _Base = object


class PostgresAdmin(_Base):
    _tx: Callable[..., Any]
    _balance: Callable[..., Any]  # PostgresStore's

    async def rates_version(self) -> int:
        async with self._tx() as con:
            return int(await con.fetchval(q.VERSION))

    async def rate_plan_infos(self) -> list[PlanInfo]:
        async with self._tx() as con:
            return [q.row_to_plan(tuple(r)) for r in await con.fetch(q.PLANS)]

    async def rate_rows(self) -> list[RateRow]:
        async with self._tx() as con:
            rows = await con.fetch(q.ALL_RATES)
        return [q.row_to_rate(tuple(r)) for r in rows]

    async def seed_rate_plans(self, plans: Sequence[RatePlan], now: float) -> list[str]:
        try:
            async with self._tx() as con:
                await con.execute(q.BUMP)  # serialises seeding nodes on the version row
                stored = {r["name"] for r in await con.fetch(q.PLAN_NAMES)}
                added = [p for p in plans if p.name not in stored]
                for plan in added:
                    await con.execute(q.INSERT_PLAN, plan.name, plan.currency, now)
                    await con.executemany(q.UPSERT_RATE, [q.rate_values(r, Decimal) for r in plan_rows(plan)])
                if not added:
                    raise _Unchanged
        except _Unchanged:
            return []
        return [p.name for p in added]

    async def save_rate_plan(self, name: str, currency: str, now: float, *, create: bool) -> None:
        try:
            async with self._tx() as con:
                await con.execute(q.BUMP)
                if create:
                    await con.execute(q.INSERT_PLAN, name, currency, now)
                elif await con.fetchval(q.UPDATE_PLAN + " RETURNING name", name, currency, now) is None:
                    raise RatingError(f"name: no rate plan {name!r}")
        except Exception as err:
            if isinstance(err.__cause__, asyncpg.UniqueViolationError):
                raise RatingError(f"name: a rate plan {name!r} exists") from None
            raise

    async def delete_rate_plan(self, name: str) -> bool:
        async with self._tx() as con:
            await con.execute(q.BUMP)
            await con.execute(q.DELETE_PLAN_RATES, name)
            return await con.fetchval(q.DELETE_PLAN + " RETURNING name", name) is not None

    async def import_rates(self, rows: Sequence[RateRow], *, replace: bool = False) -> int:
        async with self._tx() as con:
            await con.execute(q.BUMP)
            stored = {r["name"] for r in await con.fetch(q.PLAN_NAMES)}
            named = list(dict.fromkeys(r.plan for r in rows))
            missing = [p for p in named if p not in stored]
            if missing:
                raise RatingError(f"plan: no rate plan {missing[0]!r} (create it first)")
            if replace:
                await con.executemany(q.DELETE_PLAN_RATES, [(p,) for p in named])
            await con.executemany(q.UPSERT_RATE, [q.rate_values(r, Decimal) for r in rows])
        return len(rows)

    async def delete_rate(self, plan: str, prefix: str, call_class: str) -> bool:
        async with self._tx() as con:
            await con.execute(q.BUMP)
            return await con.fetchval(q.DELETE_RATE + " RETURNING plan", plan, prefix, call_class) is not None

    async def search_rates(self, plan: str, text: str, *, offset: int, limit: int) -> tuple[int, list[RateRow]]:
        args = (plan, text, q.like_pattern(text))
        async with self._tx() as con:
            total = await con.fetchval(q.SEARCH_COUNT, *args)
            rows = await con.fetch(q.SEARCH, *args, limit, offset)
        return int(total), [q.row_to_rate(tuple(r)) for r in rows]

    async def export_rates(self, plan: str = "") -> list[RateRow]:
        async with self._tx() as con:
            rows = await con.fetch(q.EXPORT, plan)
        return [q.row_to_rate(tuple(r)) for r in rows]

    async def credit_accounts(self, text: str = "", *, offset: int = 0, limit: int = 100) -> tuple[int, list[Balance]]:
        args = (text, q.like_pattern(text))
        async with self._tx() as con:
            total = await con.fetchval(q.COUNT_ACCOUNTS, *args)
            rows = await con.fetch(q.LIST_ACCOUNTS, *args, limit, offset)
        return int(total), [q.row_to_balance(tuple(r)) for r in rows]

    async def adjust_credit(self, account: str, amount: Decimal, *, admin: str, note: str, now: float) -> Balance | None:
        note = q.check_note(note)
        bal = None
        try:
            async with self._tx() as con:
                cur = await con.fetchval("SELECT currency FROM credit_accounts WHERE account = $1 FOR UPDATE", account)
                if cur is None:
                    return None
                bal = await self._balance(con, account)
                minor = q.minor_amount(amount, cur)
                await con.execute(q.ADJUST, account, minor)
                await con.execute(q.RECORD_TOPUP, account, minor, admin, now, note)
                return await self._balance(con, account)
        except Exception as err:
            if bal is not None and isinstance(err.__cause__, asyncpg.CheckViolationError):
                raise ValueError(q.below_reserved(amount, bal)) from None
            raise

    async def credit_history(self, account: str, limit: int = 100) -> list[q.TopUp]:
        async with self._tx() as con:
            rows = await con.fetch(q.TOPUPS, account, limit)
        return [q.row_to_topup(tuple(r)) for r in rows]

    async def credit_charges(self, account: str, limit: int = 100) -> list[q.Charge]:
        async with self._tx() as con:
            rows = await con.fetch(q.CHARGES, account, limit)
        return [q.row_to_charge(tuple(r)) for r in rows]


class _Unchanged(Exception):
    """Rolls back a seeding transaction that inserted nothing (the version stays)."""
