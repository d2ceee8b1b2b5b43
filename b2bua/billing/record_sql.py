"""Record search and report sums in SQL, shared by the SQLite and PostgreSQL
stores (``BillingStore.search_records``, ``count_records``, ``record_sums``).
Pure: a query in, SQL text and its parameters out; a ``Dialect`` holds what
the two engines spell differently (placeholders, JSON, exact money sums).

Search (:func:`search`): the closed records a ``RecordQuery`` selects, every
filter of ``RecordFilter`` a WHERE clause with parameters (the number's LIKE
pattern escaped), newest first by ``(start_time, ref)``, a page of ``limit``
rows after (or before) the keyset cursor: with the indexes of ``MIGRATION``
the database reads the page, not the range.  :func:`count` counts the matches
up to a cap (a year of a call centre's calls is millions of rows: the pages
say "at least" beyond it).

Report sums (:func:`sums`): one row per (local day, group key, currency) with
calls, answered, talk milliseconds and the exact cost, the sums
``b2bua.billing.reports.part_sums`` makes in Python (a record split by code
counts under each of its codes with its segments' talk and cost, merged per
code).  A record's local day is ``floor((start_time + offset) / 86400)``
with the time zone's offset at its start (``records.utc_offsets``: a CASE
over the range's daylight-saving changes, so a 23- or 25-hour day is a day).
Money is summed exactly: PostgreSQL's NUMERIC ``sum``, on SQLite ``decsum``
(:class:`DecimalSum`, registered on the store's connection: the cost column
is decimal text).  Talk is rounded to the millisecond per part, as in Python
(durations have millisecond precision).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

from .admin_sql import like_pattern
from .cdr import Cdr
from .records import RecordFilter, RecordQuery
from .reports import PartSum
from .store import COLUMN_NAMES, row_to_cdr

T = TypeVar("T")

MAX_COUNT = 10_000  # matches counted at most (a page says "10000 or more")

# billing migration step 5: indexes serving the keyset search (newest first) over
# all records, one business group's and one caller's; (start_time, ref) replaces
# cdr_start (start_time), of which it is an extension
MIGRATION = [
    "DROP INDEX cdr_start",
    "CREATE INDEX cdr_start_ref ON cdr (start_time, ref)",
    "CREATE INDEX cdr_group_start ON cdr (business_group, start_time, ref)",
    "CREATE INDEX cdr_caller_start ON cdr (caller, start_time, ref)",
]


class Dialect(NamedTuple):
    param: str  # a placeholder, from its number: "?{}" or "${}"
    number: str  # a numeric placeholder: "?{}" or "${}::float8"
    segmented: str  # the record c is split by code (b2bua.billing.cdr.segmented)
    segments: str  # FROM item: c's account-code segments as s(value)
    seg_code: str  # a segment's account code, duration (seconds) and cost
    seg_duration: str
    seg_cost: str
    has_code: str  # a segment of c has the code {} (a placeholder)
    money_sum: str  # exact sum of decimal amounts
    ms: str  # seconds {} as whole milliseconds
    day: str  # epoch seconds {} as whole days (from 1970 on)


SQLITE = Dialect(
    param="?{}", number="?{}",
    segmented=("c.code_changes <> '[]' AND c.answer_time IS NOT NULL"
               " AND json_extract(c.code_changes, '$[0].at') <= c.answer_time"),
    segments="json_each(c.code_changes) s", seg_code="json_extract(s.value, '$.account_code')",
    seg_duration="json_extract(s.value, '$.duration')", seg_cost="json_extract(s.value, '$.cost')",
    has_code=("c.code_changes <> '[]' AND EXISTS (SELECT 1 FROM json_each(c.code_changes) s"
              " WHERE json_extract(s.value, '$.account_code') = {})"),
    money_sum="decsum", ms="CAST(round(({}) * 1000) AS INTEGER)", day="CAST(({}) / 86400 AS INTEGER)",
)
POSTGRES = Dialect(
    param="${}", number="${}::float8",
    segmented=("jsonb_array_length(c.code_changes) > 0 AND c.answer_time IS NOT NULL"
               " AND (c.code_changes->0->>'at')::float8 <= c.answer_time"),
    segments="jsonb_array_elements(c.code_changes) s(value)", seg_code="(s.value->>'account_code')",
    seg_duration="(s.value->>'duration')::float8", seg_cost="(s.value->>'cost')::numeric",
    has_code="c.code_changes @> jsonb_build_array(jsonb_build_object('account_code', {}::text))",
    money_sum="sum", ms="round(({}) * 1000)::bigint", day="floor(({}) / 86400)::bigint",
)

DISPOSITION_SQL = {
    "ANSWERED": "c.answer_time IS NOT NULL",
    "BUSY": "c.answer_time IS NULL AND c.status IN (486, 600)",
    "NO ANSWER": "c.answer_time IS NULL AND c.status IN (408, 480, 487)",
    "FAILED": "c.answer_time IS NULL AND c.status NOT IN (486, 600, 408, 480, 487)",
}
KEYS = {  # a whole record's group key (b2bua.billing.reports.GROUPINGS)
    "account-code": "CASE WHEN c.account_code = '' THEN '(none)' ELSE c.account_code END",
    "department": "CASE WHEN c.department = '' THEN '(none)' ELSE c.department END",
    "extension": "c.caller",
    "trunk": "CASE WHEN substr(c.route, 1, 6) = 'trunk:' AND length(c.route) > 6 THEN substr(c.route, 7)"
             " ELSE '(no trunk)' END",
}
_COLS = ", ".join(f"c.{name}" for name in COLUMN_NAMES)


class _Args:
    """Parameters in order and their placeholders."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any, numeric: bool = False) -> str:
        self.values.append(value)
        return (self.dialect.number if numeric else self.dialect.param).format(len(self.values))


def _where(a: _Args, f: RecordFilter, start_from: float | None, start_to: float | None) -> list[str]:
    where = ["c.end_time IS NOT NULL"]
    if start_from is not None:
        where.append(f"c.start_time >= {a(start_from, True)}")
    if start_to is not None:
        where.append(f"c.start_time < {a(start_to, True)}")
    if f.groups is not None:
        if len(f.groups) == 1:  # one group: an equality, which its index serves in order
            where.append(f"c.business_group = {a(f.groups[0])}")
        else:
            where.append(f"c.business_group IN ({', '.join(a(g) for g in f.groups)})" if f.groups else "1 = 0")
    if f.account_code:
        code = a(f.account_code)
        where.append(f"(c.account_code = {code} OR ({a.dialect.has_code.format(code)}))")
    if f.extension:
        where.append(f"c.caller = {a(f.extension)}")
    if f.number:
        pattern = a(like_pattern(f.number))
        where.append(f"(c.dialed LIKE {pattern} ESCAPE '!' OR c.destination LIKE {pattern} ESCAPE '!')")
    if f.disposition:
        where.append(DISPOSITION_SQL[f.disposition])
    return where


def search(q: RecordQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The page's rows (``COLUMN_NAMES``), in the order to read them: newest first,
    except with ``before``, oldest first (the caller reverses them)."""
    a = _Args(dialect)
    cursor, order, start_from, start_to = q.after, "DESC", q.start_from, q.start_to
    if q.before is not None:
        cursor, order = q.before, "ASC"
    # the cursor's start replaces the range's bound on its side when it is inside the
    # range: one bound per side, which SQLite's index range then uses (not the wider one)
    if cursor is not None and order == "DESC" and (start_to is None or cursor.start < start_to):
        start_to = None
    if cursor is not None and order == "ASC" and (start_from is None or cursor.start >= start_from):
        start_from = None
    where = _where(a, q.filter, start_from, start_to)
    if cursor is not None:
        start, ref = a(cursor.start, True), a(cursor.ref)
        op = "<" if order == "DESC" else ">"
        # the row value bounds PostgreSQL's index range, the start's own bound SQLite's
        where.append(f"c.start_time {op}= {start} AND (c.start_time, c.ref) {op} ({start}, {ref})")
    sql = (f"SELECT {_COLS} FROM cdr c WHERE {' AND '.join(where)}"
           f" ORDER BY c.start_time {order}, c.ref {order} LIMIT {a(q.limit)}"
           + (f" OFFSET {a(q.offset)}" if q.offset and q.before is None else ""))
    return sql, a.values


def count(q: RecordQuery, dialect: Dialect, cap: int = MAX_COUNT) -> tuple[str, list[Any]]:
    """How many records the query's filter and range select, ``cap`` at most."""
    a = _Args(dialect)
    where = _where(a, q.filter, q.start_from, q.start_to)
    return f"SELECT count(*) FROM (SELECT 1 FROM cdr c WHERE {' AND '.join(where)} LIMIT {a(cap)}) m", a.values


def sums(by: str, f: RecordFilter, start_from: float | None, start_to: float | None,
         offsets: tuple[Sequence[float], Sequence[int]], dialect: Dialect) -> tuple[str, list[Any]]:
    """Rows ``(day, key, currency, calls, answered, talk_ms, cost)`` (``PartSum``;
    unordered: ``RecordQueries`` sorts them in Python, by codepoints as ``part_sums``)."""
    d = dialect
    a = _Args(d)
    where = " AND ".join(_where(a, f, start_from, start_to))
    talk = f"CASE WHEN c.answer_time IS NOT NULL THEN {d.ms.format('c.duration')} ELSE 0 END"
    answered = "CASE WHEN c.answer_time IS NOT NULL THEN 1 ELSE 0 END"
    whole = (f"SELECT {KEYS[by]} AS k, c.currency AS cur, c.start_time AS t, {answered} AS answered,"
             f" {talk} AS ms, c.cost AS cost FROM cdr c WHERE {where}")
    if by == "account-code":
        code = f"CASE WHEN {d.seg_code} = '' THEN '(none)' ELSE {d.seg_code} END"
        split = (f"SELECT c.ref AS ref, {code} AS k, c.currency AS cur, c.start_time AS t,"
                 f" {d.seg_duration} AS talk, {d.seg_cost} AS cost"
                 f" FROM cdr c, {d.segments} WHERE {where} AND {d.segmented}")
        parts = (f"{whole} AND NOT ({d.segmented}) UNION ALL SELECT k, cur, t, 1, {d.ms.format('sum(talk)')},"
                 f" {d.money_sum}(cost) FROM ({split}) x GROUP BY ref, k, cur, t")
    else:
        parts = whole
    changes, offs = offsets
    local = "".join(f" WHEN p.t < {a(t, True)} THEN {a(o, True)}" for t, o in zip(changes, offs))
    offset = f"CASE{local} ELSE {a(offs[-1], True)} END" if changes else a(offs[-1], True)
    day = d.day.format(f"p.t + {offset}")
    sql = (f"SELECT {day} AS day, p.k, p.cur, count(*), sum(p.answered), sum(p.ms), {d.money_sum}(p.cost)"
           f" FROM ({parts}) p GROUP BY 1, 2, 3")
    return sql, a.values


class DecimalSum:
    """SQLite's ``decsum``: the exact sum of decimal text (NULLs skipped), as text."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(value if isinstance(value, str) else str(value))

    def finalize(self) -> str:
        return str(self.total)


def part_sum(row: Sequence[Any]) -> PartSum:
    day, key, currency, calls, answered, talk_ms, cost = row
    return PartSum(day=int(day), key=key, currency=currency, calls=int(calls), answered=int(answered),
                   talk_ms=int(talk_ms), cost=Decimal(cost))


class RecordQueries:
    """``search_records``, ``count_records`` and ``record_sums`` of a store (a mixin
    of both): the store gives its ``dialect`` and ``_fetch`` (the rows of a query)."""

    dialect: Dialect

    async def _fetch(self, sql: str, args: Sequence[Any], convert: Callable[[Sequence[Any]], T]) -> list[T]:
        raise NotImplementedError

    async def search_records(self, query: RecordQuery) -> list[Cdr]:
        cdrs = await self._fetch(*search(query, self.dialect), row_to_cdr)
        return cdrs[::-1] if query.before is not None else cdrs

    async def count_records(self, query: RecordQuery, cap: int = MAX_COUNT) -> int:
        (found,) = await self._fetch(*count(query, self.dialect, cap), lambda row: int(row[0]))
        return found

    async def record_sums(self, by: str, f: RecordFilter, start_from: float | None, start_to: float | None,
                          offsets: tuple[Sequence[float], Sequence[int]]) -> list[PartSum]:
        rows = await self._fetch(*sums(by, f, start_from, start_to, offsets, self.dialect), part_sum)
        return sorted(rows, key=lambda p: (p.day, p.key, p.currency))
