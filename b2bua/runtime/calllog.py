"""The call-event sink of the running server: a log line per event and
counters for the status file.  Account codes are logged masked
(:func:`dialplan.dialstring.mask_code`); the dialed number comes without its
code from admission.  (Durable billing records are the billing
store's job; it will subscribe here.)"""

from __future__ import annotations

import bisect
import logging
from typing import Callable

from dialplan.dialstring import mask_code

from b2bua.calls.events import (
    CallBridged,
    CalleeAnswered,
    CallEnded,
    CallerConnected,
    CallEvent,
    CallRedirected,
    CallRinging,
    CallStarted,
    OfferAnswered,
)

log = logging.getLogger("b2bua.events")

# upper bounds (seconds) of the call-setup histogram: start of the attempt to the
# first ringing or answer of a callee (post-dial delay)
SETUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class LiveCall:
    """A call in progress as the log saw it start (the portal's live view)."""

    __slots__ = ("started", "answered_at")

    def __init__(self, started: CallStarted) -> None:
        self.started = started
        self.answered_at: float | None = None


class CallLog:
    """Counters, for the status file and /metrics (``b2bua.web.metrics`` reads
    them at scrape time): totals in ``counters``; per route (``"extension"``,
    ``"trunk:NAME"``, ``"none"`` for a refused attempt) ``started``,
    ``answered`` and ``ended`` (by (route, final status)); ``setup_counts``
    (one per ``SETUP_BUCKETS`` bound, then one past the last) and ``setup_sum``;
    ``live``: the calls in progress by ref."""

    def __init__(self) -> None:
        self.counters = {
            "calls_started": 0, "calls_answered": 0, "calls_served": 0, "calls_ended": 0, "calls_failed": 0
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
        c = self.counters
        if isinstance(event, CallStarted):
            c["calls_started"] += 1
            route = event.route
            self.started[route] = self.started.get(route, 0) + 1
            self.live[event.ref] = LiveCall(event)
            if route != "none":
                self._setup[event.ref] = event.at
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
        elif isinstance(event, CallRinging):
            self._set_up(event.ref, event.at)
            log.debug("call %s ringing (%d)", event.ref, event.status)
        elif isinstance(event, CallRedirected):
            log.info("call %s redirected %d (%s): %s", event.ref, event.status, event.action, ", ".join(event.targets))
        elif isinstance(event, CalleeAnswered):  # calls_answered counts callees' answers
            c["calls_answered"] += 1
            self._set_up(event.ref, event.at)
            live = self.live.get(event.ref)
            route = "none"
            if live is not None:
                route = live.started.route
                live.answered_at = event.at
            self.answered[route] = self.answered.get(route, 0) + 1
            log.info("call %s answered", event.ref)
        elif isinstance(event, CallerConnected):
            if event.by_server:  # the server answered the caller itself (calls_served)
                c["calls_served"] += 1
                log.info("call %s answered by the server", event.ref)
        elif isinstance(event, OfferAnswered):
            log.debug("call %s: %s answered the server's %s %d", event.ref, event.side, event.method, event.status)
        elif isinstance(event, CallBridged):
            log.info("call %s bridged", event.ref)
        elif isinstance(event, CallEnded):
            log.info("call %s ended: %d %s", event.ref, event.status, event.cause)
            c["calls_ended"] += 1
            self._setup.pop(event.ref, None)
            ended = self.live.pop(event.ref, None)
            key = (ended.started.route if ended is not None else "none", event.status)
            self.ended[key] = self.ended.get(key, 0) + 1
            if event.status >= 300:
                c["calls_failed"] += 1
        for sub in self.subscribers:
            sub(event)
