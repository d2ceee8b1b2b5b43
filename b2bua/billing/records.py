"""Record search and report series for the portal and the JSON API.  Pure:
records in, selections and sums out (the store reads the records of a date
range; ``b2bua.web.report_pages`` and ``b2bua.web.report_api`` serve them).

``RecordFilter`` selects closed records: business groups (None: all; a group
administrator's one group), account code (any segment's code counts, so a call
whose code changed is found under each of its codes), extension (the caller),
number (part of the number dialed or of the destination) and disposition
(Asterisk's, as ``b2bua.billing.reports.disposition`` gives it).  ``search``
pages the selection newest first (``offset``/``limit``, the page size bounded
by ``MAX_PAGE``).

``daily`` gives the report's values per day and group key (the day of each
record's start in ``tz``): minutes of talk and cost, a call split by code
counting each segment under its own code, as ``summarize`` does.  ``top``
keeps the largest keys and folds the rest into ``OTHER`` so that a chart stays
readable.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import msgspec

from b2bua.billing.cdr import Cdr
from b2bua.billing.reports import GROUPINGS, disposition, record_parts

DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED")
MAX_PAGE = 200  # records per page at most
OTHER = "(other)"


class RecordFilter(msgspec.Struct, frozen=True, kw_only=True):
    groups: tuple[str, ...] | None = None  # business groups; None: every group
    account_code: str = ""
    extension: str = ""
    number: str = ""
    disposition: str = ""  # one of DISPOSITIONS, or "" for any


def matches(cdr: Cdr, f: RecordFilter) -> bool:
    if f.groups is not None and cdr.group not in f.groups:
        return False
    if f.account_code and f.account_code != cdr.account_code \
            and all(ch.account_code != f.account_code for ch in cdr.code_changes):
        return False
    if f.extension and cdr.caller != f.extension:
        return False
    if f.number and f.number not in cdr.dialed and f.number not in cdr.destination:
        return False
    return not f.disposition or disposition(cdr) == f.disposition


def search(cdrs: Iterable[Cdr], f: RecordFilter, offset: int, limit: int) -> tuple[int, list[Cdr]]:
    """(how many match, the page of them from ``offset``), newest first."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit is 1 to {MAX_PAGE}, offset at least 0")
    found = selected(cdrs, f)
    return len(found), found[offset:offset + limit]


def selected(cdrs: Iterable[Cdr], f: RecordFilter) -> list[Cdr]:
    """Every record ``f`` selects, newest first."""
    return sorted((c for c in cdrs if matches(c, f)), key=lambda c: (c.start, c.ref), reverse=True)


class DayValue(msgspec.Struct, frozen=True, kw_only=True):
    day: str  # YYYY-MM-DD
    key: str
    minutes: Decimal
    cost: Decimal


def daily(cdrs: Iterable[Cdr], by: str, tz: ZoneInfo | timezone = timezone.utc) -> list[DayValue]:
    """Talk minutes and cost per (day, key), by day then key."""
    GROUPINGS[by]  # KeyError for an unknown grouping
    sums: dict[tuple[str, str], tuple[float, Decimal]] = {}
    for c in cdrs:
        day = datetime.fromtimestamp(c.start, tz).date().isoformat()
        for key, talk, price in record_parts(c, by):
            seconds, money = sums.get((day, key), (0.0, Decimal(0)))
            sums[(day, key)] = (seconds + (talk if c.answer is not None else 0.0), money + price)
    return [
        DayValue(day=day, key=key, minutes=(Decimal(round(s * 1000)) / 60000).quantize(Decimal("0.1")), cost=money)
        for (day, key), (s, money) in sorted(sums.items())
    ]


def top(totals: dict[str, Decimal], n: int) -> list[str]:
    """The ``n`` keys with the largest totals (ties by name)."""
    return [k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def folded(values: Sequence[DayValue], keep: Sequence[str]) -> list[DayValue]:
    """``values`` with every key outside ``keep`` summed per day as ``OTHER``."""
    out: dict[tuple[str, str], DayValue] = {}
    for v in values:
        key = v.key if v.key in keep else OTHER
        cur = out.get((v.day, key))
        out[(v.day, key)] = v if cur is None and key == v.key else DayValue(
            day=v.day, key=key, minutes=(cur.minutes if cur else Decimal(0)) + v.minutes,
            cost=(cur.cost if cur else Decimal(0)) + v.cost,
        )
    return sorted(out.values(), key=lambda v: (v.day, v.key))
