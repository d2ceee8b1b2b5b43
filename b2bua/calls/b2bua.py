"""Back-to-back call control (sans-IO): two independent dialogs per call.

Theory of operation
-------------------
An INVITE without a To tag starts a :class:`Call`.  Its caller side is the
*A leg* (we are the UAS); after authentication and routing, one *B leg* (we
are the UAC) is created per target (every registered contact of an
extension, or one trunk).  Each B leg is a dialog of its own: its own Call-ID,
tags, branches and CSeq; nothing of one side's Via, Record-Route or Contact
is copied to the other.

Provisional responses (with their SDP) and the final answer of B are relayed
to A; the first 2xx wins and the other forks are cancelled (a late 2xx gets
ACK then BYE).  CANCEL, BYE, re-INVITE, UPDATE and INFO are relayed between
the legs as new transactions on the other side, and the answers relayed
back.  Call-level timers: no answer, maximum duration, the retransmission
of A's 2xx until its ACK (RFC 3261 §13.3.1.4), and session refreshes
(RFC 4028) that tear down a call whose endpoints vanished.

Call control is organised around legs so that the server itself can later
answer a leg (``Leg.answer_locally``), play to it and bridge it afterwards.
Every call reports CallStarted/Ringing/Answered/Ended to the event sink.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Sequence

from b2bua.sip.build import IdSource, make_response
from b2bua.sip.dialog import Dialog
from b2bua.sip.endpoint import (
    Address,
    CancelReceived,
    Endpoint,
    RequestReceived,
    ResponseReceived,
    TransactionTimedOut,
)
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.uri import SipUri

from . import sdp
from .events import NO_ACCOUNT, AccountInfo, CallAnswered, CallEnded, CallRinging, CallStarted, EventSink
from .routing import Route
from .timers import Timer, Timers

log = logging.getLogger("b2bua.calls")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"
MIN_SE = 90  # seconds, RFC 4028 §4


class Settings:
    """Call-control knobs (from the configuration)."""

    def __init__(
        self,
        *,
        user_agent: str = "b2bua",
        no_answer_timeout: float = 60.0,
        max_call_duration: float = 4 * 3600.0,
        session_interval: float = 1800.0,
        t1: float = 0.5,
        t2: float = 4.0,
    ) -> None:
        self.user_agent = user_agent
        self.no_answer_timeout = no_answer_timeout
        self.max_call_duration = max_call_duration
        self.session_interval = session_interval
        self.t1 = t1
        self.t2 = t2


class LegState(enum.Enum):
    TRYING = "trying"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Leg:
    """One side of a call: a dialog (once it exists) and its INVITE transaction."""

    __slots__ = (
        "call",
        "uas",
        "state",
        "invite",
        "invite_txn",
        "dialog",
        "flow",
        "to_tag",
        "allows_update",
        "pending",
        "final",
        "acked",
        "retransmit",
        "ack_cseq",
        "last_ack",
        "sent",
        "refresh",
        "auth_tried",
    )

    def __init__(self, call: "Call", uas: bool, invite: Request, invite_txn: str, flow: Address) -> None:
        self.call = call
        self.uas = uas
        self.state = LegState.TRYING
        self.invite = invite
        self.invite_txn = invite_txn
        self.dialog: Dialog | None = None
        self.flow = flow
        self.to_tag = ""
        self.allows_update = False
        # transactions relayed from the other leg and waiting for our answer:
        # client txn id here -> (server txn id on the other leg, its request)
        self.pending: dict[str, tuple[str, Request]] = {}
        self.final: Response | None = None  # B legs: the final response received
        self.acked = True
        self.retransmit: Timer | None = None  # our 2xx, resent until the ACK
        self.ack_cseq: int | None = None  # B: ACK for this INVITE CSeq waits for A's ACK body
        self.last_ack: Request | None = None  # resent as is when the 2xx is retransmitted
        self.sent: list[str] = []  # in-dialog client txns towards this leg (keys of CallManager.relays)
        self.refresh: Timer | None = None
        self.auth_tried = False

    @property
    def other(self) -> "Leg | None":
        call = self.call
        return call.b if self.uas else call.a


class Call:
    __slots__ = (
        "ref",
        "a",
        "b",
        "forks",
        "route",
        "caller",
        "state",
        "answered_at",
        "timers",
        "best",
        "ended",
    )

    def __init__(self, ref: str, route: Route, caller: str) -> None:
        self.ref = ref
        self.a: Leg | None = None
        self.b: Leg | None = None  # the answering B leg
        self.forks: list[Leg] = []
        self.route = route
        self.caller = caller
        self.state = "routing"
        self.answered_at: float | None = None
        self.timers: list[Any] = []
        self.best: Response | None = None
        self.ended = False


# RFC 3261 §16.7 step 6 spirit: which of several fork failures to relay
def _failure_rank(status: int) -> int:
    if 600 <= status < 700:
        return 0
    if status in (486, 487, 603):
        return 1
    if 400 <= status < 500 and status not in (401, 407, 408, 480):
        return 2
    if status in (480, 408):
        return 3
    return 4


def map_failure(status: int) -> int:
    """A B-leg failure as relayed to A: 503 means "this server", so it is 502 here."""
    if status == 503:
        return 502
    if status in (401, 407):
        return 403
    return status


class CallManager:
    """Owns every call; handles the endpoint's events for them."""

    def __init__(
        self,
        endpoint: Endpoint,
        ids: IdSource,
        sink: EventSink,
        settings: Settings,
        *,
        contacts_for: Callable[[str, float], Sequence[tuple[str, Address]]],
        local: Callable[[str], Address],
        trunk_credentials: Callable[[str], tuple[str, str] | None] = lambda name: None,
        digest_client: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.ids = ids
        self.sink = sink
        self.s = settings
        self.contacts_for = contacts_for
        self.local = local
        self.trunk_credentials = trunk_credentials
        self.digest_client = digest_client
        self.timers = Timers()
        self.calls: dict[str, Call] = {}
        self.txns: dict[str, Leg] = {}  # INVITE transactions (both sides) -> leg
        self.relays: dict[str, Leg] = {}  # relayed/own in-dialog client txns -> leg
        self.dialogs: dict[tuple[str, str], Leg] = {}  # (Call-ID, our tag) -> leg
        self.a_invites: dict[tuple[str, str], Leg] = {}  # (Call-ID, From tag) of A INVITEs
        # relayed re-INVITEs, for a CANCEL: server txn id -> (leg relayed to, client txn id)
        self.reinvites: dict[str, tuple[Leg, str]] = {}

    # -- introspection --------------------------------------------------------
    def __len__(self) -> int:
        return len(self.calls)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.timers.run(now)

    # -- new calls ------------------------------------------------------------
    def start_call(
        self,
        event: RequestReceived,
        route: Route,
        *,
        caller: str,
        caller_user: str,
        display: str,
        department: str = "",
        group: str = "",
        account: AccountInfo = NO_ACCOUNT,
        extra: list[Header] | None = None,
        now: float,
    ) -> Call | None:
        """Start a call for an INVITE already authenticated and routed.

        Sends 100 Trying, creates the B legs, and reports CallStarted (and
        CallEnded at once when the route leads nowhere: a refused attempt is
        a Route of kind "none" with its status and reason).  ``extra`` headers
        go on the B-leg INVITEs (e.g. X-Account-Code to a trunk)."""
        req = event.request
        assert event.transaction_id is not None
        key = (req.call_id, req.from_.tag or "")
        known = self.a_invites.get(key)
        if known is not None and known.call is not None:
            if known.invite.cseq.number == req.cseq.number:
                # the same INVITE arriving by another path (new branch): RFC 3261
                # §8.2.2.2 merged request.  Its transaction must be answered too.
                self.reply(event, 482, now, reason="Loop Detected")
                return None
            if not known.call.ended:
                # a new INVITE of the same Call-ID and From tag while that call is up
                self.reply(event, 500, now, reason="Call already in progress", extra=[header("Retry-After", "5")])
                return None
        ref = self.ids.call_id()
        call = Call(ref, route, caller)
        a = Leg(call, True, req, event.transaction_id, event.source)
        a.to_tag = self.ids.tag()
        a.allows_update = _allows_update(req)
        call.a = a
        self.calls[ref] = call
        self.txns[event.transaction_id] = a
        self.a_invites[key] = a
        self.dialogs[(req.call_id, a.to_tag)] = a
        self.sink(
            CallStarted(
                ref=ref,
                at=now,
                caller=caller,
                caller_user=caller_user,
                department=department,
                group=group,
                dialed=_dialed(req),
                destination=route.destination,
                route=("trunk:" + route.trunk.name) if route.trunk else route.kind,
                a_call_id=req.call_id,
                source=f"{event.source.transport}:{event.source.host}:{event.source.port}",
                account=account,
            )
        )
        if req.body and (req.content_type or "") == "application/sdp" and not sdp.looks_valid(req.body):
            self._fail_a(call, 488, now, reason="Malformed SDP", cause="malformed SDP")
            return call
        se = _session_expires(req)
        if se is not None and se < MIN_SE:
            # RFC 4028 §8.1: too short an interval is refused with our minimum
            self._respond_a(call, 422, now, extra=[header("Min-SE", str(MIN_SE))])
            self._end(call, now, status=422, cause="session interval too small", hangup="")
            return call
        if route.kind == "none":
            self._fail_a(call, route.status, now, reason=route.reason or "No route", cause=route.reason or "no route")
            return call
        self._respond_a(call, 100, now)
        targets: list[tuple[str, Address]] = []
        if route.kind == "extension":
            targets = list(self.contacts_for(route.destination, now))
            if not targets:
                self._fail_a(call, 480, now, reason="Not registered", cause=f"{route.destination} not registered")
                return call
        else:
            t = route.trunk
            assert t is not None
            ruri = f"sip:{route.destination}@{_host(t.host)}:{t.port}"
            if t.transport == "tcp":
                ruri += ";transport=tcp"
            targets = [(ruri, Address(t.transport, t.host, t.port))]
        call.state = "proceeding"
        for ruri, flow in targets:
            self._send_fork(call, ruri, flow, caller, display, route.destination, now, extra)
        call.timers.append(self.timers.schedule(now + self.s.no_answer_timeout, self._no_answer, call))
        return call

    def _send_fork(
        self, call: Call, ruri: str, flow: Address, caller: str, display: str, callee: str, now: float,
        extra: list[Header] | None = None,
    ) -> None:
        a = call.a
        assert a is not None
        src = a.invite
        local = self.local(flow.transport)
        host = _host(local.host)
        mf = src.get("max-forwards")
        max_forwards = int(mf) - 1 if mf and mf.isdigit() else 69
        disp = f'"{display}" ' if display else ""
        tag = self.ids.tag()
        headers: list[Header] = [
            header("Max-Forwards", str(max(max_forwards, 0))),
            header("From", f"{disp}<sip:{caller}@{host}>;tag={tag}"),
            header("To", f"<sip:{callee}@{host}>"),
            header("Call-ID", self.ids.call_id()),
            header("CSeq", "1 INVITE"),
            header("Contact", _contact(local)),
            header("Allow", ALLOW),
            header("Supported", "timer"),
            header("Session-Expires", str(int(self.s.session_interval))),
            header("User-Agent", self.s.user_agent),
        ]
        if src.body:
            headers.append(header("Content-Type", src.get("content-type") or "application/sdp"))
        if extra:
            headers.extend(extra)
        req = Request("INVITE", ruri, headers, src.body)
        self._invite_fork(call, req, flow, now)

    def _invite_fork(self, call: Call, req: Request, flow: Address, now: float) -> Leg:
        txn = self.endpoint.send_request(req, flow, now)
        b = Leg(call, False, req, txn, flow)
        self.txns[txn] = b
        call.forks.append(b)
        return b

    # -- dispatch ---------------------------------------------------------------
    def handle(self, event: object, now: float) -> bool:
        """Handle an endpoint event; False when it is not ours (out-of-dialog
        requests other than INVITE are the application's)."""
        if isinstance(event, ResponseReceived):
            self._on_response(event.response, event.transaction_id, now)
            return True
        if isinstance(event, RequestReceived):
            return self._on_request(event, now)
        if isinstance(event, CancelReceived):
            leg = self.txns.get(event.transaction_id)
            if leg is not None and leg.uas:
                self._on_cancel(leg.call, now)
                return True
            relayed = self.reinvites.get(event.transaction_id)
            if relayed is not None:
                # a re-INVITE we relayed: cancel it on the other side; its answer
                # (487, or whatever came first) is relayed back as usual
                self.endpoint.cancel(relayed[1], now)
            return True
        if isinstance(event, TransactionTimedOut):
            self._on_timeout(event.transaction_id, now)
            return True
        return False

    def _on_request(self, event: RequestReceived, now: float) -> bool:
        req = event.request
        to_tag = req.to.tag
        if not to_tag:
            return False  # out of dialog: the application decides
        leg = self.dialogs.get((req.call_id, to_tag))
        if req.method == "ACK":
            if leg is None:
                # pyVoIP 1.6.8 puts a random To tag in its ACK: take it as the
                # ACK of the call its Call-ID and From tag name, if that call
                # still waits for one
                a = self.a_invites.get((req.call_id, req.from_.tag or ""))
                if a is not None and a.call is not None and not a.acked and a.dialog is not None:
                    leg = a
            if leg is not None:
                self._on_ack(leg, req, now)
            return True
        if leg is not None and leg.state is LegState.TERMINATED and req.method == "BYE":
            # our BYE and the peer's crossed on the wire: both dialogs end anyway
            self.reply(event, 200, now)
            return True
        if leg is None or leg.state is LegState.TERMINATED:
            self.reply(event, 481, now)
            return True
        if leg.dialog is not None and not leg.dialog.check_remote_seq(req):
            self.reply(event, 500, now, reason="CSeq out of order")
            return True
        if req.method == "BYE":
            self.reply(event, 200, now)
            self._hangup(leg, now)
            return True
        if leg.dialog is None:  # early dialog on A (we sent a tag in 180): only BYE/CANCEL make sense
            self.reply(event, 481 if req.method != "UPDATE" else 491, now)
            return True
        self._relay_request(leg, event, now)
        return True

    # -- responses from B legs ------------------------------------------------------
    def _on_response(self, resp: Response, txn: str, now: float) -> None:
        leg = self.txns.get(txn)
        if leg is not None and not leg.uas and txn == leg.invite_txn:
            self._on_invite_response(leg, resp, now)
            return
        leg = self.relays.get(txn)
        if leg is None:
            return
        invite_2xx = resp.cseq.method == "INVITE" and 200 <= resp.status < 300
        if resp.status >= 200 and not invite_2xx:
            # a relayed re-INVITE keeps its entry (until the call is forgotten) so
            # that a retransmission of its 2xx gets our ACK again (§13.2.2.4)
            del self.relays[txn]
        origin = self._pop_pending(leg, txn) if resp.status >= 200 else leg.pending.get(txn)
        if origin is None:
            if invite_2xx:  # a retransmission: the ACK was lost (or still waits for the answer)
                if leg.ack_cseq != resp.cseq.number:
                    self._ack_again(leg, resp.cseq.number)
                return
            # our own in-dialog request (BYE, refresh)
            if resp.status in (408, 481) and leg.state is LegState.CONFIRMED:
                self._teardown(leg.call, now, cause="session refresh failed", hangup="server", dead=leg)
            return
        server_txn, orig_req = origin
        other = leg.other
        if other is None or resp.status == 100:
            return
        if 200 <= resp.status < 300:
            if leg.dialog is not None:
                leg.dialog.update_target(resp)
            if orig_req.method == "INVITE" and leg.dialog is not None:
                # ACK B now; a re-INVITE without offer waits for A's ACK (carries the answer)
                if orig_req.body:
                    self._ack(leg, resp.cseq.number)
                else:
                    leg.ack_cseq = resp.cseq.number
        out = self._relay_response(other, orig_req, resp)
        self.endpoint.send_response(server_txn, out, now)
        if orig_req.method == "INVITE" and 200 <= resp.status < 300:
            other.acked = False
            self._start_2xx_retransmit(other, server_txn, out, now)

    def _on_invite_response(self, b: Leg, resp: Response, now: float) -> None:
        call = b.call
        a = call.a
        assert a is not None
        status = resp.status
        if status < 200:
            if status == 100 or call.ended or call.b is not None:
                return
            if resp.to.tag and b.state is LegState.TRYING:
                b.state = LegState.EARLY
            if status in (180, 183):
                if a.state is LegState.TRYING:
                    self.sink(CallRinging(ref=call.ref, at=now, status=status))
                a.state = LegState.EARLY
                extra = []
                if resp.body:
                    extra.append(header("Content-Type", resp.get("content-type") or "application/sdp"))
                self._respond_a(call, status, now, body=resp.body, extra=extra, reason=resp.reason)
            return
        if 200 <= status < 300:
            self._on_b_answered(b, resp, now)
            return
        # a failure of this fork
        if b.final is not None:
            return
        if status in (401, 407) and not b.auth_tried and self._retry_with_credentials(b, resp, now):
            return
        b.final = resp
        b.state = LegState.TERMINATED
        if call.best is None or _failure_rank(status) < _failure_rank(call.best.status):
            call.best = resp
        if 600 <= status < 700:
            self._cancel_forks(call, now, except_leg=b)
        if call.b is None and not call.ended and all(f.final is not None for f in call.forks):
            best = call.best or resp
            self._fail_a(
                call,
                map_failure(best.status),
                now,
                reason=best.reason if map_failure(best.status) == best.status else None,
                cause=f"callee answered {best.status} {best.reason}",
            )

    def _retry_with_credentials(self, b: Leg, resp: Response, now: float) -> bool:
        call = b.call
        route = call.route
        if route.trunk is None or self.digest_client is None:
            return False
        creds = self.trunk_credentials(route.trunk.name)
        if not creds:
            return False
        name = "www-authenticate" if resp.status == 401 else "proxy-authenticate"
        values = [v for _, k, v in resp.headers if k == name]  # commas belong to the value
        if not values:
            return False
        try:
            value = self.digest_client(values, "INVITE", b.invite.uri, creds[0], creds[1], self.ids.tag())
        except ParseError:
            return False
        b.final = resp
        b.state = LegState.TERMINATED
        old = b.invite
        cseq = old.cseq.number + 1
        headers = [
            header("CSeq", f"{cseq} INVITE") if h[1] == "cseq" else h
            for h in old.headers
            if h[1] not in ("via", "authorization", "proxy-authorization")
        ]
        headers.append(header("Authorization" if resp.status == 401 else "Proxy-Authorization", value))
        req = Request("INVITE", old.uri, headers, old.body)
        nb = self._invite_fork(call, req, b.flow, now)
        nb.auth_tried = True
        return True

    def _on_b_answered(self, b: Leg, resp: Response, now: float) -> None:
        call = b.call
        a = call.a
        assert a is not None
        if b.dialog is not None:
            # a retransmitted 2xx: our ACK was lost (unless it still waits for A's answer)
            if b.ack_cseq is None:
                self._ack_again(b, resp.cseq.number)
            return
        dialog = Dialog.from_uac(b.invite, resp, b.flow, self.s.user_agent)
        b.dialog = dialog
        b.final = resp
        b.allows_update = _allows_update(resp)
        if call.b is not None or call.ended:
            # a late 2xx from another fork, or the call is gone: ACK and BYE
            self._ack(b, b.invite.cseq.number)
            self._send_bye(b, now)
            return
        call.b = b
        b.state = LegState.CONFIRMED
        self.dialogs[(dialog.call_id, dialog.local_tag)] = b
        if a.invite.body:
            self._ack(b, b.invite.cseq.number)
        else:
            b.ack_cseq = b.invite.cseq.number  # B made the offer; A's ACK brings the answer
        self._cancel_forks(call, now, except_leg=b)
        # answer A
        local = self.local(a.flow.transport)
        a.dialog = Dialog.from_uas(a.invite, a.to_tag, _contact(local), a.flow, self.s.user_agent)
        a.state = LegState.CONFIRMED
        extra: list[Header] = [header("Allow", ALLOW)]
        se = self._session_expires_for_a(a)
        if se:
            extra += [header("Session-Expires", f"{se};refresher=uac"), header("Require", "timer")]
        if resp.body:
            extra.append(header("Content-Type", resp.get("content-type") or "application/sdp"))
        out = self._respond_a(call, 200, now, body=resp.body, extra=extra, reason=resp.reason)
        a.acked = False
        self._start_2xx_retransmit(a, a.invite_txn, out, now)
        call.state = "connected"
        call.answered_at = now
        self._clear_call_timers(call)
        call.timers.append(self.timers.schedule(now + self.s.max_call_duration, self._max_duration, call))
        interval = self.s.session_interval
        for leg in (a, b):
            leg.refresh = self.timers.schedule(now + interval / 2, self._refresh, leg)
        self.sink(CallAnswered(ref=call.ref, at=now, b_call_id=dialog.call_id))

    def _session_expires_for_a(self, a: Leg) -> int | None:
        """The interval to grant A (refresher A) when A asked for session timers
        and supports them (RFC 4028 §9); None when it did not: then our own
        refreshes keep watch on that leg."""
        value = _session_expires(a.invite)
        supported = {t.strip().lower() for v in a.invite.get_all("supported") for t in v.split(",")}
        if value is None or "timer" not in supported:
            return None
        return max(value, MIN_SE)

    # -- A side ------------------------------------------------------------------
    def _respond_a(
        self,
        call: Call,
        status: int,
        now: float,
        *,
        body: bytes = b"",
        extra: list[Header] | None = None,
        reason: str | None = None,
    ) -> Response:
        a = call.a
        assert a is not None
        headers: list[Header] = []
        if status != 100:
            if 100 < status < 300:
                # §12.1.1: a response that creates the dialog copies the Record-Route
                headers.extend(h for h in a.invite.headers if h[1] == "record-route")
                headers.append(header("Contact", _contact(self.local(a.flow.transport))))
            headers.append(header("Server", self.s.user_agent))
        if extra:
            headers.extend(extra)
        resp = make_response(a.invite, status, reason, to_tag=a.to_tag, headers=headers, body=body)
        self.endpoint.send_response(a.invite_txn, resp, now)
        return resp

    def _fail_a(self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str) -> None:
        if call.ended:
            return
        self._respond_a(call, status, now, reason=reason)
        self._end(call, now, status=status, cause=cause, hangup="")

    def _on_ack(self, leg: Leg, req: Request, now: float) -> None:
        if leg.call is None:
            return
        leg.acked = True
        if leg.retransmit is not None:
            leg.retransmit.cancel()
            leg.retransmit = None
        other = leg.other
        if other is None or other.dialog is None or other.ack_cseq is None:
            return
        # the other side made the offer in its 2xx; this ACK carries the answer
        ctype = req.get("content-type") or "application/sdp"
        cseq, other.ack_cseq = other.ack_cseq, None
        self._ack(other, cseq, body=req.body, content_type=ctype if req.body else None)

    def _ack(self, leg: Leg, cseq: int, *, body: bytes = b"", content_type: str | None = None) -> None:
        """The ACK for a 2xx on ``leg``, along its route set (§13.2.2.4, §12.2.1.1)."""
        assert leg.dialog is not None
        ack = leg.dialog.ack(cseq, body=body, content_type=content_type)
        self.endpoint.send_stateless(ack, self._next_hop(leg))  # adds the Via, kept for resending
        leg.last_ack = ack

    def _ack_again(self, leg: Leg, cseq: int) -> None:
        """A 2xx came again: resend the same ACK (with the same answer, if any)."""
        ack = leg.last_ack
        if ack is not None and leg.dialog is not None and ack.cseq.number == cseq:
            self.endpoint.send_stateless(ack, self._next_hop(leg))

    def _start_2xx_retransmit(self, leg: Leg, txn: str, resp: Response, now: float) -> None:
        """RFC 3261 §13.3.1.4: resend the 2xx at T1, 2T1 ... (capped at T2) until
        the ACK arrives; give up after 64*T1 and end the call."""
        if leg.retransmit is not None:
            leg.retransmit.cancel()
        t1 = self.s.t1
        give_up = now + 64 * t1
        leg.retransmit = self.timers.schedule(now + t1, self._retransmit_2xx, leg, txn, resp, t1, give_up)

    def _retransmit_2xx(self, now: float, leg: Leg, txn: str, resp: Response, interval: float, give_up: float) -> None:
        leg.retransmit = None
        if leg.acked or leg.state is LegState.TERMINATED or leg.call is None:
            return
        if now >= give_up:
            self._teardown(leg.call, now, cause="no ACK for 2xx", hangup="server")
            return
        self.endpoint.send_response(txn, resp, now)
        nxt = min(interval * 2, self.s.t2)
        # the last wait is cut short so that the call ends at 64*T1, not after it
        at = min(now + nxt, give_up)
        leg.retransmit = self.timers.schedule(at, self._retransmit_2xx, leg, txn, resp, nxt, give_up)

    def _on_cancel(self, call: Call, now: float) -> None:
        if call.ended or call.b is not None:
            return
        self._cancel_forks(call, now)
        self._respond_a(call, 487, now)
        self._end(call, now, status=487, cause="cancelled by caller", hangup="caller")

    # -- relaying in-dialog requests ----------------------------------------------
    def _relay_request(self, leg: Leg, event: RequestReceived, now: float) -> None:
        req = event.request
        other = leg.other
        assert event.transaction_id is not None
        if other is None or other.dialog is None or other.state is LegState.TERMINATED:
            self.reply(event, 481, now)
            return
        if req.method in ("INVITE", "UPDATE"):
            # RFC 3261 §14.2, RFC 3311 §5.2: one offer/answer at a time per dialog.
            # other.pending holds what this side sent earlier (still unanswered:
            # 500), leg.pending what the other side offered to this one (glare: 491).
            if any(_is_offer(r) for _, r in other.pending.values()):
                self.reply(event, 500, now, reason="Request Pending", extra=[header("Retry-After", "1")])
                return
            if any(_is_offer(r) for _, r in leg.pending.values()):
                self.reply(event, 491, now)
                return
            if req.body and (req.content_type or "") == "application/sdp" and not sdp.looks_valid(req.body):
                self.reply(event, 488, now, reason="Malformed SDP")
                return
            leg.dialog.update_target(req)  # type: ignore[union-attr]
        if req.method == "INVITE":
            self.reply(event, 100, now)
        extra: list[Header] = []
        for key in ("content-type", "session-expires", "supported", "require", "event", "info-package", "content-disposition"):
            for name, k, v in req.headers:
                if k == key:
                    extra.append((name, k, v))
        if req.method == "INVITE":
            extra.append(header("Allow", ALLOW))
        out = other.dialog.request(req.method, body=req.body, extra=extra)
        txn = self.endpoint.send_request(out, self._next_hop(other), now)
        self.relays[txn] = other
        other.sent.append(txn)
        other.pending[txn] = (event.transaction_id, req)
        if req.method == "INVITE":
            self.reinvites[event.transaction_id] = (other, txn)
            leg.acked = True  # a re-INVITE's own ACK will arrive later

    def _relay_response(self, to_leg: Leg, orig: Request, resp: Response) -> Response:
        headers: list[Header] = []
        if 100 < resp.status < 300 and orig.method in ("INVITE", "UPDATE"):
            headers.append(header("Contact", _contact(self.local(to_leg.flow.transport))))
        for key in ("content-type", "session-expires", "require", "supported", "min-se", "retry-after"):
            for name, k, v in resp.headers:
                if k == key:
                    headers.append((name, k, v))
        return make_response(orig, resp.status, resp.reason, to_tag=to_leg.to_tag or None, headers=headers, body=resp.body)

    # -- ending calls -------------------------------------------------------------
    def _hangup(self, leg: Leg, now: float) -> None:
        call = leg.call
        leg.state = LegState.TERMINATED
        self._drop_leg_timers(leg)
        side = "caller" if leg.uas else "callee"
        if call.b is None and leg.uas:
            # BYE on an early dialog from the caller: treat as a cancel
            self._cancel_forks(call, now)
            if not call.ended:
                self._respond_a(call, 487, now)
            self._end(call, now, status=487, cause="caller hung up before answer", hangup="caller")
            return
        other = leg.other
        if other is not None and other.state is not LegState.TERMINATED:
            self._send_bye(other, now)
        self._end(call, now, status=200, cause=f"{side} hung up", hangup=side)

    def _teardown(self, call: Call, now: float, *, cause: str, hangup: str, dead: Leg | None = None) -> None:
        """End the call from here: BYE to every live leg but ``dead`` (one that
        answered 481/408 or never answered: a BYE there would only time out)."""
        if call.ended:
            return
        if dead is not None:
            dead.state = LegState.TERMINATED
            self._drop_leg_timers(dead)
        if call.b is None:
            self._cancel_forks(call, now)
            self._fail_a(call, 480 if cause == "no answer" else 500, now, reason=cause.capitalize(), cause=cause)
            return
        for leg in (call.a, call.b):
            if leg is not None and leg.state is not LegState.TERMINATED:
                self._send_bye(leg, now)
        self._end(call, now, status=200, cause=cause, hangup=hangup)

    def _send_bye(self, leg: Leg, now: float) -> None:
        leg.state = LegState.TERMINATED
        if leg.dialog is None:
            return
        bye = leg.dialog.request("BYE")
        txn = self.endpoint.send_request(bye, self._next_hop(leg), now)
        self.relays[txn] = leg
        leg.sent.append(txn)
        self._drop_leg_timers(leg)

    def _cancel_forks(self, call: Call, now: float, except_leg: Leg | None = None) -> None:
        for f in call.forks:
            if f is except_leg or f.final is not None:
                continue
            f.state = LegState.TERMINATED
            f.final = Response(487)
            self.endpoint.cancel(f.invite_txn, now)

    def _no_answer(self, now: float, call: Call) -> None:
        if call.ended or call.b is not None:
            return
        self._teardown(call, now, cause="no answer", hangup="")

    def end_call(self, ref: str, now: float, cause: str) -> bool:
        """End a call from the server (e.g. credit ran out): BYE on both legs of an
        answered call, a failure to the caller before that.  False when the call is
        unknown or already ended."""
        call = self.calls.get(ref)
        if call is None or call.ended:
            return False
        self._teardown(call, now, cause=cause, hangup="server")
        return True

    def _max_duration(self, now: float, call: Call) -> None:
        self._teardown(call, now, cause="maximum call duration", hangup="server")

    def _refresh(self, now: float, leg: Leg) -> None:
        """Session refresh (RFC 4028): UPDATE where the peer allows it, else an
        in-dialog OPTIONS; a 408/481 or no answer ends the call."""
        leg.refresh = None
        if leg.state is not LegState.CONFIRMED or leg.dialog is None or leg.call is None or leg.call.ended:
            return
        method = "UPDATE" if leg.allows_update else "OPTIONS"
        extra = [header("Session-Expires", f"{int(self.s.session_interval)};refresher=uac")] if method == "UPDATE" else []
        txn = self.endpoint.send_request(leg.dialog.request(method, extra=extra), self._next_hop(leg), now)
        self.relays[txn] = leg
        leg.sent.append(txn)
        leg.refresh = self.timers.schedule(now + self.s.session_interval / 2, self._refresh, leg)

    def _on_timeout(self, txn: str, now: float) -> None:
        leg = self.txns.get(txn)
        if leg is not None and not leg.uas and txn == leg.invite_txn:
            self._on_invite_response(leg, Response(408, "Request Timeout"), now)
            return
        leg = self.relays.pop(txn, None)
        if leg is None:
            return
        origin = self._pop_pending(leg, txn)
        if origin is not None:
            server_txn, orig_req = origin
            other = leg.other
            if other is not None:
                self.endpoint.send_response(server_txn, make_response(orig_req, 408, to_tag=other.to_tag or None), now)
        if leg.state is LegState.CONFIRMED:
            self._teardown(leg.call, now, cause="peer unreachable", hangup="server", dead=leg)

    def _end(self, call: Call, now: float, *, status: int, cause: str, hangup: str) -> None:
        if call.ended:
            return
        call.ended = True
        call.state = "ended"
        self._clear_call_timers(call)
        self._abandon_pending(call, now)
        b_call_id = call.b.dialog.call_id if call.b is not None and call.b.dialog is not None else ""
        self.sink(CallEnded(ref=call.ref, at=now, status=status, cause=cause, hangup=hangup, b_call_id=b_call_id))
        log.info("call %s ended: %d %s", call.ref, status, cause)
        # forget the call once its transactions have settled (late ACKs, BYE retransmissions)
        self.timers.schedule(now + 64 * self.s.t1, self._forget, call)

    def _pop_pending(self, leg: Leg, txn: str) -> tuple[str, Request] | None:
        origin = leg.pending.pop(txn, None)
        if origin is not None and origin[1].method == "INVITE":
            self.reinvites.pop(origin[0], None)
        return origin

    def _abandon_pending(self, call: Call, now: float) -> None:
        """RFC 3261 §15.1.2: requests still pending when the dialog ends get 487.
        Their server transactions would otherwise never end (an unanswered
        server transaction has no timer), and a relayed re-INVITE that had a
        provisional answer would wait forever (Timer B stops at the first
        provisional): it is cancelled."""
        for leg in (call.a, *call.forks):
            if leg is None:
                continue
            for txn in list(leg.pending):
                origin = self._pop_pending(leg, txn)
                assert origin is not None
                server_txn, req = origin
                self.relays.pop(txn, None)
                if req.method == "INVITE":
                    self.endpoint.cancel(txn, now)
                resp = make_response(req, 487, headers=[header("Server", self.s.user_agent)])
                self.endpoint.send_response(server_txn, resp, now)

    def _forget(self, now: float, call: Call) -> None:
        self.calls.pop(call.ref, None)
        for leg in [call.a, *call.forks]:
            if leg is None:
                continue
            self._drop_leg_timers(leg)
            self.txns.pop(leg.invite_txn, None)
            for txn in list(leg.pending):
                self._pop_pending(leg, txn)
            for txn in leg.sent:
                self.relays.pop(txn, None)
            leg.sent = []
            if leg.dialog is not None:
                self.dialogs.pop((leg.dialog.call_id, leg.dialog.local_tag), None)
            leg.call = None  # type: ignore[assignment]  # break the cycle for the GC
        a = call.a
        if a is not None:
            self.dialogs.pop((a.invite.call_id, a.to_tag), None)
            key = (a.invite.call_id, a.invite.from_.tag or "")
            if self.a_invites.get(key) is a:  # a later call may reuse Call-ID and From tag
                del self.a_invites[key]
        call.a = call.b = None
        call.forks = []

    def _clear_call_timers(self, call: Call) -> None:
        for t in call.timers:
            t.cancel()
        call.timers = []

    def _drop_leg_timers(self, leg: Leg) -> None:
        for t in (leg.retransmit, leg.refresh):
            if t is not None:
                t.cancel()
        leg.retransmit = leg.refresh = None

    # -- helpers -------------------------------------------------------------------
    def reply(
        self,
        event: RequestReceived,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        extra: list[Header] | None = None,
    ) -> None:
        """Answer a request statelessly from the call's point of view: Server
        header and a fresh To tag on anything but 100 (RFC 3261 §8.2.6)."""
        if event.transaction_id is None:
            return
        headers = [header("Server", self.s.user_agent), *(extra or [])] if status > 100 else []
        resp = make_response(
            event.request, status, reason, to_tag=self.ids.tag() if status > 100 else None, headers=headers
        )
        self.endpoint.send_response(event.transaction_id, resp, now)

    def _next_hop(self, leg: Leg) -> Address:
        assert leg.dialog is not None
        hop = leg.dialog.next_hop()
        if hop is None:
            return leg.flow
        host, port, transport = hop
        return Address(transport, host, port or 5060)


def _allows_update(msg: Request | Response) -> bool:
    """Allow may come in several header lines (§7.3.1)."""
    return any(m.strip().upper() == "UPDATE" for v in msg.get_all("allow") for m in v.split(","))


def _is_offer(req: Request) -> bool:
    """Does this request start an offer/answer exchange (an INVITE always does,
    with or without SDP; an UPDATE only with a body)?"""
    return req.method == "INVITE" or (req.method == "UPDATE" and bool(req.body))


def _session_expires(req: Request) -> int | None:
    """The delta-seconds of Session-Expires, or None when absent or unreadable."""
    value = req.get("session-expires")
    if not value:
        return None
    delta = value.split(";", 1)[0].strip()
    return int(delta) if delta.isdigit() and len(delta) <= 9 else None


def _dialed(req: Request) -> str:
    uri = req.ruri
    user = getattr(uri, "user", None)
    return user or ""


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _contact(local: Address) -> str:
    t = f";transport={local.transport}" if local.transport != "udp" else ""
    return f"<sip:b2bua@{_host(local.host)}:{local.port}{t}>"


__all__ = ["CallManager", "Settings", "Call", "Leg", "SipUri"]
