"""Just enough RTCP (RFC 3550 §6) for a prompting endpoint: recognise it on
the RTP port, read sender and receiver reports without crashing, and write
our receiver report.

Theory of operation
-------------------
A phone may send RTCP to our RTP port (RFC 5761 multiplexing, or plain
misconfiguration).  RFC 5761 §4 tells the two apart by the second octet: RTCP
packet types 192-223 sit where an RTP header has its marker bit and payload
type, so an RTP payload type in 64-95 (marker set or not) is never RTP here:
:func:`is_rtcp` says so, and the shell counts and ignores the datagram (or
reads a sender report from it, for the LSR/DLSR of our next report).

:func:`parse_rtcp` walks a compound packet (§6.1) and returns one value per
packet: :class:`SenderReport` (§6.4.1), :class:`ReceiverReport` (§6.4.2), or
:class:`OtherRtcp` for SDES, BYE, APP, feedback and XR, which we do not need.
Anything that does not add up (short, version, a length running past the
datagram, report blocks beyond the length) raises
:class:`~b2bua.media.errors.MalformedPacket`.

:func:`build_receiver_report` writes the compound packet we send every few
seconds while receiving: an RR with at most one report block (we hear one
source), followed by an SDES CNAME chunk when a CNAME is given (§6.1 wants
one in every compound packet).  The numbers of the block come from
:meth:`b2bua.media.rtp.RtpReceiver.report_block` (§6.4.1 fields, Appendix A.3).

Public API
----------
``is_rtcp(data) -> bool``; ``parse_rtcp(data) -> list[RtcpPacket]``;
``build_receiver_report(ssrc, block=None, *, cname=None) -> bytes``;
values :class:`ReportBlock`, :class:`SenderReport`, :class:`ReceiverReport`,
:class:`OtherRtcp`; ``ntp_middle(ntp_timestamp) -> int`` (the LSR field).
"""

from __future__ import annotations

import struct
from typing import Union

import msgspec

from .errors import MalformedPacket

__all__ = [
    "OtherRtcp",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SR",
    "RR",
    "SDES",
    "build_receiver_report",
    "is_rtcp",
    "ntp_middle",
    "parse_rtcp",
]

SR = 200  # RFC 3550 §12.1 packet types
RR = 201
SDES = 202
CNAME = 1  # RFC 3550 §6.5.1 SDES item type
MUX_FIRST, MUX_LAST = 64, 95  # RFC 5761 §4: RTP payload types that collide with RTCP 192-223

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!QIII")  # NTP timestamp, RTP timestamp, packet count, octet count
_BLOCK = struct.Struct("!IIIIII")  # ssrc, fraction<<24|lost, highest seq, jitter, LSR, DLSR
LOST_MIN, LOST_MAX = -0x800000, 0x7FFFFF  # cumulative lost is a signed 24-bit field


class ReportBlock(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One reception report (RFC 3550 §6.4.1) about the source ``ssrc``."""

    ssrc: int
    fraction_lost: int  # lost since the previous report, in 1/256
    cumulative_lost: int  # signed 24 bits: duplicates can make it negative
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # interarrival jitter, timestamp units
    last_sr: int = 0  # middle 32 bits of the last SR's NTP timestamp (LSR)
    delay_since_last_sr: int = 0  # units of 1/65536 s (DLSR)


class SenderReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """RFC 3550 §6.4.1; ``ntp_timestamp`` is the 64-bit NTP format."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


class ReceiverReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """RFC 3550 §6.4.2."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


class OtherRtcp(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Any other RTCP packet (SDES, BYE, APP, feedback, XR), kept raw."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = Union[SenderReport, ReceiverReport, OtherRtcp]


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on the RTP port is RTCP (RFC 5761 §4)."""
    return len(data) >= 2 and MUX_FIRST <= data[1] & 0x7F <= MUX_LAST


def ntp_middle(ntp_timestamp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp: the LSR field (§6.4.1)."""
    return (ntp_timestamp >> 16) & 0xFFFFFFFF


def _blocks(data: bytes, offset: int, count: int, end: int) -> tuple[ReportBlock, ...]:
    if offset + count * _BLOCK.size > end:
        raise MalformedPacket("RTCP report blocks run past the packet length")
    out = []
    for _ in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        out.append(
            ReportBlock(
                ssrc=ssrc,
                fraction_lost=lost >> 24,
                cumulative_lost=cumulative,
                highest_sequence=highest,
                jitter=jitter,
                last_sr=lsr,
                delay_since_last_sr=dlsr,
            )
        )
        offset += _BLOCK.size
    return tuple(out)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram (RFC 3550 §6.1), in order."""
    if len(data) < _HEADER.size:
        raise MalformedPacket("RTCP packet shorter than its 4-byte header")
    out: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise MalformedPacket("trailing bytes after the last RTCP packet")
        first, packet_type, length = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise MalformedPacket(f"RTCP version {first >> 6}, not 2")
        end = offset + 4 * (length + 1)
        if end > len(data):
            raise MalformedPacket("RTCP length runs past the datagram")
        if first & 0x20:  # padding: the last octet counts it (§6.4.1)
            pad = data[end - 1]
            if pad == 0 or pad > end - offset - _HEADER.size:
                raise MalformedPacket("bad RTCP padding length")
            body_end = end - pad
        else:
            body_end = end
        count = first & 0x1F
        body = offset + _HEADER.size
        if packet_type == SR:
            if body + _SSRC.size + _SENDER_INFO.size > body_end:
                raise MalformedPacket("RTCP SR shorter than its sender info")
            (ssrc,) = _SSRC.unpack_from(data, body)
            ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(data, body + 4)
            blocks = _blocks(data, body + 4 + _SENDER_INFO.size, count, body_end)
            out.append(
                SenderReport(
                    ssrc=ssrc,
                    ntp_timestamp=ntp,
                    rtp_timestamp=rtp_ts,
                    packet_count=packets,
                    octet_count=octets,
                    reports=blocks,
                )
            )
        elif packet_type == RR:
            if body + _SSRC.size > body_end:
                raise MalformedPacket("RTCP RR shorter than its SSRC")
            (ssrc,) = _SSRC.unpack_from(data, body)
            out.append(ReceiverReport(ssrc=ssrc, reports=_blocks(data, body + 4, count, body_end)))
        else:
            out.append(OtherRtcp(packet_type=packet_type, count=count, body=data[body:body_end]))
        offset = end
    return out


def _report_block(block: ReportBlock) -> bytes:
    lost = min(max(block.cumulative_lost, LOST_MIN), LOST_MAX) & 0xFFFFFF
    return _BLOCK.pack(
        block.ssrc,
        (block.fraction_lost & 0xFF) << 24 | lost,
        block.highest_sequence & 0xFFFFFFFF,
        block.jitter & 0xFFFFFFFF,
        block.last_sr & 0xFFFFFFFF,
        block.delay_since_last_sr & 0xFFFFFFFF,
    )


def _sdes_cname(ssrc: int, cname: str) -> bytes:
    text = cname.encode()[:255]
    chunk = _SSRC.pack(ssrc) + bytes((CNAME, len(text))) + text
    chunk += b"\x00" * (4 - len(chunk) % 4)  # item list ends with a null octet, then pads to 32 bits (§6.5)
    return _HEADER.pack(0x81, SDES, len(chunk) // 4) + chunk


def build_receiver_report(ssrc: int, block: ReportBlock | None = None, *, cname: str | None = None) -> bytes:
    """A compound RTCP packet: RR from ``ssrc`` (RFC 3550 §6.4.2) with zero or
    one report block, then SDES CNAME (§6.5.1) when ``cname`` is given."""
    blocks = b"" if block is None else _report_block(block)
    count = 0 if block is None else 1
    rr = _HEADER.pack(0x80 | count, RR, (4 + len(blocks)) // 4) + _SSRC.pack(ssrc) + blocks
    return rr if cname is None else rr + _sdes_cname(ssrc, cname)
