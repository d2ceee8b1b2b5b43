"""RTP sockets and the one pacing timer for all of them (RFC 3550 §11 ports,
RFC 5761 §4 demultiplexing, symmetric RTP as RFC 4961 describes it): the
asyncio shell around the pure :mod:`b2bua.media` core.

Theory of operation
-------------------
Ports.  :class:`RtpPortPool` hands out even ports from a configured range
(RTP on the even port, RTCP on the odd one above it, §11), round-robin so a
port just closed is not reused at once (a late packet of the last call would
land in the next), and raises :class:`~b2bua.media.errors.PortRangeExhausted`
when none is free.  :func:`open_stream` binds a UDP socket on the first port
that binds (one taken by another process is skipped) and returns an
:class:`RtpStream`; :meth:`RtpStream.close` gives the port back.

Receiving.  Every datagram is read with ``now = loop.time()``.  RTCP on the
RTP port (second octet 192-223, :func:`~b2bua.media.rtcp.is_rtcp`) is counted
and only read for sender reports; it is never taken for RTP.  A datagram
that does not parse is counted (``malformed``) and dropped.  Symmetric RTP:
until the first valid packet the stream sends to the address the SDP gave;
that packet's source address is then *latched* and used for sending from
then on (it is where a phone behind NAT can be reached), and packets from
any other source are counted (``unexpected``) and dropped.  Accepted packets
update the reception statistics (:class:`~b2bua.media.rtp.RtpReceiver`) and
go to the owner's ``on_packet(packet, now)`` callback, which feeds the RFC 4733
receiver and the in-band detector (``datagram`` is then that packet as it
came, for a relay to send on without building it again); an exception there
is logged, not raised into the loop.

Sending.  One :class:`RtpPacer` ticks every 20 ms for every stream on the
loop.  Ticks are scheduled by absolute deadline (``due += interval``, never
``now + interval``), so they do not drift.  A tick that runs late sends the
frames that fell due since the last one, at most ``max_burst`` per stream; the
frames beyond are skipped (the streams' media clocks move on, the next packet
is marked as a new talkspurt) so a stall never turns into a burst.  Each tick
asks every playing stream's frame source for its packet and writes them all
in one pass; how long that pass took is ``spread`` (the last stream's packet
leaves that much after the first one).  A stream with nothing to send (no
source, no ``idle`` payload, no receiver reports: a callee's stream that only
relays, a caller's once the callee's media is heard) is left out of the ticks
altogether; the frames that passed meanwhile move its media clock on when it
sends again (the pacer counts frames: ``frames``), as if it had been ticked.
A frame source is ``source(sender) -> bytes | None``: it builds the datagram
with the stream's :class:`~b2bua.media.rtp.RtpSender` (``audio`` for a frame
of audio, :meth:`b2bua.media.rfc4733.EventSender.next_packet` for an event)
or returns None for a frame of silence, which sends nothing (or, when the
stream has an ``idle`` payload, that payload: a prompt's caller then gets a
packet every 20 ms, silence between sounds, and its media clock never jumps:
frames a late tick skips do not move it on either, the sound goes on from
where it was, a little late, rather than leave a gap that a phone placing
audio by timestamp fills with noise);
:meth:`RtpStream.play` takes an iterable of audio payloads instead (each
stamped by ``audio``, no source called per frame).  The pacer records
each tick's lateness (``lateness``, seconds), which the bench reports as
frame-timing jitter.  With ``rtcp_interval`` set, a stream that has received
RTP sends a receiver report (:func:`~b2bua.media.rtcp.build_receiver_report`)
that often, to the RTP port (RFC 5761 multiplexing) or the one above it.

Public API
----------
``RtpPortPool(first=20000, last=20999)``: ``acquire() -> int``,
``release(port)``, ``in_use``, ``capacity``.
``RtpPacer(loop, *, interval=0.02, max_burst=2, keep=100_000)``: ``ticks``,
``frames``, ``skipped``, ``sending`` (streams ticked now), ``lateness`` and
``spread`` (deques of the last ``keep`` ticks' lateness and duration, seconds), ``close()``.
``await open_stream(pool, pacer, *, host="127.0.0.1", remote=None, payload_type=0,
on_packet=None, rtcp_interval=None, rtcp_mux=True, sender=None) -> RtpStream``.
``RtpStream``: ``port``, ``remote``, ``latched``, ``sender``, ``receiver``, ``datagram``,
``play(payloads, on_done=None)``, ``set_source(source, on_done=None)``, ``stop()``,
``close()``, ``playing``, ``idle`` (a payload sent every frame while nothing plays,
e.g. G.711 silence; None: nothing is sent); counters ``received``, ``sent``,
``malformed``, ``unexpected``, ``rtcp_received``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from b2bua.media.errors import MalformedPacket, PortRangeExhausted
from b2bua.media.rtcp import SenderReport, build_receiver_report, is_rtcp, parse_rtcp
from b2bua.media.rtp import RtpPacket, RtpReceiver, RtpSender, parse_rtp

log = logging.getLogger("b2bua.media")

__all__ = ["FrameSource", "PacketHandler", "RtpPacer", "RtpPortPool", "RtpStream", "open_stream"]

PTIME = 0.020  # seconds per frame (RFC 3551 §4.5: G.711's default packetisation)
MAX_BURST = 2  # frames one stream may send in one late tick
RTCP_INTERVAL = 5.0  # seconds: RFC 3550 §6.2's minimum, our reports' period when enabled
LATENESS_KEPT = 100_000  # ticks of lateness kept for the bench (~33 minutes)

FrameSource = Callable[[RtpSender], bytes | None]
PacketHandler = Callable[[RtpPacket, float], None]
Address = tuple[str, int]


class RtpPortPool:
    """Even ports of ``first..last`` (both included; ``first`` rounded up to even)."""

    def __init__(self, first: int = 20000, last: int = 20999) -> None:
        self.first = first + (first & 1)
        self.last = last
        self._ports = range(self.first, last, 2)  # the odd port above each must fit too
        if not self._ports:
            raise ValueError(f"no even RTP port with its RTCP port in {first}-{last}")
        self._used: set[int] = set()
        self._next = 0  # index of the next port to try

    @property
    def capacity(self) -> int:
        return len(self._ports)

    @property
    def in_use(self) -> int:
        return len(self._used)

    def acquire(self) -> int:
        """A free even port; :class:`PortRangeExhausted` when none is left."""
        for _ in range(len(self._ports)):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)
            if port not in self._used:
                self._used.add(port)
                return port
        raise PortRangeExhausted(self.first, self.last)

    def release(self, port: int) -> None:
        self._used.discard(port)


class RtpPacer:
    """The one 20 ms timer of every stream on a loop; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float = PTIME,
        max_burst: int = MAX_BURST,
        keep: int = LATENESS_KEPT,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.max_burst = max_burst
        self.lateness: deque[float] = deque(maxlen=keep)
        self.spread: deque[float] = deque(maxlen=keep)  # how long each tick took to send
        self.ticks = 0
        self.frames = 0  # frames that fell due, sent or skipped, up to the tick running now
        self.skipped = 0  # frames not sent because a tick came too late
        self._streams: set[RtpStream] = set()  # every open stream: the timer runs while there is one
        self._sending: set[RtpStream] = set()  # those with something to send: the ticks' work
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def sending(self) -> int:
        return len(self._sending)

    def add(self, stream: RtpStream) -> None:
        self._streams.add(stream)
        stream._clock = self.frames
        self.update(stream)
        if self._timer is None:
            self._due = self.loop.time() + self.interval
            self._timer = self.loop.call_at(self._due, self._tick)

    def update(self, stream: RtpStream) -> None:
        """Tick ``stream`` from the next tick on while it has something to send."""
        if stream.busy and stream in self._streams:
            self._sending.add(stream)
        else:
            self._sending.discard(stream)

    def discard(self, stream: RtpStream) -> None:
        self._streams.discard(stream)
        self._sending.discard(stream)
        if not self._streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        now = self.loop.time()
        late = max(0.0, now - self._due)
        self.lateness.append(late)
        self.ticks += 1
        due_frames = 1 + int(late / self.interval)
        frames = min(due_frames, self.max_burst)
        skip = due_frames - frames
        if skip:
            self.skipped += skip
        self.frames += due_frames
        for stream in list(self._sending):
            try:
                stream._tick(frames, skip, now)
            except Exception:  # one stream's bug must not stop the others' audio
                log.exception("internal error sending on RTP port %d", stream.port)
        self.spread.append(self.loop.time() - now)
        self._due += due_frames * self.interval
        self._timer = self.loop.call_at(self._due, self._tick)

    def close(self) -> None:
        for stream in list(self._streams):
            stream.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Socket(asyncio.DatagramProtocol):
    """One bound UDP socket of a stream (its RTP port, or the RTCP port above)."""

    def __init__(self, stream: RtpStream) -> None:
        self.stream = stream
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.stream._datagram((addr[0], addr[1]), data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the phone is not listening yet: keep going
        log.debug("RTP port %d: %s", self.stream.port, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.stream._socket_closed()


class RtpStream:
    """One RTP session: its socket(s), numbering, statistics and frame source."""

    def __init__(
        self,
        pool: RtpPortPool,
        pacer: RtpPacer,
        port: int,
        *,
        remote: Address | None,
        sender: RtpSender,
        on_packet: PacketHandler | None = None,
        rtcp_interval: float | None = None,
        rtcp_mux: bool = True,
    ) -> None:
        self.pool = pool
        self.pacer = pacer
        self.port = port
        self.remote = remote  # where to send until latched (the SDP's address)
        self.latched: Address | None = None  # the source we accept and answer
        self.sender = sender
        self.receiver = RtpReceiver()
        self.on_packet = on_packet
        self.rtcp_interval = rtcp_interval
        self.rtcp_mux = rtcp_mux
        self.received = 0
        self.sent = 0
        self.malformed = 0
        self.unexpected = 0  # datagrams from another source than the latched one
        self.rtcp_received = 0
        self.relayed = 0  # datagrams sent as they came (relay)
        self.datagram = b""  # the one whose packet on_packet is handling, as it came
        self.closed = False
        self._idle: bytes | None = None
        self._rtp = _Socket(self)
        self._rtcp: _Socket | None = None
        self._source: FrameSource | None = None
        self._payloads: Iterator[bytes] | None = None  # what play() plays (no FrameSource: one call less a frame)
        self._on_done: Callable[[], None] | None = None
        self._next_report = pacer.loop.time() + (rtcp_interval or 0.0)
        self._clock = 0  # the pacer's frame count this stream's media clock has reached

    # -- sending ---------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._source is not None or self._payloads is not None

    @property
    def idle(self) -> bytes | None:
        """The payload sent every frame while nothing plays (None: nothing is sent)."""
        return self._idle

    @idle.setter
    def idle(self, payload: bytes | None) -> None:
        self._idle = payload
        self.pacer.update(self)

    @property
    def busy(self) -> bool:
        """Something to send at the ticks: a source, an idle payload, or receiver reports."""
        return not self.closed and (self.playing or self._idle is not None or self.rtcp_interval is not None)

    @property
    def destination(self) -> Address | None:
        return self.latched or self.remote

    def set_source(self, source: FrameSource | None, on_done: Callable[[], None] | None = None) -> None:
        """Ask ``source`` for a packet every frame from the next tick on, until
        it raises StopIteration (then ``on_done()``) or another source is set."""
        self._source, self._payloads = source, None
        self._on_done = on_done
        self.pacer.update(self)

    def play(self, payloads: Iterable[bytes], on_done: Callable[[], None] | None = None) -> None:
        """Send these audio payloads, one a frame (a prompt, a tone)."""
        self.set_source(None, on_done)
        self._payloads = iter(payloads)
        self.pacer.update(self)

    def stop(self) -> None:
        """Stop sending (the phone hears silence); on_done is not called."""
        self.set_source(None)

    def relay(self, data: bytes) -> None:
        """Send a datagram as it is, now (anchored media: the other party's packet)."""
        transport = self._rtp.transport
        dest = self.latched or self.remote
        if transport is not None and dest is not None and not self.closed:
            transport.sendto(data, dest)
            self.relayed += 1

    def _tick(self, frames: int, skip: int, now: float) -> None:
        if self.closed:  # closed by another stream's owner earlier in this tick
            return
        sender = self.sender
        owed = self.pacer.frames - self._clock - frames - skip  # frames that passed while not ticked
        self._clock = self.pacer.frames
        if owed > 0:
            sender.skip(owed)
        if skip and self._idle is None:  # a stream with an idle payload sends late instead (docstring)
            sender.skip(skip)
        transport = self._rtp.transport
        dest = self.latched or self.remote
        for _ in range(frames):
            data = None
            if self._payloads is not None:
                payload = next(self._payloads, None)
                if payload is not None:
                    data = sender.audio(payload)
                else:
                    self._finished()
            elif self._source is not None:
                try:
                    data = self._source(sender)
                except StopIteration:
                    self._finished()
            if data is None and self._idle is not None:
                data = sender.audio(self._idle)  # silence between sounds: the media clock never jumps
            if data is None:
                sender.skip()
            elif transport is not None and dest is not None:
                transport.sendto(data, dest)
                self.sent += 1
        if self.rtcp_interval is not None and now >= self._next_report:
            self._next_report = now + self.rtcp_interval
            self._send_report(now)
        if self._payloads is None and self._source is None and self._idle is None and self.rtcp_interval is None:
            self.pacer.update(self)  # nothing more to send (not busy): left out of the ticks until there is

    def _finished(self) -> None:
        """The source ran out: on_done() (which may play something else)."""
        on_done, self._source, self._payloads, self._on_done = self._on_done, None, None, None
        if on_done is not None:
            on_done()

    def _send_report(self, now: float) -> None:
        block = self.receiver.report_block(now)
        dest = self.latched or self.remote
        if block is None or dest is None:
            return
        data = build_receiver_report(self.sender.ssrc, block, cname=f"b2bua@{self.local_host}")
        sock = self._rtp if self.rtcp_mux or self._rtcp is None else self._rtcp
        if sock.transport is not None:
            sock.transport.sendto(data, dest if self.rtcp_mux else (dest[0], dest[1] + 1))

    @property
    def local_host(self) -> str:
        transport = self._rtp.transport
        return "" if transport is None else str(transport.get_extra_info("sockname")[0])

    # -- receiving ---------------------------------------------------------------
    def _datagram(self, source: Address, data: bytes) -> None:
        now = self.pacer.loop.time()
        if self.latched is not None and source != self.latched and source != self._rtcp_source():
            self.unexpected += 1
            return
        if is_rtcp(data):
            self._rtcp_datagram(data, now)
            return
        try:
            packet = parse_rtp(data)
        except MalformedPacket as err:
            self.malformed += 1
            log.debug("RTP port %d: dropped from %s: %s", self.port, source, err.reason)
            return
        if self.latched is None:
            self.latched = source  # symmetric RTP: answer where it comes from
        self.received += 1
        self.receiver.receive(packet, now)
        if self.on_packet is not None:
            self.datagram = data
            try:
                self.on_packet(packet, now)
            except Exception:
                log.exception("internal error handling RTP on port %d", self.port)

    def _rtcp_source(self) -> Address | None:
        # a phone without rtcp-mux sends RTCP from the port above its RTP port
        if self.latched is None or self.rtcp_mux:
            return None
        return (self.latched[0], self.latched[1] + 1)

    def _rtcp_datagram(self, data: bytes, now: float) -> None:
        self.rtcp_received += 1
        try:
            packets = parse_rtcp(data)
        except MalformedPacket:
            self.malformed += 1
            return
        for packet in packets:
            if isinstance(packet, SenderReport):
                self.receiver.sender_report_received(packet, now)

    def close(self) -> None:
        """Close the socket(s) and leave the pacer; the port goes back to the
        pool once the sockets are really closed (a moment later: rebinding it
        before would fail)."""
        if self.closed:
            return
        self.closed = True
        self._source = self._payloads = None
        self.pacer.discard(self)
        self._close_sockets()
        self._socket_closed()

    def _close_sockets(self) -> None:
        for sock in (self._rtp, self._rtcp):
            if sock is not None and sock.transport is not None:
                sock.transport.close()

    def _socket_closed(self) -> None:
        if self.closed and self._rtp.transport is None and (self._rtcp is None or self._rtcp.transport is None):
            self.pool.release(self.port)


async def open_stream(
    pool: RtpPortPool,
    pacer: RtpPacer,
    *,
    host: str = "127.0.0.1",
    remote: Address | None = None,
    payload_type: int = 0,
    on_packet: PacketHandler | None = None,
    rtcp_interval: float | None = None,
    rtcp_mux: bool = True,
    sender: RtpSender | None = None,
) -> RtpStream:
    """Bind a stream on the next free even port of ``pool`` (and the odd one
    above when RTCP is on and not multiplexed).  Random SSRC, first sequence
    number and timestamp (RFC 3550 §5.1) unless ``sender`` is given."""
    if sender is None:
        bits = secrets.randbits(80)  # one read of the system's randomness for all three
        sender = RtpSender(
            ssrc=bits >> 48,
            sequence=(bits >> 32) & 0xFFFF,
            timestamp=bits & 0xFFFFFFFF,
            payload_type=payload_type,
        )
    busy: list[int] = []  # ports another process holds: skipped, given back after
    try:
        for _ in range(pool.capacity):
            port = pool.acquire()
            stream = RtpStream(
                pool, pacer, port, remote=remote, sender=sender, on_packet=on_packet,
                rtcp_interval=rtcp_interval, rtcp_mux=rtcp_mux,
            )
            try:
                await _bind(stream, host)
            except OSError as err:
                log.info("RTP port %d not usable: %s", port, err)
                stream._close_sockets()
                busy.append(port)  # held while the others are tried
                continue
            pacer.add(stream)
            return stream
        raise PortRangeExhausted(pool.first, pool.last)
    finally:
        for port in busy:
            pool.release(port)


async def _bind(stream: RtpStream, host: str) -> None:
    loop = stream.pacer.loop
    await loop.create_datagram_endpoint(lambda: stream._rtp, local_addr=(host, stream.port))
    if stream.rtcp_interval is not None and not stream.rtcp_mux:
        rtcp = stream._rtcp = _Socket(stream)
        await loop.create_datagram_endpoint(lambda: rtcp, local_addr=(host, stream.port + 1))
