"""The call-event sink of the running server: a log line per event and
counters for the status file.  Account codes are logged masked
(:func:`dialplan.dialstring.mask_code`); the dialed number comes without its
code from admission.  (Durable billing records are the billing
store's job; it will subscribe here.)"""

from __future__ import annotations

import bisect
import logging
from typing import Any, Callable

from dialplan.dialstring import mask_code

from b2bua.calls.events import (
    CallBridged,
    CalleeAnswered,
    CallEnded,
    CallerConnected,
    CallEvent,
    CallRedirected,
    CallRinging,
    CallRouted,
    CallStarted,
    CodeChanged,
    OfferAnswered,
)

log = logging.getLogger("b2bua.events")

# upper bounds (seconds) of the call-setup histogram: start of the attempt to the
# first ringing or answer of a callee (post-dial delay)
SETUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class LiveCall:
    """A call in progress as the log saw it start (the portal's live view)."""

    __slots__ = ("started", "answered_at", "account")

    def __init__(self, started: CallStarted) -> None:
        self.started = started
        self.answered_at: float | None = None
        self.account = started.account  # the code in force (a prompt or a mid-call change sets it)


class CallLog:
    """Counters, for the status file and /metrics (``b2bua.web.metrics`` reads
    them at scrape time): totals in ``counters``; per route (``"extension"``,
    ``"trunk:NAME"``, ``"none"`` for a refused attempt) ``started``,
    ``answered`` and ``ended`` (by (route, final status)); ``setup_counts``
    (one per ``SETUP_BUCKETS`` bound, then one past the last) and ``setup_sum``;
    ``live``: the calls in progress by ref."""

    def __init__(self) -> None:
        self.counters = {
            "calls_started": 0, "calls_answered": 0, "calls_served": 0, "calls_ended": 0, "calls_failed": 0,
            "codes_changed": 0,
        }
        self.subscribers: list[Callable[[CallEvent], None]] = []
        self.started: dict[str, int] = {}
        self.answered: dict[str, int] = {}
        self.ended: dict[tuple[str, int], int] = {}
        self.setup_counts = [0] * (len(SETUP_BUCKETS) + 1)
        self.setup_sum = 0.0
        self.live: dict[str, LiveCall] = {}
        self._setup: dict[str, float] = {}  # ref -> start, until its first ringing or answer

    def _set_up(self, ref: str, at: float) -> None:
        start = self._setup.pop(ref, None)
        if start is not None:
            took = max(0.0, at - start)
            self.setup_counts[bisect.bisect_left(SETUP_BUCKETS, took)] += 1
            self.setup_sum += took

    def __call__(self, event: CallEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        for sub in self.subscribers:
            sub(event)


def _started(cl: "CallLog", event: CallStarted) -> None:
    cl.counters["calls_started"] += 1
    route = event.route
    cl.started[route] = cl.started.get(route, 0) + 1
    cl.live[event.ref] = LiveCall(event)
    if route != "none":
        cl._setup[event.ref] = event.at
    if not log.isEnabledFor(logging.INFO):
        return
    a = event.account
    code = ""
    if a.code:
        state = "valid" if a.valid else "flagged invalid" if a.valid is False else "unchecked"
        code = f"; account code {mask_code(a.code)} ({a.source}, {state})"
    if a.authorization:
        code += f"; authorized by {a.authorization!r} (level {a.authorization_level})"
    log.info(
        "call %s started: %s (%s) dialed %s -> %s via %s%s",
        event.ref, event.caller, event.caller_user, event.dialed, event.destination, event.route, code,
    )


def _routed(cl: "CallLog", event: CallRouted) -> None:
    a = event.account
    live = cl.live.get(event.ref)
    if live is not None:
        live.account = a
    code = f"; account code {mask_code(a.code)} ({a.source}, keyed by {a.entry or 'dial string'})" if a.code else ""
    log.info("call %s routed after the prompt -> %s via %s%s", event.ref, event.destination, event.route, code)


def _ringing(cl: "CallLog", event: CallRinging) -> None:
    cl._set_up(event.ref, event.at)
    log.debug("call %s ringing (%d)", event.ref, event.status)


def _redirected(cl: "CallLog", event: CallRedirected) -> None:
    log.info("call %s redirected %d (%s): %s", event.ref, event.status, event.action, ", ".join(event.targets))


def _answered(cl: "CallLog", event: CalleeAnswered) -> None:
    cl.counters["calls_answered"] += 1  # calls_answered counts callees' answers
    cl._set_up(event.ref, event.at)
    live = cl.live.get(event.ref)
    route = "none"
    if live is not None:
        route = live.started.route
        live.answered_at = event.at
    cl.answered[route] = cl.answered.get(route, 0) + 1
    log.info("call %s answered", event.ref)


def _connected(cl: "CallLog", event: CallerConnected) -> None:
    if event.by_server:  # the server answered the caller itself (calls_served)
        cl.counters["calls_served"] += 1
        log.info("call %s answered by the server", event.ref)


def _offer_answered(cl: "CallLog", event: OfferAnswered) -> None:
    log.debug("call %s: %s answered the server's %s %d", event.ref, event.side, event.method, event.status)


def _bridged(cl: "CallLog", event: CallBridged) -> None:
    log.info("call %s bridged", event.ref)


def _code_changed(cl: "CallLog", event: CodeChanged) -> None:
    cl.counters["codes_changed"] += 1
    a = event.account
    live = cl.live.get(event.ref)
    if live is not None and not event.post_call:
        live.account = a
    state = "valid" if a.valid else "flagged invalid"
    log.info("call %s: account code now %s (%s, %s) set by %r", event.ref, mask_code(a.code), a.source, state,
             event.set_by)


def _ended(cl: "CallLog", event: CallEnded) -> None:
    log.info("call %s ended: %d %s", event.ref, event.status, event.cause)
    c = cl.counters
    c["calls_ended"] += 1
    cl._setup.pop(event.ref, None)
    ended = cl.live.pop(event.ref, None)
    key = (ended.started.route if ended is not None else "none", event.status)
    cl.ended[key] = cl.ended.get(key, 0) + 1
    if event.status >= 300:
        c["calls_failed"] += 1


# by event type (exact: events are final structs), one lookup instead of a chain of tests
_HANDLERS: dict[type, Callable[["CallLog", Any], None]] = {
    CallStarted: _started,
    CallRouted: _routed,
    CallRinging: _ringing,
    CallRedirected: _redirected,
    CalleeAnswered: _answered,
    CallerConnected: _connected,
    OfferAnswered: _offer_answered,
    CallBridged: _bridged,
    CodeChanged: _code_changed,
    CallEnded: _ended,
}
