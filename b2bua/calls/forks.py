"""What a callee's answers do to its fork and the call (RFC 3261 §16.7 in
spirit): provisionals relayed (reliably where asked, :mod:`b2bua.calls.prack`),
the first 2xx wins (the caller answered with it, the other forks cancelled,
a late 2xx ACKed and BYEd), a 2xx whose route set or Contact cannot be used
fails its fork, 401/407 from a trunk retried once with its credentials, a 3xx
followed or relayed (:mod:`b2bua.calls.redirect`), and when every fork has
failed the best failure goes to the caller.  Mixed into
:class:`~b2bua.calls.manager.CallManager`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

from b2bua.sip.build import IdSource
from b2bua.sip.dialog import Dialog
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.endpoint import Address

from . import prack, redirect, sdp
from .call import RINGING, Call, CallIndex, CallState, Settings, Trigger, failure_rank, map_failure
from .events import CalleeAnswered, CalleeEarlyMedia, CallerConnected, CallEvent, CallRinging
from .leg import Leg, LegState, allows_update
from .timers import Timers

log = logging.getLogger("b2bua.calls")


class _Manager(Protocol):
    """What fork outcomes use of the manager that inherits them."""

    index: CallIndex
    events: list[CallEvent]
    timers: Timers
    s: Settings
    ids: IdSource
    digest_client: Any
    trunk_credentials: Callable[[str], tuple[str, str] | None]

    def _on_b_answered(self, b: Leg, resp: Response, now: float) -> None: ...
    def _retry_with_credentials(self, b: Leg, resp: Response, now: float) -> bool: ...
    def _unusable_2xx(self, b: Leg, resp: Response, err: ParseError, now: float) -> None: ...
    def _invite_fork(self, call: Call, req: Request, flow: Address, now: float) -> Leg: ...
    def _cancel_forks(self, call: Call, now: float, except_leg: Leg | None = None) -> None: ...
    def _fail_a(
        self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str, hangup: str = "",
        extra: list[Header] | None = None,
    ) -> None: ...
    def _not_reached(
        self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str, hangup: str = ""
    ) -> None: ...
    def _max_duration(self, now: float, call: Call) -> None: ...
    def _clear_call_timers(self, call: Call) -> None: ...
    def _connect_caller(self, call: Call, body: bytes, ctype: str | None, reason: str, now: float) -> None: ...
    def release_answer(self, ref: str, now: float) -> bool: ...
    def _hold_expired(self, now: float, call: Call) -> None: ...


# seconds a caller's 2xx may wait for its answer to be recorded (hold_answer): a
# disk that stalls longer must not keep calls from connecting
ANSWER_HOLD_MAX = 2.0


class ForkOutcomes:
    """The callee side's answers (module docstring)."""

    def _on_invite_response(self: _Manager, b: Leg, resp: Response, now: float) -> None:
        call = b.call
        a = call.a
        assert a is not None
        status = resp.status
        if status < 200:
            if status == 100 or call.state not in RINGING:
                return
            if resp.to.tag and b.state is LegState.TRYING:
                b.state = LegState.EARLY
            if prack.is_reliable(resp) and not prack.on_reliable(b, resp, now):
                return  # a retransmission, or out of order (RFC 3262 §4)
            if status in (180, 183):
                if call.fire(Trigger.PROVISIONAL) is CallState.PROCEEDING:
                    self.events.append(CallRinging(ref=call.ref, at=now, status=status))
                if a.local_sdp is not None:  # the caller hears the server's early media: nothing relayed
                    if resp.body:  # the callee's own (a carrier's ringback): the runtime relays its RTP
                        self.events.append(CalleeEarlyMedia(ref=call.ref, at=now, status=status, body=resp.body))
                    return
                a.state = LegState.EARLY
                extra = []
                if resp.body:
                    extra.append(header("Content-Type", resp.get("content-type") or "application/sdp"))
                prack.relay_provisional(a, b, resp, now, extra)
            return
        if 200 <= status < 300:
            self._on_b_answered(b, resp, now)
            return
        # a failure of this fork
        if b.final is not None:
            return
        if status in (401, 407) and not b.auth_tried and self._retry_with_credentials(b, resp, now):
            return
        if 300 <= status < 400:
            resp = redirect.on_3xx(b, resp, now, self.events, self._invite_fork)
            status = resp.status
        b.final = resp
        b.state = LegState.TERMINATED
        if status >= 400 and (call.best is None or failure_rank(status) < failure_rank(call.best.status)):
            call.best = resp
        if 600 <= status < 700:
            self._cancel_forks(call, now, except_leg=b)
        if call.state in (*RINGING, CallState.PLACING) and all(f.final is not None for f in call.forks):
            if call.state in RINGING and redirect.proceed(call, now, self._invite_fork, self._fail_a):
                return
            best = call.best or resp
            self._not_reached(
                call,
                map_failure(best.status),
                now,
                reason=best.reason if map_failure(best.status) == best.status else None,
                cause=f"callee answered {best.status} {best.reason}",
            )

    def _retry_with_credentials(self: _Manager, b: Leg, resp: Response, now: float) -> bool:
        call = b.call
        route = call.route
        if route.trunk is None or self.digest_client is None or redirect.followed(b):
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
        name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        nb = self._invite_fork(call, b.invite_again(header(name, value)), b.flow, now)
        nb.auth_tried = True
        return True

    def _on_b_answered(self: _Manager, b: Leg, resp: Response, now: float) -> None:
        call = b.call
        a = call.a
        assert a is not None
        if b.dialog is not None:
            # a retransmitted 2xx: our ACK was lost (unless it still waits for A's answer)
            if b.ack_cseq is None:
                b.ack_again(resp.cseq.number)
            return
        try:
            dialog = Dialog.from_uac(b.invite, resp, b.flow, self.s.user_agent)
        except ParseError as err:
            self._unusable_2xx(b, resp, err, now)
            return
        b.dialog = dialog
        prack.confirmed(b, dialog)
        b.final = resp
        b.allows_update = allows_update(resp)
        served = call.state is CallState.PLACING  # the server answered the caller itself
        if call.state not in RINGING and not served:
            # a late 2xx from another fork, or the call is gone: ACK and BYE
            b.ack(b.invite.cseq.number)
            b.send_bye(now)
            return
        held = self.s.hold_answer and not served
        call.fire(Trigger.HELD if held else Trigger.ANSWERED)
        call.b = b
        b.state = LegState.CONFIRMED
        self.index.add_dialog(b)
        if b.invite.body:
            b.ack(b.invite.cseq.number)
        else:
            b.await_answer(b.invite.cseq.number, resp.body)  # B made the offer; A's ACK brings the answer
        self._cancel_forks(call, now, except_leg=b)
        call.answered_at = now
        self._clear_call_timers(call)
        call.timers.append(self.timers.schedule(now + self.s.max_call_duration, self._max_duration, call))
        self.events.append(CalleeAnswered(ref=call.ref, at=now, b_call_id=dialog.call_id))
        if served:  # the server answered the caller already; connecting the media is bridge()'s
            b.schedule_refresh(now)
            return
        # answer A (with B's early SDP if only an unreliable provisional carried it, RFC 3262;
        # with the server's own if the caller heard the server's early media)
        ctype: str | None
        if a.local_sdp is not None:
            body, ctype = sdp.build(a.local_sdp), "application/sdp"
        else:
            body, ctype = prack.early_answer(b, resp) or (resp.body, resp.get("content-type"))
        if held:  # once the answer is on record: release_answer(), or at the latest ANSWER_HOLD_MAX
            call.held_answer = (body, ctype, resp.reason)
            call.timers.append(self.timers.schedule(now + ANSWER_HOLD_MAX, self._hold_expired, call))
            return
        self._connect_caller(call, body, ctype, resp.reason, now)

    def _connect_caller(self: _Manager, call: Call, body: bytes, ctype: str | None, reason: str, now: float) -> None:
        """The caller's 2xx, with the callee's answer: both legs are up."""
        a, b = call.a, call.b
        assert a is not None and b is not None
        a.answer_invite(now, body=body, content_type=ctype, reason=reason)
        for leg in (a, b):
            leg.schedule_refresh(now)
        self.events.append(CallerConnected(ref=call.ref, at=now))

    def _hold_expired(self: _Manager, now: float, call: Call) -> None:
        if self.release_answer(call.ref, now):
            log.warning("call %s: answer not confirmed on record within %.1f s; connected anyway",
                        call.ref, ANSWER_HOLD_MAX)

    def _unusable_2xx(self: _Manager, b: Leg, resp: Response, err: ParseError, now: float) -> None:
        """A 2xx whose route set (or Contact) cannot be used: ACK it and BYE
        where the INVITE went, when its Contact allows, and count the fork as
        failed (502), so that the call is never left up with an unreachable leg."""
        if b.final is not None:
            return  # a retransmission of it
        bare = Response(resp.status, resp.reason, [h for h in resp.headers if h[1] != "record-route"], resp.body)
        try:
            b.dialog = Dialog.from_uac(b.invite, bare, b.flow, self.s.user_agent)
        except ParseError:
            b.dialog = None  # no Contact to send to either: Timer M ends the transaction
        if b.dialog is not None:
            b.ack(b.invite.cseq.number)
            b.send_bye(now)
        call = b.call
        b.final = failed = Response(502, "Bad Gateway")
        b.state = LegState.TERMINATED
        if call.best is None or failure_rank(502) < failure_rank(call.best.status):
            call.best = failed
        if call.state in RINGING and all(f.final is not None for f in call.forks):
            self._fail_a(call, 502, now, reason="Bad Gateway", cause=f"callee's 2xx unusable: {err.reason}")
