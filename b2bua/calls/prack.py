"""Reliable provisional responses (RFC 3262, 100rel and PRACK), on both sides of a call.

Theory of operation
-------------------
**Towards a callee (a B leg, we are the UAC).**  Our INVITEs offer
``Supported: 100rel`` (:func:`offer`, ``Settings.offer_100rel``; not on a
delayed-offer INVITE whose caller cannot take a reliable provisional, since
the answer to an offer in a reliable provisional must come in the PRACK).
A provisional with ``Require: 100rel`` and an ``RSeq`` (:func:`is_reliable`)
opens an early dialog of its own per To tag (:class:`EarlyDialog`; the leg's
``dialog`` stays None until the 2xx) and goes through :func:`on_reliable`
(§4):

* the first RSeq of that early dialog, or the one after the last, is new:
  PRACK it (``RAck: rseq cseq INVITE``) in the early dialog, a non-INVITE
  client transaction of its own that retransmits itself; the response is
  then relayed to the caller;
* the same RSeq again is a retransmission: not relayed again; a new PRACK
  goes out only when the last one failed (its transaction answered with an
  error or timed out), since while it is in flight its own transaction
  retransmits it;
* any other RSeq is out of order: neither PRACKed nor processed.

Offer/answer (§5): when the caller's INVITE had an offer, SDP in a reliable
provisional is the callee's answer and the PRACK has no body.  When it had
none (delayed offer), that SDP is the callee's offer: relayed reliably to a
caller that supports 100rel, our PRACK to the callee waits for the caller's
PRACK and carries the answer from it.  The 2xx of the callee fixes the
dialog's local CSeq past our PRACKs (:func:`confirmed`), and when that 2xx
has no body, the answer from the reliable provisional goes to a caller that
got it unreliably (:func:`early_answer`).  Responses to our PRACKs end in
:func:`on_response` / :func:`on_timeout` (nothing else follows from them).

**Towards the caller (the A leg, we are the UAS).**  :func:`provisional`
sends a 1xx (relayed, or the server's own early media) reliably when the
caller's INVITE asked for it: always with ``Require: 100rel``, and when it
only says ``Supported: 100rel``, for a provisional with a body
(:func:`wants_reliable`).  Such a response carries ``Require: 100rel`` and
``RSeq`` (1, 2, ... per INVITE), and is passed to the INVITE server
transaction again at T1, 2*T1, 4*T1 ... until the PRACK; after 64*T1
without one the INVITE is answered 500 and the call ends (§3).  One
reliable provisional is unacknowledged at a time: later ones wait in a
queue.  The caller's PRACK (:func:`on_prack`) gets 200 when its ``RAck``
names the unacknowledged one (or the one a final response left
unacknowledged), else 481.  Any final response to the INVITE
stops the retransmissions and drops the queue (``Leg.respond`` asks the
state, ``final_ready``), but a 2xx while the unacknowledged one carries a
session description is held until its PRACK (§3: the offer/answer must be
complete first), or until the 64*T1 are over.

Public API
----------
* ``provisional(leg, status, now, *, body=b"", content_type=None, extra=None,
  reason=None, then=None) -> bool``: a 1xx on a UAS leg, reliable when the
  caller asked for it (True then); ``then(prack_request, now)`` runs when it
  is PRACKed.  ``early_media(leg, sdp, now)`` is the 183 with the server's own
  session description.
* hooks of the call manager: :func:`offer`, :func:`is_reliable`,
  :func:`on_reliable`, :func:`relay_provisional`, :func:`on_prack`,
  :func:`on_response`, :func:`on_timeout`, :func:`confirmed`,
  :func:`early_answer`.
"""

from __future__ import annotations

import enum
from functools import partial
from typing import TYPE_CHECKING, Callable

from b2bua.sip.dialog import Dialog
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import Header, Request, Response, SipMessage, header

from .call import Settings
from .timers import Timer

if TYPE_CHECKING:  # a leg holds its reliability state; this module acts on legs
    from .leg import Leg

TAG = "100rel"
RELAYED = (180, 183)  # the provisionals the manager relays to the caller
MAX_RSEQ = 2**31 - 1  # RFC 3262 §7.1

Then = Callable[[Request, float], None]


def option_tags(msg: SipMessage, *names: str) -> set[str]:
    """The option tags of the named headers (several lines, comma lists), lowercase."""
    return {t.strip().lower() for name in names for v in msg.get_all(name) for t in v.split(",") if t.strip()}


def wants_reliable(invite: Request, body: bytes) -> bool:
    """Must a provisional to ``invite`` (with ``body``) be sent reliably?"""
    if TAG in option_tags(invite, "require"):
        return True
    return bool(body) and TAG in option_tags(invite, "supported")


def is_reliable(resp: Response) -> bool:
    """A reliable provisional: Require: 100rel, a valid RSeq and a To tag."""
    return (
        100 < resp.status < 200
        and TAG in option_tags(resp, "require")
        and _rseq(resp) is not None
        and bool(resp.to.tag)
    )


def _rseq(resp: Response) -> int | None:
    value = (resp.get("rseq") or "").strip()
    if not value.isdigit() or len(value) > 10:
        return None
    n = int(value)
    return n if 1 <= n <= MAX_RSEQ else None


def parse_rack(req: Request) -> tuple[int, int, str] | None:
    """RAck: response-num CSeq-num Method (RFC 3262 §7.2), or None."""
    parts = (req.get("rack") or "").split()
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 10 for p in parts[:2]):
        return None
    return int(parts[0]), int(parts[1]), parts[2].upper()


# -- as UAC: the B legs ------------------------------------------------------------------


def offer(settings: Settings, caller_invite: Request, req: Request) -> None:
    """Add 100rel to the Supported header of ``req`` (a B-leg INVITE, in place)."""
    if not settings.offer_100rel:
        return
    if not caller_invite.body and TAG not in option_tags(caller_invite, "supported", "require"):
        return  # an offer in a reliable provisional would need an answer the caller cannot give
    for i, (name, key, value) in enumerate(req.headers):
        if key == "supported":
            req.headers[i] = (name, key, f"{TAG}, {value}")
            return
    req.headers.append(header("Supported", TAG))


class Prack(enum.Enum):
    """Where the PRACK of an early dialog's last reliable provisional stands."""

    WAITING = "waiting"  # not sent yet: it waits for the caller's answer (delayed offer)
    SENT = "sent"  # its transaction is running (and retransmits it)
    DONE = "done"  # answered 2xx
    FAILED = "failed"  # answered with an error or timed out: a retransmission gets a new one


class EarlyDialog:
    """One early dialog with a callee that sends reliable provisionals."""

    __slots__ = ("dialog", "rseq", "state", "answer")

    def __init__(self, dialog: Dialog) -> None:
        self.dialog = dialog
        self.rseq: int | None = None  # the last RSeq accepted
        self.state = Prack.WAITING  # of the PRACK of that RSeq
        self.answer: tuple[bytes, str] | None = None  # SDP of its reliable provisionals


class UacReliability:
    """A B leg's reliable provisionals: early dialogs by To tag, PRACKs in flight."""

    __slots__ = ("early", "pracks")

    def __init__(self) -> None:
        self.early: dict[str, EarlyDialog] = {}
        self.pracks: dict[str, tuple[str, int]] = {}  # client txn -> (To tag, RSeq)

    def stop(self) -> None:
        pass  # nothing of ours is retransmitted here: PRACKs have their own transactions


def _uac(b: "Leg") -> UacReliability:
    st = b.rel
    if not isinstance(st, UacReliability):
        st = b.rel = UacReliability()
    return st


def _defers(b: "Leg", resp: Response) -> bool:
    """Does this reliable provisional carry the callee's offer that the caller
    answers in its PRACK (so that our PRACK waits for it)?"""
    a = b.other
    return (
        a is not None
        and resp.status in RELAYED
        and bool(resp.body)
        and not a.invite.body
        and wants_reliable(a.invite, resp.body)
    )


def on_reliable(b: "Leg", resp: Response, now: float) -> bool:
    """A reliable provisional on B leg ``b``: PRACK it; True when it is new
    (to be processed and relayed), False for a retransmission or one out of order."""
    tag, rseq = resp.to.tag or "", _rseq(resp)
    assert rseq is not None
    st = _uac(b)
    ed = st.early.get(tag)
    if ed is None:
        ed = st.early[tag] = EarlyDialog(Dialog.from_uac(b.invite, resp, b.flow, b.core.s.user_agent))
    elif ed.rseq is not None and rseq == ed.rseq:
        if ed.state is Prack.FAILED:
            _send_prack(b, tag, ed, now)
        return False
    elif ed.rseq is not None and rseq != ed.rseq + 1:
        return False
    ed.rseq = rseq
    ed.state = Prack.WAITING
    if resp.body:
        ed.answer = (resp.body, resp.get("content-type") or "application/sdp")
    if not _defers(b, resp):
        _send_prack(b, tag, ed, now)
    return True


def _send_prack(b: "Leg", tag: str, ed: EarlyDialog, now: float, body: bytes = b"", ctype: str | None = None) -> None:
    assert ed.rseq is not None
    rack = header("RAck", f"{ed.rseq} {b.invite.cseq.number} INVITE")
    req = ed.dialog.request("PRACK", body=body, content_type=ctype if body else None, extra=[rack])
    core = b.core
    txn = core.endpoint.send_request(req, b.hop(ed.dialog), now)
    core.index.add_relay(txn, b)  # forgotten with the call
    _uac(b).pracks[txn] = (tag, ed.rseq)
    ed.state = Prack.SENT


def relay_provisional(a: "Leg", b: "Leg", resp: Response, now: float, extra: list[Header]) -> None:
    """B's 180/183 to the caller: reliably if the caller asked for it.  When
    it carries B's offer (delayed offer), our PRACK to B waits for the
    caller's, which brings the answer."""
    then: Then | None = None
    if is_reliable(resp) and _defers(b, resp):
        then = partial(_prack_with_answer, b, resp.to.tag or "", _rseq(resp))
    provisional(a, resp.status, now, body=resp.body, extra=extra, reason=resp.reason, then=then)


def _prack_with_answer(b: "Leg", tag: str, rseq: int | None, prack: Request, now: float) -> None:
    """The caller PRACKed B's offer: our PRACK to B carries the caller's answer."""
    ed = _uac(b).early.get(tag)
    if ed is None or ed.rseq != rseq or ed.state is not Prack.WAITING or b.final is not None:
        return
    _send_prack(b, tag, ed, now, body=prack.body, ctype=prack.get("content-type") or "application/sdp")


def on_response(leg: "Leg", txn: str, resp: Response, now: float) -> bool:
    """A response to a client transaction on ``leg``: True when it answers one of our PRACKs."""
    st = leg.rel
    if not isinstance(st, UacReliability) or txn not in st.pracks:
        return False
    if resp.status >= 200:
        _prack_done(leg, st, txn, ok=resp.status < 300)
    return True


def on_timeout(leg: "Leg", txn: str, now: float) -> bool:
    """No answer to a client transaction on ``leg``: True when it was a PRACK of ours."""
    st = leg.rel
    if not isinstance(st, UacReliability) or txn not in st.pracks:
        return False
    _prack_done(leg, st, txn, ok=False)
    return True


def _prack_done(leg: "Leg", st: UacReliability, txn: str, *, ok: bool) -> None:
    tag, rseq = st.pracks.pop(txn)
    leg.core.index.remove_relay(txn)
    ed = st.early.get(tag)
    if ed is not None and ed.rseq == rseq:
        ed.state = Prack.DONE if ok else Prack.FAILED


def confirmed(b: "Leg", dialog: Dialog) -> None:
    """B's 2xx made ``dialog``: its local CSeq continues after our PRACKs in
    the early dialog of the same To tag (RFC 3261 §12.2.1.1)."""
    st = b.rel
    if isinstance(st, UacReliability):
        ed = st.early.get(dialog.remote_tag)
        if ed is not None:
            dialog.local_seq = max(dialog.local_seq, ed.dialog.local_seq)


def early_answer(b: "Leg", resp: Response) -> tuple[bytes, str] | None:
    """B's 2xx without a body after a reliable provisional with SDP: that SDP,
    for a caller that did not get it reliably (its offer still waits for the
    answer in our 2xx); None otherwise."""
    st, a = b.rel, b.other
    if resp.body or not isinstance(st, UacReliability) or a is None or not a.invite.body:
        return None
    ed = st.early.get(resp.to.tag or "")
    if ed is None or ed.answer is None or wants_reliable(a.invite, ed.answer[0]):
        return None
    return ed.answer


# -- as UAS: the caller's leg --------------------------------------------------------------


class Outgoing:
    """A reliable provisional to the caller, sent or queued."""

    __slots__ = ("status", "body", "extra", "reason", "rseq", "then", "timer")

    def __init__(
        self, status: int, body: bytes, extra: list[Header], reason: str | None, rseq: int, then: Then | None
    ) -> None:
        self.status = status
        self.body = body
        self.extra = extra
        self.reason = reason
        self.rseq = rseq
        self.then = then
        self.timer: Timer | None = None


class UasReliability:
    """The caller's reliable provisionals: the last RSeq, the unacknowledged
    one, the queue, and a 2xx held until that one is PRACKed."""

    __slots__ = ("leg", "rseq", "unacked", "queue", "held", "late")

    def __init__(self, leg: "Leg") -> None:
        self.leg = leg
        self.rseq = 0
        self.unacked: Outgoing | None = None
        self.queue: list[Outgoing] = []
        self.held: tuple[Response, float] | None = None  # a 2xx and when it was due
        self.late: int | None = None  # RSeq of the one left unacknowledged by the final response

    def final_ready(self, resp: Response, now: float) -> bool:
        """``Leg.respond`` is about to send a final response: False when it
        must wait (a 2xx while a reliable provisional with a session
        description is unacknowledged, RFC 3262 §3); else stop resending."""
        out = self.unacked
        if 200 <= resp.status < 300 and out is not None and out.body:
            self.held = (resp, now)
            self.queue = []  # never sent: nothing to acknowledge
            return False
        self.stop()
        return True

    def holding(self, resp: Response) -> bool:
        return self.held is not None and self.held[0] is resp

    def release(self, now: float, *, restart: bool = True) -> None:
        """Send the held 2xx (its PRACK came, or will never come); with
        ``restart``, its retransmission until the ACK counts from now."""
        held, self.held = self.held, None
        self.stop()
        if held is not None:
            leg = self.leg
            leg.core.endpoint.send_response(leg.invite_txn, held[0], now)
            if restart:
                leg.start_2xx_retransmit(leg.invite_txn, held[0], now)

    def stop(self) -> None:
        """A final response went out (or the leg is done): nothing more is
        retransmitted or sent; a held 2xx goes out now, so that the INVITE
        transaction ends."""
        out = self.unacked
        if out is not None:
            self.late = out.rseq  # its PRACK may still come (crossing the final response)
            if out.timer is not None:
                out.timer.cancel()
        self.unacked = None
        self.queue = []
        if self.held is not None:
            self.release(self.held[1], restart=False)


def provisional(
    a: "Leg",
    status: int,
    now: float,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    extra: list[Header] | None = None,
    reason: str | None = None,
    then: Then | None = None,
) -> bool:
    """Send a provisional response on UAS leg ``a``: reliably (True) when its
    caller asked for it (:func:`wants_reliable`), else as is (False)."""
    assert a.uas and 100 < status < 200
    headers = list(extra or [])
    if body and content_type and not any(h[1] == "content-type" for h in headers):
        headers.append(header("Content-Type", content_type))
    if not wants_reliable(a.invite, body):
        a.respond(status, now, body=body, extra=headers, reason=reason)
        return False
    st = a.rel
    if not isinstance(st, UasReliability):
        st = a.rel = UasReliability(a)
    st.rseq += 1
    out = Outgoing(status, body, headers, reason, st.rseq, then)
    if st.unacked is None:
        _send_reliably(a, st, out, now)
    else:
        st.queue.append(out)
    return True


def early_media(a: "Leg", sdp: bytes, now: float) -> bool:
    """183 Session Progress with the server's own session description (early
    media), reliable when the caller asked for 100rel; True when reliable."""
    return provisional(a, 183, now, body=sdp, content_type="application/sdp")


def _send_reliably(a: "Leg", st: UasReliability, out: Outgoing, now: float) -> None:
    st.unacked = out
    extra = [*out.extra, header("Require", TAG), header("RSeq", str(out.rseq))]
    resp = a.respond(out.status, now, body=out.body, extra=extra, reason=out.reason)
    t1 = a.core.s.t1
    out.timer = a.core.timers.schedule(now + t1, _retransmit, a, out, resp, t1, now + 64 * t1)


def _retransmit(now: float, a: "Leg", out: Outgoing, resp: Response, interval: float, give_up: float) -> None:
    """§3: resend at T1, 2*T1, 4*T1 ...; no PRACK after 64*T1: 500 to the INVITE."""
    st = a.rel
    out.timer = None
    call = a.call
    if call is None or not isinstance(st, UasReliability) or st.unacked is not out:
        return
    core = a.core
    if now >= give_up:
        if st.held is not None:
            st.release(now)  # answered meanwhile: the 2xx goes out, its ACK decides
        else:
            core.teardown(call, now, cause="no PRACK for a reliable provisional response", hangup="server")
        return
    core.endpoint.send_response(a.invite_txn, resp, now)
    interval *= 2
    out.timer = core.timers.schedule(min(now + interval, give_up), _retransmit, a, out, resp, interval, give_up)


def on_prack(leg: "Leg", event: RequestReceived, now: float) -> None:
    """A PRACK in ``leg``'s (early) dialog: 200 when it acknowledges the
    unacknowledged reliable provisional, else 481 (§3)."""
    core = leg.core
    st = leg.rel
    out = st.unacked if leg.uas and isinstance(st, UasReliability) else None
    rack = parse_rack(event.request)
    if isinstance(st, UasReliability) and st.late is not None and rack == (st.late, leg.invite.cseq.number, "INVITE"):
        st.late = None  # still unacknowledged, though no longer resent (§3)
        core.reply(event, 200, now)
        return
    if out is None or rack != (out.rseq, leg.invite.cseq.number, "INVITE"):
        core.reply(event, 481, now, reason="No matching reliable provisional response")
        return
    assert isinstance(st, UasReliability)
    if out.timer is not None:
        out.timer.cancel()
    st.unacked = None
    core.reply(event, 200, now)
    if out.then is not None:
        out.then(event.request, now)
    if st.held is not None:
        st.release(now)
    elif st.queue and st.unacked is None:
        _send_reliably(leg, st, st.queue.pop(0), now)
