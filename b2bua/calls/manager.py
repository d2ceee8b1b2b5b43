"""Back-to-back call control (sans-IO): two independent dialogs per call.

Theory of operation
-------------------
An INVITE without a To tag starts a :class:`~b2bua.calls.call.Call`
(:meth:`CallManager.start_call`, after the application authenticated and
routed it).  Its caller side is the *A leg* (we are the UAS); one *B leg*
(we are the UAC) is created per target (every registered contact of an
extension, or one trunk).  Each B leg is a dialog of its own: its own
Call-ID, tags, branches and CSeq; nothing of one side's Via, Record-Route or
Contact is copied to the other.

Provisional responses (with their SDP) and the final answer of B are relayed
to A; the first 2xx wins and the other forks are cancelled (a late 2xx gets
ACK then BYE).  Reliable provisionals (100rel/PRACK) are handled on both
legs by :mod:`b2bua.calls.prack`, a callee's 3xx by
:mod:`b2bua.calls.redirect` (followed or relayed).  CANCEL and BYE end the call; re-INVITE, UPDATE and INFO are
relayed between the legs (:mod:`b2bua.calls.relay`).  Call-level timers: no
answer and maximum duration; leg-level ones (:mod:`b2bua.calls.leg`): the
retransmission of A's 2xx until its ACK and session refreshes (RFC 4028).

The roles, one module each: :mod:`~b2bua.calls.call` (a call's single state
and its transition table; ``CallIndex``, the one owner of every lookup
table), :mod:`~b2bua.calls.leg` (a UAS or UAC leg),
:mod:`~b2bua.calls.relay` (in-dialog relaying, offer/answer, glare) and this
module: the dispatch of endpoint events, call set-up, fork outcomes and the
end of calls, which drive the call's state (``Call.fire``).

Public API
----------
``CallManager(endpoint, ids, settings, *, contacts_for, local, trunk_credentials, digest_client)``

* ``handle(event, now) -> bool``: an endpoint event; False when it is not
  the manager's (out-of-dialog requests, a CANCEL of a transaction it does
  not own): the application's then;
* ``start_call(event, route, *, caller, caller_user, display, ..., place=True, now)``,
  ``end_call(ref, now, cause)``, ``end_all(now, cause)``, ``waiting_byes()``
  and ``release_byes(now)`` (at shutdown), ``reply(event, status, now, ...)``;
* the server's own answers and offers (:mod:`b2bua.calls.offers`), each
  returning whether it applied: ``early_media(ref, sd, now)``,
  ``answer_locally(ref, sd, now)``, ``place(ref, now, *, route, sd, display,
  extra)`` (the callee of a call started with ``place=False``),
  ``reoffer(ref, side, sd, now, *, glare_delay)`` and ``bridge(ref, now)``;
* ``next_deadline()``, ``handle_timer(now)``, ``len(manager)``;
* the code is split by role: this module dispatches events and starts and
  ends calls; :mod:`~b2bua.calls.forks` (``ForkOutcomes``) handles the
  callees' answers and :mod:`~b2bua.calls.operations` (``CallOperations``)
  the operations above that the runtime invokes; both are mixed in here;
* ``events``: the :data:`~b2bua.calls.events.CallEvent` s produced so far
  (CallStarted, CallRinging, CallRedirected, CalleeAnswered then CallerConnected, ...,
  CallEnded, in order), drained by the shell with ``take_events()`` after
  each step and dispatched to billing and the call log there, never from
  inside call handling.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

from b2bua.sip.build import IdSource
from b2bua.sip.dialog import dialog_target
from b2bua.sip.endpoint import (
    Address,
    CancelReceived,
    Endpoint,
    RequestReceived,
    ResponseReceived,
    TransactionTimedOut,
)
from b2bua.sip.errors import ParseError, UnsafeValue
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.uri import SipUri

from . import offers, prack, relay
from .call import UNANSWERED, Call, CallIndex, CallState, Settings, Trigger, dialog_key, map_failure
from .events import (
    NO_ACCOUNT,
    AccountInfo,
    CallEnded,
    InfoReceived,
    CallEvent,
    CallStarted,
)
from .leg import ALLOW, MIN_SE, CallCore, Leg, LegState, allows_update, fork_invite, session_expires
from .forks import ForkOutcomes
from .operations import CallOperations
from .relay import malformed_sdp
from .routing import Route, dialed_user

__all__ = ["ALLOW", "CallManager", "Settings", "map_failure"]


class InDialogHook(Protocol):
    """Answers some in-dialog requests itself instead of relaying them
    (mid-call account codes, :mod:`b2bua.calls.midcall`): True when it did."""

    def on_request(self, leg: Leg, event: RequestReceived, now: float) -> bool: ...
    def ended(self, call: Call, now: float) -> None: ...


class CallManager(ForkOutcomes, CallOperations):
    """Owns every call; handles the endpoint's events for them."""

    def __init__(
        self,
        endpoint: Endpoint,
        ids: IdSource,
        settings: Settings,
        *,
        contacts_for: Callable[[str, float], Sequence[tuple[str, Address]]],
        local: Callable[[str], Address],
        trunk_credentials: Callable[[str], tuple[str, str] | None] = lambda name: None,
        digest_client: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.ids = ids
        self.s = settings
        self.contacts_for = contacts_for
        self.local = local
        self.trunk_credentials = trunk_credentials
        self.digest_client = digest_client
        self.index = CallIndex()
        self.core = CallCore(endpoint, ids, settings, self.index, local, self._teardown)
        self.timers = self.core.timers
        self.events: list[CallEvent] = []
        # answer a request statelessly (Server header, a fresh To tag but on 100)
        self.reply = self.core.reply
        self.midcall: InDialogHook | None = None  # mid-call account codes, when configured

    # -- introspection --------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index.calls)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.timers.run(now)

    def take_events(self) -> list[CallEvent]:
        """The call events produced since the last call, oldest first."""
        out, self.events = self.events, []
        return out

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
        dialed: str | None = None,
        place: bool = True,
        now: float,
    ) -> Call | None:
        """Start a call for an INVITE already authenticated and routed.

        Sends 100 Trying, creates the B legs, and reports CallStarted (and
        CallEnded at once when the route leads nowhere: a refused attempt is
        a Route of kind "none" with its status and reason).  ``extra`` headers
        go on the B-leg INVITEs (e.g. X-Account-Code to a trunk).  With
        ``place=False`` the call waits in ROUTING after the 100 Trying: the
        server answers the caller itself (:meth:`early_media`,
        :meth:`answer_locally`) and places the callee later (:meth:`place`)."""
        req = event.request
        assert event.transaction_id is not None
        known = self.index.a_invites.get((req.call_id, req.from_.tag or ""))
        if known is not None and known.call is not None:
            if known.invite.cseq.number == req.cseq.number:
                # the same INVITE arriving by another path (new branch): RFC 3261
                # §8.2.2.2 merged request.  Its transaction must be answered too.
                self.reply(event, 482, now, reason="Loop Detected")
                return None
            if known.call.state is not CallState.ENDED:
                # a new INVITE of the same Call-ID and From tag while that call is up
                self.reply(event, 500, now, reason="Call already in progress", extra=[header("Retry-After", "5")])
                return None
        ref = self.ids.call_id()
        call = Call(ref, route, caller)
        a = Leg(self.core, call, True, req, event.transaction_id, event.source)
        a.to_tag = self.ids.tag()
        a.allows_update = allows_update(req)
        call.a = a
        self.index.add_call(call)
        call.started = started = CallStarted(
            ref=ref,
            at=now,
            caller=caller,
            caller_user=caller_user,
            department=department,
            group=group,
            dialed=dialed_user(req) if dialed is None else dialed,
            destination=route.destination,
            route=route.label,
            a_call_id=req.call_id,
            source=f"{event.source.transport}:{event.source.host}:{event.source.port}",
            account=account,
        )
        self.events.append(started)
        if malformed_sdp(req):
            self._fail_a(call, 488, now, reason="Malformed SDP", cause="malformed SDP")
            return call
        try:
            dialog_target(req, "")  # A's INVITE must make a usable dialog
        except ParseError as err:
            self._fail_a(call, 400, now, reason="Bad Record-Route or Contact", cause=err.reason)
            return call
        se = session_expires(req)
        if se is not None and se < MIN_SE:
            # RFC 4028 §8.1: too short an interval is refused with our minimum
            a.respond(422, now, extra=[header("Min-SE", str(MIN_SE))])
            self._end(call, now, status=422, cause="session interval too small", hangup="")
            return call
        if route.kind == "none":
            cause = "cancelled by caller" if route.hangup == "caller" else route.reason or "no route"
            self._fail_a(call, route.status, now, reason=route.reason or "No route", cause=cause, hangup=route.hangup)
            return call
        a.respond(100, now)
        if place:
            self._place_forks(call, display, extra, now)
        return call

    def _place_forks(
        self, call: Call, display: str, extra: list[Header] | None, now: float, src: Request | None = None
    ) -> None:
        """The B legs of ``call.route``, offering ``src``'s body (default: A's INVITE's)."""
        route, caller = call.route, call.caller
        targets: list[tuple[str, Address]] = []
        if route.kind == "extension":
            targets = list(self.contacts_for(route.destination, now))
            if not targets:
                self._not_reached(call, 480, now, reason="Not registered", cause=f"{route.destination} not registered")
                return
        else:
            t = route.trunk
            assert t is not None
            params: dict[str, str | None] = {"transport": "tcp"} if t.transport == "tcp" else {}
            ruri = str(SipUri(user=route.destination, host=t.host, port=t.port, params=params))
            targets = [(ruri, Address(t.transport, t.host, t.port))]
        call.fire(Trigger.ROUTED)
        try:
            for ruri, flow in targets:
                self._send_fork(call, ruri, flow, caller, display, route.destination, now, extra, src)
        except UnsafeValue as err:
            # CR, LF or NUL in the caller's identity: no header injection, no call
            self._cancel_forks(call, now)
            self._not_reached(call, 400, now, reason="Unusable caller identity", cause=str(err))
            return
        call.timers.append(self.timers.schedule(now + self.s.no_answer_timeout, self._no_answer, call))

    def _send_fork(
        self, call: Call, ruri: str, flow: Address, caller: str, display: str, callee: str, now: float,
        extra: list[Header] | None = None, src: Request | None = None,
    ) -> None:
        a = call.a
        assert a is not None
        src = src or a.invite
        req = fork_invite(self.core, src, ruri, flow, caller=caller, display=display, callee=callee, extra=extra)
        prack.offer(self.s, a.invite, req)
        self._invite_fork(call, req, flow, now)

    def _invite_fork(self, call: Call, req: Request, flow: Address, now: float) -> Leg:
        txn = self.endpoint.send_request(req, flow, now)
        b = Leg(self.core, call, False, req, txn, flow)
        self.index.add_fork(b)
        call.forks.append(b)
        return b

    # -- dispatch ---------------------------------------------------------------
    def handle(self, event: object, now: float) -> bool:
        """Handle an endpoint event; False when it is not ours: out-of-dialog
        requests other than INVITE, and a CANCEL of a transaction that is not
        a call's, are the application's."""
        index = self.index
        if isinstance(event, ResponseReceived):
            txn = event.transaction_id
            leg = index.txns.get(txn)
            if leg is not None and not leg.uas and txn == leg.invite_txn:
                self._on_invite_response(leg, event.response, now)
                return True
            leg = index.relays.get(txn)
            if leg is not None and not prack.on_response(leg, txn, event.response, now) \
                    and not offers.on_response(leg, txn, event.response, now):
                relay.on_response(leg, txn, event.response, now)
            return True
        if isinstance(event, RequestReceived):
            return self._on_request(event, now)
        if isinstance(event, CancelReceived):
            leg = index.txns.get(event.transaction_id)
            if leg is not None and leg.uas:
                self._on_cancel(leg.call, now)
                return True
            relayed = index.reinvites.get(event.transaction_id)
            if relayed is not None:
                # a re-INVITE we relayed: cancel it on the other side; its answer
                # (487, or whatever came first) is relayed back as usual
                self.endpoint.cancel(relayed[1], now)
                return True
            return False
        if isinstance(event, TransactionTimedOut):
            txn = event.transaction_id
            leg = index.txns.get(txn)
            if leg is not None and not leg.uas and txn == leg.invite_txn:
                self._on_invite_response(leg, Response(408, "Request Timeout"), now)
                return True
            leg = index.relays.get(txn)
            if leg is not None and not prack.on_timeout(leg, txn, now) \
                    and not offers.on_response(leg, txn, Response(408, "Request Timeout"), now):
                relay.on_timeout(leg, txn, now)
            return True
        return False

    def _on_request(self, event: RequestReceived, now: float) -> bool:
        req = event.request
        to_tag = req.to.tag
        if not to_tag:
            return False  # out of dialog: the application decides
        leg = self.index.dialogs.get(dialog_key(req))
        if req.method == "ACK":
            if leg is None:
                leg = self._stray_ack(event)
            if leg is not None:
                leg.on_ack(req, now)
            return True
        if leg is not None and leg.state is LegState.TERMINATED and req.method == "BYE":
            # our BYE and the peer's crossed on the wire: both dialogs end anyway
            self.reply(event, 200, now)
            leg.drop_timers()  # a BYE of ours that waited for an ACK is moot
            return True
        if leg is None or leg.state is LegState.TERMINATED:
            self.reply(event, 481, now)
            return True
        if leg.dialog is not None and not leg.dialog.check_remote_seq(req):
            self.reply(event, 500, now, reason="CSeq out of order")
            return True
        if req.method == "PRACK":
            prack.on_prack(leg, event, now)
            return True
        if req.method == "BYE":
            self.reply(event, 200, now)
            self._hangup(leg, now)
            return True
        if req.method == "INFO" and leg.uas and leg.call.route.kind == "prompt":
            # the caller's digits (or anything else) while the server prompts it: the runtime's
            self.reply(event, 200, now)
            self.events.append(InfoReceived(
                ref=leg.call.ref, at=now, content_type=req.content_type or "", body=req.body,
            ))
            return True
        if leg.call.state is CallState.ANSWERING:  # the other side is not connected yet: in a moment
            self.reply(event, 500, now, reason="Request Pending", extra=[header("Retry-After", "1")])
            return True
        if leg.dialog is None:  # early dialog on A (we sent a tag in 180): only BYE/CANCEL make sense
            self.reply(event, 481 if req.method != "UPDATE" else 491, now)
            return True
        if self.midcall is not None and self.midcall.on_request(leg, event, now):  # a mid-call code: not relayed
            return True
        if relay.is_offer(req) and offers.busy(leg):  # crosses an offer of the server's own: glare
            self.reply(event, 491, now)
            return True
        if leg.local_sdp is not None and leg.other is None:  # the server holds this leg alone
            offers.answer_request(leg, event, now)
            return True
        relay.relay_request(leg, event, now)
        return True

    def _stray_ack(self, event: RequestReceived) -> Leg | None:
        """pyVoIP 1.6.8 puts a random To tag in the ACK of a 2xx: such an ACK is
        taken as A's only while A's 2xx waits for its ACK, when it comes from
        where A's INVITE came and carries that INVITE's CSeq; otherwise (anyone
        else's ACK) it matches no dialog."""
        req = event.request
        a = self.index.a_invites.get((req.call_id, req.from_.tag or ""))
        if a is None or a.call is None or a.acked or a.dialog is None:
            return None
        if event.source != a.flow or req.cseq.number != a.invite.cseq.number:
            return None
        return a

    # -- ending calls -------------------------------------------------------------
    def _on_cancel(self, call: Call, now: float) -> None:
        if call.state is CallState.ANSWERING:
            self._abandon_answer(call, now, 487, cause="cancelled by caller", hangup="caller")
            return
        if call.state not in UNANSWERED:
            return
        self._cancel_forks(call, now)
        assert call.a is not None
        call.a.respond(487, now)
        self._end(call, now, status=487, cause="cancelled by caller", hangup="caller")

    def _hangup(self, leg: Leg, now: float) -> None:
        call = leg.call
        leg.state = LegState.TERMINATED
        leg.drop_timers()
        side = "caller" if leg.uas else "callee"
        if call.state is CallState.ANSWERING:  # before the caller heard of the answer
            cause = "caller hung up before answer" if leg.uas else "callee hung up before the caller was connected"
            self._abandon_answer(call, now, 487 if leg.uas else 480, cause=cause, hangup=side)
            return
        if leg.uas and call.state in UNANSWERED:
            # BYE on an early dialog from the caller: treat as a cancel
            self._cancel_forks(call, now)
            assert call.a is not None
            call.a.respond(487, now)
            self._end(call, now, status=487, cause="caller hung up before answer", hangup="caller")
            return
        other = leg.other
        if other is not None and other.state is not LegState.TERMINATED:
            other.send_bye(now)
        self._end(call, now, status=200, cause=f"{side} hung up", hangup=side)

    def _teardown(self, call: Call, now: float, *, cause: str, hangup: str, dead: Leg | None = None) -> None:
        """End the call from here: BYE to every live leg but ``dead`` (one that
        answered 481/408 or never answered: a BYE there would only time out)."""
        if call.state is CallState.ENDED:
            return
        if dead is not None:
            dead.state = LegState.TERMINATED
            dead.drop_timers()
        if call.state in UNANSWERED:
            self._cancel_forks(call, now)
            self._fail_a(call, 480 if cause == "no answer" else 500, now, reason=cause.capitalize(), cause=cause)
            return
        if call.state is CallState.ANSWERING:
            self._abandon_answer(call, now, 500, cause=cause, hangup=hangup)
            return
        for leg in (call.a, call.b):
            if leg is not None and leg.state is not LegState.TERMINATED:
                leg.send_bye(now)
        self._end(call, now, status=200, cause=cause, hangup=hangup)

    def _abandon_answer(self, call: Call, now: float, status: int, *, cause: str, hangup: str) -> None:
        """End a call in ANSWERING: the callee (answered) gets a BYE, the caller
        (never told) a final failure instead of the held 2xx."""
        call.held_answer = None
        b = call.b
        if b is not None and b.state is not LegState.TERMINATED:
            b.send_bye(now)
        reason = "Request Terminated" if status == 487 else cause.capitalize()
        self._fail_a(call, status, now, reason=reason, cause=cause, hangup=hangup)

    def _cancel_forks(self, call: Call, now: float, except_leg: Leg | None = None) -> None:
        for f in call.forks:
            if f is except_leg or f.final is not None:
                continue
            f.state = LegState.TERMINATED
            f.final = Response(487)
            self.endpoint.cancel(f.invite_txn, now)

    def _no_answer(self, now: float, call: Call) -> None:
        if call.state is CallState.PLACING:
            self._cancel_forks(call, now)
            self._not_reached(call, 480, now, reason="No answer", cause="no answer")
            return
        if call.state not in UNANSWERED:
            return
        self._teardown(call, now, cause="no answer", hangup="")

    def _not_reached(
        self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str, hangup: str = ""
    ) -> None:
        """No callee answered: the caller gets the failure, or a BYE when the
        server answered it already (PLACING: nothing is left to talk to)."""
        if call.state not in (CallState.SERVING, CallState.PLACING):
            self._fail_a(call, status, now, reason=reason, cause=cause, hangup=hangup)
            return
        assert call.a is not None
        call.a.send_bye(now)
        self._end(call, now, status=status, cause=cause, hangup="server")

    def _max_duration(self, now: float, call: Call) -> None:
        self._teardown(call, now, cause="maximum call duration", hangup="server")

    def _fail_a(
        self,
        call: Call,
        status: int,
        now: float,
        *,
        reason: str | None = None,
        cause: str,
        hangup: str = "",
        extra: list[Header] | None = None,
    ) -> None:
        if call.state is CallState.ENDED:
            return
        assert call.a is not None
        call.a.respond(status, now, reason=reason, extra=extra)
        self._end(call, now, status=status, cause=cause, hangup=hangup)

    def _end(self, call: Call, now: float, *, status: int, cause: str, hangup: str) -> None:
        if call.state is CallState.ENDED:
            return
        call.fire(Trigger.ENDED)
        self._cancel_forks(call, now)  # forks still out while the server held the caller
        self._clear_call_timers(call)
        relay.abandon_pending(call, now)
        b_call_id = call.b.dialog.call_id if call.b is not None and call.b.dialog is not None else ""
        self.events.append(CallEnded(ref=call.ref, at=now, status=status, cause=cause, hangup=hangup, b_call_id=b_call_id))
        if self.midcall is not None:
            self.midcall.ended(call, now)  # its caller may still attach a code to it
        # forget the call once its transactions have settled (late ACKs, BYE retransmissions)
        self.timers.schedule(now + 64 * self.s.t1, self._forget, call)

    def _forget(self, now: float, call: Call) -> None:
        if any(leg is not None and leg.bye_deferred for leg in (call.a, *call.forks)):
            # a BYE still waits for the ACK of a 2xx (64*T1 at most): it and its
            # transaction must settle first
            self.timers.schedule(now + 64 * self.s.t1, self._forget, call)
            return
        self.index.remove_call(call)
        for leg in (call.a, *call.forks):
            if leg is None:
                continue
            leg.drop_timers()
            leg.call = None  # type: ignore[assignment]  # break the cycle for the GC
        call.a = call.b = None
        call.forks = []

    def _clear_call_timers(self, call: Call) -> None:
        for t in call.timers:
            t.cancel()
        call.timers = []


