"""The operations the runtime invokes on live calls, beside the event handling
of :class:`~b2bua.calls.manager.CallManager` (which inherits them):

* ``release_answer``: the callee's answer is on record, the caller's 2xx
  (held with ``Settings.hold_answer``) goes out;
* ending calls from the server: ``end_call`` (credit ran out, an administrator),
  ``end_all``, ``waiting_byes`` and ``release_byes`` (shutdown);
* the server's own answers and offers (:mod:`b2bua.calls.offers`):
  ``early_media``, ``answer_locally``, ``place``, ``reoffer`` and ``bridge``,
  each returning whether it applied.
"""

from __future__ import annotations

from typing import Protocol

from b2bua.sip.message import Header, Request

from . import offers, sdp
from .call import UNANSWERED, Call, CallIndex, CallState, Settings, Trigger
from .events import NO_ACCOUNT, AccountInfo, CallerConnected, CallEvent, CallRouted
from .leg import Leg
from .routing import Route
from .sdp import SessionDescription
from .timers import Timers



class _Manager(Protocol):
    """What these operations use of the manager that inherits them."""

    index: CallIndex
    events: list[CallEvent]
    timers: Timers
    s: Settings

    def _live(self, ref: str) -> Call | None: ...
    def _emit(self, event: CallEvent) -> None: ...
    def waiting_byes(self) -> list[Leg]: ...
    def _teardown(self, call: Call, now: float, *, cause: str, hangup: str, dead: Leg | None = None) -> None: ...
    def _cancel_forks(self, call: Call, now: float, except_leg: Leg | None = None) -> None: ...
    def _fail_a(
        self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str, hangup: str = "",
        extra: list[Header] | None = None,
    ) -> None: ...
    def _max_duration(self, now: float, call: Call) -> None: ...
    def _not_reached(
        self, call: Call, status: int, now: float, *, reason: str | None = None, cause: str, hangup: str = ""
    ) -> None: ...
    def _connect_caller(self, call: Call, body: bytes, ctype: str | None, reason: str, now: float) -> None: ...
    def _place_forks(
        self, call: Call, display: str, extra: list[Header] | None, now: float, src: Request | None = None
    ) -> None: ...


class CallOperations:
    """Mixed into CallManager: every method acts on the manager's calls."""

    def release_answer(self: _Manager, ref: str, now: float) -> bool:
        """The callee's answer is on record: send the caller the 2xx held for it
        (ANSWERING -> CONNECTED).  False when nothing waits (ended, released)."""
        call = self.index.calls.get(ref)
        if call is None or call.state is not CallState.ANSWERING or call.held_answer is None:
            return False
        body, ctype, reason = call.held_answer
        call.held_answer = None
        call.fire(Trigger.RELEASED)
        self._connect_caller(call, body, ctype, reason, now)
        return True

    def refuse_held(self: _Manager, ref: str, status: int, reason: str, now: float) -> bool:
        """End a call the server holds (a prompt that ended without a code, or with
        one refused): the caller, if still unanswered, gets ``status`` and ``reason``;
        one the server answered gets a BYE.  The record keeps ``status``.  False when
        the call is unknown or over."""
        call = self._live(ref)
        if call is None:
            return False
        self._cancel_forks(call, now)
        self._not_reached(call, status, now, reason=reason, cause=reason)
        return True

    def end_call(self: _Manager, ref: str, now: float, cause: str) -> bool:
        """End a call from the server (e.g. credit ran out): BYE on both legs of an
        answered call, a failure to the caller before that.  False when the call is
        unknown or already ended."""
        call = self.index.calls.get(ref)
        if call is None or call.state is CallState.ENDED:
            return False
        self._teardown(call, now, cause=cause, hangup="server")
        return True

    def end_all(self: _Manager, now: float, cause: str = "server shutdown") -> int:
        """End every live call (the server is stopping): BYE on both legs of an
        answered call; 503 to the caller and CANCEL to the forks of one not
        answered yet.  Hangup "server" either way.  Returns how many were ended."""
        live = [c for c in self.index.calls.values() if c.state is not CallState.ENDED]
        for call in live:
            if call.state in UNANSWERED:
                self._cancel_forks(call, now)
                self._fail_a(call, 503, now, reason="Service Unavailable", cause=cause, hangup="server")
            else:
                self._teardown(call, now, cause=cause, hangup="server")
        return len(live)

    def waiting_byes(self: _Manager) -> list[Leg]:
        """The legs whose BYE waits for the ACK of our 2xx (RFC 3261 §15)."""
        return [leg for call in self.index.calls.values() for leg in (call.a, *call.forks)
                if leg is not None and leg.bye_deferred]

    def release_byes(self: _Manager, now: float) -> int:
        """Send every BYE still waiting for an ACK now (the server is stopping
        and cannot wait any longer).  Returns how many went."""
        waiting = self.waiting_byes()
        for leg in waiting:
            leg.bye_now(now)
        return len(waiting)

    # -- the server's own answers and offers (b2bua.calls.offers) -------------------
    def _emit(self: _Manager, event: CallEvent) -> None:
        self.events.append(event)  # self.events is replaced by take_events(): look it up each time

    def _live(self: _Manager, ref: str) -> Call | None:
        call = self.index.calls.get(ref)
        return None if call is None or call.state is CallState.ENDED or call.a is None else call

    def early_media(self: _Manager, ref: str, sd: SessionDescription, now: float) -> bool:
        """183 with the server's SDP (the answer to the caller's offer) to an
        unanswered caller; False when it does not apply."""
        call = self._live(ref)
        return call is not None and call.a is not None and offers.early_media(call.a, sd, now)

    def answer_locally(self: _Manager, ref: str, sd: SessionDescription, now: float) -> bool:
        """Answer the caller 200 with the server's SDP (after early media, the same
        one): the call is SERVING (or PLACING with forks out), CallerConnected
        (by_server) is reported, billing does not start.  False when it does not apply."""
        call = self._live(ref)
        if call is None or call.a is None or not offers.answer(call.a, sd, now):
            return False
        call.fire(Trigger.SERVED)
        call.timers.append(self.timers.schedule(now + self.s.max_call_duration, self._max_duration, call))
        self.events.append(CallerConnected(ref=ref, at=now, by_server=True))
        return True

    def place(
        self: _Manager,
        ref: str,
        now: float,
        *,
        route: Route | None = None,
        sd: SessionDescription | None = None,
        display: str = "",
        extra: list[Header] | None = None,
        account: AccountInfo | None = None,
        dialed: str = "",
        group: str = "",
    ) -> bool:
        """Place the callee's legs of a call the server holds, towards ``route``
        (default: the call's), offering ``sd`` (default: the caller's offer): one
        it answered (SERVING -> PLACING), or one still unanswered that hears the
        server's early media (ROUTING -> PROCEEDING: the callee's provisionals
        are not relayed, and when it answers the caller's 200 carries the early
        media's SDP, RFC 3262 / RFC 3261 §13.3.1.4; :meth:`bridge` then connects
        the two).  A call routed now (``route`` given to a call held with route
        kind "prompt") reports CallRouted with its ``account``, ``dialed`` and ``group``.
        False when it does not apply."""
        call = self._live(ref)
        if call is None or call.a is None:
            return False
        early = call.state is CallState.ROUTING and call.a.local_sdp is not None
        if call.state is not CallState.SERVING and not early:
            return False
        route = route or call.route
        body = sdp.build(sd) if sd is not None else call.a.invite.body
        if route.kind == "none" or not body:
            return False
        if call.route.kind == "prompt" and route.kind != "prompt":
            self.events.append(CallRouted(
                ref=ref, at=now, group=group, dialed=dialed or route.destination, destination=route.destination,
                route=route.label, account=account or NO_ACCOUNT,
            ))
        call.route = route
        inv = call.a.invite
        self._place_forks(call, display, extra, now, Request("INVITE", inv.uri, inv.headers, body))
        for f in call.forks:
            f.local_sdp = sd
        return call.state is (CallState.PROCEEDING if early else CallState.PLACING)

    def reoffer(
        self: _Manager, ref: str, side: str, sd: SessionDescription | None, now: float, *, glare_delay: float | None = None
    ) -> bool:
        """A new offer from the server on the ``"caller"`` or ``"callee"`` leg
        (re-INVITE, or UPDATE when ``Call.prefer_update`` and the peer allows it);
        its outcome comes as OfferAnswered.  False when it does not apply."""
        call = self._live(ref)
        leg = None if call is None else call.a if side == "caller" else call.b
        return leg is not None and offers.reoffer(leg, sd, now, emit=self._emit, glare_delay=glare_delay)

    def bridge(self: _Manager, ref: str, now: float) -> bool:
        """Connect the caller's and the callee's media (RFC 3725 flow I):
        CallBridged on success, the call ended on failure.  False when it does not apply."""
        call = self._live(ref)
        return call is not None and offers.bridge(call, now, emit=self._emit)
