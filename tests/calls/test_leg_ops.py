"""The server's own answers and offers on legs (b2bua.calls.offers), on virtual
time against the harness peers: early media, answering the caller, placing the
callee later, re-offers (re-INVITE and UPDATE, glare, failures) and bridging
(RFC 3725 flow I); and the split of answering into CallerConnected and
CalleeAnswered as billing sees it."""

from __future__ import annotations

from b2bua.billing.cdr import CdrBuilder
from b2bua.calls import sdp
from b2bua.calls.call import Call, CallState
from b2bua.calls.events import (
    CallBridged,
    CalleeAnswered,
    CallEnded,
    CallerConnected,
    CallStarted,
    OfferAnswered,
)
from b2bua.calls.offers import GLARE_OTHER, GLARE_OWNER, MAX_GLARE
from b2bua.calls.sdp import SessionDescription
from b2bua.sip.message import Request, Response, header

from .harness import SDP_A, SDP_B, Harness, sdp as make_sdp

SERVER_MEDIA = "203.0.113.5"  # the server's own RTP address
TIMER = [header("Supported", "timer"), header("Session-Expires", "1800")]
WITH_UPDATE = [header("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE")]


def local_answer(offer: bytes = SDP_A, port: int = 7000) -> SessionDescription:
    return sdp.answer(sdp.parse(offer), address=SERVER_MEDIA, port=port, session_id=42)


def media(body: bytes) -> tuple[str, int]:
    """The (address, port) a description asks to receive audio at."""
    d = sdp.parse(body)
    conn = d.connection_of(0)
    assert conn is not None
    return conn.address, d.media[0].port


def served(h: Harness, extra: list[tuple[str, str, str]] | None = None) -> tuple[Call, Response]:
    """A calls; the server answers it with its own SDP (no early media); A ACKs."""
    h.place = False
    h.a.invite(SDP_A, extra=extra or TIMER)
    h.a.expect("100 INVITE")
    assert h.b.inbox == []
    (call,) = [c for c in h.started if c is not None]
    assert call.state is CallState.ROUTING
    assert h.manager.answer_locally(call.ref, local_answer(), h.now)
    h.pump()
    ok = h.a.expect_one("200 INVITE").response
    h.a.ack(ok)
    return call, ok


def names(h: Harness) -> list[str]:
    return [type(e).__name__ for e in h.events]


# -- the whole prompting flow ------------------------------------------------------------
def test_early_media_answer_place_and_bridge() -> None:
    """A calls; the server sends 183 with its SDP, then answers with the same
    SDP; the callee is placed, answers, and the server bridges A and B by
    re-offering (flow I): media ends up A <-> B."""
    h = Harness()
    h.place = False
    m = h.manager
    h.a.invite(SDP_A, extra=TIMER)
    h.a.expect("100 INVITE")
    (call,) = [c for c in h.started if c is not None]
    ref = call.ref
    local = local_answer()

    # early media: 183 with the server's answer, a To tag and our Contact
    assert m.early_media(ref, local, h.now)
    h.pump()
    early = h.a.expect_one("183 INVITE").response
    assert early.to.tag and early.get("contact") == "<sip:b2bua@192.0.2.1:5060>"
    assert early.body == sdp.build(local) and early.get("content-type") == "application/sdp"
    assert media(early.body) == (SERVER_MEDIA, 7000)
    assert call.state is CallState.ROUTING and names(h) == ["CallStarted"]

    # the answer: a different description than the early one is refused; the same one is sent
    assert not m.answer_locally(ref, local_answer(port=7002), h.now)
    h.advance(5)
    assert m.answer_locally(ref, local, h.now)
    h.pump()
    ok = h.a.expect_one("200 INVITE").response
    assert ok.to.tag == early.to.tag and ok.body == early.body
    assert ok.get("contact") == "<sip:b2bua@192.0.2.1:5060>"
    assert "UPDATE" in (ok.get("allow") or "") and ok.get("session-expires") == "1800;refresher=uac"
    assert call.state is CallState.SERVING
    assert not m.answer_locally(ref, local, h.now) and not m.early_media(ref, local, h.now)
    # the 2xx is resent until the ACK (RFC 3261 §13.3.1.4)
    h.advance(0.5)
    again = h.a.expect_one("200 INVITE").response
    assert again.body == ok.body
    h.a.ack(ok)
    h.advance(10)
    assert h.a.inbox == [] and h.b.inbox == []
    connected = h.events[-1]
    assert isinstance(connected, CallerConnected) and connected.by_server and connected.at == 5.0
    assert not any(isinstance(e, CalleeAnswered) for e in h.events)

    # the outgoing leg, placed by the runtime through the manager: it carries A's offer
    assert not m.bridge(ref, h.now)  # no callee yet
    assert m.place(ref, h.now)
    h.pump()
    inv = h.b.expect_one("INVITE").request
    assert inv.body == SDP_A and call.state is CallState.PLACING
    assert not m.place(ref, h.now)
    h.b.respond(inv, 180)
    assert h.a.inbox == []  # the caller is answered: B's ringing is not relayed
    h.advance(3)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    assert h.a.inbox == [] and call.state is CallState.CONNECTED
    answered = h.events[-1]
    assert isinstance(answered, CalleeAnswered) and answered.at == 18.5 and answered.b_call_id == inv.call_id

    # bridge, flow I: A is asked for an offer (re-INVITE without SDP) ...
    assert m.bridge(ref, h.now)
    assert not m.bridge(ref, h.now)  # one at a time
    h.pump()
    reinvite = h.a.expect_one("INVITE").request
    assert reinvite.body == b"" and (reinvite.from_.tag, reinvite.to.tag) == (ok.to.tag, h.a.tag)
    assert reinvite.get("contact") == "<sip:b2bua@192.0.2.1:5060>"
    offer_a = make_sdp("198.51.100.10", 4002, version=2)
    h.a.respond(reinvite, 200, offer_a)
    # ... which goes to B as a re-INVITE; A's ACK waits for B's answer
    assert h.a.inbox == []
    to_b = h.b.expect_one("INVITE").request
    assert to_b.to.tag == h.b.tag and sdp.parse(to_b.body) == sdp.parse(offer_a)
    assert media(to_b.body) == ("198.51.100.10", 4002)
    answer_b = make_sdp("198.51.100.20", 5002, version=2)
    h.b.respond(to_b, 200, answer_b)
    h.b.expect("ACK")
    ack = h.a.expect_one("ACK").request
    assert ack.cseq.number == reinvite.cseq.number and ack.get("content-type") == "application/sdp"
    # A's answer is B's media in the server's session towards A: the same o= line, version + 1
    got = sdp.parse(ack.body)
    assert media(ack.body) == ("198.51.100.20", 5002)
    assert got.origin == sdp.reoffer(local).origin
    assert [type(e) for e in h.events[-3:]] == [OfferAnswered, OfferAnswered, CallBridged]
    assert [(e.side, e.status) for e in h.events[-3:-1] if isinstance(e, OfferAnswered)] == [
        ("caller", 200), ("callee", 200)
    ]

    # a retransmitted 2xx of A's re-INVITE gets the same ACK again
    h.a.respond(reinvite, 200, offer_a)
    assert sdp.parse(h.a.expect_one("ACK").request.body) == got

    h.advance(60)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    end = h.ended()
    assert (end.status, end.hangup, end.cause) == (200, "caller", "caller hung up")
    assert names(h) == [
        "CallStarted", "CallerConnected", "CalleeAnswered", "OfferAnswered", "OfferAnswered", "CallBridged",
        "CallEnded",
    ]
    # billing: the answer time is the callee's, not the server's
    b = CdrBuilder(wall_offset=1000.0)
    writes = [w for e in h.events for w in b.handle(e)]
    assert writes[-1].cdr.answer == 1018.5 and writes[-1].cdr.duration == end.at - 18.5
    h.assert_isolated()
    h.settle()

