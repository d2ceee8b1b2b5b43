"""SIP transactions: RFC 3261 §17 with the RFC 6026 corrections.

Theory of operation
-------------------
Four state machines, named as in the RFC: the INVITE client transaction (ICT,
§17.1.1), the non-INVITE client transaction (NICT, §17.1.2), the INVITE server
transaction (IST, §17.2.1) and the non-INVITE server transaction (NIST,
§17.2.2).  States are the :class:`State` enum; RFC 6026 adds ``Accepted`` to
the ICT (a 2xx ends the INVITE transaction only after Timer M, and every 2xx
retransmission is passed up to the TU) and to the IST (the TU's 2xx and its
retransmissions are sent through the transaction until Timer L; INVITE
retransmissions are absorbed; an ACK carrying the INVITE's branch goes to the TU).

A transaction never touches a socket or a clock.  It is driven by three
kinds of input, each taking ``now`` (seconds, any monotonic origin):

* a message from the peer: ``receive_response`` (client), ``receive_request``
  (a retransmission) and ``receive_ack`` (IST);
* a message from the TU: ``start`` (client) or ``send_response`` (server);
* ``on_timer(now)`` when its deadline has come.

Its outputs go to its :class:`Sink` (the endpoint): ``_transmit`` bytes to an
address, ``_schedule`` a new earliest deadline, ``_forget`` it once
Terminated.  What the TU must hear is the return value: ``True`` from
``receive_response``/``receive_ack`` means "pass this message up", and
``on_timer`` returns the RFC letter of the timer that timed the transaction
out ("B", "F", "H") or None.

Every transaction keeps at most two timers, which is all RFC 3261 ever runs
at once: a retransmission timer (A, E, G, or the 200 ms "send 100 Trying"
delay of §17.2.1) in ``retx_at`` and a lifetime timer (B, D, F, H, I, J, K,
L, M) in ``end_at``; the transaction's deadline is the earlier one.  On a
reliable transport the retransmission timers are never set and Timers D, I,
J, K are zero, so those states end at once.

Timer B times out the Calling state only (§17.1.1.2): once a provisional
response has arrived the INVITE may ring for minutes, and it is the TU that
gives up, by cancelling; §9.1 then ends the INVITE transaction 64*T1 after
the CANCEL if no final response comes (reported as Timer B).

Messages are serialized once: a retransmission resends the same bytes.
Transport errors (§17.1.1.2 "Transport Err.") are not modelled: the shell
does not report them, and the timeouts cover a peer that is gone.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Protocol

from .build import make_response
from .message import Header, Request, Response, header

T1 = 0.5  # seconds, RFC 3261 §17.1.1.1: RTT estimate
T2 = 4.0  # seconds, RFC 3261 §17.1.2.2: maximum retransmit interval (non-INVITE requests, INVITE responses)
T4 = 5.0  # seconds, RFC 3261 §17.1.2.2: maximum time a message stays in the network
TIMER_D = 32.0  # seconds, RFC 3261 §17.1.1.2: "at least 32 seconds" on unreliable transports
TRYING_DELAY = 0.2  # seconds, RFC 3261 §17.2.1: send 100 unless the TU answers within 200 ms


class Address(NamedTuple):
    """Where a message comes from or goes to: transport 'udp' or 'tcp', host, port."""

    transport: str
    host: str
    port: int


class State(Enum):
    """Transaction states, named as in RFC 3261 §17 and RFC 6026 §7."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


CALLING = State.CALLING
TRYING = State.TRYING
PROCEEDING = State.PROCEEDING
COMPLETED = State.COMPLETED
CONFIRMED = State.CONFIRMED
ACCEPTED = State.ACCEPTED
TERMINATED = State.TERMINATED


class TimerDurations:
    """Timer durations derived from T1, T2, T4 (RFC 3261 Table 4, RFC 6026 §8.4/§8.7).

    The ``*_reliable`` variants are what a reliable transport uses: no
    retransmission, and zero for the timers that only absorb retransmissions.
    Timer D alone is not derived when ``d`` is given: RFC 3261 asks for at least
    32 s, the time a peer with the default T1 retransmits its final response
    for, and a server may keep failed INVITEs a shorter time (Kamailio's 5 s
    wait timer, PJSIP's ``td``).
    """

    __slots__ = ("t1", "t2", "t4", "a", "b", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m")

    def __init__(self, t1: float = T1, t2: float = T2, t4: float = T4, d: float | None = None) -> None:
        if not (0 < t1 <= t2) or t4 <= 0 or (d is not None and d <= 0):
            raise ValueError(f"bad SIP timers: T1={t1} T2={t2} T4={t4} D={d}")
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.a = t1  # ICT: first INVITE retransmission, doubling (unreliable only)
        self.b = 64 * t1  # ICT: INVITE transaction timeout
        self.d = max(TIMER_D, 64 * t1) if d is None else d  # ICT: absorb final response retransmissions (0 reliable)
        self.e = t1  # NICT: first request retransmission, doubling up to T2 (unreliable only)
        self.f = 64 * t1  # NICT: non-INVITE transaction timeout
        self.g = t1  # IST: first final response retransmission, doubling up to T2 (unreliable only)
        self.h = 64 * t1  # IST: wait for the ACK
        self.i = t4  # IST: absorb ACK retransmissions (0 reliable)
        self.j = 64 * t1  # NIST: absorb request retransmissions (0 reliable)
        self.k = t4  # NICT: absorb response retransmissions (0 reliable)
        self.l = 64 * t1  # IST (RFC 6026): Accepted, wait for the 2xx retransmissions and ACK
        self.m = 64 * t1  # ICT (RFC 6026): Accepted, pass 2xx retransmissions to the TU


_FORGOTTEN = Request("", "")  # stands in for the request of a terminated transaction


class Sink(Protocol):
    """What a transaction needs from its owner (the endpoint)."""

    def _transmit(self, data: bytes, dest: Address) -> None: ...

    def _schedule(self, txn: "Transaction", deadline: float) -> None: ...

    def _forget(self, txn: "Transaction") -> None: ...


class Transaction:
    """Common part: identity, destination, the two timers and termination."""

    __slots__ = (
        "tid",
        "request",
        "dest",
        "reliable",
        "sink",
        "timers",
        "state",
        "retx_at",
        "end_at",
        "interval",
        "queued",
    )

    is_client = False
    is_invite = False

    def __init__(self, tid: str, request: Request, dest: Address, sink: Sink, timers: TimerDurations) -> None:
        self.tid = tid
        self.request = request
        self.dest = dest  # where requests (client) or responses (server) go
        self.reliable = dest.transport != "udp"
        self.sink = sink
        self.timers = timers
        self.state = TERMINATED  # set by the subclass
        self.retx_at: float | None = None
        self.end_at: float | None = None
        self.interval = 0.0  # current retransmission interval
        self.queued: float | None = None  # the earliest deadline the sink has queued for us

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.tid} {self.state.value}>"

    @property
    def deadline(self) -> float | None:
        r, e = self.retx_at, self.end_at
        if r is None:
            return e
        if e is None or r < e:
            return r
        return e

    def _arm(self, retx_at: float | None, end_at: float | None) -> None:
        self.retx_at = retx_at
        self.end_at = end_at
        d = self.deadline
        # Lazy scheduling: a later deadline is found when the queued one pops.
        if d is not None and (self.queued is None or d < self.queued):
            self.sink._schedule(self, d)

    def _terminate(self) -> None:
        self.state = TERMINATED
        self.retx_at = self.end_at = None
        self.sink._forget(self)
        # A stale heap entry may keep this object alive until its old
        # deadline: let go of the messages now.
        self.request = _FORGOTTEN

    def on_timer(self, now: float) -> str | None:
        """Fire the timers due at ``now``; the letter of a timeout timer or None."""
        raise NotImplementedError


# -- client transactions -------------------------------------------------------


class ClientTransaction(Transaction):
    """ICT and NICT: hold the request bytes and our top Via (for ACK/CANCEL)."""

    __slots__ = ("data", "via", "sent_by")

    is_client = True

    def __init__(
        self,
        tid: str,
        request: Request,
        dest: Address,
        sink: Sink,
        timers: TimerDurations,
        via: str,
        sent_by: tuple[str, int | None],
    ) -> None:
        super().__init__(tid, request, dest, sink, timers)
        self.data = b""
        self.via = via  # the top Via value we inserted
        self.sent_by = sent_by  # its (host, port), which responses must carry (§18.1.2)

    def start(self, now: float) -> None:
        raise NotImplementedError

    def _send_first(self, state: State, now: float, retransmit: float, timeout: float) -> None:
        """Send the request and arm the retransmission timer (A or E: not over a
        reliable transport, §17.1.1.2, §17.1.2.2) and the timeout (B or F)."""
        self.state = state
        self.data = self.request.serialize()
        self.sink._transmit(self.data, self.dest)
        if self.reliable:
            self._arm(None, now + timeout)
        else:
            self.interval = retransmit
            self._arm(now + retransmit, now + timeout)

    def receive_response(self, response: Response, now: float) -> bool:
        """Feed a response matched to this transaction; True: pass it to the TU."""
        raise NotImplementedError

    def _terminate(self) -> None:
        super()._terminate()
        self.data = b""


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 with RFC 6026 §8.4 (Accepted, Timer M)."""

    __slots__ = ("ack_data", "cancel_pending", "cancel_headers", "cancelled")

    is_invite = True

    def __init__(
        self,
        tid: str,
        request: Request,
        dest: Address,
        sink: Sink,
        timers: TimerDurations,
        via: str,
        sent_by: tuple[str, int | None],
    ) -> None:
        super().__init__(tid, request, dest, sink, timers, via, sent_by)
        self.ack_data = b""
        self.cancel_pending = False  # TU asked to cancel before any provisional (§9.1)
        self.cancel_headers: list[Header] = []  # extra headers for that CANCEL
        self.cancelled = False  # a CANCEL was sent

    def start(self, now: float) -> None:
        t = self.timers
        self._send_first(CALLING, now, t.a, t.b)  # Timer A, Timer B

    def receive_response(self, response: Response, now: float) -> bool:
        code = response.status
        state = self.state
        if state is CALLING or state is PROCEEDING:
            if code < 200:
                if state is CALLING:
                    self.state = PROCEEDING
                    # Timer A stops.  Timer B only times out the Calling state
                    # (§17.1.1.2): a call may ring for minutes.  After a CANCEL,
                    # §9.1's 64*T1 limit is kept in end_at.
                    self._arm(None, self.end_at if self.cancelled else None)
                return True
            if code < 300:
                self.state = ACCEPTED  # RFC 6026 §8.4
                self._arm(None, now + self.timers.m)
                return True
            self.state = COMPLETED
            self.ack_data = self._build_ack(response).serialize()
            self.sink._transmit(self.ack_data, self.dest)
            if self.reliable:
                self._terminate()
            else:
                self._arm(None, now + self.timers.d)
            return True
        if state is COMPLETED:
            if code >= 300:  # a retransmission of the final response: ACK again
                self.sink._transmit(self.ack_data, self.dest)
            return False
        if state is ACCEPTED:
            return 200 <= code < 300  # RFC 6026 §8.4: 2xx retransmissions go to the TU
        return False

    def cancel_sent(self, now: float) -> None:
        """A CANCEL went out: §9.1 ends the INVITE 64*T1 later without a final."""
        self.cancelled = True
        self.cancel_pending = False
        if self.state is PROCEEDING:
            self._arm(None, now + self.timers.b)

    def on_timer(self, now: float) -> str | None:
        state = self.state
        end = self.end_at
        if end is not None and end <= now:
            if state is CALLING or state is PROCEEDING:
                self._terminate()  # Timer B (or §9.1 after a CANCEL)
                return "B"
            self._terminate()  # Timer D (Completed) or Timer M (Accepted)
            return None
        retx = self.retx_at
        if retx is not None and retx <= now and state is CALLING:
            self.sink._transmit(self.data, self.dest)  # Timer A
            self.interval *= 2
            self._arm(now + self.interval, end)
        return None

    def _build_ack(self, response: Response) -> Request:
        """The ACK for a non-2xx final response, RFC 3261 §17.1.1.3."""
        req = self.request
        headers: list[Header] = [("Via", "via", self.via)]
        from_ = call_id = None
        for entry in req.headers:
            key = entry[1]
            if key == "route":
                headers.append(entry)
            elif key == "from" and from_ is None:
                from_ = entry
            elif key == "call-id" and call_id is None:
                call_id = entry
        headers.append(header("Max-Forwards", "70"))
        if from_ is not None:
            headers.append(from_)
        to = response.get("to")
        if to is not None:
            headers.append(header("To", to))
        if call_id is not None:
            headers.append(call_id)
        headers.append(header("CSeq", f"{req.cseq.number} ACK"))
        return Request("ACK", req.uri, headers)


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2."""

    __slots__ = ()

    def start(self, now: float) -> None:
        t = self.timers
        self._send_first(TRYING, now, t.e, t.f)  # Timer E, Timer F

    def receive_response(self, response: Response, now: float) -> bool:
        state = self.state
        if state is TRYING or state is PROCEEDING:
            if response.status < 200:
                self.state = PROCEEDING
                return True
            self.state = COMPLETED
            if self.reliable:
                self._terminate()
            else:
                self._arm(None, now + self.timers.k)
            return True
        return False  # Completed: retransmissions absorbed

    def on_timer(self, now: float) -> str | None:
        state = self.state
        end = self.end_at
        if end is not None and end <= now:
            self._terminate()
            return "F" if state is not COMPLETED else None  # Timer F / Timer K
        retx = self.retx_at
        if retx is not None and retx <= now and (state is TRYING or state is PROCEEDING):
            self.sink._transmit(self.data, self.dest)  # Timer E
            t2 = self.timers.t2
            if state is TRYING:
                self.interval = min(2 * self.interval, t2)
            else:
                self.interval = t2
            self._arm(now + self.interval, end)
        return None


# -- server transactions -------------------------------------------------------


class ServerTransaction(Transaction):
    """IST and NIST: the request, where it came from, the last response sent."""

    __slots__ = ("source", "response", "data", "legacy_key")

    def __init__(
        self,
        tid: str,
        request: Request,
        source: Address,
        dest: Address,
        sink: Sink,
        timers: TimerDurations,
        legacy_key: tuple[object, ...] | None = None,
    ) -> None:
        super().__init__(tid, request, dest, sink, timers)
        self.source = source
        self.response: Response | None = None  # last response sent
        self.data = b""  # its bytes, resent on request retransmissions
        self.legacy_key = legacy_key  # RFC 2543 matching key, when the branch lacks the cookie

    def start(self, now: float) -> None:
        raise NotImplementedError

    def receive_request(self, now: float) -> None:
        """A retransmission of the request: resend the last response, if any."""
        raise NotImplementedError

    def send_response(self, response: Response, now: float) -> bool:
        """A response from the TU; False when the state does not allow it."""
        raise NotImplementedError

    def _send(self, response: Response) -> None:
        self.response = response
        self.data = response.serialize()
        self.sink._transmit(self.data, self.dest)

    def _terminate(self) -> None:
        super()._terminate()
        self.data = b""
        self.response = None


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 with RFC 6026 §7.1 and §8.7 (Accepted, Timer L)."""

    __slots__ = ()

    is_invite = True

    def start(self, now: float) -> None:
        self.state = PROCEEDING
        self._arm(now + TRYING_DELAY, None)

    def _send_trying(self) -> None:
        trying = make_response(self.request, 100)
        ts = self.request.get("timestamp")
        if ts is not None:  # §8.2.6.1
            trying.headers.append(header("Timestamp", ts))
        self._send(trying)

    def receive_request(self, now: float) -> None:
        state = self.state
        if state is PROCEEDING:
            if self.response is None:
                self._send_trying()  # the peer is impatient: answer now
                self._arm(None, None)
            else:
                self.sink._transmit(self.data, self.dest)
        elif state is COMPLETED:
            self.sink._transmit(self.data, self.dest)
        # Confirmed, Accepted: absorbed (RFC 6026 §7.1: never to the TU)

    def receive_ack(self, now: float) -> bool:
        """An ACK matching this transaction; True: pass it to the TU."""
        state = self.state
        if state is COMPLETED:
            self.state = CONFIRMED
            if self.reliable:
                self._terminate()
            else:
                self._arm(None, now + self.timers.i)
            return False
        # RFC 6026 §7.1: in Accepted, an ACK (for the 2xx) is the TU's
        return state is ACCEPTED

    def send_response(self, response: Response, now: float) -> bool:
        code = response.status
        state = self.state
        if state is PROCEEDING:
            self._send(response)
            if code < 200:
                if self.retx_at is not None:
                    self._arm(None, None)  # no 100 needed any more
            elif code < 300:
                self.state = ACCEPTED
                self._arm(None, now + self.timers.l)
            else:
                self.state = COMPLETED
                t = self.timers
                if self.reliable:
                    self._arm(None, now + t.h)
                else:
                    self.interval = t.g
                    self._arm(now + t.g, now + t.h)
            return True
        if state is ACCEPTED and 200 <= code < 300:
            self._send(response)  # the TU's 2xx retransmission (§13.3.1.4)
            return True
        return False

    def on_timer(self, now: float) -> str | None:
        state = self.state
        end = self.end_at
        if end is not None and end <= now:
            self._terminate()
            return "H" if state is COMPLETED else None  # Timer H / Timer I / Timer L
        retx = self.retx_at
        if retx is not None and retx <= now:
            if state is PROCEEDING:
                self._send_trying()
                self._arm(None, None)
            elif state is COMPLETED:
                self.sink._transmit(self.data, self.dest)  # Timer G
                self.interval = min(2 * self.interval, self.timers.t2)
                self._arm(now + self.interval, end)
        return None

    def to_tag(self) -> str | None:
        """The To tag of the last response sent (for CANCEL's answer and RFC 2543 ACKs)."""
        if self.response is None:
            return None
        try:
            return self.response.to.tag
        except Exception:  # a TU's malformed To: no tag to match
            return None


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2."""

    __slots__ = ()

    def start(self, now: float) -> None:
        self.state = TRYING

    def receive_request(self, now: float) -> None:
        if self.state is PROCEEDING or self.state is COMPLETED:
            self.sink._transmit(self.data, self.dest)
        # Trying: absorbed, nothing to resend yet

    def send_response(self, response: Response, now: float) -> bool:
        state = self.state
        if state is not TRYING and state is not PROCEEDING:
            return False
        self._send(response)
        if response.status < 200:
            self.state = PROCEEDING
        else:
            self.state = COMPLETED
            if self.reliable:
                self._terminate()
            else:
                self._arm(None, now + self.timers.j)
        return True

    def on_timer(self, now: float) -> str | None:
        end = self.end_at
        if end is not None and end <= now:
            self._terminate()  # Timer J
        return None
