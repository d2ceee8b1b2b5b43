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
    # A's ACK (with its answer) arrives after all: B is not ACKed twice
    h.a.ack(ok_a, body=SDP_A)
    a_bye = h.a.expect_one("BYE")  # the BYE to A waited for that ACK
    assert h.b.inbox == []
    h.b.respond(bye.request, 200)
    h.a.respond(a_bye.request, 200)
    h.settle()
