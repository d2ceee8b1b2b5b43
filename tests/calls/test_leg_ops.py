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


def the_call(h: Harness) -> Call:
    (call,) = [c for c in h.started if c is not None]
    assert isinstance(call, Call)
    return call


def served(h: Harness, extra: list[tuple[str, str, str]] | None = None) -> tuple[Call, Response]:
    """A calls; the server answers it with its own SDP (no early media); A ACKs."""
    h.place = False
    h.a.invite(SDP_A, extra=extra or TIMER)
    h.a.expect("100 INVITE")
    assert h.b.inbox == []
    call = the_call(h)
    assert call.state is CallState.ROUTING
    assert h.manager.answer_locally(call.ref, local_answer(), h.now)
    h.pump()
    ok = h.a.expect_one("200 INVITE").response
    h.a.ack(ok)
    return call, ok


def reoffered(h: Harness, extra: list[tuple[str, str, str]] | None = None) -> tuple[Call, Response, Request]:
    """Served; then the server re-offers the caller (port 7002): the call, the
    200 that answered the caller, and the offer as the caller got it."""
    call, ok = served(h, extra)
    assert h.manager.reoffer(call.ref, "caller", local_answer(port=7002), h.now)
    h.pump()
    return call, ok, h.a.expect_one("INVITE").request


def placed(h: Harness) -> tuple[Call, Request]:
    """Served, then the callee placed: returns the call and B's INVITE."""
    call, _ = served(h)
    assert h.manager.place(call.ref, h.now)
    h.pump()
    return call, h.b.expect_one("INVITE").request


def connected(h: Harness) -> Call:
    """Placed, and B answered (the server still between A and B)."""
    call, inv = placed(h)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    return call


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
    call = the_call(h)
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



# -- answering the caller -------------------------------------------------------------------
def test_early_media_needs_an_offer_to_answer() -> None:
    """An unreliable 183 cannot carry the server's offer: an INVITE without SDP
    gets no early media (a reliable provisional would be needed); the answer
    then carries the server's offer and the ACK the caller's answer."""
    h = Harness()
    h.place = False
    h.a.invite()
    h.a.expect("100 INVITE")
    call = the_call(h)
    own = sdp.offer(address=SERVER_MEDIA, port=7000, session_id=42)
    assert not h.manager.early_media(call.ref, own, h.now)
    h.pump()
    assert h.a.inbox == []
    assert h.manager.answer_locally(call.ref, own, h.now)
    h.pump()
    ok = h.a.expect_one("200 INVITE").response
    assert sdp.parse(ok.body) == own
    h.a.ack(ok, body=make_sdp("198.51.100.10", 4000))
    h.advance(5)
    assert h.a.inbox == []
    assert not h.manager.place(call.ref, h.now)  # no offer to place the callee with (none given, none from A)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    assert h.ended().cause == "caller hung up"
    h.settle()


def test_cancel_after_early_media_and_bye_before_any_callee() -> None:
    h = Harness()
    h.place = False
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    call = the_call(h)
    assert h.manager.early_media(call.ref, local_answer(), h.now)
    h.pump()
    h.a.expect("183 INVITE")
    h.a.cancel()
    _, terminated = h.a.expect("200 CANCEL", "487 INVITE")
    h.a.ack_failure(terminated.response)
    assert not h.manager.answer_locally(call.ref, local_answer(), h.now)
    end = h.ended()
    assert (end.status, end.hangup) == (487, "caller")
    assert names(h) == ["CallStarted", "CallEnded"]
    h.settle()


def test_served_caller_pays_nothing_until_a_callee_answers() -> None:
    """Billing starts on CalleeAnswered only: a call the server answered and
    that ended before any callee did has no answer time and no talk."""
    from b2bua.runtime.calllog import CallLog

    h = Harness()
    call, _ = served(h)
    h.advance(30)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    b = CdrBuilder(wall_offset=1000.0)
    (opened, closed) = [w for e in h.events for w in b.handle(e)]
    assert closed.cdr.answer is None and closed.cdr.duration == 0.0 and closed.cdr.status == 200
    log = CallLog()
    for e in h.events:
        log(e)
    assert (log.counters["calls_answered"], log.counters["calls_served"]) == (0, 1)
    h.settle()


def test_every_callee_failing_while_the_server_holds_the_caller_ends_with_bye() -> None:
    h = Harness()
    call, inv = placed(h)
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    end = h.ended()
    assert (end.status, end.hangup, end.cause) == (486, "server", "callee answered 486 Busy Here")
    assert not any(isinstance(e, CalleeAnswered) for e in h.events)
    h.settle()


# -- re-offers ------------------------------------------------------------------------------
def test_reoffer_by_reinvite_bumps_the_version_and_acks() -> None:
    h = Harness()
    call, ok = served(h)
    ref = call.ref
    first = sdp.parse(ok.body)
    assert not h.manager.reoffer(ref, "callee", first, h.now)  # no callee leg
    held = sdp.hold(local_answer())
    assert h.manager.reoffer(ref, "caller", held, h.now)
    assert not h.manager.reoffer(ref, "caller", held, h.now)  # one offer at a time
    h.pump()
    req = h.a.expect_one("INVITE").request
    offered = sdp.parse(req.body)
    assert offered.origin == sdp.reoffer(first).origin  # same o= line, version + 1
    assert offered.direction_of(0) is sdp.Direction.SENDONLY
    assert req.get("content-type") == "application/sdp" and "INVITE" in (req.get("allow") or "")
    h.a.respond(req, 200, make_sdp("198.51.100.10", 4000, direction="recvonly", version=2))
    ack = h.a.expect_one("ACK").request
    assert ack.cseq.number == req.cseq.number and ack.body == b""
    e = h.events[-1]
    assert isinstance(e, OfferAnswered) and (e.side, e.status, e.method) == ("caller", 200, "INVITE")
    # the next offer continues from the new version
    assert h.manager.reoffer(ref, "caller", sdp.resume(held), h.now)
    h.pump()
    again = h.a.expect_one("INVITE").request
    assert sdp.parse(again.body).origin.version == first.origin.version + 2
    h.a.respond(again, 200, SDP_A)
    h.a.expect("ACK")
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.settle()


def test_reoffer_by_update_where_the_call_prefers_it_and_the_peer_allows_it() -> None:
    h = Harness()
    call, ok = served(h, [*TIMER, *WITH_UPDATE])
    call.prefer_update = True
    assert h.manager.reoffer(call.ref, "caller", sdp.hold(local_answer()), h.now)
    h.pump()
    upd = h.a.expect_one("UPDATE").request
    assert sdp.parse(upd.body).origin.version == sdp.parse(ok.body).origin.version + 1
    h.a.respond(upd, 200, make_sdp("198.51.100.10", 4000, direction="recvonly", version=2))
    h.advance(1)
    assert h.a.inbox == []  # an UPDATE's 2xx is not ACKed
    e = h.events[-1]
    assert isinstance(e, OfferAnswered) and (e.status, e.method) == (200, "UPDATE")
    assert call.a is not None and call.a.local_sdp is not None and call.a.local_sdp.direction_of(0).name == "SENDONLY"
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.settle()


def test_a_peer_without_update_gets_a_reinvite_even_when_preferred() -> None:
    h = Harness()
    call, _ = served(h)  # A's Allow has no UPDATE
    call.prefer_update = True
    assert h.manager.reoffer(call.ref, "caller", local_answer(port=7002), h.now)
    h.pump()
    h.a.respond(h.a.expect_one("INVITE").request, 200, SDP_A)
    h.a.expect("ACK")


def test_glare_is_retried_after_the_fixed_delay() -> None:
    """491: the same offer again after GLARE_OTHER on the caller's leg (the
    server does not own A's Call-ID), as a new transaction; one outcome reported."""
    h = Harness()
    call, ok, first = reoffered(h)
    h.a.respond(first, 491)
    h.a.expect("ACK")  # the transaction layer ACKs the failure
    assert not any(isinstance(e, OfferAnswered) for e in h.events)
    h.advance(GLARE_OTHER - 0.01)
    assert h.a.inbox == []
    h.advance(0.01)
    second = h.a.expect_one("INVITE").request
    assert second.body == first.body and second.cseq.number == first.cseq.number + 1
    assert second.top_via.branch != first.top_via.branch
    h.a.respond(second, 200, SDP_A)
    h.a.expect("ACK")
    assert [(e.status) for e in h.events if isinstance(e, OfferAnswered)] == [200]


def test_glare_every_time_fails_after_max_attempts_and_keeps_the_session() -> None:
    h = Harness()
    call, ok = served(h)
    assert GLARE_OWNER > 2.0 >= GLARE_OTHER  # RFC 3261 §14.1 ranges: 2.1-4 s owner, 0-2 s other
    assert h.manager.reoffer(call.ref, "caller", local_answer(port=7002), h.now, glare_delay=0.25)
    h.pump()
    times = []
    for _ in range(MAX_GLARE):
        got = h.a.expect_one("INVITE")
        times.append(got.at)
        h.a.respond(got.request, 491)
        h.a.expect("ACK")
        h.advance(0.25)
    assert times == [0.0, 0.25, 0.5] and h.a.inbox == []
    e = h.events[-1]
    assert isinstance(e, OfferAnswered) and e.status == 491
    assert call.a is not None and call.a.local_sdp == sdp.parse(ok.body)  # unchanged
    assert call.state is CallState.SERVING


def test_a_rejected_offer_leaves_the_session_as_it_was() -> None:
    h = Harness()
    call, ok, req = reoffered(h)
    h.a.respond(req, 488)
    h.a.expect("ACK")
    e = h.events[-1]
    assert isinstance(e, OfferAnswered) and e.status == 488
    assert call.a is not None and call.a.local_sdp == sdp.parse(ok.body)
    # the next attempt offers the same version again: the failed one never took effect
    assert h.manager.reoffer(call.ref, "caller", local_answer(port=7004), h.now)
    h.pump()
    nxt = h.a.expect_one("INVITE").request
    assert sdp.parse(nxt.body).origin.version == sdp.parse(req.body).origin.version
    h.a.respond(nxt, 200, SDP_A)
    h.a.expect("ACK")
    assert call.state is CallState.SERVING


def test_a_dead_dialog_answering_481_ends_the_call() -> None:
    h = Harness()
    call, ok, req = reoffered(h)
    h.a.respond(req, 481)
    h.a.expect("ACK")
    end = h.ended()
    assert end.hangup == "server" and "481" in end.cause
    assert h.a.inbox == []  # no BYE to a dialog that is gone
    h.settle()


def test_an_offer_from_the_peer_crossing_ours_gets_491() -> None:
    h = Harness()
    call, ok, ours = reoffered(h)
    h.a.request("INVITE", SDP_A)
    h.a.expect("491 INVITE")
    h.a.respond(ours, 200, SDP_A)
    h.a.expect("ACK")


# -- bridging failures ---------------------------------------------------------------------------
def bridged_until_b(h: Harness) -> tuple[Call, Request]:
    """Connected, bridge started; A offered: returns B's re-INVITE."""
    call = connected(h)
    assert h.manager.bridge(call.ref, h.now)
    h.pump()
    h.a.respond(h.a.expect_one("INVITE").request, 200, SDP_A)
    return call, h.b.expect_one("INVITE").request


def test_bridge_fails_when_the_callee_rejects_the_offer() -> None:
    """A waits for its ACK: it gets one with every stream rejected, then BYE;
    B gets BYE; the call ends with the cause."""
    h = Harness()
    call, to_b = bridged_until_b(h)
    h.b.respond(to_b, 488)
    h.b.expect("ACK", "BYE")
    ack, bye = h.a.expect("ACK", "BYE")
    assert [m.port for m in sdp.parse(ack.request.body).media] == [0]
    end = h.ended()
    assert (end.status, end.hangup, end.cause) == (200, "server", "bridge failed: callee answered 488")
    assert not any(isinstance(e, CallBridged) for e in h.events)


def test_bridge_fails_when_the_caller_refuses_the_reinvite() -> None:
    h = Harness()
    call = connected(h)
    assert h.manager.bridge(call.ref, h.now)
    h.pump()
    h.a.respond(h.a.expect_one("INVITE").request, 488)
    ack, bye = h.a.expect("ACK", "BYE")  # the failure's ACK (transaction layer), then BYE
    h.b.expect("BYE")
    assert h.ended().cause == "bridge failed: caller answered 488"


def test_the_server_answers_the_callers_refreshes_while_it_holds_the_call() -> None:
    """No callee yet: the caller's re-INVITE (a session refresh) gets the
    server's session as it stands, resent until ACKed; UPDATE and INFO get 200."""
    h = Harness()
    call, ok = served(h, [*TIMER, *WITH_UPDATE])
    h.advance(800)
    reinv = h.a.request("INVITE", SDP_A, extra=[header("Session-Expires", "1800;refresher=uac")])
    got = h.a.expect_one("200 INVITE").response
    assert got.body == ok.body and got.get("session-expires") == "1800;refresher=uac"
    assert got.to.tag == ok.to.tag and got.get("contact") == "<sip:b2bua@192.0.2.1:5060>"
    h.advance(0.5)
    assert h.a.expect_one("200 INVITE").response.cseq.number == reinv.cseq.number
    h.a.ack(got)
    h.advance(5)
    assert h.a.inbox == []
    h.a.request("UPDATE")
    assert h.a.expect_one("200 UPDATE").response.body == b""
    h.a.request("INFO", b"Signal=5\r\n", content_type="application/dtmf-relay")
    h.a.expect("200 INFO")
    assert call.state is CallState.SERVING
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.settle()


def test_caller_hanging_up_while_the_callee_rings_cancels_the_callee() -> None:
    h = Harness()
    call, inv = placed(h)
    h.b.respond(inv, 180)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("CANCEL").request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    end = h.ended()
    assert (end.status, end.hangup) == (200, "caller")
    h.settle()


def test_the_call_ending_during_a_reoffer_reports_nothing_after_call_ended() -> None:
    h = Harness()
    call, _, req = reoffered(h)
    assert h.manager.end_call(call.ref, h.now, "operator")
    h.pump()
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.a.respond(req, 200, SDP_A)
    h.a.expect("ACK")  # a 2xx is still ACKed
    assert isinstance(h.events[-1], CallEnded) and not any(isinstance(e, OfferAnswered) for e in h.events)
    h.settle()


def test_placed_from_early_media_the_caller_is_answered_with_the_early_sdp() -> None:
    """Prompting's default flow: 183 with the server's SDP, the callee placed while
    the caller is still unanswered (it hears the server's ringback: the callee's
    180 is not relayed); when the callee answers, the caller's 200 carries the early
    media's SDP (consistent with the 183), then bridging connects A and B."""
    h = Harness()
    h.place = False
    m = h.manager
    h.a.invite(SDP_A, extra=TIMER)
    h.a.expect("100 INVITE")
    call = the_call(h)
    local = local_answer()
    assert m.early_media(call.ref, local, h.now)
    h.pump()
    early = h.a.expect_one("183 INVITE").response
    own_offer = sdp.offer(address=SERVER_MEDIA, port=7002, session_id=43)
    assert m.place(call.ref, h.now, sd=own_offer)
    h.pump()
    assert call.state is CallState.PROCEEDING
    inv = h.b.expect_one("INVITE").request
    assert media(inv.body) == (SERVER_MEDIA, 7002)  # the server's own offer, not A's
    h.b.respond(inv, 180)
    h.b.respond(inv, 183, SDP_B)
    assert h.a.inbox == []  # nothing of the callee's reaches the caller as SIP
    # the callee's SDP in the 183 is reported (the runtime relays its early media)
    assert call.state is CallState.EARLY and names(h) == ["CallStarted", "CallRinging", "CalleeEarlyMedia"]
    assert h.events[-1].body == SDP_B and h.events[-1].status == 183  # type: ignore[union-attr]
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == early.body and ok.to.tag == early.to.tag
    h.a.ack(ok)
    assert call.state is CallState.CONNECTED
    assert names(h)[-2:] == ["CalleeAnswered", "CallerConnected"]
    # media end to end: flow I through both dialogs
    assert m.bridge(call.ref, h.now)
    h.pump()
    reinvite = h.a.expect_one("INVITE").request
    assert not reinvite.body  # A is asked for an offer
    h.a.respond(reinvite, 200, SDP_A)
    to_b = h.b.expect_one("INVITE").request
    assert media(to_b.body) == media(SDP_A)
    h.b.respond(to_b, 200, SDP_B)
    h.b.expect("ACK")
    ack = h.a.expect_one("ACK").request
    assert media(ack.body) == media(SDP_B)
    assert isinstance(h.events[-1], CallBridged)


def test_info_from_a_caller_held_for_a_prompt_goes_to_the_runtime() -> None:
    """A caller the server prompts sends its digits by INFO in the early dialog
    (the 183's To tag): 200, and InfoReceived for the runtime; nothing is relayed."""
    from b2bua.calls.events import InfoReceived
    from b2bua.calls.routing import Route

    h = Harness(route=Route(kind="prompt", destination="2125551234"))
    h.place = False
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    call = the_call(h)
    assert h.manager.early_media(call.ref, local_answer(), h.now)
    h.pump()
    early = h.a.expect_one("183 INVITE").response
    h.a.confirm(early)
    h.a.request("INFO", b"Signal=5\r\nDuration=160\r\n", content_type="application/dtmf-relay")
    h.a.expect("200 INFO")
    info = h.events[-1]
    assert isinstance(info, InfoReceived) and info.ref == call.ref
    assert (info.content_type, info.body) == ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")
    assert h.b.inbox == []
