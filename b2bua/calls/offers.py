"""The server's own answers and offers on a call's legs (sans-IO).

Theory of operation
-------------------
Relayed calls pass bodies through (:mod:`b2bua.calls.relay`).  These
operations make the server one end of a session itself, as prompting needs
(the caller hears the server's media, then is connected to the callee):

* :func:`early_media`: 183 Session Progress with the server's SDP on the A
  leg (To tag, Contact; RFC 3261 §13.3.1.1).  The 183 is unreliable, so it
  can only carry the *answer* to the caller's offer (an INVITE without one
  is refused: the offer would have to go in a reliable provisional).  The
  same description is then the one the 200 carries (RFC 3264 §5 / RFC 3261
  §13.3.1.4: the answer stays the answer).  :func:`send_provisional` is the
  one place such a provisional is sent: reliable provisionals (RFC 3262,
  Require: 100rel, RSeq, PRACK) hook in there.
* :func:`answer`: 200 OK to the caller's INVITE with the server's SDP
  (:meth:`Leg.answer_invite`: the dialog, Contact, Allow, Session-Expires,
  2xx retransmission until the ACK), the call's trigger ``SERVED``.
* :func:`reoffer`: a new offer on a confirmed leg, by re-INVITE, or by UPDATE
  when the call prefers it (``Call.prefer_update``) and the peer allows it.
  The ``o=`` line is the server's session towards that peer (``Leg.local_sdp``)
  with the version plus one (RFC 3264 §8); a leg where the server never spoke
  SDP (bodies relayed) sends the description as it is.  A 2xx to a re-INVITE
  is ACKed at once (or, for an offer-less re-INVITE, its ACK waits for the
  answer: :func:`answer_ack`); the new session holds.  A 491 (glare) is
  retried with the same offer after a fixed delay, up to :data:`MAX_GLARE`
  times: RFC 3261 §14.1 asks the owner of the Call-ID to wait 2.1-4 s and
  the other side 0-2 s, randomly; the core has no randomness, so the
  owner (the server on B legs, whose Call-ID it chose) waits
  :data:`GLARE_OWNER` and the other side (A legs) :data:`GLARE_OTHER`, the
  midpoints of the two ranges (the ranges do not overlap, so two such
  servers still take turns); ``glare_delay`` overrides.  Any other failure
  leaves the session as it was; a 408/481 (or no answer) means the dialog
  is gone and ends the call.  Every outcome is reported (``OfferAnswered``).
* :func:`bridge`: RFC 3725 flow I on two confirmed dialogs: a re-INVITE
  without SDP to A; A's 2xx brings A's offer; that offer goes to B
  (re-INVITE or UPDATE); B's answer goes to A in the ACK.  Then A and B send
  media to each other (``CallBridged``).  Flow I's weakness (B ringing while
  A's 2xx waits for its ACK) does not arise: B has answered already.  A
  failure of either step ends the call (both legs get BYE, the cause names
  the step); when A waits for its ACK, it gets one with every stream
  rejected first (RFC 3261 §13.2.2.4: a valid answer, then BYE).

While no callee is connected, the peer's own in-dialog requests on a leg
the server answered are the server's to answer (:func:`answer_request`):
a re-INVITE or UPDATE gets the server's session as it stands, so that the
caller's session refreshes keep a prompting call up.

Limits: after a bridge, offers the peers make are relayed as they are
(:mod:`b2bua.calls.relay`), ``o=`` lines included, so a peer that held the
server's session sees the other peer's origin from then on.  A callee that
cannot be reached while the server holds the caller ends the call (BYE to
the caller); going back to SERVING for another attempt is not done.

One offer/answer at a time per call: :func:`busy` is true while an offer of
the server's own is in flight on either leg; a request with an offer from a
peer crossing it gets 491 (the manager's glare check).
"""

from __future__ import annotations

from typing import Callable

from b2bua.sip.build import make_response
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import Header, Response, header

from . import sdp
from .call import UNANSWERED, Call, CallState
from .events import CallBridged, CallEvent, OfferAnswered
from .leg import ALLOW, MIN_SE, Leg, LegState, session_expires
from .relay import is_offer
from .sdp import SdpError, SessionDescription
from .timers import Timer

GLARE_OWNER = 3.0  # seconds: RFC 3261 §14.1, 2.1-4 s for the owner of the Call-ID
GLARE_OTHER = 1.0  # seconds: 0-2 s for the other side
MAX_GLARE = 3  # 491s retried before the offer counts as failed

Emit = Callable[[CallEvent], None]
Done = Callable[[Leg, Response, float], None]


class OwnOffer:
    """An offer of the server's own in flight on a leg (``Leg.offer``)."""

    __slots__ = ("method", "sd", "body", "delay", "emit", "done", "txn", "attempts", "timer")

    def __init__(
        self, method: str, sd: SessionDescription | None, delay: float, emit: Emit, done: Done | None
    ) -> None:
        self.method = method
        self.sd = sd  # what the peer will hold once it answers 2xx (None: we solicit its offer)
        self.body = sdp.build(sd) if sd is not None else b""
        self.delay = delay
        self.emit = emit
        self.done = done
        self.txn = ""
        self.attempts = 1
        self.timer: Timer | None = None


def side(leg: Leg) -> str:
    return "caller" if leg.uas else "callee"


def _session(leg: Leg, sd: SessionDescription) -> SessionDescription:
    """``sd`` as the next description of the server's session towards ``leg``."""
    return sdp.reoffer(leg.local_sdp, sd) if leg.local_sdp is not None else sd


def send_provisional(a: Leg, status: int, now: float, *, body: bytes = b"") -> Response:
    """The one place the server sends a provisional of its own on the A leg.

    Reliable provisionals (RFC 3262) hook in here: when the caller supports or
    requires 100rel, the PRACK machinery adds Require: 100rel and RSeq and takes
    over the retransmission until the PRACK; here the 183 is sent once."""
    extra: list[Header] = [header("Content-Type", "application/sdp")] if body else []
    return a.respond(status, now, body=body, extra=extra)


# -- the caller's INVITE, answered by the server ----------------------------------------
def early_media(a: Leg, sd: SessionDescription, now: float) -> bool:
    """183 with the server's answer on the (UAS) A leg; False when it does not apply."""
    call = a.call
    if call is None or not a.uas or call.state not in UNANSWERED or a.dialog is not None:
        return False
    if not a.invite.body or (a.local_sdp is not None and a.local_sdp != sd):
        return False  # no offer to answer unreliably, or a different answer than the one given
    a.local_sdp = sd
    a.state = LegState.EARLY
    send_provisional(a, 183, now, body=sdp.build(sd))
    return True


def answer(a: Leg, sd: SessionDescription, now: float) -> bool:
    """200 OK with the server's SDP on the (UAS) A leg; False when it does not apply
    (answered already, ended, or a description other than the early media's)."""
    call = a.call
    if call is None or not a.uas or call.state not in UNANSWERED or a.dialog is not None:
        return False
    if a.local_sdp is not None and a.local_sdp != sd:
        return False
    a.local_sdp = sd
    a.answer_invite(now, body=sdp.build(sd))
    a.schedule_refresh(now)
    return True


def answer_request(leg: Leg, event: RequestReceived, now: float) -> None:
    """An in-dialog request on a leg the server holds alone (its call has no
    callee connected): a re-INVITE or UPDATE is answered with the server's
    session as it stands (so that a session refresh keeps the call up; a 2xx
    to a re-INVITE is resent until its ACK), anything else gets 200."""
    req = event.request
    core = leg.core
    assert event.transaction_id is not None and leg.dialog is not None
    headers: list[Header] = [header("Server", core.s.user_agent)]
    body = b""
    if req.method in ("INVITE", "UPDATE"):
        leg.dialog.update_target(req)
        headers.append(header("Contact", core.contact(leg.flow)))
        se = session_expires(req)
        if se is not None:
            headers += [header("Session-Expires", f"{max(se, MIN_SE)};refresher=uac"), header("Require", "timer")]
        if is_offer(req) and leg.local_sdp is not None:
            body = sdp.build(leg.local_sdp)
            headers.append(header("Content-Type", "application/sdp"))
    resp = make_response(req, 200, to_tag=leg.dialog.local_tag, headers=headers, body=body)
    core.endpoint.send_response(event.transaction_id, resp, now)
    if req.method == "INVITE":
        leg.start_2xx_retransmit(event.transaction_id, resp, now)


# -- re-offers on a confirmed leg -----------------------------------------------------
def busy(leg: Leg) -> bool:
    """Is an offer of the server's own in flight on this leg's call?"""
    other = leg.other
    return leg.offer is not None or (other is not None and other.offer is not None)


def _quiet(leg: Leg | None) -> bool:
    """No offer/answer of any kind open on this leg: none of the server's own,
    no ACK waiting for an answer, no relayed offer waiting for its answer."""
    if leg is None:
        return True
    return leg.offer is None and leg.ack_cseq is None and not any(is_offer(r) for _, r in leg.pending.values())


def reoffer(
    leg: Leg,
    sd: SessionDescription | None,
    now: float,
    *,
    emit: Emit,
    done: Done | None = None,
    glare_delay: float | None = None,
) -> bool:
    """Send ``sd`` as a new offer on a confirmed leg (``None``: a re-INVITE
    without SDP, asking the peer for an offer).  False when it does not apply:
    the leg is not confirmed, or an offer/answer is open on the call."""
    if not (_quiet(leg) and _quiet(leg.other)):
        return False
    return _start(leg, sd, now, emit=emit, done=done, glare_delay=glare_delay)


def _start(
    leg: Leg, sd: SessionDescription | None, now: float, *, emit: Emit, done: Done | None, glare_delay: float | None
) -> bool:
    call = leg.call
    if call is None or call.state is CallState.ENDED or leg.state is not LegState.CONFIRMED or leg.dialog is None:
        return False
    if not leg.acked:  # RFC 3261 §14.1: not while the INVITE answered on this leg waits for its ACK
        return False
    method = "UPDATE" if sd is not None and call.prefer_update and leg.allows_update else "INVITE"
    delay = glare_delay if glare_delay is not None else GLARE_OTHER if leg.uas else GLARE_OWNER
    offer = OwnOffer(method, _session(leg, sd) if sd is not None else None, delay, emit, done)
    leg.offer = offer
    _send(leg, offer, now)
    return True


def _send(leg: Leg, offer: OwnOffer, now: float) -> None:
    assert leg.dialog is not None
    extra = [header("Allow", ALLOW)] if offer.method == "INVITE" else []
    req = leg.dialog.request(offer.method, body=offer.body, content_type="application/sdp", extra=extra)
    offer.txn = leg.send_request(req, now)


def _retry(now: float, leg: Leg, offer: OwnOffer) -> None:
    offer.timer = None
    call = leg.call
    if leg.offer is not offer or call is None or call.state is CallState.ENDED or leg.state is not LegState.CONFIRMED:
        return
    _send(leg, offer, now)


def on_response(leg: Leg, txn: str, resp: Response, now: float) -> bool:
    """A response (or a timeout, as 408) to an in-dialog transaction on ``leg``:
    True when it answers the server's own offer (then it is handled here)."""
    offer = leg.offer
    if offer is None or offer.txn != txn:
        return False
    if resp.status < 200:
        return True
    core = leg.core
    invite_2xx = offer.method == "INVITE" and 200 <= resp.status < 300
    if not invite_2xx:
        # a re-INVITE's 2xx keeps its entry: a retransmission gets our ACK again
        core.index.remove_relay(txn)
    if resp.status == 491 and offer.attempts < MAX_GLARE:
        offer.attempts += 1
        offer.timer = core.timers.schedule(now + offer.delay, _retry, leg, offer)
        return True
    leg.offer = None
    if 200 <= resp.status < 300:
        assert leg.dialog is not None
        leg.dialog.update_target(resp)
        if invite_2xx:
            if offer.body:
                leg.ack(resp.cseq.number)
            else:
                leg.ack_cseq = resp.cseq.number  # the 2xx is the peer's offer: answer_ack() sends the ACK
        if offer.sd is not None:
            leg.local_sdp = offer.sd
    call = leg.call
    if call is None or call.state is CallState.ENDED:
        return True  # the call ended meanwhile: nothing to report after its CallEnded
    offer.emit(OfferAnswered(ref=call.ref, at=now, side=side(leg), status=resp.status, method=offer.method))
    if offer.done is not None:
        offer.done(leg, resp, now)
    if resp.status in (408, 481) and leg.state is LegState.CONFIRMED:
        core.teardown(call, now, cause=f"{side(leg)} answered {resp.status} to a re-offer", hangup="server", dead=leg)
    return True


def answer_ack(leg: Leg, sd: SessionDescription, now: float) -> None:
    """The ACK of the 2xx that answered our offer-less re-INVITE, with our answer."""
    assert leg.ack_cseq is not None
    sd = _session(leg, sd)
    cseq, leg.ack_cseq = leg.ack_cseq, None
    leg.ack(cseq, body=sdp.build(sd), content_type="application/sdp")
    leg.local_sdp = sd


# -- bridging: RFC 3725 flow I ---------------------------------------------------------
def bridge(call: Call, now: float, *, emit: Emit) -> bool:
    """Connect A's and B's media by re-offering (module docstring); False when it
    does not apply (not CONNECTED, or an offer/answer is open)."""
    a, b = call.a, call.b
    if call.state is not CallState.CONNECTED or a is None or b is None:
        return False
    if b.state is not LegState.CONFIRMED or not _quiet(b):
        return False
    return reoffer(a, None, now, emit=emit, done=lambda leg, resp, t: _offered_by_a(call, resp, t, emit))


def _offered_by_a(call: Call, resp: Response, now: float, emit: Emit) -> None:
    """Flow I, step 2: A's 2xx carries its offer; it goes to B."""
    if call.state is CallState.ENDED or not 200 <= resp.status < 300:
        _abort(call, now, f"bridge failed: caller answered {resp.status}")
        return
    b = call.b
    assert b is not None
    try:
        offered = sdp.parse(resp.body)
    except SdpError:
        _abort(call, now, "bridge failed: no offer from the caller")
        return
    done = lambda leg, r, t: _answered_by_b(call, offered, r, t, emit)  # noqa: E731
    if not (_quiet(b) and _start(b, offered, now, emit=emit, done=done, glare_delay=None)):
        _abort(call, now, "bridge failed: the callee is busy with an offer", offered)


def _answered_by_b(call: Call, offered: SessionDescription, resp: Response, now: float, emit: Emit) -> None:
    """Flow I, step 3: B's answer goes to A in the ACK."""
    a = call.a
    if call.state is CallState.ENDED or a is None or a.ack_cseq is None:
        return
    try:
        answered = sdp.parse(resp.body) if 200 <= resp.status < 300 else None
    except SdpError:
        answered = None
    if answered is None:
        _abort(call, now, f"bridge failed: callee answered {resp.status}", offered)
        return
    answer_ack(a, answered, now)
    emit(CallBridged(ref=call.ref, at=now))


def _abort(call: Call, now: float, cause: str, offered: SessionDescription | None = None) -> None:
    """A bridge step failed: ACK A (every stream of its ``offered`` rejected) if it
    waits for one, then BYE on both legs."""
    a = call.a
    if call.state is CallState.ENDED or a is None:
        return
    if a.ack_cseq is not None:
        if offered is not None:
            answer_ack(a, rejected(offered, a.local_sdp), now)
        else:  # its 2xx had no usable offer: nothing to answer
            cseq, a.ack_cseq = a.ack_cseq, None
            a.ack(cseq)
    a.core.teardown(call, now, cause=cause, hangup="server")


def rejected(offered: SessionDescription, local: SessionDescription | None) -> SessionDescription:
    """An answer to ``offered`` that accepts no stream (RFC 3264 §6: port zero)."""
    conn = local.connection if local is not None else None
    return sdp.answer(offered, address=conn.address if conn else "0.0.0.0", port=0, session_id=0, codecs=())
