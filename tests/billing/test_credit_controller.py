"""The per-call credit controller on virtual time: chunks, renewals, cut-off, commit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.billing.credit import CommitCredit, CreditController, CreditState, EndCall, ReserveCredit
from b2bua.billing.rating import Rate, cost

RATE = Rate(price_per_minute=Decimal("0.60"), increment_s=1, setup=Decimal("0.05"))  # 1 ct/s


def ctl(**kw: object) -> CreditController:
    return CreditController(ref="c1", account="acme", rate=RATE, currency="EUR", **kw)  # type: ignore[arg-type]


def test_chunks_renew_before_running_out_and_commit_actual_cost() -> None:
    c = ctl(chunk_s=60, margin_s=5)
    assert c.next_deadline() is None
    (r1,) = c.answered(100.0)
    assert r1 == ReserveCredit(ref="c1", account="acme", amount=Decimal("0.65"), first=True)
    assert c.reserve_result(100.1, True) == []
    assert c.state is CreditState.ACTIVE and c.paid_until == 160.0 and c.held == Decimal("0.65")
    assert c.next_deadline() == 155.0
    assert c.handle_timer(154.9) == []
    (r2,) = c.handle_timer(155.0)
    assert r2 == ReserveCredit(ref="c1", account="acme", amount=Decimal("0.60"), first=False)
    assert c.next_deadline() == 160.0  # if the answer does not come in time: cut at paid end
    assert c.reserve_result(155.1, True) == []
    assert c.paid_until == 220.0 and c.held == cost(RATE, 120, "EUR") and c.next_deadline() == 215.0
    (commit,) = c.ended(190.25)
    assert commit == CommitCredit(ref="c1", amount=Decimal("0.96"))  # 0.05 + 91 s
    assert c.next_deadline() is None and c.ended(191) == []


def test_refused_renewal_ends_the_call_at_the_end_of_paid_time() -> None:
    c = ctl()
    c.answered(0.0)
    c.reserve_result(0.0, True)
    (renew,) = c.handle_timer(55.0)
    assert c.reserve_result(55.2, False) == []
    assert c.state is CreditState.EXHAUSTED and c.next_deadline() == 60.0
    assert c.handle_timer(59.0) == []
    (end,) = c.handle_timer(60.0)
    assert end == EndCall(ref="c1", at=60.0, reason="credit exhausted")
    assert c.next_deadline() is None and c.handle_timer(100) == []
    (commit,) = c.ended(60.02)
    assert commit.amount == cost(RATE, 60, "EUR") == c.held  # 61 s talked, the 60 s paid for are charged
    assert (c.charged_s, c.charge) == (60, commit.amount)


def test_no_answer_to_a_renewal_in_time_fails_closed() -> None:
    c = ctl()
    c.answered(0.0)
    c.reserve_result(0.0, True)
    c.handle_timer(55.0)
    (end,) = c.handle_timer(60.0)
    assert end.reason == "credit not confirmed in time" and end.at == 60.0
    assert c.reserve_result(61.0, True) == []  # late success: held, committed at the end
    (commit,) = c.ended(60.5)
    assert commit.amount == cost(RATE, 60.5, "EUR")


def test_first_chunk_refused_ends_now() -> None:
    c = ctl()
    c.answered(10.0)
    (end,) = c.reserve_result(10.2, False)
    assert end == EndCall(ref="c1", at=10.2, reason="insufficient credit")
    assert c.ended(10.3) == []  # nothing held, nothing to commit


def test_hangup_while_reserving_commits_when_the_answer_arrives() -> None:
    c = ctl()
    c.answered(0.0)
    assert c.ended(3.0) == []
    (commit,) = c.reserve_result(3.1, True)
    assert commit.amount == Decimal("0.08")
    c2 = ctl()
    c2.answered(0.0)
    c2.ended(3.0)
    assert c2.reserve_result(3.1, False) == []


def test_unanswered_call_reserves_nothing() -> None:
    c = ctl()
    assert c.ended(30.0) == []
    assert c.answered(31.0) == []


def test_increments_and_minimum_extend_paid_time() -> None:
    r = Rate(price_per_minute=Decimal("1.20"), increment_s=60, minimum_s=120)
    c = CreditController(ref="c", account="a", rate=r, currency="EUR", chunk_s=30, margin_s=5)
    (first,) = c.answered(0.0)
    assert first.amount == Decimal("2.40")  # 30 s billed as the 120 s minimum
    c.reserve_result(0, True)
    assert c.paid_until == 120.0
    (nxt,) = c.handle_timer(115.0)
    assert nxt.amount == Decimal("1.20")  # 150 s -> 180 s billed
    c.reserve_result(115, True)
    assert c.paid_until == 180.0


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ctl(chunk_s=60, margin_s=60)


@given(
    chunks_granted=st.integers(0, 5),
    hangup=st.floats(0, 400, allow_nan=False),
    price=st.decimals(min_value=0, max_value=10, places=2),
    inc=st.sampled_from([1, 6, 60]),
)
def test_held_always_equals_cost_of_paid_time_and_call_never_outlives_it(
    chunks_granted: int, hangup: float, price: Decimal, inc: int
) -> None:
    rate = Rate(price_per_minute=price, increment_s=inc, setup=Decimal("0.01"))
    c = CreditController(ref="c", account="a", rate=rate, currency="EUR")
    now, grants, ended_by = 0.0, 0, None
    for cmd in c.answered(0.0):
        assert isinstance(cmd, ReserveCredit)
    for cmd in c.reserve_result(0.0, grants < chunks_granted):
        ended_by = cmd
    grants += 1
    while ended_by is None and now < hangup:
        deadline = c.next_deadline()
        assert deadline is not None
        now = deadline
        if now >= hangup:
            break
        for cmd in c.handle_timer(now):
            if isinstance(cmd, EndCall):
                ended_by = cmd
            else:
                for out in c.reserve_result(now, grants < chunks_granted):
                    ended_by = out
                grants += 1
        if c.paid_s:
            assert c.held == cost(rate, c.paid_s, "EUR")
    if ended_by is not None:
        assert isinstance(ended_by, EndCall) and ended_by.at == c.paid_until
    end = min(hangup, ended_by.at) if ended_by else hangup
    out = c.ended(end)
    if c.paid_s:
        assert out and out[0].amount <= c.held  # ended within the paid time: covered
        assert out[0].amount == c.charge == cost(rate, c.charged_s, "EUR") and c.charged_s <= c.paid_s


# -- a mid-call code of another credit account ---------------------------------------------

OTHER = Rate(price_per_minute=Decimal("1.20"), increment_s=6, minimum_s=30, setup=Decimal("0.10"))  # 2 ct/s


def test_a_move_reserves_on_the_new_account_then_commits_the_old_segment() -> None:
    c = ctl(chunk_s=60, margin_s=5)
    c.answered(100.0)
    c.reserve_result(100.0, True)
    (res,) = [c.move(112.3, account="beta", rate=OTHER, currency="EUR")]
    # the rest of the call's first chunk at the new rate of a later segment: no setup, no minimum
    assert res == ReserveCredit(ref="c1#2", account="beta", amount=Decimal("1.20"), first=True)
    assert c.move(112.4, account="gamma", rate=OTHER, currency="EUR") is None  # one move at a time
    assert c.next_deadline() == 160.0  # no renewal of the old account while the move is in flight
    (commit,) = c.move_result(112.5, True)
    # 12.5 s talked on the old account: 0.05 setup + 13 s at 1 ct
    assert commit == CommitCredit(ref="c1", amount=Decimal("0.18"))
    assert (c.account, c.reservation, c.start, c.paid_until) == ("beta", "c1#2", 112.5, 172.5)
    assert c.next_deadline() == 167.5 and c.held == Decimal("1.20")
    (renew,) = c.handle_timer(167.5)
    assert renew == ReserveCredit(ref="c1#2", account="beta", amount=Decimal("1.20"), first=False)
    c.reserve_result(167.6, True)
    (final,) = c.ended(200.0)
    # 87.5 s on the new account, billed by 6 s steps: 90 s at 2 ct
    assert final == CommitCredit(ref="c1#2", amount=Decimal("1.80"))
    assert (c.segment_s, c.charged_s, c.charge) == (90, 13 + 90, Decimal("1.98"))


def test_a_refused_move_changes_nothing() -> None:
    c = ctl(chunk_s=60, margin_s=5)
    c.answered(0.0)
    c.reserve_result(0.0, True)
    assert c.move(10.0, account="broke", rate=OTHER, currency="EUR") is not None
    assert c.move_result(10.1, False) == []
    assert (c.account, c.reservation, c.paid_until, c.next_deadline()) == ("acme", "c1", 60.0, 55.0)
    (commit,) = c.ended(20.0)
    assert commit == CommitCredit(ref="c1", amount=cost(RATE, 20, "EUR")) and c.charged_s == 20


def test_a_move_answered_in_no_time_cuts_at_the_old_paid_end() -> None:
    c = ctl(chunk_s=60, margin_s=5)
    c.answered(0.0)
    c.reserve_result(0.0, True)
    c.move(50.0, account="beta", rate=OTHER, currency="EUR")
    assert c.handle_timer(59.9) == []
    (end,) = c.handle_timer(60.0)
    assert end == EndCall(ref="c1", at=60.0, reason="credit not confirmed in time")
    # the answer comes after all: the new reservation is released
    assert c.move_result(60.5, True) == [CommitCredit(ref="c1#2", amount=Decimal(0))]
    assert c.account == "acme"


def test_no_move_before_the_credit_is_held_nor_after_the_end() -> None:
    c = ctl()
    assert c.move(0.0, account="beta", rate=OTHER, currency="EUR") is None  # not answered
    c.answered(0.0)
    assert c.move(0.5, account="beta", rate=OTHER, currency="EUR") is None  # first chunk in flight
    c.reserve_result(1.0, True)
    c.move(5.0, account="beta", rate=OTHER, currency="EUR")
    (commit,) = c.ended(6.0)  # hung up while moving: the old account pays all
    assert commit == CommitCredit(ref="c1", amount=cost(RATE, 6, "EUR"))
    assert c.move_result(6.1, True) == [CommitCredit(ref="c1#2", amount=Decimal(0))]
