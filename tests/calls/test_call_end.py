"""Ending a call while an ACK is still owed (RFC 3261 §13.2.2.4, §13.3.1.4, §15).

* A delayed offer (an INVITE without SDP) answered by B with an offer: our
  ACK to B waits for A's ACK with the answer; when that never comes (or the
  call ends first), B is ACKed with an answer rejecting every stream, then
  gets the BYE; never a BYE without the ACK.
* A BYE towards a leg whose 2xx is not ACKed yet waits for that ACK (or the
  end of the 2xx retransmissions, 64*T1): it must not overtake the ACK.
"""

from __future__ import annotations

from b2bua.calls import sdp as sdpm
from b2bua.calls.events import CallEnded

from .harness import SDP_A, SDP_B, Harness


def delayed_offer_call(h: Harness):
    """A calls without SDP; B answers with its offer.  Returns (B's INVITE, B's 200, A's 200)."""
    h.a.invite(b"")
    h.a.expect("100 INVITE")
    inv = h.b.expect_one("INVITE").request
    ok_b = h.b.respond(inv, 200, SDP_B)
    assert h.b.inbox == []  # our ACK waits for A's answer
    ok_a = h.a.expect_one("200 INVITE").response
    return inv, ok_b, ok_a


def assert_rejecting_answer(body: bytes) -> None:
    """One m= line per offered stream (SDP_B has one), every port 0 (RFC 3264 §6)."""
    answer = sdpm.parse(body)
    offer = sdpm.parse(SDP_B)
    assert len(answer.media) == len(offer.media) == 1
    assert [m.port for m in answer.media] == [0]
    assert answer.media[0].media == "audio"
    assert answer.connection is not None and answer.connection.address == "192.0.2.1"


def test_delayed_offer_ack_never_comes_b_is_acked_with_a_rejection_then_bye() -> None:
    h = Harness()
    inv, ok_b, _ = delayed_offer_call(h)
    h.advance(31.9)
    assert h.b.inbox == []  # still waiting for A's answer
    h.b.send(ok_b)  # B resends its 2xx meanwhile: nothing to ACK with yet
    assert h.b.inbox == []
    h.a.take()  # our 2xx retransmissions
    h.advance(0.1)
    ack, bye = h.b.expect("ACK", "BYE")
    assert ack.at == bye.at == 32.0
    assert ack.request.cseq.number == inv.cseq.number and ack.request.to.tag == h.b.tag
    assert ack.request.get("content-type") == "application/sdp"
    assert_rejecting_answer(ack.request.body)
    a_bye = h.a.expect_one("BYE")
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup, ended.at) == (200, "no ACK for 2xx", "server", 32.0)
    h.b.respond(bye.request, 200)
    h.a.respond(a_bye.request, 200)
    h.assert_isolated()
    h.settle()


def test_delayed_offer_call_ended_before_the_answer_acks_b_first() -> None:
    """The server ends the call (credit, say) while A's answer is still owed."""
    h = Harness()
    inv, _, ok_a = delayed_offer_call(h)
    h.advance(0.2)
    h.a.take()
    call = next(iter(h.manager.index.calls))
    assert h.manager.end_call(call, h.now, "credit exhausted")
    h.pump()
    ack, bye = h.b.expect("ACK", "BYE")
    assert_rejecting_answer(ack.request.body)
    assert ack.request.cseq.number == inv.cseq.number
    assert h.ended().cause == "credit exhausted"
    assert h.a.inbox == []  # A's 2xx is not ACKed: its BYE waits (RFC 3261 §15)
    # A's ACK (with its answer) arrives after all: B is not ACKed twice
    h.a.ack(ok_a, body=SDP_A)
    a_bye = h.a.expect_one("BYE")  # the BYE to A waited for that ACK
    assert h.b.inbox == []
    h.b.respond(bye.request, 200)
    h.a.respond(a_bye.request, 200)
    h.settle()


def answered_not_acked(h: Harness):
    """B answers; A has the 200 but its ACK is still in flight.  Returns A's 200."""
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv = h.b.expect_one("INVITE").request
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.take_events()
    return ok


def test_bye_from_b_waits_for_a_s_ack() -> None:
    h = Harness()
    ok = answered_not_acked(h)
    h.advance(0.1)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    assert h.a.inbox == []  # the BYE must not overtake A's ACK
    ended = h.ended()
    assert (ended.cause, ended.hangup, ended.at) == ("callee hung up", "callee", 0.1)  # billing stops now
    h.advance(0.4)
    again = h.a.expect_one("200 INVITE")  # the 2xx is still resent until the ACK
    assert again.at == 0.5
    h.advance(0.3)
    h.a.ack(ok)
    bye = h.a.expect_one("BYE")
    assert bye.at == 0.8 and bye.request.cseq.method == "BYE"
    h.a.respond(bye.request, 200)
    h.advance(5)
    assert h.a.inbox == []  # no 2xx after the ACK, one BYE only
    h.settle()


def test_bye_waits_at_most_until_the_2xx_retransmissions_give_up() -> None:
    h = Harness()
    answered_not_acked(h)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    assert len(h.take_events()) == 1  # CallEnded, once
    h.advance(31.9)
    assert {r.kind for r in h.a.take()} == {"200 INVITE"}
    h.advance(0.1)
    bye = h.a.expect_one("BYE")
    assert bye.at == 32.0  # 64*T1 after the 2xx: the bound
    assert h.events == []  # the call had ended already
    h.a.respond(bye.request, 200)
    h.settle()


def test_deferred_bye_dropped_when_a_sends_bye() -> None:
    """A hangs up itself (it had the 2xx) while our BYE waits: both ends agree, nothing more is sent."""
    h = Harness()
    ok = answered_not_acked(h)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.confirm(ok)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.advance(40)
    assert h.a.inbox == [] and h.b.inbox == []
    assert isinstance(h.ended(), CallEnded)
    h.settle()


def test_server_ends_the_call_right_after_answering() -> None:
    h = Harness()
    ok = answered_not_acked(h)
    ref = next(iter(h.manager.index.calls))
    assert h.manager.end_call(ref, h.now, "maximum call duration")
    h.pump()
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert h.a.inbox == []
    h.a.ack(ok)
    h.a.respond(h.a.expect_one("BYE").request, 200)
    assert h.ended().hangup == "server"
    h.settle()


def test_end_all_at_shutdown() -> None:
    """Every live call ends from the server: BYE on both legs of the answered one,
    503 and CANCEL for the one still ringing; each closed once, hangup "server"."""
    answered = Harness()
    ok = answered_not_acked(answered)
    answered.a.ack(ok)
    m = answered.manager
    assert m.end_all(answered.now, "server shutdown") == 1
    answered.pump()
    answered.b.respond(answered.b.expect_one("BYE").request, 200)
    answered.a.respond(answered.a.expect_one("BYE").request, 200)
    ended = answered.ended()
    assert (ended.status, ended.cause, ended.hangup) == (200, "server shutdown", "server")
    assert m.end_all(answered.now, "server shutdown") == 0  # nothing live is left
    answered.settle()

    ringing = Harness()
    ringing.a.invite(SDP_A)
    ringing.a.expect("100 INVITE")
    inv = ringing.b.expect_one("INVITE").request
    ringing.b.respond(inv, 180)
    ringing.a.expect("180 INVITE")
    assert ringing.manager.end_all(ringing.now) == 1
    ringing.pump()
    refused = ringing.a.expect_one("503 INVITE").response
    ringing.a.ack_failure(refused)
    cancel = ringing.b.expect_one("CANCEL").request
    ringing.b.respond(cancel, 200)
    ringing.b.respond(inv, 487)
    ringing.b.expect("ACK")
    ended = ringing.ended()
    assert (ended.status, ended.cause, ended.hangup) == (503, "server shutdown", "server")
    ringing.settle()


def test_byes_waiting_for_an_ack_released_at_shutdown() -> None:
    h = Harness()
    answered_not_acked(h)
    m = h.manager
    assert m.end_all(h.now) == 1
    h.pump()
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert h.a.inbox == [] and [leg.uas for leg in m.waiting_byes()] == [True]
    h.advance(1.0)
    h.a.take()  # 2xx retransmissions meanwhile
    assert m.release_byes(h.now) == 1  # the server cannot wait any longer
    h.pump()
    bye = h.a.expect_one("BYE")
    assert m.waiting_byes() == [] and m.release_byes(h.now) == 0
    h.a.respond(bye.request, 200)
    h.advance(40)
    assert h.a.inbox == []  # no more 2xx, no second BYE
    assert h.ended().cause == "server shutdown"
    h.settle()
