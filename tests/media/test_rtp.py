"""RTP packets, the sender's numbering, the receiver's statistics (RFC 3550
§5.1, A.1, A.3, A.8) and the RTCP we read and write (§6.4, RFC 5761 §4)."""

from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.media.errors import MalformedPacket, MediaError
from b2bua.media.rtcp import (
    OtherRtcp,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    build_receiver_report,
    is_rtcp,
    ntp_middle,
    parse_rtcp,
)
from b2bua.media.rtp import RtpExtension, RtpPacket, RtpReceiver, RtpSender, build_rtp, parse_rtp

# -- packets ----------------------------------------------------------------------


def test_parse_the_common_packet() -> None:
    data = bytes.fromhex("80 e0 12 34 00 00 01 00 de ad be ef") + b"\xff" * 160
    packet = parse_rtp(data)
    assert packet == RtpPacket(
        marker=True, payload_type=96, sequence=0x1234, timestamp=256, ssrc=0xDEADBEEF, payload=b"\xff" * 160
    )
    assert packet.version == 2
    assert packet.to_bytes() == data


def test_build_the_common_packet() -> None:
    data = build_rtp(b"ab", payload_type=0, sequence=1, timestamp=2, ssrc=3)
    assert data == bytes.fromhex("80 00 00 01 00 00 00 02 00 00 00 03") + b"ab"


def test_csrc_extension_and_padding_are_read() -> None:
    data = (
        bytes([0xB2, 0x08])  # V=2 P=1 X=1 CC=2, PT 8
        + struct.pack("!HII", 7, 1000, 42)
        + struct.pack("!II", 11, 12)
        + struct.pack("!HH", 0xBEDE, 1) + b"\x01\x02\x03\x04"
        + b"payload"
        + b"\x00\x00\x03"
    )
    packet = parse_rtp(data)
    assert packet.csrcs == (11, 12)
    assert packet.extension == RtpExtension(profile=0xBEDE, data=b"\x01\x02\x03\x04")
    assert packet.padding == 3
    assert packet.payload == b"payload"
    assert not packet.marker and packet.payload_type == 8
    assert packet.to_bytes() == data


packets = st.builds(
    RtpPacket,
    marker=st.booleans(),
    payload_type=st.integers(0, 127).filter(lambda pt: not 64 <= pt <= 95),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none() | st.builds(
        RtpExtension, profile=st.integers(0, 0xFFFF), data=st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4])
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_parse_build_round_trip(packet: RtpPacket) -> None:
    assert parse_rtp(packet.to_bytes()) == packet


@given(st.binary(max_size=80))
def test_any_bytes_parse_or_raise_the_media_error(data: bytes) -> None:
    try:
        parse_rtp(data)
    except MalformedPacket as err:
        assert isinstance(err, MediaError) and err.reason


HEADER = bytes.fromhex("80 00 00 01 00 00 00 02 00 00 00 03")


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "shorter"),
        (HEADER[:11], "shorter"),
        (bytes([0x40]) + HEADER[1:], "version 1"),
        (bytes([0x00]) + HEADER[1:], "version 0"),
        (bytes([0xC0]) + HEADER[1:], "version 3"),
        (bytes([0x81]) + HEADER[1:], "CSRC count 1"),
        (bytes([0x8F]) + HEADER[1:] + bytes(56), "CSRC count 15"),
        (bytes([0x90]) + HEADER[1:] + b"\xbe", "extension runs past"),
        (bytes([0x90]) + HEADER[1:] + b"\xbe\xde\x00\x02" + bytes(4), "extension length"),
        (bytes([0xA0]) + HEADER[1:] + b"ab\x00", "padding length 0"),
        (bytes([0xA0]) + HEADER[1:] + b"ab\x04", "padding length 4"),
        (bytes([0xA0]) + HEADER[1:], "padding length 3"),  # the P bit with nothing after the header
        (HEADER[:1] + bytes([0xC8]) + HEADER[2:], "RTCP"),  # SR's packet type 200
        (HEADER[:1] + bytes([0x48]) + HEADER[2:], "RTCP"),  # PT 72 without marker
    ],
)
def test_malformed_packets(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=reason):
        parse_rtp(data)


def test_padding_may_cover_everything_after_the_header() -> None:
    packet = parse_rtp(bytes([0xA0]) + HEADER[1:] + b"\x00\x00\x03")
    assert packet.payload == b"" and packet.padding == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"payload_type": 72},
        {"payload_type": 0, "csrcs": tuple(range(16))},
        {"payload_type": 0, "extension": RtpExtension(profile=1, data=b"abc")},
        {"payload_type": 0, "padding": 256},
    ],
)
def test_build_refuses_values_that_do_not_fit(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_rtp(b"", sequence=0, timestamp=0, ssrc=0, **kwargs)  # type: ignore[arg-type]


def test_an_independent_parser_reads_our_packets() -> None:
    """pyVoIP's RTPMessage (a test dependency) agrees on every field."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyVoIP imports audioop
        rtp = pytest.importorskip("pyVoIP.RTP")
    data = build_rtp(b"\xd5" * 160, payload_type=8, sequence=65535, timestamp=0xFFFFFF60, ssrc=0x01020304, marker=True)
    message = rtp.RTPMessage(data, {8: rtp.PayloadType.PCMA})
    assert message.version == 2 and message.marker and message.payload_type == rtp.PayloadType.PCMA
    assert (message.sequence, message.timestamp, message.SSRC) == (65535, 0xFFFFFF60, 0x01020304)
    assert message.payload == b"\xd5" * 160


# -- the sender -------------------------------------------------------------------


def test_sender_numbers_frames_and_wraps() -> None:
    sender = RtpSender(ssrc=7, sequence=0xFFFE, timestamp=0xFFFFFFFF - 159, payload_type=0)
    got = [parse_rtp(sender.audio(b"x" * 160)) for _ in range(3)]
    assert [p.sequence for p in got] == [0xFFFE, 0xFFFF, 0]
    assert [p.timestamp for p in got] == [0xFFFFFF60, 0, 160]
    assert [p.marker for p in got] == [True, False, False]  # the first packet starts a talkspurt
    assert {p.ssrc for p in got} == {7} and sender.packets_sent == 3 and sender.octets_sent == 480


def test_a_pause_moves_the_clock_and_marks_the_next_talkspurt() -> None:
    sender = RtpSender(ssrc=1, sequence=10, timestamp=1000, payload_type=8)
    sender.audio(b"a")
    sender.skip(5)
    packet = parse_rtp(sender.audio(b"b"))
    assert (packet.sequence, packet.timestamp, packet.marker, packet.payload_type) == (11, 1000 + 6 * 160, True, 8)
    assert not parse_rtp(sender.audio(b"c")).marker


def test_a_packet_with_its_own_timestamp_takes_only_a_sequence_number() -> None:
    sender = RtpSender(ssrc=1, sequence=5, timestamp=800, payload_type=0)
    packet = parse_rtp(sender.packet(b"evnt", payload_type=101, timestamp=480, marker=True))
    assert (packet.sequence, packet.timestamp, packet.marker, packet.payload_type) == (5, 480, True, 101)
    assert (sender.sequence, sender.timestamp) == (6, 800)


# -- the receiver -----------------------------------------------------------------


def pkt(sequence: int, timestamp: int, ssrc: int = 99) -> RtpPacket:
    return RtpPacket(marker=False, payload_type=0, sequence=sequence, timestamp=timestamp, ssrc=ssrc, payload=b"")


def test_receiver_counts_loss_across_a_wrap() -> None:
    rx = RtpReceiver()
    sequences = [65530 + i for i in range(6)] + [0, 1, 3, 4]  # 2 lost after the wrap
    for n, seq in enumerate(sequences):
        assert rx.receive(pkt(seq & 0xFFFF, n * 160), n * 0.02)
    assert (rx.cycles, rx.max_seq, rx.extended_max) == (65536, 4, 65540)
    assert (rx.expected, rx.received, rx.lost) == (11, 10, 1)
    block = rx.report_block(1.0)
    assert block is not None
    assert (block.ssrc, block.highest_sequence, block.cumulative_lost) == (99, 65540, 1)
    assert block.fraction_lost == (1 << 8) // 11


def test_fraction_lost_is_per_interval() -> None:
    rx = RtpReceiver()
    for seq in range(10):
        rx.receive(pkt(seq, seq * 160), seq * 0.02)
    first = rx.report_block(0.2)
    for seq in (10, 12, 14, 16):  # 3 of 7 lost
        rx.receive(pkt(seq, seq * 160), seq * 0.02)
    second = rx.report_block(0.4)
    assert first is not None and second is not None
    assert first.fraction_lost == 0 and second.fraction_lost == (3 << 8) // 7
    assert second.cumulative_lost == 3


def test_duplicates_and_late_packets_count_as_received() -> None:
    rx = RtpReceiver()
    for seq in (1, 2, 3, 3, 2, 4):
        assert rx.receive(pkt(seq, seq * 160), seq * 0.02)
    assert (rx.max_seq, rx.expected, rx.received, rx.lost) == (4, 4, 6, -2)


def test_a_big_jump_needs_a_second_packet_to_count_as_a_restart() -> None:
    rx = RtpReceiver()
    rx.receive(pkt(100, 0), 0.0)
    assert not rx.receive(pkt(30000, 160), 0.02)  # held back (A.1 bad_seq)
    assert rx.max_seq == 100
    assert rx.receive(pkt(30001, 320), 0.04)  # confirmed: restarted
    assert (rx.base_seq, rx.max_seq, rx.received, rx.lost) == (30001, 30001, 1, 0)


def test_a_new_ssrc_starts_afresh() -> None:
    rx = RtpReceiver()
    for seq in range(5):
        rx.receive(pkt(seq, seq * 160), seq * 0.02)
    rx.receive(pkt(9000, 0, ssrc=5), 1.0)
    assert (rx.ssrc, rx.base_seq, rx.received, rx.jitter) == (5, 9000, 1, 0.0)


def test_jitter_is_zero_on_a_perfect_clock_and_follows_a_8() -> None:
    rx = RtpReceiver()
    for seq in range(50):
        rx.receive(pkt(seq, (0xFFFFFF00 + seq * 160) & 0xFFFFFFFF), seq * 0.02)  # wraps the timestamp
    assert rx.jitter == pytest.approx(0.0, abs=1e-6)
    rx.receive(pkt(50, (0xFFFFFF00 + 50 * 160) & 0xFFFFFFFF), 50 * 0.02 + 0.010)  # 10 ms late: D = 80 units
    assert rx.jitter == pytest.approx(80 / 16)
    rx.receive(pkt(51, (0xFFFFFF00 + 51 * 160) & 0xFFFFFFFF), 51 * 0.02)  # on time again: D = 80
    assert rx.jitter == pytest.approx(80 / 16 + (80 - 80 / 16) / 16)


def test_no_report_block_before_any_packet() -> None:
    assert RtpReceiver().report_block(0.0) is None


def test_report_carries_lsr_and_dlsr_of_the_last_sender_report() -> None:
    rx = RtpReceiver()
    rx.receive(pkt(1, 0), 10.0)
    sr = SenderReport(ssrc=99, ntp_timestamp=0x0123456789ABCDEF, rtp_timestamp=0, packet_count=1, octet_count=160)
    rx.sender_report_received(sr, 10.0)
    rx.sender_report_received(SenderReport(ssrc=1, ntp_timestamp=1, rtp_timestamp=0, packet_count=0, octet_count=0), 11.0)
    block = rx.report_block(12.5)
    assert block is not None
    assert block.last_sr == 0x456789AB == ntp_middle(sr.ntp_timestamp)
    assert block.delay_since_last_sr == int(2.5 * 65536)


# -- RTCP -------------------------------------------------------------------------


def test_rtcp_is_told_from_rtp_by_the_second_octet() -> None:
    for packet_type in (200, 201, 202, 203, 204, 205, 206, 207):
        assert is_rtcp(bytes([0x80, packet_type]) + bytes(6))
    for payload_type in (0, 8, 13, 96, 101, 127, 0x80 | 0, 0x80 | 101):
        assert not is_rtcp(bytes([0x80, payload_type]) + bytes(10))
    assert not is_rtcp(b"\x80")


def block(**changes: int) -> ReportBlock:
    values = dict(
        ssrc=0xCAFEBABE, fraction_lost=12, cumulative_lost=-3, highest_sequence=70000,
        jitter=41, last_sr=0x11223344, delay_since_last_sr=65536,
    )
    values.update(changes)
    return ReportBlock(**values)


def test_receiver_report_layout() -> None:
    data = build_receiver_report(0x01020304, block())
    assert len(data) == 32
    assert data[:8] == bytes.fromhex("81 c9 00 07 01 02 03 04")
    assert data[8:12] == bytes.fromhex("ca fe ba be")
    assert data[12:16] == bytes.fromhex("0c ff ff fd")  # fraction 12, lost -3 in 24 bits
    assert parse_rtcp(data) == [ReceiverReport(ssrc=0x01020304, reports=(block(),))]


def test_receiver_report_with_cname_is_a_compound_packet() -> None:
    data = build_receiver_report(5, None, cname="b2bua@127.0.0.1")
    rr, sdes = parse_rtcp(data)
    assert rr == ReceiverReport(ssrc=5, reports=())
    assert isinstance(sdes, OtherRtcp) and sdes.packet_type == 202 and sdes.count == 1
    assert sdes.body[4:6] == bytes([1, len("b2bua@127.0.0.1")]) and b"b2bua@127.0.0.1" in sdes.body
    assert len(data) % 4 == 0


def test_cumulative_lost_is_clamped_to_24_bits() -> None:
    (rr,) = parse_rtcp(build_receiver_report(1, block(cumulative_lost=10**9)))
    assert isinstance(rr, ReceiverReport) and rr.reports[0].cumulative_lost == 0x7FFFFF
    (rr,) = parse_rtcp(build_receiver_report(1, block(cumulative_lost=-(10**9))))
    assert isinstance(rr, ReceiverReport) and rr.reports[0].cumulative_lost == -0x800000


def test_sender_report_is_read() -> None:
    blocks = build_receiver_report(1, block())[8:]
    data = (
        bytes([0x81, 200]) + struct.pack("!H", 12) + struct.pack("!IQIII", 77, 0xAABBCCDD11223344, 1600, 10, 1600)
        + blocks
        + bytes([0x81, 203, 0, 1]) + struct.pack("!I", 77)  # BYE
    )
    sr, bye = parse_rtcp(data)
    assert sr == SenderReport(
        ssrc=77, ntp_timestamp=0xAABBCCDD11223344, rtp_timestamp=1600, packet_count=10, octet_count=1600,
        reports=(block(),),
    )
    assert bye == OtherRtcp(packet_type=203, count=1, body=struct.pack("!I", 77))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x81", "shorter"),
        (bytes([0x40, 201, 0, 1]) + bytes(4), "version"),
        (bytes([0x80, 201, 0, 5]) + bytes(4), "past the datagram"),
        (bytes([0x81, 201, 0, 1]) + bytes(4), "report blocks"),
        (bytes([0x80, 200, 0, 1]) + bytes(4), "sender info"),
        (bytes([0x80, 201, 0, 0]), "SSRC"),
        (bytes([0xA0, 201, 0, 1]) + bytes(3) + b"\x09", "padding"),
        (bytes([0x80, 201, 0, 1]) + bytes(4) + b"\x80\xc9", "trailing"),
    ],
)
def test_malformed_rtcp(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=reason):
        parse_rtcp(data)


@given(st.binary(max_size=120))
def test_any_bytes_parse_as_rtcp_or_raise_the_media_error(data: bytes) -> None:
    try:
        parse_rtcp(data)
    except MalformedPacket:
        pass
