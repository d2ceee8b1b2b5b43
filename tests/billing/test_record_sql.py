"""Record search and report sums in SQL (``b2bua.billing.record_sql``) on both
backends, against the Python reference (``records.selected``, ``reports.part_sums``)
on the same generated records; the local day across daylight-saving changes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, given, settings

from b2bua.billing import record_sql
from b2bua.billing.cdr import Cdr, CdrClosed, CodeChange
from b2bua.billing.postgres import quote_ident
from b2bua.billing.records import (
    DISPOSITIONS, Cursor, RecordFilter, RecordQuery, decode, encode, selected, utc_offsets,
)
from b2bua.billing.reports import GROUPINGS, date_range, part_sums, summarize, totals
from b2bua.billing.store import BillingStore
from dialplan import CodeSource

from .conftest import Backend
from .record_data import clear, copies

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")
ZONES = ("Europe/Paris", "America/New_York", "UTC")
# a week around Paris's and New York's spring change (2024-03-31 and 03-10 are near)
FIRST_DAY, DAYS = date(2024, 3, 28), 6
T0 = datetime(2024, 3, 27, 12, tzinfo=PARIS).timestamp()
CODES, CALLERS = ("", "12345", "777", "555"), ("1001", "1002", "2001")

ms = st.integers(0, 4 * 3600 * 1000).map(lambda n: n / 1000)  # durations have millisecond precision
money = st.integers(0, 50_000).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def records(draw: st.DrawFn, n: int) -> Cdr:
    start = T0 + draw(st.integers(0, 8 * 86400 * 1000)) / 1000
    answered = draw(st.booleans())
    talk = draw(ms) if answered else 0.0
    answer = start + draw(st.integers(0, 60_000)) / 1000 if answered else None
    changes: tuple[CodeChange, ...] = ()
    if answer is not None and draw(st.booleans()):
        split = draw(st.lists(st.tuples(st.sampled_from(CODES), ms, money), min_size=1, max_size=3))
        late = draw(st.booleans())  # a first change after the answer: not a split record
        changes = tuple(CodeChange(at=answer + i * 10 + (5 if late else 0), account_code=code,
                                   code_source=CodeSource.PORTAL, code_valid=True, duration=d, cost=c)
                        for i, (code, d, c) in enumerate(split))
    def one(*values: T) -> T:
        return draw(st.sampled_from(values))

    return Cdr(
        ref=f"r{n:03d}", seq=2, caller=one(*CALLERS), department=one("", "Tax", "Law"), group=one("default", "sales"),
        dialed=one("0044207946000", "1002", "+15550100"), destination=one("+44207946000", "1002"),
        route=one("trunk:carrier", "trunk:", "extension", "trunk:b_%"), account_code=one(*CODES),
        code_changes=changes, start=start, answer=answer, end=(answer or start) + talk + 1, duration=talk,
        cost=draw(money), currency=one("EUR", "EUR", "USD", ""),
        status=200 if answered else one(486, 600, 408, 480, 487, 503, 404),
    )


record_sets = st.integers(0, 40).flatmap(lambda k: st.tuples(*(records(i) for i in range(k))))
filters = st.builds(
    RecordFilter, groups=st.sampled_from((None, ("sales",), ("default", "sales"), ())),
    account_code=st.sampled_from(CODES), extension=st.sampled_from(("", *CALLERS)),
    number=st.sampled_from(("", "4420", "100", "+1", "%", "_")), disposition=st.sampled_from(("", *DISPOSITIONS)),
)


def _run(backend: Backend, work: object) -> None:
    async def main() -> None:
        store = backend.store()
        await store.open()
        try:
            await work(store)  # type: ignore[operator]
        finally:
            await store.close()

    asyncio.run(main())


async def _pages(store: BillingStore, q: RecordQuery) -> tuple[list[list[str]], list[list[str]]]:
    """Every page going forward with ``after`` cursors, and back again with ``before``."""
    forward: list[list[Cdr]] = []
    after = None
    while True:
        page = await store.search_records(msgspec.structs.replace(q, after=after))
        if not page:
            break
        forward.append(page)
        after = Cursor(page[-1].start, page[-1].ref, 1)
    back: list[list[Cdr]] = []
    before = Cursor(forward[-1][0].start, forward[-1][0].ref, 1) if forward else None
    while before is not None:
        page = await store.search_records(msgspec.structs.replace(q, before=before))
        if not page:
            break
        back.insert(0, page)
        before = Cursor(page[0].start, page[0].ref, 1)
    return [[c.ref for c in p] for p in forward], [[c.ref for c in p] for p in [*back, *forward[-1:]]]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cdrs=record_sets, f=filters, zone=st.sampled_from(ZONES), limit=st.integers(1, 7))
def test_sql_search_and_sums_equal_the_python_ones(backend: Backend, cdrs: tuple[Cdr, ...], f: RecordFilter,
                                                   zone: str, limit: int) -> None:
    tz = ZoneInfo(zone)
    start, end = date_range(FIRST_DAY.isoformat(), (FIRST_DAY + timedelta(days=DAYS - 1)).isoformat(), zone)
    assert start is not None and end is not None
    inside = [c for c in cdrs if start <= c.start < end]

    async def work(store: BillingStore) -> None:
        await clear(backend)
        await store.apply([CdrClosed(c) for c in cdrs])
        for by in GROUPINGS:
            got = await store.record_sums(by, RecordFilter(), start, end, utc_offsets(tz, start, end))
            assert got == part_sums(inside, by, tz), by
            assert totals(got) == summarize(inside, by)
        group = RecordFilter(groups=f.groups)
        mine = [c for c in inside if f.groups is None or c.group in f.groups]
        assert await store.record_sums("department", group, start, end, utc_offsets(tz, start, end)) == \
            part_sums(mine, "department", tz)
        q = RecordQuery(filter=f, start_from=start, start_to=end, limit=limit)
        want = [c.ref for c in selected(inside, f)]
        forward, back = await _pages(store, q)
        assert [r for p in forward for r in p] == want
        assert all(len(p) == limit for p in forward[:-1])
        assert [r for p in back for r in p] == want  # "previous" pages lead back to the first
        assert await store.count_records(q, 1000) == len(want)
        assert await store.count_records(q, 3) == min(3, len(want))

    _run(backend, work)


def _at(day: str, hhmm: str) -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=PARIS).timestamp()


async def test_daylight_saving_days_are_23_and_25_hours(store: BillingStore) -> None:
    spring = date_range("2024-03-31", "2024-03-31", "Europe/Paris")
    autumn = date_range("2024-10-27", "2024-10-27", "Europe/Paris")
    assert spring[1] - spring[0] == 23 * 3600 and autumn[1] - autumn[0] == 25 * 3600  # type: ignore[operator]
    base = Cdr(ref="x", seq=1, caller="1001", start=0.0, end=1.0, currency="EUR", cost=Decimal("1.00"), answer=0.5,
               duration=0.5, account_code="1")
    starts = {  # local times: the first and last minutes of each day
        "a": _at("2024-03-31", "00:30"), "b": _at("2024-03-31", "23:30"), "c": _at("2024-04-01", "00:10"),
        "d": _at("2024-10-27", "00:30"), "e": _at("2024-10-27", "23:30"), "f": _at("2024-10-26", "23:59"),
    }
    made = [Cdr(**{**{k: getattr(base, k) for k in base.__struct_fields__}, "ref": ref, "start": t, "end": t + 1,
                   "answer": t + 0.5}) for ref, t in starts.items()]
    await store.apply([CdrClosed(c) for c in made])
    first, last = date_range("2024-03-01", "2024-10-31", "Europe/Paris")
    assert first is not None and last is not None
    offsets = utc_offsets(PARIS, first, last)
    assert offsets == ([_at("2024-03-31", "03:00"), _at("2024-10-27", "02:00") + 3600], [3600, 7200, 3600])
    got = await store.record_sums("account-code", RecordFilter(), first, last, offsets)
    days = {(date(1970, 1, 1) + timedelta(days=p.day)).isoformat(): p.calls for p in got}
    assert days == {"2024-03-31": 2, "2024-04-01": 1, "2024-10-26": 1, "2024-10-27": 2}
    assert got == part_sums(made, "account-code", PARIS)
    page = await store.search_records(RecordQuery(start_from=spring[0], start_to=spring[1], limit=10))
    assert [c.ref for c in page] == ["b", "a"]


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    c = Cursor(1711839000.123456, "ref-1", 51)
    assert decode(encode(c)) == c
    for bad in ("", "x", "!!!!", encode(Cursor(float("nan"), "r", 1)), encode(Cursor(1.0, "r", 0)), "A" * 500):
        try:
            decode(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} decoded")


YEAR = datetime(2024, 1, 1, tzinfo=PARIS).timestamp()
SCALE = 200_000


def _scan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan] if "Relation Name" in plan or "Index Name" in plan else []
    for child in plan.get("Plans", []):
        nodes += _scan_nodes(child)
    return nodes


async def _read_rows(backend: Backend, sql: str, args: list[Any]) -> tuple[str, int, int]:
    """(the plan, rows returned, how much the database read to return them): SQLite's
    virtual-machine steps by the thousand (a row is about ten), PostgreSQL's rows
    read by its scans (EXPLAIN ANALYZE: returned and filtered out)."""
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.url)
        try:
            plan = " / ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, args))
            steps = [0]
            db.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1) or 0, 1000)
            rows = db.execute(sql, args).fetchall()
            return plan, len(rows), steps[0]
        finally:
            db.close()
    con = await asyncpg.connect(backend.url)
    try:
        await con.execute(f"SET search_path TO {quote_ident(backend.options['schema'])}")
        await con.execute("ANALYZE cdr")
        (explained,) = json.loads(await con.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args))
        nodes = _scan_nodes(explained["Plan"])
        read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in nodes)
        return json.dumps(explained["Plan"]), explained["Plan"]["Actual Rows"], read
    finally:
        await con.close()


async def test_a_search_reads_one_page_of_200k_records(backend: Backend, store: BillingStore) -> None:
    tpl = Cdr(ref="tpl", seq=1, caller="1000", group="grp0", dialed="0044207946000", destination="+44207946000",
              start=YEAR, answer=YEAR + 2, end=YEAR + 62, duration=60.0, cost=Decimal("0.60"), currency="EUR",
              account_code="12345", status=200)
    await store.apply([CdrClosed(tpl)])
    await copies(backend, "tpl", SCALE, YEAR, 150.0)  # a call every 150 s: 347 days
    year = (YEAR, datetime(2025, 1, 1, tzinfo=PARIS).timestamp())
    middle = Cursor(YEAR + SCALE // 2 * 150.0, f"g{SCALE // 2}", 100_000)
    cases = [  # (filter, cursor, the index that must serve it)
        (RecordFilter(), None, "cdr_start_ref"),
        (RecordFilter(), middle, "cdr_start_ref"),
        (RecordFilter(groups=("grp3",)), middle, "cdr_group_start"),
        (RecordFilter(extension="1007"), None, "cdr_caller_start"),
        (RecordFilter(disposition="ANSWERED", number="4420"), None, "cdr_start_ref"),  # most records match
    ]
    dialect = record_sql.SQLITE if backend.name == "sqlite" else record_sql.POSTGRES
    for f, cursor, index in cases:
        q = RecordQuery(filter=f, start_from=year[0], start_to=year[1], after=cursor, limit=50)
        sql, args = record_sql.search(q, dialect)
        plan, returned, read = await _read_rows(backend, sql, args)
        # PostgreSQL may prefer the start's index filtering one group in ten: it reads ten pages then
        served = index in plan or (backend.name == "postgresql" and "cdr_start_ref" in plan)
        assert returned == 50 and served and "TEMP B-TREE" not in plan and '"Sort"' not in plan, (f, plan)
        assert read < 1000, (f, read, plan)  # a page or a few, not the year (200 000 rows)
    whole = RecordQuery(start_from=year[0], start_to=year[1])
    sql, args = record_sql.count(whole, dialect, SCALE + 10)
    _, _, read_all = await _read_rows(backend, sql, args)
    assert read_all > 2000  # the same measure finds a scan of the year over the bound
    got = await store.record_sums("extension", RecordFilter(groups=("grp3",)), *year, utc_offsets(PARIS, *year))
    assert sum(p.calls for p in got) == SCALE // 10 and {p.key for p in got} == {str(1003 + 10 * i) for i in range(50)}
