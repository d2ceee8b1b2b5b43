"""The sans-IO SIP endpoint: transport rules (RFC 3261 §18, RFC 3581) and the
transaction table (§17) behind one object the asyncio shell drives.

Theory of operation
-------------------
The shell feeds the endpoint three kinds of input, each with ``now`` (the
loop's monotonic clock, seconds)::

    endpoint.receive(data, source, now)   # one datagram / one framed TCP message
    endpoint.handle_timer(now)            # when next_deadline() has come
    endpoint.send_request(...) / send_response(...) / cancel(...) / send_stateless(...)
                                          # calls from the TU (the application)

and drains two lists after each call:

* ``outbox``: ``(bytes, Address)`` pairs to write (a datagram, or a write on
  the TCP connection to that peer);
* ``events``: what the TU must hear, frozen structs named in the past tense:
  :class:`RequestReceived`, :class:`ResponseReceived`, :class:`CancelReceived`,
  :class:`TransactionTimedOut`.

then re-arms its single timer at :meth:`Endpoint.next_deadline`.

Receiving a request: parse; stamp the top Via with ``received``/``rport``
(§18.2.1, RFC 3581 §4); validate (:func:`b2bua.sip.validate.check_request`).
A request that fails is answered statelessly with the error's status, reason
and headers, unless it is an ACK or cannot be routed (then it is dropped).
A retransmission is absorbed by its server transaction (§17.2.3 matching,
RFC 2543 fallback when the branch lacks ``z9hG4bK``).  A new request opens a
server transaction and becomes ``RequestReceived``.  CANCEL is answered here
(§9.2: 200 if it matches an INVITE server transaction, else 481) and the TU
gets ``CancelReceived`` if that INVITE is still unanswered; it then sends the
487.  An ACK absorbed by an IST in Completed/Confirmed stays here; any other
ACK (the ACK for a 2xx) becomes ``RequestReceived`` with no transaction.

Receiving a response: parse and validate (:func:`~b2bua.sip.validate.check_response`),
match by top-Via branch and CSeq method (§17.1.3); malformed or unmatched
responses are dropped (§18.1.2 as amended by RFC 6026 §8.6), and so are
responses that do not come from where the request was sent (host and port
over UDP, the same connection over TCP: :func:`same_flow`).  The client
transaction decides whether the TU sees it (2xx retransmissions do, in the
ICT's Accepted state).

Sending: ``send_request`` adds our top Via (fresh branch, ``rport``) and starts
a client transaction, whose id it returns.  ``send_response`` goes through the
server transaction; responses are routed per §18.2.2: over TCP back to the
request's source, over UDP to ``received``/``rport`` (which the stamp made the
source address) or else to the sent-by (port 5060 by default).

Timers: one heap of ``(deadline, seq, transaction)`` for all transactions,
with lazy deletion: an entry whose transaction has terminated, or whose
deadline has moved later, is dropped (and the real deadline queued) when it
reaches the top, so ``next_deadline()`` is exact.  A transaction pushes an
entry only when its deadline moves earlier than the one queued: O(log n) per
timer change, nothing per tick, no scan of the table.  Terminated
transactions leave the table at once (``transaction_count``); when the heap
holds more than twice as many entries as the table (plus a few) it is rebuilt
from the table's real deadlines (``_compact``, O(1) amortized), so the entries
of ended transactions do not linger until their old deadlines.

Public API
----------
``Endpoint(ids, *, t1=0.5, t2=4.0, t4=5.0, timer_d=None, local=None, user_agent="b2bua",
max_transactions=200_000)`` (beyond that many live transactions a new request
gets a stateless 503)

* ``set_local({"udp": Address(...), "tcp": ...})``: our listening addresses
  (the sent-by of our Vias, and the loop check of the validator);
* ``receive(data, source, now)``, ``handle_timer(now)``, ``next_deadline()``;
* ``send_request(request, dest, now) -> transaction_id`` (adds our Via to
  ``request`` in place; raises :class:`~b2bua.sip.errors.UnsafeValue`, with no
  transaction left behind, when a value holds CR, LF or NUL), ``send_response(transaction_id, response, now) -> bool``,
  ``cancel(transaction_id, now, headers=()) -> CANCEL's transaction_id | None``,
  ``send_stateless(message, dest)``, ``respond_statelessly(transaction_id, response)``
  (a challenge: sent once, the transaction forgotten);
* ``outbox``, ``events`` (drained by the shell), ``transaction_count``,
  ``transaction(transaction_id)`` (inspection).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
from typing import Iterable, Union

import msgspec

from . import validate
from .build import BRANCH_COOKIE, IdSource, make_response
from .errors import ParseError, UnsafeValue
from .headers import Via, split_outside
from .message import Header, Request, Response, header, parse_message
from .transaction import (
    T1,
    T2,
    T4,
    Address,
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    TimerDurations,
    Transaction,
)
from .uri import format_host

__all__ = [
    "Address",
    "CancelReceived",
    "Endpoint",
    "Event",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTimedOut",
]

MAX_TRANSACTIONS = 200_000  # live transactions at most (~1 KB each)
DEFAULT_PORT = 5060  # RFC 3261 §18.2.2 / §19.1.2 for sip: over UDP and TCP
MAX_FORWARDS = "70"  # RFC 3261 §8.1.1.6
COMPACT_MIN = 64  # the timer heap is rebuilt only beyond this many stale entries

_TERMINATED = State.TERMINATED
_PROCEEDING = State.PROCEEDING


# -- events --------------------------------------------------------------------


class RequestReceived(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A new request for the TU.  ``transaction_id`` names its server
    transaction (answer with :meth:`Endpoint.send_response`); it is None for
    an ACK to a 2xx, which has no transaction of its own."""

    request: Request
    source: Address
    transaction_id: str | None


class ResponseReceived(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A response to the client transaction ``transaction_id`` (including 2xx
    retransmissions while the INVITE transaction is Accepted, RFC 6026)."""

    response: Response
    transaction_id: str


class CancelReceived(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The INVITE server transaction ``transaction_id`` was cancelled while
    unanswered.  The CANCEL itself has been answered 200; the TU should now
    answer the INVITE with 487 (RFC 3261 §9.2).  ``request`` is the CANCEL
    (its Reason header may matter)."""

    transaction_id: str
    request: Request


class TransactionTimedOut(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Timer B or F (no final response: the TU treats it as a 408, §8.1.3.1),
    or Timer H (an IST whose non-2xx final response was never ACKed)."""

    transaction_id: str
    timer: str  # "B", "F" or "H"


Event = Union[RequestReceived, ResponseReceived, CancelReceived, TransactionTimedOut]


# -- the endpoint --------------------------------------------------------------


class Endpoint:
    """Transport rules and the transaction table; see the module docstring."""

    def __init__(
        self,
        ids: IdSource,
        *,
        t1: float = T1,
        t2: float = T2,
        t4: float = T4,
        timer_d: float | None = None,
        local: dict[str, Address] | None = None,
        user_agent: str = "b2bua",
        max_transactions: int = MAX_TRANSACTIONS,
    ) -> None:
        self.ids = ids
        self.max_transactions = max_transactions
        self.timers = TimerDurations(t1, t2, t4, timer_d)
        self.user_agent = user_agent
        self.outbox: list[tuple[bytes, Address]] = []
        self.events: list[Event] = []
        self.local: dict[str, Address] = {}
        self._own: frozenset[tuple[str, int]] = frozenset()
        self._transactions: dict[str, Transaction] = {}
        self._legacy: dict[tuple[object, ...], ServerTransaction] = {}  # RFC 2543 matching
        self._legacy_ids = itertools.count(1)
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = itertools.count()
        self.set_local(local or {})
        # set by the shell when the event loop falls behind: new INVITEs get 503
        self.overloaded = False
        self.shed = 0  # INVITEs refused while overloaded

    def set_local(self, local: dict[str, Address]) -> None:
        """The addresses we listen on, by transport: the sent-by of our Vias."""
        self.local = dict(local)
        self._own = frozenset((a.host, a.port) for a in self.local.values())

    @property
    def transaction_count(self) -> int:
        """Transactions alive (not yet Terminated)."""
        return len(self._transactions)

    def transaction(self, transaction_id: str) -> Transaction | None:
        """The live transaction with this id (for inspection and tests)."""
        return self._transactions.get(transaction_id)

    # -- input: the network ----------------------------------------------------
    def receive(self, data: bytes, source: Address, now: float) -> None:
        """One datagram, or one message framed off a TCP stream, from ``source``."""
        try:
            msg = parse_message(data, stream=source.transport != "udp")
        except ParseError as err:
            partial = err.partial
            if isinstance(partial, Request):
                dest: Address | None
                try:
                    _, dest = _stamp_via(partial, partial.top_via, source)
                except ParseError:
                    dest = source  # no usable Via: back where it came from
                self._reject(partial, err, dest)
            return
        if isinstance(msg, Response):
            self._receive_response(msg, source, now)
        else:
            self._receive_request(msg, source, now)

    def framing_fault(self, head: bytes, reason: str, source: Address) -> None:
        """A stream peer sent a message that cannot be framed (``head`` is its
        head, ``reason`` the fault): a request is answered 400 naming the fault
        before the connection is closed, as the same message over UDP would be;
        anything else is dropped."""
        fault = ParseError(reason, status=400)
        try:
            msg = parse_message(head + b"\r\n\r\n")
        except ParseError as err:
            msg = err.partial  # type: ignore[assignment]
        if not isinstance(msg, Request):
            return
        self._reject(msg, fault, source)

    def _receive_request(self, req: Request, source: Address, now: float) -> None:
        try:
            via = req.top_via
        except ParseError as err:
            self._reject(req, err, source)  # no usable Via: back where it came from
            return
        raw_via, dest = _stamp_via(req, via, source)
        try:
            validate.check_request(req, own_addresses=self._own)
        except ParseError as err:
            self._reject(req, err, dest)
            return

        method = req.method
        branch = via.branch
        legacy: tuple[object, ...] | None = None
        if branch is not None and branch.startswith(BRANCH_COOKIE):
            # §17.2.3 keys on branch, sent-by and method; the CSeq number is
            # added because some phones (pyVoIP 1.6.8) resend an INVITE with
            # credentials on the branch of the one that was challenged.  ACK
            # and CANCEL carry the INVITE's CSeq number, so they still match.
            key = f"{branch} {via.host.lower()}:{via.port} {req.cseq.number} "
            if method == "ACK":
                self._receive_ack(req, source, self._transactions.get(key + "INVITE"), now)
                return
            tid = key + method
            txn = self._transactions.get(tid)
        else:
            try:
                legacy = _legacy_key(req, raw_via)
            except ParseError:
                return  # check_request lets no such request through
            if method == "ACK":
                self._receive_ack(req, source, self._legacy_ack_match(legacy), now)
                return
            txn = self._legacy.get(legacy)
            tid = ""
        if txn is not None:
            if isinstance(txn, ServerTransaction):
                txn.receive_request(now)  # a retransmission
            return

        if self.overloaded and method == "INVITE" and not _has_to_tag(req):
            # shed new calls before the server saturates (RFC 3261 §21.5.4);
            # retransmissions above and requests of calls in progress still pass
            self.shed += 1
            busy = ParseError("Server overloaded", status=503, headers=(("Retry-After", str(RETRY_AFTER)),))
            self._reject(req, busy, dest)
            return
        if len(self._transactions) >= self.max_transactions:
            # the table is keyed by what peers send: full, new requests are
            # refused statelessly until transactions end (RFC 3261 §21.5.4)
            self.shed += 1
            full = ParseError("Server busy", status=503, headers=(("Retry-After", str(RETRY_AFTER)),))
            self._reject(req, full, dest)
            return
        if not tid:
            tid = f"2543-{next(self._legacy_ids)}"
        cls = InviteServerTransaction if method == "INVITE" else NonInviteServerTransaction
        txn = cls(tid, req, source, dest, self, self.timers, legacy)
        self._transactions[tid] = txn
        if legacy is not None:
            self._legacy[legacy] = txn
        txn.start(now)
        if method == "CANCEL":
            self._answer_cancel(txn, req, via, now)
        else:
            self.events.append(RequestReceived(request=req, source=source, transaction_id=tid))

    def _receive_ack(self, ack: Request, source: Address, txn: Transaction | None, now: float) -> None:
        if isinstance(txn, InviteServerTransaction) and not txn.receive_ack(now):
            return  # the ACK of a non-2xx: the transaction's business
        self.events.append(RequestReceived(request=ack, source=source, transaction_id=None))

    def _legacy_ack_match(self, key: tuple[object, ...]) -> ServerTransaction | None:
        """RFC 3261 §17.2.3 for RFC 2543 peers: the ACK matches the INVITE with the
        same key whose response carried the ACK's To tag."""
        txn = self._legacy.get(key)
        if txn is not None:
            return txn  # a re-INVITE: the To tag was already in the request
        base = (*key[:6], None)
        txn = self._legacy.get(base)
        if isinstance(txn, InviteServerTransaction) and txn.to_tag() == key[6]:
            return txn
        return None

    def _answer_cancel(self, nist: ServerTransaction, cancel: Request, via: Via, now: float) -> None:
        """RFC 3261 §9.2: match the INVITE, answer the CANCEL ourselves."""
        if nist.legacy_key is None:
            invite = self._transactions.get(
                f"{via.branch} {via.host.lower()}:{via.port} {cancel.cseq.number} INVITE"
            )
        else:
            k = nist.legacy_key
            invite = self._legacy.get((*k[:4], "INVITE", *k[5:]))
        extra = [header("Server", self.user_agent)]
        if not isinstance(invite, InviteServerTransaction):
            nist.send_response(make_response(cancel, 481, to_tag=self.ids.tag(), headers=extra), now)
            return
        # §9.2: the same To tag as the response to the INVITE, when there is one
        tag = invite.to_tag() or self.ids.tag()
        nist.send_response(make_response(cancel, 200, to_tag=tag, headers=extra), now)
        if invite.state is _PROCEEDING:
            self.events.append(CancelReceived(transaction_id=invite.tid, request=cancel))

    def _reject(self, req: Request, err: ParseError, dest: Address | None) -> None:
        """Answer a bad request statelessly with the error's status to ``dest``,
        or drop it (no status, an ACK, or no way to route the answer)."""
        if err.status is None or dest is None or req.method == "ACK" or not req.method:
            return
        extra: list[Header] = [header("Server", self.user_agent)]
        for h in err.headers:
            extra.append(header(h[0], h[-1]))
        try:
            resp = make_response(req, err.status, err.reason, to_tag=self.ids.tag(), headers=extra)
        except ParseError:
            return
        self.outbox.append((resp.serialize(), dest))

    def _receive_response(self, resp: Response, source: Address, now: float) -> None:
        try:
            validate.check_response(resp)
            via = resp.top_via
            method = resp.cseq.method
        except ParseError:
            return
        branch = via.branch
        if branch is None:
            return
        txn = self._transactions.get(f"{branch} {method}")
        if not isinstance(txn, ClientTransaction) or (via.host, via.port) != txn.sent_by:
            return  # RFC 6026 §8.6 (amending §18.1.2): a UA discards stray responses
        if not same_flow(source, txn.dest):
            return  # not from where the request went: a forged or misrouted answer
        if txn.receive_response(resp, now):
            self.events.append(ResponseReceived(response=resp, transaction_id=txn.tid))
        if isinstance(txn, InviteClientTransaction) and txn.cancel_pending and txn.state is _PROCEEDING:
            self._send_cancel(txn, now, ())

    # -- input: the TU -----------------------------------------------------------
    def send_request(self, request: Request, dest: Address, now: float) -> str:
        """Start a client transaction for ``request`` (not ACK or CANCEL) towards
        ``dest``.  Our top Via (fresh branch, ``rport``) and Max-Forwards if
        missing are written into ``request`` itself, so build a new Request for
        each transaction (e.g. the retry after a 401).  Returns the transaction id."""
        method = request.method
        if method == "ACK" or method == "CANCEL":
            raise ValueError(f"{method} is not sent with send_request (see send_stateless, cancel)")
        branch = self.ids.branch()
        via, sent_by = self._via(dest.transport, branch)
        request.headers.insert(0, ("Via", "via", via))
        if "max-forwards" not in request:
            request.headers.insert(1, header("Max-Forwards", MAX_FORWARDS))
        tid = f"{branch} {method}"
        cls = InviteClientTransaction if method == "INVITE" else NonInviteClientTransaction
        txn = cls(tid, request, dest, self, self.timers, via, sent_by)
        self._transactions[tid] = txn
        try:
            txn.start(now)  # serializes first: nothing is sent or armed on UnsafeValue
        except UnsafeValue:
            del self._transactions[tid]
            raise
        return tid

    def send_response(self, transaction_id: str, response: Response, now: float) -> bool:
        """Send ``response`` through its server transaction.  False when the
        transaction is gone (e.g. a 2xx retransmission after Timer L) or its
        state does not take this response (a second final response)."""
        txn = self._transactions.get(transaction_id)
        if not isinstance(txn, ServerTransaction):
            return False
        return txn.send_response(response, now)

    def respond_statelessly(self, transaction_id: str, response: Response) -> bool:
        """Answer a request once, outside any transaction, and forget its server
        transaction: RFC 3261 §8.2.7 and §26.3.2.4 for 401/407 challenges.  Nothing
        is retransmitted, no 100 Trying follows, the ACK of the response is
        ignored, and a retransmission of the request is a new request (answered
        with a new challenge).  So a flood of unauthenticated requests leaves no
        state, and a lost ACK never makes us resend a challenge the peer has
        moved past.  False when the transaction is gone or already answered."""
        txn = self._transactions.get(transaction_id)
        if not isinstance(txn, ServerTransaction) or txn.response is not None:
            return False
        self.outbox.append((response.serialize(), txn.dest))
        txn._terminate()
        return True

    def send_stateless(self, message: Request | Response, dest: Address) -> None:
        """Send outside any transaction: the ACK for a 2xx (§13.2.2.4), a 2xx
        retransmission, ...  A request without a Via gets ours (fresh branch),
        written into ``message`` so that resending it keeps the branch."""
        if isinstance(message, Request) and "via" not in message:
            via, _ = self._via(dest.transport, self.ids.branch())
            message.headers.insert(0, ("Via", "via", via))
        self.outbox.append((message.serialize(), dest))

    def cancel(self, transaction_id: str, now: float, headers: Iterable[Header] = ()) -> str | None:
        """Cancel the INVITE client transaction ``transaction_id`` (§9.1).

        The CANCEL goes out now if a provisional response has arrived, else
        when the first one does.  ``headers`` are added to it (e.g. Reason).
        Returns the CANCEL's own transaction id, or None when there is nothing
        to cancel (not an INVITE, or a final response already received)."""
        txn = self._transactions.get(transaction_id)
        if not isinstance(txn, InviteClientTransaction):
            return None
        cancel_tid = transaction_id.rsplit(" ", 1)[0] + " CANCEL"
        if txn.cancelled or txn.cancel_pending:
            return cancel_tid
        if txn.state is State.CALLING:
            txn.cancel_pending = True
            txn.cancel_headers = list(headers)
            return cancel_tid
        if txn.state is _PROCEEDING:
            self._send_cancel(txn, now, headers)
            return cancel_tid
        return None

    def _send_cancel(self, ict: InviteClientTransaction, now: float, headers: Iterable[Header]) -> None:
        """Build the CANCEL (§9.1) and start its own non-INVITE client transaction."""
        req = ict.request
        out: list[Header] = [("Via", "via", ict.via)]
        for entry in req.headers:
            if entry[1] == "route":
                out.append(entry)
        out.append(header("Max-Forwards", MAX_FORWARDS))
        for key in ("from", "to", "call-id"):
            for entry in req.headers:
                if entry[1] == key:
                    out.append(entry)
                    break
        out.append(header("CSeq", f"{req.cseq.number} CANCEL"))
        out.extend(ict.cancel_headers)
        out.extend(headers)
        cancel = Request("CANCEL", req.uri, out)
        tid = ict.tid.rsplit(" ", 1)[0] + " CANCEL"
        nict = NonInviteClientTransaction(tid, cancel, ict.dest, self, self.timers, ict.via, ict.sent_by)
        self._transactions[tid] = nict
        nict.start(now)
        ict.cancel_sent(now)

    # -- input: time -------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None: no timer)."""
        heap = self._heap
        while heap:
            when, _, txn = heap[0]
            deadline = txn.deadline  # None once Terminated
            if deadline == when:
                return when
            # a stale entry: drop it, re-queue the transaction's real deadline
            heapq.heappop(heap)
            if txn.queued == when:
                txn.queued = None
            if deadline is not None and (txn.queued is None or deadline < txn.queued):
                self._schedule(txn, deadline)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every transaction timer due at ``now``."""
        heap = self._heap
        pop = heapq.heappop
        events = self.events
        while heap and heap[0][0] <= now:
            when, _, txn = pop(heap)
            if txn.queued == when:
                txn.queued = None
            if txn.state is _TERMINATED:
                continue
            deadline = txn.deadline
            if deadline is None:
                continue
            if deadline > now:  # moved later since queued: queue it again
                if txn.queued is None or deadline < txn.queued:
                    self._schedule(txn, deadline)
                continue
            timer = txn.on_timer(now)
            if timer is not None:
                events.append(TransactionTimedOut(transaction_id=txn.tid, timer=timer))

    # -- the transactions' sink ----------------------------------------------------
    def _transmit(self, data: bytes, dest: Address) -> None:
        self.outbox.append((data, dest))

    def _schedule(self, txn: Transaction, deadline: float) -> None:
        heap = self._heap
        if len(heap) >= COMPACT_MIN and len(heap) > 2 * len(self._transactions) + COMPACT_MIN:
            self._compact(txn)
        txn.queued = deadline
        heapq.heappush(heap, (deadline, next(self._seq), txn))

    def _compact(self, skip: Transaction) -> None:
        """Rebuild the heap from the live transactions' real deadlines: the
        entries of terminated transactions (and superseded ones) go at once
        instead of when their old deadlines come.  Run when stale entries
        outnumber the live transactions, so O(1) amortized per entry."""
        seq = self._seq
        heap: list[tuple[float, int, Transaction]] = []
        for txn in self._transactions.values():
            if txn is skip:
                continue
            d = txn.deadline
            txn.queued = d
            if d is not None:
                heap.append((d, next(seq), txn))
        heapq.heapify(heap)
        self._heap[:] = heap

    def _forget(self, txn: Transaction) -> None:
        self._transactions.pop(txn.tid, None)
        if isinstance(txn, ServerTransaction) and txn.legacy_key is not None:
            if self._legacy.get(txn.legacy_key) is txn:
                del self._legacy[txn.legacy_key]

    # -- helpers -----------------------------------------------------------------
    def _via(self, transport: str, branch: str) -> tuple[str, tuple[str, int | None]]:
        local = self.local.get(transport)
        if local is None:
            if not self.local:
                raise ValueError("the endpoint has no local address: call set_local() first")
            local = next(iter(self.local.values()))
        value = f"SIP/2.0/{transport.upper()} {format_host(local.host)}:{local.port};branch={branch};rport"
        return value, (local.host, local.port)


RETRY_AFTER = 5  # seconds a caller shed with 503 is asked to wait


def same_flow(source: Address, dest: Address) -> bool:
    """Did a message from ``source`` come from where we sent to ``dest``?  Over
    UDP the same host and port; over TCP the same connection, which the
    transport names by the peer's host and port.  A destination named by a
    host name (a Record-Route with a domain) cannot be compared without DNS,
    so any source is taken for it."""
    if source.transport != dest.transport or source.port != dest.port:
        return False
    if source.host == dest.host:
        return True
    a, b = _ip(source.host), _ip(dest.host)
    return b is None or a == b


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _has_to_tag(req: Request) -> bool:
    try:
        return req.to.tag is not None
    except ParseError:
        return False


def _stamp_via(req: Request, via: Via, source: Address) -> tuple[str, Address]:
    """§18.2.1 and RFC 3581 §4: add ``received`` when the sent-by host is not the
    source address (always when ``rport`` asks), fill an empty ``rport`` with the
    source port.  Returns the top Via value as it arrived and where responses go
    (§18.2.2): over TCP the source; over UDP the ``received`` address (the
    source's) and the ``rport`` port (the source's) or the sent-by port."""
    params = via.params
    want_rport = "rport" in params and params["rport"] is None
    idx = 0
    for idx, entry in enumerate(req.headers):
        if entry[1] == "via":
            break
    name, key, value = req.headers[idx]
    first, rest = value, ""
    if "," in value:
        parts = split_outside(value, ",")
        first, rest = parts[0], ", ".join(parts[1:])
    if source.transport != "udp":
        dest = source
    elif want_rport:
        dest = source
    else:
        dest = Address("udp", source.host, via.port or DEFAULT_PORT)
    if not want_rport and via.host.lower() == source.host.lower():
        return first, dest
    new = dict(params)
    if want_rport:
        new["rport"] = str(source.port)
    new["received"] = source.host
    stamped = str(Via(transport=via.transport, host=via.host, port=via.port, params=new))
    req.headers[idx] = (name, key, f"{stamped}, {rest}" if rest else stamped)
    return first, dest


def _legacy_key(req: Request, raw_via: str) -> tuple[object, ...]:
    """RFC 3261 §17.2.3 matching for a branch without the magic cookie:
    Request-URI, From tag, Call-ID, CSeq number, method, top Via, To tag."""
    cseq = req.cseq
    method = "INVITE" if req.method == "ACK" else req.method
    return (req.uri, req.from_.tag, req.call_id, cseq.number, method, raw_via, req.to.tag)
