"""RFC 4733 telephone-events: the DTMF keys a phone sends as RTP packets
instead of tones (§2.3 payload, §2.5 procedures, §3.2 DTMF event codes).

Theory of operation
-------------------
Payload (§2.3): ``event`` (8 bits), ``E`` (end), ``R`` (reserved), ``volume``
(6 bits, -dBm0), ``duration`` (16 bits, timestamp units).  Events 0-15 are the
keys ``0-9 * # A-D``, 16 is flash (key ``"!"``, as SIP INFO dtmf-relay names
it); other event codes are not keys and are ignored by the receiver.  Only the
first 4-octet block of a payload is read (§2.5.1.5 packing is not used by
phones for DTMF).

Sending (§2.5.1).  :func:`event_plan` turns one key press into the packets
of its ticks, one per packetisation interval (``step`` timestamp units, 160
for 20 ms at 8 kHz).  Every packet of an event carries the event's start
timestamp (plan offset 0) and the duration so far; the first has the marker
bit (§2.5.1.1); the last has the E bit and is sent three times (§2.5.1.4).  A
press longer than the 16-bit duration field allows is cut into segments
(§2.5.1.3): a segment ends when its duration reaches the largest multiple of
``step`` that fits (65,440 at 160), its last packet also sent three times
without the E bit, and the next segment starts at the old timestamp plus
that duration, without the marker bit.  :class:`EventSender` queues presses
and, once a tick, gives the pacer the next packet through an
:class:`~b2bua.media.rtp.RtpSender` (whose sequence numbers every packet
takes; retransmissions too) or None when it has nothing to send; between two
presses it keeps ``gap`` seconds free.

Receiving (§2.5.2).  :class:`EventReceiver` is fed every RTP packet of the
stream with ``now``; packets of other payload types are ignored.  The first
packet seen with a new timestamp is a new key press: :class:`KeyPressed` is
reported at once (the prompt can stop playing), whether or not that packet
had the marker bit, so a lost start packet loses nothing.  Packets with that
timestamp raise the duration; the first with the E bit closes the event:
:class:`KeyReleased` (``complete=True``).  Each press is reported exactly
once, because events are keyed by timestamp: retransmitted end packets and
duplicates of a closed event, and late packets with an older timestamp, are
counted and ignored.  A new timestamp without the marker bit, for the same
event, while the open event's segment has nearly filled the duration field,
is the next segment of a long press (§2.5.1.3), not a new press.  An event
whose end never comes is closed with ``complete=False`` when a packet of a
newer event arrives or ``timeout`` seconds after its last packet
(``next_deadline()`` / ``handle_timer(now)``).  A new SSRC starts afresh.

Public API
----------
``TelephoneEvent(event, end, volume, duration, reserved=False)`` with
``to_bytes()``; ``parse_event(payload) -> TelephoneEvent`` (raises
:class:`~b2bua.media.errors.MalformedPacket` below 4 octets);
``build_event(event, *, end=False, volume=10, duration=0) -> bytes``;
``event_code(key) -> int``, ``key_of(event) -> str | None``;
``event_plan(event, *, duration, volume=10, step=160, end_repeats=3) -> list[EventFrame]``;
``EventSender(*, payload_type=101, clock_rate=8000, step=160, gap=0.06)``
with ``press(key, *, duration=0.1, volume=10)``, ``busy``,
``next_packet(rtp) -> bytes | None``;
``EventReceiver(*, payload_type=101, clock_rate=8000, timeout=1.0)`` with
``receive(packet, now)``, ``events`` (drained by the owner: :class:`KeyPressed`,
:class:`KeyReleased`), ``next_deadline()``, ``handle_timer(now)``, counters
``malformed``, ``unknown``, ``duplicates``, ``late``.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Union

import msgspec

from .errors import MalformedPacket
from .rtp import FRAME_STEP, RtpPacket, RtpSender

__all__ = [
    "EventFrame",
    "EventReceiver",
    "EventSender",
    "KeyEvent",
    "KeyPressed",
    "KeyReleased",
    "TelephoneEvent",
    "build_event",
    "event_code",
    "event_plan",
    "key_of",
    "parse_event",
]

KEYS = "0123456789*#ABCD!"  # event codes 0-16, RFC 4733 §3.2 Table 7 (16 = flash)
FLASH = 16
MAX_DURATION = 0xFFFF  # the duration field, timestamp units (§2.3)
MAX_VOLUME = 63  # 6 bits, -dBm0 (§2.3)
END_REPEATS = 3  # the final packet of an event or segment is sent 3 times (§2.5.1.4)
DEFAULT_PAYLOAD_TYPE = 101  # dynamic; what most phones offer (the SDP decides)
DEFAULT_VOLUME = 10  # -10 dBm0
EVENT_TIMEOUT = 1.0  # seconds without a packet before an event without its end is closed
SEGMENT_NEARLY_FULL = MAX_DURATION - 0x1000  # ~0.5 s short of the field's end at 8 kHz
TS_MASK = 0xFFFFFFFF

_PAYLOAD = struct.Struct("!BBH")


class TelephoneEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One telephone-event payload block (RFC 4733 §2.3)."""

    event: int
    end: bool
    volume: int
    duration: int
    reserved: bool = False  # R: sent as 0, ignored on receipt

    def to_bytes(self) -> bytes:
        return build_event(self.event, end=self.end, volume=self.volume, duration=self.duration, reserved=self.reserved)


def parse_event(payload: bytes) -> TelephoneEvent:
    """The first event block of a payload; :class:`MalformedPacket` if short."""
    if len(payload) < _PAYLOAD.size:
        raise MalformedPacket(f"telephone-event payload of {len(payload)} octets, needs 4")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return TelephoneEvent(
        event=event,
        end=flags > 0x7F,
        reserved=bool(flags & 0x40),
        volume=flags & 0x3F,
        duration=duration,
    )


def build_event(
    event: int, *, end: bool = False, volume: int = DEFAULT_VOLUME, duration: int = 0, reserved: bool = False
) -> bytes:
    """One event block; ``ValueError`` for values outside their fields."""
    if not 0 <= event <= 0xFF or not 0 <= volume <= MAX_VOLUME or not 0 <= duration <= MAX_DURATION:
        raise ValueError(f"telephone event {event} volume {volume} duration {duration} out of range")
    return _PAYLOAD.pack(event, (0x80 if end else 0) | (0x40 if reserved else 0) | volume, duration)


def event_code(key: str) -> int:
    """The event code of a key (``"0"``-``"9"``, ``"*"``, ``"#"``, ``"A"``-``"D"``, ``"!"``)."""
    code = KEYS.find(key.upper()) if len(key) == 1 else -1
    if code < 0:
        raise ValueError(f"no telephone event for key {key!r}")
    return code


def key_of(event: int) -> str | None:
    """The key of an event code, None for codes that are not DTMF or flash."""
    return KEYS[event] if 0 <= event < len(KEYS) else None


# -- sending ---------------------------------------------------------------------


class EventFrame(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One tick's packet of an event: RTP timestamp = event start + ``offset``."""

    offset: int
    marker: bool
    payload: TelephoneEvent


def event_plan(
    event: int,
    *,
    duration: int,
    volume: int = DEFAULT_VOLUME,
    step: int = FRAME_STEP,
    end_repeats: int = END_REPEATS,
) -> list[EventFrame]:
    """The packets of one press lasting ``duration`` timestamp units, one per
    tick of ``step`` units; see the module docstring."""
    duration = max(duration, 1)
    segment_max = MAX_DURATION // step * step
    frames: list[EventFrame] = []
    start = 0  # the current segment's offset from the event's timestamp
    tick = 0  # time of the next packet since the event began
    while True:
        tick += step
        reported = min(tick, duration) - start
        ends_segment = reported >= segment_max and start + segment_max < duration
        ends_event = tick >= duration and not ends_segment
        frame = EventFrame(
            offset=start,
            marker=not frames,
            payload=TelephoneEvent(
                event=event,
                end=ends_event,
                volume=volume,
                duration=segment_max if ends_segment else reported,
            ),
        )
        frames.append(frame)
        if ends_segment or ends_event:
            frames.extend([msgspec.structs.replace(frame, marker=False)] * (end_repeats - 1))
            tick += (end_repeats - 1) * step
        if ends_event:
            return frames
        if ends_segment:
            start += segment_max


class EventSender:
    """Key presses out as RFC 4733 packets, one per tick; see the module docstring."""

    def __init__(
        self,
        *,
        payload_type: int = DEFAULT_PAYLOAD_TYPE,
        clock_rate: int = 8000,
        step: int = FRAME_STEP,
        gap: float = 0.06,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.step = step
        self._gap_ticks = -(-round(gap * clock_rate) // step)  # whole ticks, rounded up
        self._queue: deque[list[EventFrame]] = deque()
        self._frames: deque[EventFrame] = deque()
        self._start = 0  # RTP timestamp of the event being sent
        self._idle_ticks = 0  # ticks still to keep free before the next press

    def press(self, key: str, *, duration: float = 0.1, volume: int = DEFAULT_VOLUME) -> None:
        """Queue a press of ``key`` lasting ``duration`` seconds."""
        if not 0 <= volume <= MAX_VOLUME:
            raise ValueError(f"volume {volume} outside 0-{MAX_VOLUME}")
        units = max(1, round(duration * self.clock_rate))
        self._queue.append(event_plan(event_code(key), duration=units, volume=volume, step=self.step))

    @property
    def busy(self) -> bool:
        """Something is being sent or waits to be."""
        return bool(self._frames or self._queue)

    def next_packet(self, rtp: RtpSender) -> bytes | None:
        """This tick's event packet, or None (the tick is free for audio).
        A packet moves ``rtp``'s media clock on by one frame."""
        if not self._frames:
            if self._idle_ticks:
                self._idle_ticks -= 1
                return None
            if not self._queue:
                return None
            self._frames.extend(self._queue.popleft())
            self._start = rtp.timestamp
        frame = self._frames.popleft()
        data = rtp.packet(
            frame.payload.to_bytes(),
            payload_type=self.payload_type,
            timestamp=self._start + frame.offset,
            marker=frame.marker,
        )
        rtp.skip()
        if not self._frames:
            self._idle_ticks = self._gap_ticks
        return data


# -- receiving -------------------------------------------------------------------


class KeyPressed(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The first packet of a key press arrived (at ``now``)."""

    key: str
    event: int
    volume: int
    timestamp: int  # RTP timestamp of the event's start
    now: float


class KeyReleased(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A key press ended: its end packet arrived (``complete``), or a newer
    event or the timeout closed it without one."""

    key: str
    event: int
    volume: int
    timestamp: int
    duration: int  # timestamp units, all segments together
    seconds: float
    complete: bool
    now: float


KeyEvent = Union[KeyPressed, KeyReleased]


class _Open:
    """The event being received."""

    __slots__ = ("event", "key", "volume", "start", "segment", "segment_duration", "last_seen")

    def __init__(self, event: int, key: str, volume: int, timestamp: int, now: float) -> None:
        self.event = event
        self.key = key
        self.volume = volume
        self.start = timestamp
        self.segment = timestamp  # the current segment's timestamp
        self.segment_duration = 0
        self.last_seen = now

    @property
    def duration(self) -> int:
        return ((self.segment - self.start) & TS_MASK) + self.segment_duration


class EventReceiver:
    """Key presses in from RFC 4733 packets; see the module docstring."""

    def __init__(
        self,
        *,
        payload_type: int = DEFAULT_PAYLOAD_TYPE,
        clock_rate: int = 8000,
        timeout: float = EVENT_TIMEOUT,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.timeout = timeout
        self.events: list[KeyEvent] = []
        self.malformed = 0  # payloads too short to read
        self.unknown = 0  # event codes that are not keys (17-255)
        self.duplicates = 0  # packets of an event already closed
        self.late = 0  # packets older than the newest event seen
        self._ssrc: int | None = None
        self._newest: int | None = None  # timestamp of the newest event or segment
        self._open: _Open | None = None

    def receive(self, packet: RtpPacket, now: float) -> None:
        """One RTP packet of the stream (any payload type)."""
        if packet.payload_type != self.payload_type:
            return
        try:
            block = parse_event(packet.payload)
        except MalformedPacket:
            self.malformed += 1
            return
        key = key_of(block.event)
        if key is None:
            self.unknown += 1
            return
        if packet.ssrc != self._ssrc:
            self._close(now, complete=False)
            self._ssrc = packet.ssrc
            self._newest = None
        timestamp = packet.timestamp
        current = self._open
        if self._newest is not None:
            delta = (timestamp - self._newest) & TS_MASK
            if delta == 0:
                if current is None:
                    self.duplicates += 1
                else:
                    self._update(current, block, now)
                return
            if delta > TS_MASK >> 1:
                self.late += 1
                return
            if (
                current is not None
                and not packet.marker
                and block.event == current.event
                and current.segment_duration >= SEGMENT_NEARLY_FULL
                and delta <= MAX_DURATION
            ):  # the next segment of a long press (§2.5.1.3)
                self._newest = current.segment = timestamp
                current.segment_duration = 0
                self._update(current, block, now)
                return
            self._close(now, complete=False)
        self._newest = timestamp
        current = self._open = _Open(block.event, key, block.volume, timestamp, now)
        self.events.append(KeyPressed(key=key, event=block.event, volume=block.volume, timestamp=timestamp, now=now))
        self._update(current, block, now)

    def _update(self, current: _Open, block: TelephoneEvent, now: float) -> None:
        current.segment_duration = max(current.segment_duration, block.duration)
        current.volume = block.volume
        current.last_seen = now
        if block.end:
            self._close(now, complete=True)

    def _close(self, now: float, *, complete: bool) -> None:
        current = self._open
        if current is None:
            return
        self._open = None
        duration = current.duration
        self.events.append(
            KeyReleased(
                key=current.key,
                event=current.event,
                volume=current.volume,
                timestamp=current.start,
                duration=duration,
                seconds=duration / self.clock_rate,
                complete=complete,
                now=now,
            )
        )

    def next_deadline(self) -> float | None:
        """When an event without its end will be closed (None: no open event)."""
        return None if self._open is None else self._open.last_seen + self.timeout

    def handle_timer(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self._close(now, complete=False)
