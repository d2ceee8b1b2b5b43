"""RTP packets (RFC 3550 §5.1, §5.3.1), one stream's numbering when sending,
and the reception statistics of a receiver report (§6.4.1, Appendix A.1, A.3,
A.8).  Pure: no sockets, no clock (``now`` is passed in), no randomness (the
SSRC and the initial sequence number and timestamp, which §5.1 wants random,
are given by the caller).

Theory of operation
-------------------
Packets.  :func:`parse_rtp` reads a datagram into a frozen :class:`RtpPacket`
and :func:`build_rtp` writes one.  Both are on the hot path (hundreds of
streams at 50 packets/s each): one precompiled ``struct`` for the 12-byte fixed
header and a fast path for the usual first octet 0x80 (version 2, no padding,
no extension, no CSRC).  Malformed input raises
:class:`~b2bua.media.errors.MalformedPacket`: shorter than the header, version
not 2, a CSRC list or header extension running past the datagram, a padding
count of zero or longer than what follows the header, and a payload type in
64-95, which RFC 5761 §4 reserves for RTCP (see :func:`b2bua.media.rtcp.is_rtcp`,
which the shell asks first).

Sending.  :class:`RtpSender` numbers one outgoing stream: sequence numbers
(16 bits) and the media clock (32-bit timestamp, ``step`` units per frame:
160 for 20 ms at 8 kHz) both wrap.  The pacer calls :meth:`RtpSender.audio`
once per frame; a frame with nothing to send is :meth:`RtpSender.skip`, which
moves the media clock on without a packet, so the next audio packet starts a
talkspurt and carries the marker bit (RFC 3551 §4.1), as does the very first.
:meth:`RtpSender.packet` sends a packet with a timestamp of its own (RFC 4733
events keep their start timestamp), consuming only a sequence number.

Receiving.  :class:`RtpReceiver` keeps the statistics of one source as in
Appendix A.1 (sequence numbers extended with a cycle count, a jump of more
than ``MAX_DROPOUT`` taken as a restart only when the next packet confirms
it, reordered and duplicate packets within ``MAX_MISORDER`` accepted), A.3
(expected and lost, cumulative and since the previous report) and A.8
(interarrival jitter in timestamp units, from ``now``).  A new SSRC starts
the statistics afresh.  :meth:`RtpReceiver.report_block` gives the block of
the next receiver report; :meth:`RtpReceiver.sender_report_received` notes
an SR's time for its LSR/DLSR fields.  There is no probation (A.1's
``MIN_SEQUENTIAL``): the shell has already decided which source to accept
(symmetric RTP latching).  Jitter counts every packet, so RFC 4733 event
packets (their timestamp frozen at the event's start) raise it while a key
is held.

Public API
----------
``RtpPacket(marker, payload_type, sequence, timestamp, ssrc, payload,
csrcs=(), extension=None, padding=0)`` (``.version`` is always 2,
``.to_bytes()``); ``RtpExtension(profile, data)``;
``parse_rtp(data) -> RtpPacket``;
``build_rtp(payload, *, payload_type, sequence, timestamp, ssrc, marker=False,
csrcs=(), extension=None, padding=0) -> bytes``;
``RtpSender(*, ssrc, sequence, timestamp, payload_type, step=160)`` with
``audio(payload) -> bytes``, ``skip(frames=1)``,
``packet(payload, *, payload_type, timestamp, marker=False) -> bytes``;
``RtpReceiver(*, clock_rate=8000)`` with ``receive(packet, now) -> bool``,
``expected``, ``lost``, ``extended_max``, ``jitter``,
``sender_report_received(report, now)``, ``report_block(now) -> ReportBlock | None``.
"""

from __future__ import annotations

import struct

import msgspec

from .errors import MalformedPacket
from .rtcp import MUX_FIRST, MUX_LAST, ReportBlock, SenderReport, ntp_middle

__all__ = [
    "RtpExtension",
    "RtpPacket",
    "RtpReceiver",
    "RtpSender",
    "build_rtp",
    "parse_rtp",
]

VERSION = 2  # RFC 3550 §5.1
HEADER_SIZE = 12  # the fixed header, octets
FRAME_STEP = 160  # timestamp units per 20 ms frame at 8000 Hz (RFC 3551 §4.5)
SEQ_MOD = 1 << 16  # RFC 3550 Appendix A.1
TS_MOD = 1 << 32
MAX_DROPOUT = 3000  # packets: a larger forward jump needs confirming (A.1)
MAX_MISORDER = 100  # packets: how far behind a late packet may be (A.1)
MAX_CSRC = 15  # the CC field is 4 bits

_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")
_CSRC = struct.Struct("!I")
_FAST = VERSION << 6  # 0x80: version 2, no padding, no extension, no CSRC


class RtpExtension(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The header extension (RFC 3550 §5.3.1): a profile-defined 16-bit
    value and data whose length is a multiple of 4 octets."""

    profile: int
    data: bytes = b""


class RtpPacket(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One RTP packet (RFC 3550 §5.1); ``padding`` is the number of padding
    octets (0: the P bit is clear), ``payload`` excludes them."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    @property
    def version(self) -> int:
        return VERSION

    def to_bytes(self) -> bytes:
        return build_rtp(
            self.payload,
            payload_type=self.payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            marker=self.marker,
            csrcs=self.csrcs,
            extension=self.extension,
            padding=self.padding,
        )


def parse_rtp(data: bytes) -> RtpPacket:
    """Read one RTP packet; :class:`MalformedPacket` if it is not one."""
    if len(data) < HEADER_SIZE:
        raise MalformedPacket(f"RTP packet of {len(data)} octets, shorter than the fixed header")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    payload_type = second & 0x7F
    if MUX_FIRST <= payload_type <= MUX_LAST:
        raise MalformedPacket(f"payload type {payload_type} is RTCP's (RFC 5761 §4)")
    csrcs: tuple[int, ...]
    if first == _FAST:  # the usual packet: nothing between the header and the payload
        offset, end, csrcs, extension, padding = HEADER_SIZE, len(data), (), None, 0
    else:
        offset, end, csrcs, extension, padding = _optional_parts(data, first)
    return RtpPacket(
        marker=second > 0x7F,
        payload_type=payload_type,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=data[offset:end],
        csrcs=csrcs,
        extension=extension,
        padding=padding,
    )


def _optional_parts(data: bytes, first: int) -> tuple[int, int, tuple[int, ...], RtpExtension | None, int]:
    """Where the payload starts and ends, the CSRCs, the extension and the
    padding of a packet whose first octet is not the usual 0x80."""
    if first >> 6 != VERSION:
        raise MalformedPacket(f"RTP version {first >> 6}, not 2")
    offset = HEADER_SIZE
    count = first & 0x0F
    end = len(data)
    if offset + 4 * count > end:
        raise MalformedPacket(f"CSRC count {count} runs past the packet")
    csrcs = tuple(_CSRC.unpack_from(data, offset + 4 * i)[0] for i in range(count))
    offset += 4 * count
    extension = None
    if first & 0x10:
        if offset + _EXT.size > end:
            raise MalformedPacket("header extension runs past the packet")
        profile, words = _EXT.unpack_from(data, offset)
        offset += _EXT.size
        if offset + 4 * words > end:
            raise MalformedPacket("header extension length runs past the packet")
        extension = RtpExtension(profile=profile, data=data[offset : offset + 4 * words])
        offset += 4 * words
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise MalformedPacket(f"padding length {padding} does not fit the packet")
        end -= padding
    return offset, end, csrcs, extension, padding


def build_rtp(
    payload: bytes,
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: RtpExtension | None = None,
    padding: int = 0,
) -> bytes:
    """Write one RTP packet.  ``ValueError`` for values that do not fit their
    fields (a payload type outside 0-127 or in RTCP's 64-95, more than 15
    CSRCs, extension data not a multiple of 4, padding outside 0-255)."""
    if not 0 <= payload_type <= 0x7F or MUX_FIRST <= payload_type <= MUX_LAST:
        raise ValueError(f"payload type {payload_type} cannot be sent as RTP")
    second = payload_type | 0x80 if marker else payload_type
    if not csrcs and extension is None and not padding:
        return _FIXED.pack(_FAST, second, sequence, timestamp, ssrc) + payload
    if len(csrcs) > MAX_CSRC:
        raise ValueError(f"{len(csrcs)} CSRCs, at most {MAX_CSRC}")
    if not 0 <= padding <= 0xFF:
        raise ValueError(f"padding of {padding} octets, at most 255")
    first = _FAST | len(csrcs) | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    parts = [_FIXED.pack(first, second, sequence, timestamp, ssrc)]
    parts.extend(_CSRC.pack(c) for c in csrcs)
    if extension is not None:
        if len(extension.data) % 4:
            raise ValueError("header extension data must be a multiple of 4 octets")
        parts.append(_EXT.pack(extension.profile, len(extension.data) // 4) + extension.data)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


class RtpSender:
    """The numbering of one outgoing stream: see the module docstring."""

    def __init__(self, *, ssrc: int, sequence: int, timestamp: int, payload_type: int, step: int = FRAME_STEP) -> None:
        self.ssrc = ssrc
        self.sequence = sequence & 0xFFFF  # of the next packet
        self.timestamp = timestamp & 0xFFFFFFFF  # media clock of the next frame
        self.payload_type = payload_type
        self.step = step
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets (the SR's octet count, §6.4.1)
        self._talkspurt = True  # the next audio packet starts one: marker bit

    def audio(self, payload: bytes) -> bytes:
        """The next frame of audio, stamped with the media clock."""
        data = _FIXED.pack(
            _FAST,
            self.payload_type | 0x80 if self._talkspurt else self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
        )
        self._talkspurt = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.step) & 0xFFFFFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data + payload

    def skip(self, frames: int = 1) -> None:
        """Frames that pass without audio: the media clock moves on, and the
        next audio packet begins a talkspurt (marker bit)."""
        self.timestamp = (self.timestamp + self.step * frames) & 0xFFFFFFFF
        self._talkspurt = True

    def packet(self, payload: bytes, *, payload_type: int, timestamp: int, marker: bool = False) -> bytes:
        """A packet with a timestamp of its own (an RFC 4733 event); it takes
        the next sequence number and leaves the media clock alone."""
        data = build_rtp(
            payload,
            payload_type=payload_type,
            sequence=self.sequence,
            timestamp=timestamp & 0xFFFFFFFF,
            ssrc=self.ssrc,
            marker=marker,
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data


class RtpReceiver:
    """Reception statistics of one source: see the module docstring."""

    def __init__(self, *, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.received = 0
        self.cycles = 0  # sequence number wraps, times SEQ_MOD
        self.base_seq = 0
        self.max_seq = 0
        self.bad_seq = SEQ_MOD + 1  # a jump waiting for confirmation (A.1)
        self.jitter = 0.0  # timestamp units (A.8)
        self._expected_prior = 0
        self._received_prior = 0
        self._last_arrival: float | None = None  # seconds
        self._last_timestamp = 0
        self._last_sr = 0  # middle of the last SR's NTP timestamp
        self._last_sr_at: float | None = None

    def _init_seq(self, sequence: int) -> None:
        self.base_seq = self.max_seq = sequence
        self.bad_seq = SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._expected_prior = self._received_prior = 0

    def receive(self, packet: RtpPacket, now: float) -> bool:
        """Count one packet arriving at ``now``; False when it was held back
        as an unconfirmed jump of the sequence number (A.1)."""
        sequence = packet.sequence
        if packet.ssrc != self.ssrc:
            self.ssrc = packet.ssrc
            self._init_seq(sequence)
            self.jitter = 0.0
            self._last_arrival = None
            self._last_sr_at = None
        else:
            udelta = (sequence - self.max_seq) & 0xFFFF
            if udelta < MAX_DROPOUT:
                if sequence < self.max_seq:
                    self.cycles += SEQ_MOD  # wrapped
                self.max_seq = sequence
            elif udelta <= SEQ_MOD - MAX_MISORDER:
                if sequence != self.bad_seq:
                    self.bad_seq = (sequence + 1) & 0xFFFF
                    return False
                self._init_seq(sequence)  # two in a row: the sender restarted
            # else: a duplicate or a packet reordered within MAX_MISORDER
        self.received += 1
        self._jitter(packet.timestamp, now)
        return True

    def _jitter(self, timestamp: int, now: float) -> None:
        # A.8 with the timestamps' difference taken modulo 2**32, so a wrap
        # of the sender's clock is no jump
        if self._last_arrival is not None:
            elapsed = (timestamp - self._last_timestamp) & 0xFFFFFFFF
            if elapsed >= TS_MOD // 2:
                elapsed -= TS_MOD
            d = abs((now - self._last_arrival) * self.clock_rate - elapsed)
            self.jitter += (d - self.jitter) / 16
        self._last_arrival = now
        self._last_timestamp = timestamp

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.ssrc is not None else 0

    @property
    def lost(self) -> int:
        """Cumulative packets lost (negative with duplicates, A.3)."""
        return self.expected - self.received

    def sender_report_received(self, report: SenderReport, now: float) -> None:
        """Note an SR from our source: LSR and DLSR of our next report (§6.4.1)."""
        if report.ssrc == self.ssrc:
            self._last_sr = ntp_middle(report.ntp_timestamp)
            self._last_sr_at = now

    def report_block(self, now: float) -> ReportBlock | None:
        """The report block about our source (None before any packet); the
        interval for ``fraction_lost`` ends here (A.3)."""
        if self.ssrc is None:
            return None
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        dlsr = 0 if self._last_sr_at is None else int((now - self._last_sr_at) * 65536)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 0xFF),
            cumulative_lost=self.lost,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            last_sr=self._last_sr if self._last_sr_at is not None else 0,
            delay_since_last_sr=dlsr,
        )
