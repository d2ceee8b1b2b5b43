"""The CDR builder: events in, write operations out, on virtual time."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.billing.cdr import (
    CallBilling, Cdr, CdrBuilder, CdrClosed, CdrInterim, CdrOpened, RECOVERED_CAUSE, call_billing, priced, recover,
    within,
)
from b2bua.billing.rating import Rate, RatePlan, billable_seconds, cost
from b2bua.calls.events import CalleeAnswered, CallEnded, CallRinging, CallStarted

WALL = 1_700_000_000.0  # wall clock = loop time + WALL
PLAN = RatePlan(
    name="std", currency="EUR",
    rates=(Rate(prefix="44", price_per_minute=Decimal("0.60"), increment_s=6, setup=Decimal("0.10")),),
)


def started(ref: str = "c1", at: float = 10.0) -> CallStarted:
    return CallStarted(
        ref=ref, at=at, caller="1001", caller_user="1001", department="Litigation", group="default",
        dialed="9441234", destination="441234", route="trunk:carrier", a_call_id="a@x", source="udp:127.0.0.1:5070",
    )


def billing(code: str = "12345") -> CallBilling:
    return call_billing(PLAN, "441234", "international", account_code=code, code_valid=True, code_source="prompt")


def test_answered_call_opened_interim_closed() -> None:
    b = CdrBuilder(wall_offset=WALL, node="n1", interim_interval=30)
    (opened,) = b.handle(started(), billing())
    assert isinstance(opened, CdrOpened)
    c = opened.cdr
    assert (c.ref, c.seq, c.node, c.start, c.end, c.account_code, c.code_source) == ("c1", 1, "n1", WALL + 10, None, "12345", "prompt")
    assert c.rate is not None and c.rate.prefix == "44" and c.currency == "EUR" and c.call_class == "international"
    assert b.handle(CallRinging(ref="c1", at=11, status=180)) == []
    assert b.next_deadline() is None
    (ans,) = b.handle(CalleeAnswered(ref="c1", at=12.0, b_call_id="b@y"))
    assert isinstance(ans, CdrInterim) and ans.cdr.answer == WALL + 12 and ans.cdr.last_interim == WALL + 12
    assert ans.cdr.seq == 2 and ans.cdr.b_call_id == "b@y"
    assert b.next_deadline() == 42.0
    assert b.handle_timer(41.9) == []
    (i1,) = b.handle_timer(42.0)
    assert isinstance(i1, CdrInterim) and i1.cdr.last_interim == WALL + 42 and i1.cdr.duration == 30.0
    assert i1.cdr.billable == 30 and i1.cdr.cost == Decimal("0.40")
    assert b.next_deadline() == 72.0
    (closed,) = b.handle(CallEnded(ref="c1", at=73.5, status=200, cause="caller hung up", hangup="caller"))
    assert isinstance(closed, CdrClosed)
    c = closed.cdr
    assert (c.end, c.duration, c.billable, c.cost, c.status, c.hangup) == (WALL + 73.5, 61.5, 66, Decimal("0.76"), 200, "caller")
    assert c.seq > i1.cdr.seq and not c.recovered
    assert b.next_deadline() is None and len(b) == 0
    # duplicates after the end write nothing: exactly one final record
    assert b.handle(CallEnded(ref="c1", at=80, status=200, cause="x", hangup="callee")) == []
    assert b.handle(CalleeAnswered(ref="c1", at=80, b_call_id="")) == []


@pytest.mark.parametrize("open_at", ["start", "answer"])
def test_unanswered_attempt_gets_exactly_one_final(open_at: str) -> None:
    b = CdrBuilder(wall_offset=WALL, open_at=open_at)  # type: ignore[arg-type]
    writes = b.handle(started(), billing())
    writes += b.handle(CallEnded(ref="c1", at=25, status=486, cause="busy", hangup=""))
    finals = [w for w in writes if isinstance(w, CdrClosed)]
    assert len(finals) == 1
    assert [type(w) for w in writes] == ([CdrOpened] if open_at == "start" else []) + [CdrClosed]
    c = finals[0].cdr
    assert (c.answer, c.duration, c.billable, c.cost, c.status) == (None, 0.0, 0, Decimal("0.00"), 486)


def test_open_at_answer_opens_on_answer() -> None:
    b = CdrBuilder(wall_offset=WALL, open_at="answer")
    assert b.handle(started(), billing()) == []
    (w,) = b.handle(CalleeAnswered(ref="c1", at=12, b_call_id="b"))
    assert isinstance(w, CdrOpened) and w.cdr.answer == WALL + 12


def test_code_change_midcall_is_logged_and_current() -> None:
    b = CdrBuilder(wall_offset=WALL)
    b.handle(started(), billing("111"))
    b.handle(CalleeAnswered(ref="c1", at=12, b_call_id="b"))
    (w,) = b.change_code("c1", at=20, account_code="222", code_source="midcall", code_valid=True)
    assert isinstance(w, CdrInterim) and w.cdr.account_code == "222" and w.cdr.last_interim == WALL + 20
    # the first entry is the code the call was answered with: the segments in order
    assert [(ch.at, ch.account_code, ch.code_source) for ch in w.cdr.code_changes] == [
        (WALL + 12, "111", "prompt"), (WALL + 20, "222", "midcall")]
    (closed,) = b.handle(CallEnded(ref="c1", at=30, status=200, cause="callee hung up", hangup="callee"))
    assert closed.cdr.account_code == "222" and len(closed.cdr.code_changes) == 2
    with pytest.raises(ValueError):
        b.change_code("c2", at=1, account_code="1", code_source="telepathy", code_valid=False)


def test_billing_can_come_after_start_and_unrated_calls_cost_nothing() -> None:
    b = CdrBuilder(wall_offset=WALL)
    (o,) = b.handle(started())
    assert o.cdr.code_source == "none" and o.cdr.rate is None
    b.annotate("c1", billing("777"))
    b.handle(CalleeAnswered(ref="c1", at=12, b_call_id="b"))
    (c,) = b.handle(CallEnded(ref="c1", at=13, status=200, cause="", hangup="caller"))
    assert c.cdr.account_code == "777" and c.cdr.cost == Decimal("0.16")  # setup 0.10 + 6 s at 1 ct/s
    b2 = CdrBuilder(wall_offset=WALL)
    b2.handle(started("c2"), call_billing(None, "1002", "internal"))
    b2.handle(CalleeAnswered(ref="c2", at=12, b_call_id="b"))
    (c2,) = b2.handle(CallEnded(ref="c2", at=100, status=200, cause="", hangup="caller"))
    assert c2.cdr.cost == 0 and c2.cdr.billable == 0 and c2.cdr.duration == 88.0


def test_recover_uses_last_interim() -> None:
    b = CdrBuilder(wall_offset=WALL, interim_interval=60)
    b.handle(started(), billing())
    b.handle(CalleeAnswered(ref="c1", at=12, b_call_id="b"))
    (i,) = b.handle_timer(72)
    r = recover(i.cdr)
    assert r.recovered and r.end == WALL + 72 and r.duration == 60.0 and r.cost == Decimal("0.70")
    assert r.cause == RECOVERED_CAUSE and r.status == 200 and r.seq == i.cdr.seq + 1
    (o,) = CdrBuilder(wall_offset=WALL).handle(started())
    r2 = recover(o.cdr)
    assert r2.end == r2.start and r2.answer is None and r2.cost == 0 and r2.status == 500


def test_billing_from_the_events_account_info() -> None:
    from b2bua.calls import events

    info_type = getattr(events, "AccountInfo", None)
    if info_type is None:
        pytest.skip("CallStarted carries no account information in this tree")
    info = info_type(code="4711", source="fac", valid=True, call_class="international", rate_plan="std")
    ev = CallStarted(
        ref="c9", at=1.0, caller="1001", caller_user="1001", dialed="9441234", destination="441234",
        route="trunk:carrier", a_call_id="a", source="udp:127.0.0.1:5070", account=info,
    )
    b = CdrBuilder(wall_offset=WALL, plans={"std": PLAN})
    (o,) = b.handle(ev)
    c = o.cdr
    assert (c.account_code, c.code_source, c.code_valid, c.call_class, c.rate_plan) == ("4711", "fac", True, "international", "std")
    assert c.rate == PLAN.rates[0] and c.currency == "EUR"
    (o2,) = CdrBuilder(wall_offset=WALL, plans={"std": PLAN}).handle(
        msgspec.structs.replace(ev, account=info_type(call_class="internal"))
    )
    assert (o2.cdr.account_code, o2.cdr.code_valid, o2.cdr.rate) == ("", False, None)


@given(
    talk=st.floats(0.5, 20_000, allow_nan=False),
    price=st.decimals(min_value=0, max_value=5, places=2),
    inc=st.sampled_from([1, 6, 30, 60]),
    minimum=st.sampled_from([0, 30, 60]),
    setup=st.decimals(min_value=0, max_value=1, places=2),
    held_s=st.integers(0, 20_000),
)
def test_within_bills_the_longest_time_the_held_amount_pays(
    talk: float, price: Decimal, inc: int, minimum: int, setup: Decimal, held_s: int
) -> None:
    rate = Rate(price_per_minute=price, increment_s=inc, minimum_s=minimum, setup=setup)
    cdr = priced(Cdr(ref="r", caller="1", start=0.0, rate=rate, currency="EUR"), talk)
    held = cost(rate, held_s, "EUR")  # what a controller holds: the cost of its paid seconds
    out = within(cdr, held)
    if cdr.cost <= held:
        assert out is cdr
        return
    # billed down to exactly what is held, for the longest time that costs that
    assert out.cost == held == cost(rate, out.billable, "EUR") and out.seq == cdr.seq + 1
    assert billable_seconds(held_s, rate) <= out.billable < cdr.billable and out.duration == cdr.duration


def test_within_finds_seconds_that_round_down_to_the_amount() -> None:
    """0.10/min by the second: 122 s cost 0.2033 -> 0.20, so 0.20 pays 122 s, not 121
    (a case hypothesis found)."""
    rate = Rate(price_per_minute=Decimal("0.10"), increment_s=1)
    cdr = priced(Cdr(ref="r", caller="1", start=0.0, rate=rate, currency="EUR"), 123.0)
    out = within(cdr, cost(rate, 122, "EUR"))
    assert out.billable == 122 and out.cost == Decimal("0.20")


def test_a_code_attached_after_the_call_rebills_the_whole_call() -> None:
    from b2bua.billing.cdr import attach_code, call_billing
    from dialplan import CodeSource

    closed = priced(Cdr(ref="r", caller="1", start=0.0, answer=1.0, end=62.5, status=200, currency="EUR"), 61.5)
    assert closed.cost == 0 and closed.rate is None  # no code, no plan: unrated
    plan = RatePlan(name="client", currency="EUR", rates=(Rate(prefix="2", price_per_minute=Decimal("0.60")),))
    billing = call_billing(plan, "2125551234", "long_distance", account_code="12345", code_valid=True,
                           code_source=CodeSource.POST_CALL)
    after = attach_code(closed, billing, at=100.0, set_by="1001")
    assert (after.account_code, after.code_source, after.rate_plan, after.seq) == ("12345", "post_call", "client", 1)
    assert after.billable == 62 and after.cost == Decimal("0.62")  # 62 s at 0.60/min
    (ch,) = after.code_changes
    assert (ch.at, ch.set_by, ch.code_source) == (100.0, "1001", CodeSource.POST_CALL)
