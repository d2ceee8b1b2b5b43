"""Storage on both backends: schema, idempotent upserts, queries, crash recovery."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from b2bua.billing.cdr import CdrBuilder, CdrClosed, CdrWrite, call_billing
from b2bua.billing.rating import Rate, RatePlan
from b2bua.billing.store import BillingStore
from b2bua.calls.events import CalleeAnswered, CallEnded, CallStarted

from .conftest import Backend

WALL = 1_700_000_000.0
PLAN = RatePlan(name="std", currency="EUR", rates=(Rate(prefix="44", price_per_minute=Decimal("0.60"), setup=Decimal("0.05")),))


def call(b: CdrBuilder, ref: str, start: float, answer: float | None, end: float | None, *, code: str = "100") -> list[CdrWrite]:
    writes = b.handle(
        CallStarted(ref=ref, at=start, caller="1001", caller_user="1001", department="Sales", group="g",
                    dialed="9441", destination="441", route="trunk:carrier", a_call_id=f"a-{ref}", source="udp:1.2.3.4:5060"),
        call_billing(PLAN, "441", "international", account_code=code, code_valid=True, code_source="prompt"),
    )
    if answer is not None:
        writes += b.handle(CalleeAnswered(ref=ref, at=answer, b_call_id=f"b-{ref}"))
    if end is not None:
        writes += b.handle(CallEnded(ref=ref, at=end, status=200 if answer is not None else 487,
                                     cause="caller hung up", hangup="caller" if answer is not None else ""))
    return writes


async def test_schema_is_created_and_reopening_is_harmless(backend: Backend, store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL)
    await store.apply(call(b, "r1", 0, 1, 30))
    again = backend.store()
    await again.open()  # migrations already applied: nothing to do
    try:
        assert (await again.get("r1")) is not None
    finally:
        await again.close()


async def test_round_trip_keeps_every_field_exact(store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL, node="n1")
    writes = call(b, "r1", 0.0, 2.0, None)
    writes += b.change_code("r1", at=5.0, account_code="200", code_source="midcall", code_valid=False)
    writes += b.handle(CallEnded(ref="r1", at=63.25, status=200, cause="callee hung up", hangup="callee"))
    await store.apply(writes)
    got = await store.get("r1")
    final = writes[-1].cdr
    assert got == final
    assert got.cost == Decimal("0.67") and str(got.cost) == "0.67"  # 0.05 + 62 s
    assert got.code_changes[-1].account_code == "200" and got.rate == PLAN.rates[0]  # [0]: the code before
    assert await store.get("nope") is None


async def test_writes_are_idempotent_and_never_reopen_a_closed_record(store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL)
    writes = call(b, "r1", 0, 1, 61)
    await store.apply(writes)
    await store.apply(writes)  # a replay
    for w in writes:  # one by one, in any order, through every entry point
        await store.apply([w])
    await store.upsert_start(writes[0].cdr)
    await store.update_interim(writes[1].cdr)
    (rows,) = [await store.query(include_open=True)]
    assert len(rows) == 1 and rows[0] == writes[-1].cdr and rows[0].end is not None
    await store.close_record(writes[-1].cdr)
    assert await store.query(include_open=True) == [writes[-1].cdr]


async def test_query_by_start_range_and_open_records(store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL)
    await store.apply(call(b, "early", 0, 1, 10) + call(b, "mid", 100, None, 110) + call(b, "late", 200, 201, None))
    assert [c.ref for c in await store.query()] == ["early", "mid"]
    assert [c.ref for c in await store.query(include_open=True)] == ["early", "mid", "late"]
    assert [c.ref for c in await store.query(start_from=WALL + 50, start_to=WALL + 100)] == []
    assert [c.ref for c in await store.query(start_from=WALL + 50, start_to=WALL + 100.001)] == ["mid"]
    assert [c.ref for c in await store.query(start_from=WALL + 0)] == ["early", "mid"]
    assert [c.ref for c in await store.open_records()] == ["late"]


async def test_recovery_closes_open_records_with_their_last_interim(store: BillingStore) -> None:
    mine = CdrBuilder(wall_offset=WALL, node="n1", interim_interval=60)
    other = CdrBuilder(wall_offset=WALL, node="n2")
    writes = call(mine, "talking", 0, 10, None) + call(mine, "ringing", 50, None, None) + call(mine, "done", 0, 1, 20)
    writes += mine.handle_timer(70) + mine.handle_timer(130)  # two interims for "talking"
    writes += call(other, "elsewhere", 0, 1, None)
    await store.apply(writes)
    # ... the process is killed here: nothing else is written for "talking" or "ringing".

    recovered = await store.recover_open_records(WALL + 1000, node="n1")
    assert sorted(c.ref for c in recovered) == ["ringing", "talking"]
    talking = await store.get("talking")
    assert talking.recovered and talking.end == WALL + 130 and talking.last_interim == WALL + 130
    assert talking.duration == 120.0 and talking.cost == Decimal("1.25") and talking.status == 200
    ringing = await store.get("ringing")
    assert ringing.recovered and ringing.end == ringing.start and ringing.cost == 0 and ringing.answer is None
    assert not (await store.get("done")).recovered
    assert [c.ref for c in await store.open_records()] == ["elsewhere"]  # another node's live call
    assert await store.recover_open_records(WALL + 1000, node="n1") == []  # idempotent
    # a late replay of an older write (from a journal) does not reopen it
    await store.apply([w for w in writes if w.cdr.ref == "talking"])
    assert (await store.get("talking")).recovered


async def test_recovery_respects_stale_after(store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL)
    await store.apply(call(b, "fresh", 0, 1, None))
    assert await store.recover_open_records(WALL + 30, stale_after=60) == []
    assert [c.ref for c in await store.recover_open_records(WALL + 62, stale_after=60)] == ["fresh"]


async def test_recovery_settles_the_held_credit_of_recovered_calls(store: BillingStore) -> None:
    await store.create_account("acme", "EUR", Decimal("10.00"))
    b = CdrBuilder(wall_offset=WALL, interim_interval=30)
    writes = call(b, "r1", 0, 10, None) + b.handle_timer(40)
    await store.apply(writes)
    assert await store.reserve("acme", Decimal("0.65"), ref="r1") is not None  # first 60 s chunk
    (closed,) = await store.recover_open_records(WALL + 500)
    assert closed.cost == Decimal("0.35")  # 0.05 + 30 s
    bal = await store.balance("acme")
    assert bal.balance == Decimal("9.65") and bal.reserved == Decimal("0.00")
    assert (await store.reservation("r1")).state == "committed"


async def test_closed_writes_are_full_records(store: BillingStore) -> None:
    b = CdrBuilder(wall_offset=WALL)
    closed = [w for w in call(b, "r1", 0, 1, 2) if isinstance(w, CdrClosed)]
    await store.apply(closed)  # a final without its opening (open_at="answer" + unanswered, or lost opening)
    assert msgspec.structs.asdict(await store.get("r1")) == msgspec.structs.asdict(closed[0].cdr)


async def test_recovery_bills_a_prepaid_record_at_what_its_account_is_charged(store: BillingStore) -> None:
    """A crash left a prepaid call open, its last interim past the credit held (0.65 =
    setup + 60 s): recovery charges the held 0.65 and the record says 0.65 too."""
    await store.create_account("wallet", "EUR", Decimal("1.00"))
    assert await store.reserve("wallet", Decimal("0.65"), ref="prepaid") is not None
    b = CdrBuilder(wall_offset=WALL, node="n1", interim_interval=65)
    await store.apply(call(b, "prepaid", 0, 10, None) + b.handle_timer(75))  # 65 s talked: 0.70 by the rate
    assert (await store.get("prepaid")).cost == Decimal("0.70")
    await store.recover_open_records(WALL + 1000, node="n1")
    rec, bal, res = await store.get("prepaid"), await store.balance("wallet"), await store.reservation("prepaid")
    assert res is not None and res.state == "committed" and bal is not None
    assert (rec.cost, rec.billable, rec.recovered) == (Decimal("0.65"), 60, True)
    assert (bal.balance, bal.reserved) == (Decimal("1.00") - rec.cost, Decimal("0.00"))
