"""Relaying in-dialog requests and their answers between the two legs of a call.

Theory of operation
-------------------
A request received on one leg (re-INVITE, UPDATE, INFO, ...) becomes a new
client transaction on the other leg's dialog (:func:`relay_request`): only
the headers that mean something end to end are copied (Content-Type,
Session-Expires, Supported, Require, Event, Info-Package,
Content-Disposition), never Via, Contact, Record-Route or the other side's
identifiers.  The pair is remembered in the target leg's ``pending``
(client txn -> server txn and request) and in the index (``relays``, and
``reinvites`` for a CANCEL of a relayed re-INVITE).

Offer/answer one at a time (RFC 3261 §14.2, RFC 3311 §5.2): an offer that
crosses one this side sent earlier and still unanswered gets 500 with
Retry-After (``Request Pending``); one that crosses an offer from the other
side gets 491 (glare).

Answers come back through :func:`on_response`: relayed to the original
server transaction with :func:`relay_response` (our Contact, and only the
headers listed there); a 2xx to a re-INVITE is ACKed on the answering side
at once when the re-INVITE had an offer, else with the answer the caller's
ACK brings.  Responses to our own requests (BYE, refresh) end the call on
408/481.  When a dialog ends, requests still pending get 487
(:func:`abandon_pending`, RFC 3261 §15.1.2).
"""

from __future__ import annotations

from b2bua.sip.build import make_response
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import Header, Request, Response, header

from . import sdp
from .call import Call
from .leg import ALLOW, Leg, LegState

_REQUEST_HEADERS = ("content-type", "session-expires", "supported", "require", "event", "info-package", "content-disposition")
_RESPONSE_HEADERS = ("content-type", "session-expires", "require", "supported", "min-se", "retry-after")


def is_offer(req: Request) -> bool:
    """Does this request start an offer/answer exchange (an INVITE always does,
    with or without SDP; an UPDATE only with a body)?"""
    return req.method == "INVITE" or (req.method == "UPDATE" and bool(req.body))


def malformed_sdp(msg: Request) -> bool:
    return bool(msg.body) and (msg.content_type or "") == "application/sdp" and not sdp.looks_valid(msg.body)


def _copy(headers: list[Header], keys: tuple[str, ...]) -> list[Header]:
    return [(name, k, v) for key in keys for name, k, v in headers if k == key]


def relay_request(leg: Leg, event: RequestReceived, now: float) -> None:
    """A request received on ``leg`` (dialog confirmed) goes to the other leg."""
    core = leg.core
    req = event.request
    other = leg.other
    assert event.transaction_id is not None
    if other is None or other.dialog is None or other.state is LegState.TERMINATED:
        core.reply(event, 481, now)
        return
    if req.method in ("INVITE", "UPDATE"):
        # RFC 3261 §14.2, RFC 3311 §5.2: one offer/answer at a time per dialog.
        # other.pending holds what this side sent earlier (still unanswered:
        # 500), leg.pending what the other side offered to this one (glare: 491).
        if any(is_offer(r) for _, r in other.pending.values()):
            core.reply(event, 500, now, reason="Request Pending", extra=[header("Retry-After", "1")])
            return
        if any(is_offer(r) for _, r in leg.pending.values()):
            core.reply(event, 491, now)
            return
        if malformed_sdp(req):
            core.reply(event, 488, now, reason="Malformed SDP")
            return
        leg.dialog.update_target(req)  # type: ignore[union-attr]
    if req.method == "INVITE":
        core.reply(event, 100, now)
    extra = _copy(req.headers, _REQUEST_HEADERS)
    if req.method == "INVITE":
        extra.append(header("Allow", ALLOW))
    txn = other.send_request(other.dialog.request(req.method, body=req.body, extra=extra), now)
    other.pending[txn] = (event.transaction_id, req)
    if req.method == "INVITE":
        core.index.add_reinvite(event.transaction_id, other, txn)
        leg.acked = True  # a re-INVITE's own ACK will arrive later


def relay_response(to_leg: Leg, orig: Request, resp: Response) -> Response:
    """``resp`` (from the other leg) as the answer to ``orig`` received on ``to_leg``."""
    headers: list[Header] = []
    if 100 < resp.status < 300 and orig.method in ("INVITE", "UPDATE"):
        headers.append(header("Contact", to_leg.core.contact(to_leg.flow)))
    headers.extend(_copy(resp.headers, _RESPONSE_HEADERS))
    return make_response(orig, resp.status, resp.reason, to_tag=to_leg.to_tag or None, headers=headers, body=resp.body)


def on_response(leg: Leg, txn: str, resp: Response, now: float) -> None:
    """A response to an in-dialog client transaction ``txn`` on ``leg``."""
    core = leg.core
    invite_2xx = resp.cseq.method == "INVITE" and 200 <= resp.status < 300
    if resp.status >= 200 and not invite_2xx:
        # a relayed re-INVITE keeps its entry (until the call is forgotten) so
        # that a retransmission of its 2xx gets our ACK again (§13.2.2.4)
        core.index.remove_relay(txn)
    origin = pop_pending(leg, txn) if resp.status >= 200 else leg.pending.get(txn)
    if origin is None:
        if invite_2xx:  # a retransmission: the ACK was lost (or still waits for the answer)
            if leg.ack_cseq != resp.cseq.number:
                leg.ack_again(resp.cseq.number)
            return
        # our own in-dialog request (BYE, refresh)
        if resp.status in (408, 481) and leg.state is LegState.CONFIRMED:
            core.teardown(leg.call, now, cause="session refresh failed", hangup="server", dead=leg)
        return
    server_txn, orig_req = origin
    other = leg.other
    if other is None or resp.status == 100:
        return
    if 200 <= resp.status < 300:
        if leg.dialog is not None:
            leg.dialog.update_target(resp)
        if orig_req.method == "INVITE" and leg.dialog is not None:
            # ACK now; a re-INVITE without offer waits for the other side's ACK (carries the answer)
            if orig_req.body:
                leg.ack(resp.cseq.number)
            else:
                leg.await_answer(resp.cseq.number, resp.body)
    out = relay_response(other, orig_req, resp)
    core.endpoint.send_response(server_txn, out, now)
    if orig_req.method == "INVITE" and 200 <= resp.status < 300:
        other.start_2xx_retransmit(server_txn, out, now)


def on_timeout(leg: Leg, txn: str, now: float) -> None:
    """No answer to an in-dialog client transaction on ``leg`` (Timer F/B):
    the original request gets 408, and a confirmed leg that stopped answering
    ends the call."""
    core = leg.core
    core.index.remove_relay(txn)
    origin = pop_pending(leg, txn)
    if origin is not None:
        server_txn, orig_req = origin
        other = leg.other
        if other is not None:
            core.endpoint.send_response(server_txn, make_response(orig_req, 408, to_tag=other.to_tag or None), now)
    if leg.state is LegState.CONFIRMED:
        core.teardown(leg.call, now, cause="peer unreachable", hangup="server", dead=leg)


def pop_pending(leg: Leg, txn: str) -> tuple[str, Request] | None:
    origin = leg.pending.pop(txn, None)
    if origin is not None and origin[1].method == "INVITE":
        leg.core.index.remove_reinvite(origin[0])
    return origin


def abandon_pending(call: Call, now: float) -> None:
    """RFC 3261 §15.1.2: requests still pending when the dialog ends get 487.
    Their server transactions would otherwise never end (an unanswered
    server transaction has no timer), and a relayed re-INVITE that had a
    provisional answer would wait forever (Timer B stops at the first
    provisional): it is cancelled."""
    for leg in (call.a, *call.forks):
        if leg is None:
            continue
        core = leg.core
        for txn in list(leg.pending):
            origin = pop_pending(leg, txn)
            assert origin is not None
            server_txn, req = origin
            core.index.remove_relay(txn)
            if req.method == "INVITE":
                core.endpoint.cancel(txn, now)
            resp = make_response(req, 487, headers=[header("Server", core.s.user_agent)])
            core.endpoint.send_response(server_txn, resp, now)
