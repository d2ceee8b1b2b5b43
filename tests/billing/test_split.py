"""A record split where the account code changed during the call: each
segment rated under its own code's plan, costs worked out by hand here."""

from __future__ import annotations

import json
from decimal import Decimal

from b2bua.billing.cdr import CdrBuilder, CdrClosed, recover, segmented
from b2bua.billing.rating import Rate, RatePlan
from b2bua.billing.reports import export_cdrs, export_segments, summarize
from b2bua.billing.store import cdr_to_row, row_to_cdr
from b2bua.calls.events import AccountInfo, CalleeAnswered, CallEnded, CallStarted
from dialplan import CodeSource

WALL = 1_700_000_000.0
STD = RatePlan(name="std", currency="EUR", rates=(
    Rate(prefix="44", price_per_minute=Decimal("0.60"), increment_s=6, minimum_s=30, setup=Decimal("0.10")),))
GOLD = RatePlan(name="gold", currency="EUR", rates=(
    Rate(prefix="44", price_per_minute=Decimal("1.20"), increment_s=60, minimum_s=60, setup=Decimal("0.50")),))


def builder() -> CdrBuilder:
    return CdrBuilder(wall_offset=WALL, plans={"std": STD, "gold": GOLD}, default_plan="std")


def started(code: str = "111") -> CallStarted:
    return CallStarted(
        ref="c1", at=10.0, caller="1001", caller_user="1001", group="default", dialed="441234",
        destination="441234", route="trunk:carrier", a_call_id="a@x", source="udp:127.0.0.1:5070",
        account=AccountInfo(code=code, source=CodeSource.ASSIGNED, valid=True, call_class="international"),
    )


def split_call() -> CdrClosed:
    """Answered at 20, code 222 (gold) at 65, code 333 (std, default) at 100.5, end at 130."""
    b = builder()
    b.handle(started())
    b.handle(CalleeAnswered(ref="c1", at=20.0, b_call_id="b@y"))
    b.change_code("c1", at=65.0, account_code="222", code_source=CodeSource.INFO_PACKAGE, code_valid=True,
                  set_by="1001", rate_plan="gold")
    b.change_code("c1", at=100.5, account_code="333", code_source=CodeSource.TARGET_DIALOG, code_valid=True,
                  set_by="1001", rate_plan="")
    (closed,) = b.handle(CallEnded(ref="c1", at=130.0, status=200, cause="caller hung up", hangup="caller"))
    assert isinstance(closed, CdrClosed)
    return closed


def test_each_segment_is_rated_under_its_own_code() -> None:
    c = split_call().cdr
    assert segmented(c)
    segs = [(ch.account_code, ch.code_source, ch.set_by, ch.rate_plan, ch.at - WALL, ch.duration, ch.billable, ch.cost)
            for ch in c.code_changes]
    # 1st, 111 on std: 45 s (20..65): setup 0.10 + 48 s (6 s steps) at 0.60/min = 0.10 + 0.48 = 0.58
    # 2nd, 222 on gold: 35.5 s (65..100.5), no setup nor minimum after the first segment:
    #      36 s -> 60 s (60 s steps) at 1.20/min = 1.20
    # 3rd, 333 on std (no plan of its own: the default): 29.5 s -> 30 s at 0.60/min = 0.30
    assert segs == [
        ("111", "assigned", "", "std", 20.0, 45.0, 48, Decimal("0.58")),
        ("222", "info_package", "1001", "gold", 65.0, 35.5, 60, Decimal("1.20")),
        ("333", "target_dialog", "1001", "std", 100.5, 29.5, 30, Decimal("0.30")),
    ]
    assert (c.duration, c.billable, c.cost, c.account_code, c.rate_plan) == (110.0, 138, Decimal("2.08"), "333", "std")


def test_segments_survive_the_store_and_recovery() -> None:
    c = split_call().cdr
    back = row_to_cdr(cdr_to_row(c))
    assert back == c
    # recovery bills a record left open up to its last interim, still segment by segment
    b = builder()
    b.handle(started())
    b.handle(CalleeAnswered(ref="c1", at=20.0, b_call_id="b@y"))
    (w,) = b.change_code("c1", at=65.0, account_code="222", code_source=CodeSource.DTMF_INFO, code_valid=True,
                         rate_plan="gold")
    assert w.cdr.last_interim == WALL + 65 and w.cdr.cost == Decimal("0.58")  # the first segment so far
    r = recover(w.cdr)
    assert r.recovered and r.cost == Decimal("0.58") and [ch.duration for ch in r.code_changes] == [45.0, 0.0]


def test_reports_count_each_segment_under_its_code() -> None:
    c = split_call().cdr
    rows = {r.key: r for r in summarize([c], "account-code")}
    assert {k: (r.calls, r.total_duration_s, r.total_cost) for k, r in rows.items()} == {
        "111": (1, 45, Decimal("0.58")), "222": (1, 36, Decimal("1.20")), "333": (1, 30, Decimal("0.30")),
    }
    (dept,) = summarize([c], "department")  # other groupings take the whole call
    assert (dept.total_duration_s, dept.total_cost) == (110, Decimal("2.08"))


def test_exports_carry_the_segments() -> None:
    c = split_call().cdr
    (rec,) = json.loads(export_cdrs([c], "json"))
    assert [(s["accountcode"], s["set_by"], s["rate_plan"], s["billsec"], s["cost"]) for s in rec["code_changes"]] == [
        ("111", "", "std", 45.0, "0.58"), ("222", "1001", "gold", 35.5, "1.20"), ("333", "1001", "std", 29.5, "0.30")]
    lines = export_segments([c], "csv").splitlines()
    assert lines[0].startswith("uniqueid,segment,accountcode,code_source,set_by,start,end,billsec")
    assert len(lines) == 4
    assert lines[2].split(",")[:5] == ["c1", "2", "222", "info_package", "1001"]
    unchanged = builder()
    unchanged.handle(started())
    unchanged.handle(CalleeAnswered(ref="c1", at=20.0, b_call_id="b"))
    (whole,) = unchanged.handle(CallEnded(ref="c1", at=50.0, status=200, cause="x", hangup="caller"))
    (only,) = json.loads(export_segments([whole.cdr], "json"))
    assert (only["accountcode"], only["segment"], only["billsec"], only["cost"]) == ("111", 1, 30.0, str(whole.cdr.cost))


def test_running_cost_of_a_call_in_progress() -> None:
    """The live view's running cost: the record billed up to now, each segment at
    its own rate, without changing the builder's record."""
    b = builder()
    b.handle(started())
    ringing = b.running("c1", 15.0)
    assert ringing is not None and ringing.cost == 0  # ringing: nothing yet
    assert b.running("other", 15.0) is None
    b.handle(CalleeAnswered(ref="c1", at=20.0, b_call_id="b@y"))
    # 10 s on std: setup 0.10 + the 30 s minimum at 0.60/min = 0.40
    early = b.running("c1", 30.0)
    assert early is not None and early.cost == Decimal("0.40")
    b.change_code("c1", at=65.0, account_code="222", code_source=CodeSource.PORTAL, code_valid=True,
                  set_by="root", rate_plan="gold")
    # at 80: 0.58 for 111 (as above), 15 s of 222 -> 60 s at 1.20/min = 1.20
    now = b.running("c1", 80.0)
    assert now is not None and now.cost == Decimal("1.78") and now.code_changes[1].set_by == "root"
    assert b.running("c1", 80.0) == now  # nothing changed by asking
    (closed,) = b.handle(CallEnded(ref="c1", at=80.0, status=200, cause="caller hung up", hangup="caller"))
    assert isinstance(closed, CdrClosed) and closed.cdr.cost == now.cost
