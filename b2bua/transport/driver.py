"""The driver: the one place where the sans-IO endpoint meets the event loop.

Every input (a datagram, a framed stream message, the timer) goes to the
endpoint with ``now = loop.time()``; then :meth:`Driver.flush` writes what the
endpoint wants sent, hands its events to the application (which may call the
endpoint again), lets the application dispatch what those steps produced
(call events, after the steps and not inside them), repeats until the queues
are empty, and re-arms the single timer at the earliest deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from b2bua.sip.endpoint import Address, Endpoint

from .backlog import udp_backlog

log = logging.getLogger("b2bua.transport")

LAG_PROBE_INTERVAL = 0.05  # seconds between event-loop lateness samples
BACKLOG_ON = 0.10  # shed new calls once UDP receive queues are this full ...
BACKLOG_OFF = 0.02  # ... and take them again below this


def smoothed_lag(lag: float, late: float, on: float) -> float:
    """The event loop's smoothed lateness after one more sample.  A sample counts
    for at most twice the shedding threshold ``on``: one stall, however long (a
    slow disk, a stolen CPU, a collection), cannot alone reach ``on``; two late
    samples in a row, the start of real saturation, can."""
    return 0.7 * lag + 0.3 * min(max(0.0, late), 2 * on)


class Sender(Protocol):
    def send(self, data: bytes, dest: Address) -> None: ...


class Application(Protocol):
    def handle(self, event: object, now: float) -> None: ...
    def dispatch(self) -> None: ...  # what the steps produced besides datagrams (call events)


class Timed(Protocol):
    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


class Driver:
    def __init__(
        self,
        endpoint: Endpoint,
        loop: asyncio.AbstractEventLoop,
        app: Application | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.loop = loop
        self.app = app
        self.senders: dict[str, list[Sender]] = {"udp": [], "tcp": []}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushing = False
        # other pure components with deadlines (the call manager): each has
        # next_deadline() and handle_timer(now), run on the same single timer
        self.timed: list[Timed] = []
        self._udp_inodes: set[int] = set()
        self._udp_capacity = 0
        self.backlog = 0.0

    # -- overload ---------------------------------------------------------
    def start_lag_probe(self, on: float, off: float, interval: float = LAG_PROBE_INTERVAL) -> None:
        """Measure how late the event loop runs a timer; above ``on`` seconds
        (smoothed) the endpoint sheds new calls with 503, below ``off`` it
        takes them again.  Lateness is the direct sign of a saturated loop:
        it is what turns into SIP retransmissions a moment later."""
        self._lag_on, self._lag_off, self._lag_interval = on, off, interval
        self.lag = 0.0
        self._lag_due = self.loop.time() + interval
        self._lag_timer = self.loop.call_at(self._lag_due, self._lag_probe)

    def watch_backlog(self, inode: int, capacity: int) -> None:
        """Watch this UDP socket's kernel receive queue (capacity in bytes)."""
        self._udp_inodes.add(inode)
        self._udp_capacity += capacity

    def _lag_probe(self) -> None:
        now = self.loop.time()
        self.lag = smoothed_lag(self.lag, now - self._lag_due, self._lag_on)
        ep = self.endpoint
        # Under UDP load the queue builds in the kernel's receive buffer, not
        # as timer lateness: uvloop keeps running timers between datagrams.
        backlog = 0.0
        if self._udp_inodes:
            queued = udp_backlog(self._udp_inodes)
            backlog = (queued or 0) / max(self._udp_capacity, 1)
        self.backlog = backlog
        if not ep.overloaded and (self.lag > self._lag_on or backlog > BACKLOG_ON):
            ep.overloaded = True
            log.warning(
                "overloaded (event loop %.0f ms late, receive queue %.0f%% full): new calls get 503",
                self.lag * 1000, backlog * 100,
            )
        elif ep.overloaded and self.lag < self._lag_off and backlog < BACKLOG_OFF:
            ep.overloaded = False
            log.warning("load back to normal: taking new calls (%d shed so far)", ep.shed)
        self._lag_due = now + self._lag_interval
        self._lag_timer = self.loop.call_at(self._lag_due, self._lag_probe)

    def add_sender(self, transport: str, sender: Sender) -> None:
        self.senders[transport].append(sender)

    def now(self) -> float:
        return self.loop.time()

    # -- inputs ---------------------------------------------------------
    def receive(self, data: bytes, source: Address) -> None:
        try:
            self.endpoint.receive(data, source, self.loop.time())
        except Exception:  # a bug must not take the server down
            log.exception("internal error handling a message from %s", source)
        self.flush()

    def framing_fault(self, head: bytes, reason: str, source: Address) -> None:
        """A stream peer broke framing: answer it (400) if it sent a request."""
        try:
            self.endpoint.framing_fault(head, reason, source)
        except Exception:
            log.exception("internal error answering a framing fault from %s", source)
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.loop.time()
        for component in (self.endpoint, *self.timed):
            try:
                component.handle_timer(now)
            except Exception:
                log.exception("internal error in the timer of %s", type(component).__name__)
        self.flush()

    # -- outputs --------------------------------------------------------
    def flush(self) -> None:
        if self._flushing:  # re-entered from the application: the outer loop drains
            return
        self._flushing = True
        ep = self.endpoint
        try:
            while True:
                if ep.outbox:
                    out, ep.outbox = ep.outbox, []
                    for data, dest in out:
                        self._send(data, dest)
                if ep.events:
                    events, ep.events = ep.events, []
                    app = self.app
                    if app is not None:
                        now = self.loop.time()
                        for event in events:
                            try:
                                app.handle(event, now)
                            except Exception:
                                log.exception("internal error handling %s", type(event).__name__)
                if self.app is not None:
                    # after the core steps, never inside them: call events to billing & co.
                    self.app.dispatch()
                if not (ep.outbox or ep.events):
                    break
        finally:
            self._flushing = False
        self._rearm()

    def _send(self, data: bytes, dest: Address) -> None:
        senders = self.senders.get(dest.transport)
        if not senders:
            log.warning("no %s transport to reach %s", dest.transport, dest)
            return
        sender = senders[0]
        if len(senders) > 1:
            v6 = ":" in dest.host
            for s in senders:
                if getattr(s, "ipv6", False) == v6:
                    sender = s
                    break
        sender.send(data, dest)

    def _rearm(self) -> None:
        deadline = self.endpoint.next_deadline()
        for component in self.timed:
            d = component.next_deadline()
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def close(self) -> None:
        lag_timer = getattr(self, "_lag_timer", None)
        if lag_timer is not None:
            lag_timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
