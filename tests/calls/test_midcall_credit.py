"""A mid-call code of another credit account on a prepaid call (b2bua.calls.
midcall_credit) on virtual time: the request waits for the credit to move,
then is answered 200 (the code from the move's time) or 403 with the reason,
the call keeping its previous code; and a code on a call not yet answered."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from b2bua.billing.credit import MoveResult
from b2bua.calls.events import AccountInfo, CallEnded
from b2bua.calls.midcall import MidCallCodes
from b2bua.calls.midcall_credit import MoveCredit
from b2bua.calls.midcall_parse import BODY_TYPE, PACKAGE
from b2bua.sip.message import header
from dialplan import CodeSource

from .harness import SDP_A, SDP_B
from .test_midcall import changes, connect, far, hang_up, oob_info, rig

PREPAID = AccountInfo(code="55555", source=CodeSource.ASSIGNED, valid=True, call_class="long_distance",
                      credit_account="prepaid-0")


def code_info(h: object, body: bytes) -> None:
    h.a.request("INFO", body, content_type=BODY_TYPE, extra=[header("Info-Package", PACKAGE)])  # type: ignore[attr-defined]


def moving() -> tuple[Any, MidCallCodes, MoveCredit]:
    """A connected prepaid call whose caller has just sent a code of another credit account."""
    h, mc = rig(account=PREPAID)
    mc.credit.enabled = True
    connect(h)
    code_info(h, b"code=44444")
    (move,) = mc.credit.take()
    return h, mc, move


def test_a_code_of_another_credit_account_waits_for_the_credit_to_move() -> None:
    h, mc = rig(account=PREPAID)
    mc.credit.enabled = True
    connect(h)
    code_info(h, b"code=44444")
    assert h.a.take() == []  # not answered yet
    (move,) = mc.credit.take()
    assert isinstance(move, MoveCredit) and move.request.credit_account == "prepaid-1"
    assert move.request.destination == "2125551234" and move.request.route == "trunk:carrier"
    code_info(h, b"code=44444")  # another code while the credit moves
    assert h.a.expect_one("491 INFO").response.reason == "Request Pending"
    h.advance(h.now + 0.2)
    at = h.now - 0.1  # where the credit's new segment started
    mc.credit_moved(move.ref, MoveResult(ok=True, reason="ok", at=at), h.now)
    h.pump()
    h.a.expect("200 INFO")
    (ch,) = changes(h)
    assert (ch.account.code, ch.account.credit_account, ch.at, ch.set_by) == ("44444", "prepaid-1", at, "1001")
    assert far(h).inbox == []
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "BYE"]


def test_a_refused_move_is_403_with_its_reason_and_the_call_keeps_its_code() -> None:
    h, mc, move = moving()
    mc.credit_moved(move.ref, MoveResult(ok=False, reason="insufficient credit"), h.now)
    h.pump()
    assert h.a.expect_one("403 INFO").response.reason == "Credit refused: insufficient credit"
    mc.credit_moved(move.ref, None, h.now)  # a late second answer changes nothing
    assert changes(h) == [] and mc._state(h.manager.index.calls[move.ref]).account == PREPAID
    # the shell failing (None): refused the same way
    code_info(h, b"code=44444")
    (move,) = mc.credit.take()
    mc.credit_moved(move.ref, None, h.now)
    h.pump()
    assert h.a.expect_one("403 INFO").response.reason == "Credit refused: credit unavailable"
    assert changes(h) == []
    hang_up(h)


@pytest.mark.parametrize("account, code, reason", [
    (PREPAID, b"code=12345", "Account code of another credit account"),  # no credit account: prepaid would end
    (AccountInfo(code="55555", valid=True, call_class="long_distance"), b"code=44444",
     "Account code of another credit account"),  # a credit account on a call paid afterwards
])
def test_codes_that_cannot_move_are_refused(account: AccountInfo, code: bytes, reason: str) -> None:
    h, mc = rig(account=account)
    mc.credit.enabled = True
    connect(h)
    code_info(h, code)
    assert h.a.expect_one("403 INFO").response.reason == reason
    assert mc.credit.take() == [] and changes(h) == []
    hang_up(h)


def test_a_move_answered_after_the_call_ended_is_481() -> None:
    h, mc, move = moving()
    h.a.request("BYE")
    h.a.expect("200 BYE")
    b = far(h)
    b.respond(b.expect_one("BYE").request, 200)
    assert any(isinstance(e, CallEnded) for e in h.events)
    mc.credit_moved(move.ref, MoveResult(ok=True, reason="ok", at=h.now), h.now)
    h.pump()
    assert h.a.expect_one("481 INFO").response.reason == "Call Does Not Exist"
    assert changes(h) == []
    h.settle()  # the INFO's transaction was answered: nothing is left


def test_a_code_on_a_call_not_yet_answered_is_refused_and_the_call_goes_on() -> None:
    h, mc = rig()
    h.a.invite(SDP_A, callee=h.route.destination)
    b = far(h)
    inv = b.expect_one("INVITE").request
    b.respond(inv, 180)
    _, ringing = h.a.expect("100 INVITE", "180 INVITE")
    h.a.confirm(ringing.response)  # the early dialog
    code_info(h, b"code=12345")
    h.a.expect("481 INFO")  # the caller's dialog is early (RFC 3261 §12.1): no code yet
    assert b.inbox == [] and changes(h) == []
    b.respond(inv, 200, SDP_B)  # the call is not disturbed: it is answered as usual
    b.expect("ACK")
    h.a.ack(h.a.expect_one("200 INVITE").response)
    code_info(h, b"code=12345")
    h.a.expect("200 INFO")
    hang_up(h)


def test_another_users_target_dialog_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    h, mc = rig()
    connect(h)
    target = f"{h.a.call_id};local-tag={h.a.tag};remote-tag={h.a.remote_tag}"
    with caplog.at_level(logging.WARNING, logger="b2bua.midcall"):
        resp = oob_info(h, mc, target, user="1002", password="pw1002")
    assert (resp.status, resp.reason) == (403, "Not your call")
    (rec,) = [r for r in caplog.records if r.name == "b2bua.midcall"]
    assert "'1002'" in rec.getMessage() and "of another user" in rec.getMessage() and mc.refused == 1
    hang_up(h)
