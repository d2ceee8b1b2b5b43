"""What the report and record pages and their JSON API share: reading the
request's parameters (each error names its field), reading the billing
records, and the figures a report shows.

Records come from the billing database (``[billing] database``, SQLite or
PostgreSQL) through a store of the portal's own, opened for the request and
closed after it: SQLite's work runs on that store's worker thread and
PostgreSQL's through asyncpg, so the event loop only awaits, and the server's
own record writer (whose queue durable answers wait for) never waits behind a
report.  Sums and sorting run in a worker thread too.  Every query is bounded:
a date range of at most ``MAX_DAYS`` days, closed records only; a business
group administrator sees the records of their group only.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal
from typing import Any, Mapping

import msgspec

from b2bua.billing.cdr import Cdr
from b2bua.billing.records import DISPOSITIONS, MAX_PAGE, DayValue, RecordFilter, daily, folded, search, top
from b2bua.billing.reports import GROUPINGS, ReportRow, date_range, summarize
from b2bua.billing.store import BillingStoreError
from b2bua.runtime.admins import Admin
from b2bua.runtime.billing import store_for
from b2bua.runtime.config import Config

from .charts import Chart, ranked, stacked

MAX_DAYS = 366  # longest date range a report or a search reads
DEFAULT_DAYS = 31  # without dates: the last month, today included
SERIES = 5  # keys charted by name; the rest as "(other)"
TOP = 10  # bars of the top chart
MAX_EXPORT = 100_000  # records in one export at most
_TEXT_MAX = 64


class FieldError(ValueError):
    """A parameter's value is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


FIRST_DAY = datetime.date(1970, 1, 1)  # the dates a report or search may name: no date
LAST_DAY = datetime.date(9000, 12, 31)  # arithmetic near datetime's limits (year 1, 9999)


def _day(params: Mapping[str, str], field: str, default: datetime.date) -> datetime.date:
    text = params.get(field, "").strip()
    if not text:
        return default
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise FieldError(field, f"{field}: a date as YYYY-MM-DD, not {text[:20]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FieldError(field, f"{field}: a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def period(params: Mapping[str, str], today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The inclusive days ``from``..``to`` (default: the last ``DEFAULT_DAYS`` days)."""
    end = _day(params, "to", today)
    start = _day(params, "from", end - datetime.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise FieldError("from", "from: the first day comes before the last (to)")
    if (end - start).days >= MAX_DAYS:
        raise FieldError("to", f"to: at most {MAX_DAYS} days from the first day")
    return start, end


def grouping(params: Mapping[str, str]) -> str:
    by = params.get("by", "account-code")
    if by not in GROUPINGS:
        raise FieldError("by", f"by: one of {', '.join(GROUPINGS)}")
    return by


def _digits(params: Mapping[str, str], field: str, extra: str = "") -> str:
    text = params.get(field, "").strip()
    if len(text) > _TEXT_MAX or any(not (ch.isascii() and (ch.isdigit() or ch in extra)) for ch in text):
        raise FieldError(field, f"{field}: digits only (at most {_TEXT_MAX})")
    return text


def record_filter(params: Mapping[str, str], admin: Admin) -> RecordFilter:
    extension = params.get("extension", "").strip()
    if len(extension) > _TEXT_MAX or not all(ch.isascii() and (ch.isalnum() or ch in "._-+") for ch in extension):
        raise FieldError("extension", f"extension: letters, digits, '.', '_', '-' or '+' only (at most {_TEXT_MAX})")
    disp = params.get("disposition", "").strip().upper()
    if disp and disp not in DISPOSITIONS:
        raise FieldError("disposition", f"disposition: one of {', '.join(DISPOSITIONS)}")
    return RecordFilter(
        groups=(admin.group,) if admin.group is not None else None,
        account_code=_digits(params, "code"), extension=extension, number=_digits(params, "number", "+*#"),
        disposition=disp,
    )


def paging(params: Mapping[str, str], default: int = 50) -> tuple[int, int]:
    offset, limit = params.get("offset", "0"), params.get("limit", str(default))
    if not offset.isdigit() or int(offset) > 10**9:
        raise FieldError("offset", "offset: a whole number")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise FieldError("limit", f"limit: 1 to {MAX_PAGE}")
    return int(offset), int(limit)


class Records:
    """Reads closed billing records (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    async def between(self, start: datetime.date, end: datetime.date, admin: Admin) -> list[Cdr]:
        start_from, start_to = date_range(start.isoformat(), end.isoformat())
        store = store_for(self.config.billing, self.config.server.data_dir)
        try:
            await store.open()
            cdrs = await store.query(start_from=start_from, start_to=start_to)
        finally:
            await store.close()
        return [c for c in cdrs if admin.may_manage(c.group)]

    async def one(self, ref: str, admin: Admin) -> Cdr | None:
        store = store_for(self.config.billing, self.config.server.data_dir)
        try:
            await store.open()
            cdr = await store.get(ref)
        finally:
            await store.close()
        return cdr if cdr is not None and cdr.end is not None and admin.may_manage(cdr.group) else None

    async def search(self, start: datetime.date, end: datetime.date, f: RecordFilter, offset: int,
                     limit: int, admin: Admin) -> tuple[int, list[Cdr]]:
        cdrs = await self.between(start, end, admin)
        return await asyncio.to_thread(search, cdrs, f, offset, limit)


class Report(msgspec.Struct, kw_only=True):
    by: str
    start: datetime.date
    end: datetime.date
    rows: list[ReportRow]
    days: list[DayValue]  # per day and key (not folded)
    charts: list[Chart]
    currency: str  # of the cost chart ("" when the records use several: minutes only)


def build_report(cdrs: list[Cdr], by: str, start: datetime.date, end: datetime.date) -> Report:
    """The table and charts of a report (pure; run in a worker thread)."""
    rows = summarize(cdrs, by)
    values = daily(cdrs, by)
    currencies = {r.currency for r in rows if r.currency}
    currency = currencies.pop() if len(currencies) == 1 else ""
    minutes: dict[str, Decimal] = {}
    for v in values:
        minutes[v.key] = minutes.get(v.key, Decimal(0)) + v.minutes
    cost = {r.key: r.total_cost for r in rows} if currency else {}
    keep = top(cost or minutes, SERIES)
    series = folded(values, keep)
    keys = [*keep, "(other)"] if any(v.key == "(other)" for v in series) else keep
    name = by.replace("-", " ")
    charts = [stacked("minutes-per-day", f"Minutes per day by {name}", series, keys, "minutes", "min")]
    if currency:
        charts.insert(0, stacked("cost-per-day", f"Cost per day by {name} ({currency})", series, keys, "cost",
                                 currency))
        totals = [(k, cost[k]) for k in top(cost, TOP)]
        charts.append(ranked("top", f"Top {min(TOP, len(totals))} by cost ({currency})", totals, currency))
    else:
        charts.append(ranked("top", f"Top {TOP} by minutes", [(k, minutes[k]) for k in top(minutes, TOP)], "min"))
    return Report(by=by, start=start, end=end, rows=rows, days=values, charts=charts, currency=currency)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "by": report.by, "from": report.start.isoformat(), "to": report.end.isoformat(),
        "rows": [{"key": r.key, "calls": r.calls, "answered": r.answered, "total_duration_s": r.total_duration_s,
                  "average_duration_s": str(r.average_duration_s), "total_cost": str(r.total_cost),
                  "currency": r.currency} for r in report.rows],
    }


__all__ = ["BillingStoreError", "FieldError", "Records", "build_report", "MAX_EXPORT"]
