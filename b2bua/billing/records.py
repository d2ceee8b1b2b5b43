"""Record search and report series for the portal and the JSON API.  Pure:
records in, selections and sums out.  The databases do the same in SQL
(``b2bua.billing.record_sql``: ``BillingStore.search_records`` and
``record_sums``); the functions here are its reference and its tests' oracle.

``RecordFilter`` selects closed records: business groups (None: all; a group
administrator's one group), account code (any segment's code counts, so a call
whose code changed is found under each of its codes), extension (the caller),
number (part of the number dialed or of the destination) and disposition
(Asterisk's, as ``b2bua.billing.reports.disposition`` gives it).  ``search``
pages the selection newest first (``offset``/``limit``, the page size bounded
by ``MAX_PAGE``).  ``RecordQuery`` is what the stores page with instead: a
filter, a start range and a keyset ``Cursor`` (the start and ref of the record
a page continues after, or goes back before; ``encode``/``decode`` make it the
opaque text the pages and the API pass back).

``utc_offsets`` gives the SQL aggregate a time zone's offsets from UTC over a
range (one per stretch between its daylight-saving changes), so that a database
without time zones finds each record's local day: ``floor((start + offset) /
86400)`` days after 1970-01-01 is the local date of ``start``.

``daily`` gives the report's values per day and group key (the day of each
record's start in ``tz``): minutes of talk and cost, a call split by code
counting each segment under its own code, as ``summarize`` does.  ``top``
keeps the largest keys and folds the rest into ``OTHER`` so that a chart stays
readable.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import msgspec

from b2bua.billing.cdr import Cdr
from b2bua.billing.reports import EPOCH_DAY, PartSum, disposition, part_sums

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
    return day_values(part_sums(cdrs, by, tz))


def day_values(parts: Iterable[PartSum]) -> list[DayValue]:
    """Per (day, key): the talk (the parts' milliseconds summed) in minutes to a tenth,
    and the cost, every currency together."""
    sums: dict[tuple[int, str], tuple[int, Decimal]] = {}
    for p in parts:
        ms, money = sums.get((p.day, p.key), (0, Decimal(0)))
        sums[(p.day, p.key)] = (ms + p.talk_ms, money + p.cost)
    return [
        DayValue(day=(EPOCH_DAY + timedelta(days=day)).isoformat(), key=key,
                 minutes=(Decimal(ms) / 60000).quantize(Decimal("0.1")), cost=money)
        for (day, key), (ms, money) in sorted(sums.items())
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


class Cursor(msgspec.Struct, frozen=True):
    """Where a page of records starts or ends: a record's start and ref (the keyset
    order, newest first), and its rank (1 = the newest match; shown only)."""

    start: float
    ref: str
    rank: int


class RecordQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A page of closed records: those ``filter`` selects whose start is in
    ``[start_from, start_to)``, newest first, ``limit`` of them after the cursor
    ``after`` (older; ``offset`` more skipped) or before ``before`` (newer; the
    page nearest to it)."""

    filter: RecordFilter = RecordFilter()
    start_from: float | None = None
    start_to: float | None = None
    after: Cursor | None = None
    before: Cursor | None = None
    limit: int = 50
    offset: int = 0


def encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode(text: str) -> Cursor:
    """The cursor ``encode`` gave; ValueError for anything else."""
    if len(text) > 400:
        raise ValueError("not a cursor this server gave")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.ValidationError) as err:
        raise ValueError("not a cursor this server gave") from err
    if not math.isfinite(cursor.start) or not 0 < cursor.rank <= 10**12 or len(cursor.ref) > 200:
        raise ValueError("not a cursor this server gave")
    return cursor


def utc_offsets(zone: ZoneInfo | timezone, start: float, end: float) -> tuple[list[float], list[int]]:
    """``(changes, offsets)``: ``zone``'s offset from UTC in seconds is ``offsets[i]``
    before ``changes[i]`` and ``offsets[-1]`` from the last change on, for every time
    in ``[start, end)`` (a change found to the second between two midnights)."""

    def offset(t: float) -> int:
        return int((datetime.fromtimestamp(t, zone).utcoffset() or timedelta(0)).total_seconds())

    changes: list[float] = []
    offsets = [offset(start)]
    t = math.floor(start)
    while t < end:
        nxt = min(t + 86400, math.ceil(end))
        if offset(nxt) != offsets[-1]:
            lo, hi = t, nxt  # offset(lo) is the current one, offset(hi) the next
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offsets[-1] else (lo, mid)
            changes.append(float(hi))
            offsets.append(offset(hi))
        t = nxt
    return changes, offsets
