"""The RTP shell on real UDP sockets on 127.0.0.1: ports, symmetric RTP,
drops, pacing.  Assertions are on counts and numbering, never on how long
something took; every wait has a generous limit so a failure cannot hang."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, AsyncIterator

import pytest

from b2bua.media.errors import PortRangeExhausted
from b2bua.media.rtcp import ReceiverReport, build_receiver_report, parse_rtcp
from b2bua.media.rtp import RtpPacket, RtpSender, build_rtp, parse_rtp
from b2bua.transport.rtp import RtpPacer, RtpPortPool, RtpStream, open_stream

HOST = "127.0.0.1"
WAIT = 10.0  # seconds: a limit for hangs, not a timing assertion


def free_range(size: int = 8) -> tuple[int, int]:
    """A port range near one the kernel just gave out (likely free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1] & ~1
    first = min(port, 65535 - 2 * size) & ~1
    return first, first + 2 * size - 1


class Phone(asyncio.DatagramProtocol):
    """A bare UDP peer that keeps what it receives."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.got.put_nowait((data, (addr[0], addr[1])))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, dest)

    async def packets(self, count: int) -> list[RtpPacket]:
        out = []
        for _ in range(count):
            data, _ = await asyncio.wait_for(self.got.get(), WAIT)
            out.append(parse_rtp(data))
        return out

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def phone() -> Phone:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Phone, local_addr=(HOST, 0))
    return proto


@pytest.fixture
async def media() -> AsyncIterator[tuple[RtpPortPool, RtpPacer]]:
    pool = RtpPortPool(*free_range())
    pacer = RtpPacer(asyncio.get_running_loop())
    yield pool, pacer
    pacer.close()


def rtp_from(ssrc: int, sequence: int, payload: bytes = b"\xff" * 160, payload_type: int = 0) -> bytes:
    return build_rtp(payload, payload_type=payload_type, sequence=sequence, timestamp=sequence * 160, ssrc=ssrc)


async def until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


# -- ports ----------------------------------------------------------------------


def test_the_pool_hands_out_even_ports_round_robin_and_runs_out() -> None:
    pool = RtpPortPool(20001, 20009)
    assert pool.capacity == 4  # 20002 .. 20008, each with its odd port inside the range
    ports = [pool.acquire() for _ in range(4)]
    assert ports == [20002, 20004, 20006, 20008] and pool.in_use == 4
    with pytest.raises(PortRangeExhausted, match="20002-20009"):
        pool.acquire()
    pool.release(20004)
    assert pool.acquire() == 20004
    pool.release(20002)
    pool.release(20006)
    assert pool.acquire() == 20006  # round robin: not the port released first
    with pytest.raises(ValueError):
        RtpPortPool(20000, 20000)


async def test_open_stream_runs_out_of_ports_and_gets_them_back(media: tuple[RtpPortPool, RtpPacer]) -> None:
    _, pacer = media
    first, _ = free_range(2)
    pool = RtpPortPool(first, first + 3)
    a = await open_stream(pool, pacer)
    b = await open_stream(pool, pacer)
    assert {a.port, b.port} == {first, first + 2} and pool.in_use == 2
    with pytest.raises(PortRangeExhausted):
        await open_stream(pool, pacer)
    b.close()
    await until(lambda: pool.in_use == 1)  # given back once the socket is closed
    c = await open_stream(pool, pacer)
    assert c.port == b.port
    a.close()
    c.close()
    await until(lambda: pool.in_use == 0)


async def test_a_port_held_by_someone_else_is_skipped(media: tuple[RtpPortPool, RtpPacer]) -> None:
    _, pacer = media
    first, last = free_range(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((HOST, first))
        pool = RtpPortPool(first, last)
        stream = await open_stream(pool, pacer)
        assert stream.port == first + 2 and pool.in_use == 1
        with pytest.raises(PortRangeExhausted):
            await open_stream(pool, pacer)
        stream.close()


# -- receiving -------------------------------------------------------------------


async def test_symmetric_rtp_answers_the_source_not_the_sdp_address(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    sdp, nat = await phone(), await phone()  # the phone says one port, sends from another
    got: list[RtpPacket] = []
    stream = await open_stream(pool, pacer, remote=sdp.address, on_packet=lambda p, now: got.append(p))
    stream.play(iter(lambda: b"\xff" * 160, None))  # endless silence
    before = await sdp.packets(2)  # not latched: to the SDP address
    assert stream.latched is None and all(p.ssrc == stream.sender.ssrc for p in before)
    nat.send(rtp_from(0xABC, 1), (HOST, stream.port))
    await until(lambda: got)
    assert stream.latched == nat.address and got[0].ssrc == 0xABC
    after = await nat.packets(3)
    assert [p.sequence for p in after] == [(after[0].sequence + i) & 0xFFFF for i in range(3)]
    stream.close()
    sdp.close()
    nat.close()


async def test_packets_from_an_unexpected_source_are_dropped_and_counted(
    media: tuple[RtpPortPool, RtpPacer],
) -> None:
    pool, pacer = media
    good, intruder = await phone(), await phone()
    got: list[RtpPacket] = []
    stream = await open_stream(pool, pacer, remote=good.address, on_packet=lambda p, now: got.append(p))
    good.send(rtp_from(1, 1), (HOST, stream.port))
    await until(lambda: stream.received == 1)
    for seq in range(5):
        intruder.send(rtp_from(2, seq), (HOST, stream.port))
    good.send(rtp_from(1, 2), (HOST, stream.port))
    await until(lambda: stream.received == 2)
    await until(lambda: stream.unexpected == 5)
    assert [p.ssrc for p in got] == [1, 1] and stream.latched == good.address
    stream.close()
    good.close()
    intruder.close()


async def test_malformed_datagrams_are_counted_and_the_stream_keeps_working(
    media: tuple[RtpPortPool, RtpPacer],
) -> None:
    pool, pacer = media
    peer = await phone()
    got: list[RtpPacket] = []
    stream = await open_stream(pool, pacer, remote=peer.address, on_packet=lambda p, now: got.append(p))
    dest = (HOST, stream.port)
    for junk in (b"\x80", b"hello world!", bytes([0x40]) + bytes(20), bytes([0x8F]) + bytes(15)):
        peer.send(junk, dest)
    await until(lambda: stream.malformed == 4)
    assert stream.latched is None  # junk latches nothing
    peer.send(build_receiver_report(7, None), dest)  # RTCP on the RTP port: not RTP
    await until(lambda: stream.rtcp_received == 1)
    peer.send(rtp_from(9, 100), dest)
    await until(lambda: got)
    assert got[0].sequence == 100 and stream.received == 1 and stream.receiver.received == 1
    stream.close()
    peer.close()


async def test_an_exception_in_the_owner_callback_does_not_stop_the_stream(
    media: tuple[RtpPortPool, RtpPacer],
) -> None:
    pool, pacer = media
    peer = await phone()
    seen: list[int] = []

    def fragile(packet: RtpPacket, now: float) -> None:
        seen.append(packet.sequence)
        raise RuntimeError("owner bug")

    stream = await open_stream(pool, pacer, remote=peer.address, on_packet=fragile)
    peer.send(rtp_from(1, 1), (HOST, stream.port))
    peer.send(rtp_from(1, 2), (HOST, stream.port))
    await until(lambda: len(seen) == 2)
    stream.close()
    peer.close()


# -- sending -----------------------------------------------------------------------


async def test_pacing_sends_every_frame_numbered_in_order(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    peer = await phone()
    sender = RtpSender(ssrc=0x1234, sequence=0xFFF0, timestamp=0xFFFFF000, payload_type=8)
    stream = await open_stream(pool, pacer, remote=peer.address, sender=sender)
    done = asyncio.Event()
    stream.play([bytes([n]) * 160 for n in range(50)], on_done=done.set)  # one second of audio
    packets = await peer.packets(50)
    await asyncio.wait_for(done.wait(), WAIT)
    assert not stream.playing and stream.sent == 50
    assert [p.payload[0] for p in packets] == list(range(50))
    assert {p.ssrc for p in packets} == {0x1234} and {p.payload_type for p in packets} == {8}
    assert packets[0].marker
    for a, b in zip(packets, packets[1:]):
        assert b.sequence == (a.sequence + 1) & 0xFFFF  # across the wrap at 65535
        step = (b.timestamp - a.timestamp) & 0xFFFFFFFF
        assert step % 160 == 0 and step >= 160  # whole frames; more only after a late tick
        assert b.marker == (step > 160)
    extra = ((packets[-1].timestamp - packets[0].timestamp) & 0xFFFFFFFF) // 160 - 49
    assert 0 <= extra <= pacer.skipped  # frames skipped only if a tick came very late
    stream.close()
    peer.close()


async def test_an_idle_payload_fills_the_frames_between_sounds(media: tuple[RtpPortPool, RtpPacer]) -> None:
    """A stream with ``idle`` (a prompt's): silence between two sounds, one packet a
    frame, and the media clock never jumps, not even over the frames a stalled
    loop skipped (a receiver that places audio by timestamp has no gap to fill
    with noise)."""
    pool, pacer = media
    peer = await phone()
    stream = await open_stream(pool, pacer, remote=peer.address)
    stream.idle = b"\xff" * 160
    first = asyncio.Event()
    stream.play([b"\x01" * 160] * 3, on_done=first.set)
    await asyncio.wait_for(first.wait(), WAIT)
    time.sleep(0.2)  # the loop stalls for ten frames
    await until(lambda: stream.sent >= 8)  # silence meanwhile
    stream.play([b"\x02" * 160] * 3)
    await until(lambda: stream.sent >= 14)
    stream.stop()
    await until(lambda: stream.sent >= 17)
    stream.close()
    packets = await peer.packets(17)
    kinds = [p.payload[0] for p in packets]
    assert kinds[:3] == [1, 1, 1] and kinds.index(2) >= 8 and kinds.count(2) == 3, kinds
    assert set(kinds[3:kinds.index(2)]) == {0xFF} and set(kinds[kinds.index(2) + 3:]) == {0xFF}, kinds
    assert [p.marker for p in packets] == [True] + [False] * 16
    for a, b in zip(packets, packets[1:]):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160  # even after the late tick
    assert pacer.skipped >= 5
    peer.close()


async def test_a_stream_with_nothing_to_send_is_not_ticked_and_its_clock_runs_on(
    media: tuple[RtpPortPool, RtpPacer],
) -> None:
    """A silent stream (a callee's that only relays, a caller's whose callee is
    heard) is left out of the ticks; when it sends again its media clock has
    moved on by the frames that passed meanwhile, as if it had been ticked, and
    that packet begins a talkspurt."""
    pool, pacer = media
    peer = await phone()
    stream = await open_stream(pool, pacer, remote=peer.address)
    assert pacer.sending == 0
    at: list[int] = []  # the pacer's frame count as each packet was made

    def sound(payload: bytes, count: int) -> Any:
        def source(sender: RtpSender) -> bytes:
            if len(at) == count:
                raise StopIteration
            at.append(pacer.frames)
            return sender.audio(payload)
        return source

    stream.set_source(sound(b"\x01" * 160, 3))
    assert pacer.sending == 1
    await until(lambda: pacer.sending == 0)
    frames = pacer.frames
    await until(lambda: pacer.frames >= frames + 10)  # ten frames and more in silence
    assert stream.sent == 3 and not stream.playing
    stream.set_source(sound(b"\x02" * 160, 6))
    packets = await peer.packets(6)
    assert [p.payload[0] for p in packets] == [1, 1, 1, 2, 2, 2]
    assert [p.marker for p in packets] == [True, False, False, True, False, False]
    for (a, b), (fa, fb) in zip(zip(packets, packets[1:]), zip(at, at[1:])):
        step = ((b.timestamp - a.timestamp) & 0xFFFFFFFF) // 160
        assert abs(step - (fb - fa)) <= 1  # one frame either way: two frames made in one late tick
    assert ((packets[3].timestamp - packets[2].timestamp) & 0xFFFFFFFF) // 160 >= 11
    stream.close()
    peer.close()


async def test_a_stalled_loop_catches_up_without_a_burst(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    peer = await phone()
    stream = await open_stream(pool, pacer, remote=peer.address)
    stream.play(iter(lambda: b"\xff" * 160, None))
    first = await peer.packets(2)
    time.sleep(0.2)  # the loop stalls for ten frames
    ticks = pacer.ticks
    await until(lambda: pacer.ticks > ticks + 2)
    stream.stop()
    skipped = pacer.skipped
    packets = first + await peer.packets(stream.sent - 2)
    assert max(pacer.lateness) >= 0.1
    # no burst: the sequence numbers run on without a gap, while the media
    # clock jumped over the frames beyond the burst limit
    assert [p.sequence for p in packets] == [(packets[0].sequence + i) & 0xFFFF for i in range(len(packets))]
    extra = ((packets[-1].timestamp - packets[0].timestamp) & 0xFFFFFFFF) // 160 - (len(packets) - 1)
    assert 5 <= extra <= skipped
    stream.close()
    peer.close()


async def test_receiver_reports_are_sent_when_enabled(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    peer = await phone()
    stream = await open_stream(pool, pacer, remote=peer.address, rtcp_interval=0.05)
    for seq in (1, 2, 4):  # one lost
        peer.send(rtp_from(0x77, seq), (HOST, stream.port))
    await until(lambda: stream.received == 3)
    while True:
        data, _ = await asyncio.wait_for(peer.got.get(), WAIT)
        reports = parse_rtcp(data)
        if isinstance(reports[0], ReceiverReport):
            break
    rr = reports[0]
    assert rr.ssrc == stream.sender.ssrc and len(rr.reports) == 1
    block = rr.reports[0]
    assert (block.ssrc, block.highest_sequence, block.cumulative_lost) == (0x77, 4, 1)
    stream.close()
    peer.close()


async def test_closing_stops_the_shared_timer(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    streams: list[RtpStream] = [await open_stream(pool, pacer) for _ in range(3)]
    assert pacer._timer is not None
    for stream in streams:
        stream.close()
        stream.close()  # twice is harmless
    assert pacer._timer is None
    await until(lambda: pool.in_use == 0)


async def test_without_rtcp_mux_reports_go_between_the_odd_ports(media: tuple[RtpPortPool, RtpPacer]) -> None:
    pool, pacer = media
    loop = asyncio.get_running_loop()
    base, _ = free_range(1)
    _, rtp_peer = await loop.create_datagram_endpoint(Phone, local_addr=(HOST, base))
    _, rtcp_peer = await loop.create_datagram_endpoint(Phone, local_addr=(HOST, base + 1))
    stream = await open_stream(pool, pacer, remote=(HOST, base), rtcp_interval=0.05, rtcp_mux=False)
    rtp_peer.send(rtp_from(0x55, 10), (HOST, stream.port))
    await until(lambda: stream.received == 1)
    sr = bytes([0x80, 200, 0, 6]) + (0x55).to_bytes(4, "big") + bytes(20)
    rtcp_peer.send(sr, (HOST, stream.port + 1))  # from the odd port to the odd port
    await until(lambda: stream.rtcp_received == 1)
    assert stream.unexpected == 0
    data, source = await asyncio.wait_for(rtcp_peer.got.get(), WAIT)
    assert source == (HOST, stream.port + 1)
    (rr, _) = parse_rtcp(data)
    assert isinstance(rr, ReceiverReport) and rr.reports[0].ssrc == 0x55
    stream.close()
    rtp_peer.close()
    rtcp_peer.close()
