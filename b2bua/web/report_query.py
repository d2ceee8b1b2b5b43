"""What the report and record pages and their JSON API share: reading the
request's parameters (each error names its field), reading the billing
records, and the figures a report shows.

Records come from the billing database (``[billing] database``, SQLite or
PostgreSQL) through a store of the portal's own, opened for the request and
closed after it: SQLite's work runs on that store's worker thread and
PostgreSQL's through asyncpg, so the event loop only awaits, and the server's
own record writer (whose queue durable answers wait for) never waits behind a
report.  The database filters, pages and sums (``b2bua.billing.record_sql``):
a search reads one page (keyset paging, ``Cursor``; the count stops at
``record_sql.MAX_COUNT``), a report the sums per day and key, never the
records themselves; an export pages through the search, ``MAX_EXPORT``
records at most.  Dates are days of ``[billing] timezone``; a range is at most
``MAX_DAYS`` days; closed records only; a business group administrator sees
the records of their group only.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal
from typing import Any, AsyncGenerator, Mapping

import msgspec

from b2bua.billing.cdr import Cdr
from b2bua.billing.record_sql import MAX_COUNT
from b2bua.billing.records import (
    DISPOSITIONS, MAX_PAGE, Cursor, DayValue, RecordFilter, RecordQuery, day_values, decode, folded, top,
    utc_offsets,
)
from b2bua.billing.reports import GROUPINGS, PartSum, ReportRow, date_range, totals
from b2bua.billing.store import BillingStore, BillingStoreError
from b2bua.runtime.admins import Admin
from b2bua.runtime.billing import store_for
from b2bua.runtime.config import Config

from .charts import Chart, ranked, stacked

MAX_DAYS = 3660  # longest date range a report or a search reads: ten years (the database sums)
DEFAULT_DAYS = 31  # without dates: the last month, today included
SERIES = 5  # keys charted by name; the rest as "(other)"
TOP = 10  # bars of the top chart
MAX_EXPORT = 100_000  # records in one export at most
EXPORT_CHUNK = 1000  # records an export reads at a time
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
        groups=_groups(admin),
        account_code=_digits(params, "code"), extension=extension, number=_digits(params, "number", "+*#"),
        disposition=disp,
    )


def _groups(admin: Admin) -> tuple[str, ...] | None:
    return (admin.group,) if admin.group is not None else None


def paging(params: Mapping[str, str], default: int = 50) -> tuple[int, int, Cursor | None, Cursor | None]:
    """``(offset, limit, after, before)``: a page size and where the page starts
    (``after``/``before``: cursors a page gave; ``offset``: records to skip)."""
    offset, limit = params.get("offset", "0"), params.get("limit", str(default))
    if not offset.isdigit() or int(offset) > 10**9:
        raise FieldError("offset", "offset: a whole number")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise FieldError("limit", f"limit: 1 to {MAX_PAGE}")
    cursors: list[Cursor | None] = []
    for name in ("after", "before"):
        text = params.get(name, "")
        try:
            cursors.append(decode(text) if text else None)
        except ValueError as err:
            raise FieldError(name, f"{name}: {err}") from None
    if cursors[0] is not None and cursors[1] is not None:
        raise FieldError("before", "before: either after or before, not both")
    return int(offset), int(limit), cursors[0], cursors[1]


class Page(msgspec.Struct, kw_only=True):
    """One page of a record search, newest first."""

    records: list[Cdr]
    total: int  # matches, counted up to record_sql.MAX_COUNT
    exact: bool  # False: there are at least ``total``
    first: int  # the rank of the page's first record (1: the newest match)
    after: Cursor | None  # the next (older) page, if any
    before: Cursor | None  # the previous (newer) page, if any


class Records:
    """Reads closed billing records (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.zone = config.billing.zone

    def today(self) -> datetime.date:
        return datetime.datetime.now(self.zone).date()

    def range(self, start: datetime.date, end: datetime.date) -> tuple[float, float]:
        """The days as ``[start, end)`` epoch seconds."""
        first, stop = date_range(start.isoformat(), end.isoformat(), self.config.billing.timezone)
        assert first is not None and stop is not None
        return first, stop

    def _store(self) -> BillingStore:
        return store_for(self.config.billing, self.config.server.data_dir)

    async def one(self, ref: str, admin: Admin) -> Cdr | None:
        store = self._store()
        try:
            await store.open()
            cdr = await store.get(ref)
        finally:
            await store.close()
        return cdr if cdr is not None and cdr.end is not None and admin.may_manage(cdr.group) else None

    async def search(self, start: datetime.date, end: datetime.date, f: RecordFilter, limit: int, *,
                     after: Cursor | None = None, before: Cursor | None = None, offset: int = 0) -> Page:
        """A page of the records ``f`` selects; ``offset`` skips records after ``after``."""
        start_from, start_to = self.range(start, end)
        q = RecordQuery(filter=f, start_from=start_from, start_to=start_to, after=after, before=before,
                        limit=limit + 1, offset=offset)
        store = self._store()
        try:
            await store.open()
            rows = await store.search_records(q)
            total = await store.count_records(q, MAX_COUNT)
        finally:
            await store.close()
        if before is not None:
            more_newer = len(rows) > limit
            records = rows[-limit:]
            first = max(1, before.rank - len(records))
        else:
            records = rows[:limit]
            more_newer = after is not None or offset > 0
            first = (after.rank if after is not None else 0) + offset + 1
        more_older = before is not None or len(rows) > limit
        return Page(
            records=records, total=total, exact=total < MAX_COUNT, first=first,
            after=Cursor(records[-1].start, records[-1].ref, first + len(records) - 1)
            if records and more_older else None,
            before=Cursor(records[0].start, records[0].ref, first) if records and more_newer else None,
        )

    async def export(self, start: datetime.date, end: datetime.date,
                     f: RecordFilter) -> AsyncGenerator[list[Cdr], None]:
        """The records ``f`` selects, newest first, a chunk at a time (``MAX_EXPORT`` at most)."""
        start_from, start_to = self.range(start, end)
        store = self._store()
        try:
            await store.open()
            after, sent = None, 0
            while sent < MAX_EXPORT:
                limit = min(EXPORT_CHUNK, MAX_EXPORT - sent)
                chunk = await store.search_records(RecordQuery(
                    filter=f, start_from=start_from, start_to=start_to, after=after, limit=limit))
                if chunk:
                    yield chunk
                if len(chunk) < limit:
                    break
                sent += len(chunk)
                after = Cursor(chunk[-1].start, chunk[-1].ref, sent)
        finally:
            await store.close()

    async def report(self, by: str, start: datetime.date, end: datetime.date, admin: Admin) -> Report:
        """The report of the days by ``by`` (summed by the database)."""
        start_from, start_to = self.range(start, end)
        offsets = utc_offsets(self.zone, start_from, start_to)
        store = self._store()
        try:
            await store.open()
            parts = await store.record_sums(by, RecordFilter(groups=_groups(admin)), start_from, start_to, offsets)
        finally:
            await store.close()
        return await asyncio.to_thread(build_report, parts, by, start, end)


class Report(msgspec.Struct, kw_only=True):
    by: str
    start: datetime.date
    end: datetime.date
    rows: list[ReportRow]
    days: list[DayValue]  # per day and key (not folded)
    charts: list[Chart]
    currency: str  # of the cost chart ("" when the records use several: minutes only)


def build_report(parts: list[PartSum], by: str, start: datetime.date, end: datetime.date) -> Report:
    """The table and charts of a report from its sums (pure; run in a worker thread)."""
    rows = totals(parts)
    values = day_values(parts)
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
        charts.append(_top_chart(cost, f"by cost ({currency})", currency))
    else:
        charts.append(_top_chart(minutes, "by minutes", "min"))
    return Report(by=by, start=start, end=end, rows=rows, days=values, charts=charts, currency=currency)


def _top_chart(values: dict[str, Decimal], what: str, unit: str) -> Chart:
    """The ranked chart of the largest keys; its title counts the bars drawn (a key
    that cost nothing, or talked for no time, gets none)."""
    drawn = [(k, values[k]) for k in top(values, TOP) if values[k] > 0]
    return ranked("top", f"Top {len(drawn)} {what}", drawn, unit)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "by": report.by, "from": report.start.isoformat(), "to": report.end.isoformat(),
        "rows": [{"key": r.key, "calls": r.calls, "answered": r.answered, "total_duration_s": r.total_duration_s,
                  "average_duration_s": str(r.average_duration_s), "total_cost": str(r.total_cost),
                  "currency": r.currency} for r in report.rows],
    }


__all__ = ["BillingStoreError", "FieldError", "Records", "build_report", "MAX_EXPORT"]
