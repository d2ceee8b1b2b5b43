"""RFC 4733 telephone-events: payload, the sender's packet plan and the
receiver's one report per press, on virtual time."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.media.errors import MalformedPacket
from b2bua.media.rfc4733 import (
    EventFrame,
    EventReceiver,
    EventSender,
    KeyEvent,
    KeyPressed,
    KeyReleased,
    TelephoneEvent,
    build_event,
    event_code,
    event_plan,
    key_of,
    parse_event,
)
from b2bua.media.rtp import RtpPacket, RtpSender, parse_rtp

PT = 101

# -- payload ----------------------------------------------------------------------


def test_payload_layout() -> None:
    assert build_event(11, end=True, volume=10, duration=800) == bytes([11, 0x8A, 0x03, 0x20])
    assert parse_event(bytes([5, 0x3F, 0xFF, 0xFF])) == TelephoneEvent(event=5, end=False, volume=63, duration=0xFFFF)
    assert parse_event(bytes([16, 0xC0, 0, 0]) + b"more") == TelephoneEvent(
        event=16, end=True, reserved=True, volume=0, duration=0
    )


@given(st.builds(
    TelephoneEvent,
    event=st.integers(0, 255), end=st.booleans(), volume=st.integers(0, 63),
    duration=st.integers(0, 0xFFFF), reserved=st.booleans(),
))
def test_payload_round_trip(event: TelephoneEvent) -> None:
    assert parse_event(event.to_bytes()) == event


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x01\x8a\x00"])
def test_short_payloads_are_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_event(payload)


@pytest.mark.parametrize("kwargs", [{"event": 256}, {"event": 1, "volume": 64}, {"event": 1, "duration": 0x10000}])
def test_build_refuses_values_outside_their_fields(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        build_event(**kwargs)  # type: ignore[arg-type]


def test_keys_and_codes() -> None:
    assert [event_code(k) for k in "0123456789*#ABCD!"] == list(range(17))
    assert event_code("a") == 12
    assert [key_of(c) for c in (0, 9, 10, 11, 15, 16, 17, 255)] == ["0", "9", "*", "#", "D", "!", None, None]
    for bad in ("E", "", "12"):
        with pytest.raises(ValueError):
            event_code(bad)


# -- the plan -----------------------------------------------------------------------


def ev(duration: int, end: bool = False, event: int = 5, volume: int = 10) -> TelephoneEvent:
    return TelephoneEvent(event=event, end=end, volume=volume, duration=duration)


def test_plan_of_a_short_press() -> None:
    assert event_plan(5, duration=800) == [
        EventFrame(offset=0, marker=True, payload=ev(160)),
        EventFrame(offset=0, marker=False, payload=ev(320)),
        EventFrame(offset=0, marker=False, payload=ev(480)),
        EventFrame(offset=0, marker=False, payload=ev(640)),
        EventFrame(offset=0, marker=False, payload=ev(800, end=True)),
        EventFrame(offset=0, marker=False, payload=ev(800, end=True)),
        EventFrame(offset=0, marker=False, payload=ev(800, end=True)),
    ]


def test_plan_of_a_press_shorter_than_a_frame() -> None:
    assert event_plan(1, duration=100, volume=20) == [
        EventFrame(offset=0, marker=True, payload=ev(100, True, 1, 20)),
        EventFrame(offset=0, marker=False, payload=ev(100, True, 1, 20)),
        EventFrame(offset=0, marker=False, payload=ev(100, True, 1, 20)),
    ]


def test_plan_of_a_long_press_is_cut_into_segments() -> None:
    total = 2 * 65440 + 1000
    frames = event_plan(7, duration=total)
    offsets = sorted({f.offset for f in frames})
    assert offsets == [0, 65440, 130880]  # each segment starts where the previous ended
    assert [f.marker for f in frames].count(True) == 1 and frames[0].marker
    for offset in offsets:
        segment = [f for f in frames if f.offset == offset]
        durations = [f.payload.duration for f in segment]
        assert durations == sorted(durations) and max(durations) <= 0xFFFF
        assert segment[-1].payload == segment[-2].payload == segment[-3].payload  # the last one sent 3 times
    ends = [f for f in frames if f.payload.end]
    assert len(ends) == 3 and all(f.offset == 130880 and f.payload.duration == 1000 for f in ends)
    assert sum(max(f.payload.duration for f in frames if f.offset == o) for o in offsets) == total
    # the segment after the repeats reports the time that has passed in it
    first_of_second = next(f for f in frames if f.offset == 65440)
    assert first_of_second.payload.duration == 3 * 160 and not first_of_second.marker
    # one packet per tick: the key-down time plus the repeats
    assert len(frames) == -(-total // 160) + 2


@given(st.integers(1, 300_000), st.integers(0, 63))
def test_every_plan_reports_the_press(duration: int, volume: int) -> None:
    frames = event_plan(3, duration=duration, volume=volume)
    assert frames[0].marker and not any(f.marker for f in frames[1:])
    assert [f.payload.end for f in frames[-3:]] == [True] * 3 and not any(f.payload.end for f in frames[:-3])
    last = frames[-1]
    assert last.offset + last.payload.duration == duration
    assert all(f.payload.volume == volume and f.payload.duration <= 0xFFFF for f in frames)


# -- the sender ------------------------------------------------------------------------


def send_all(sender: EventSender, rtp: RtpSender, ticks: int) -> list[RtpPacket | None]:
    out: list[RtpPacket | None] = []
    for _ in range(ticks):
        data = sender.next_packet(rtp)
        if data is None:
            rtp.skip()  # what the pacer does with a free tick and nothing to play
        out.append(None if data is None else parse_rtp(data))
    return out


def test_sender_shares_the_event_timestamp_and_takes_sequence_numbers() -> None:
    rtp = RtpSender(ssrc=9, sequence=0xFFFF, timestamp=1000, payload_type=0)
    sender = EventSender(payload_type=PT, gap=0.04)
    sender.press("#", duration=0.06, volume=12)
    sender.press("1", duration=0.02)
    assert sender.busy
    got = send_all(sender, rtp, 12)
    first = [p for p in got[:5]]
    assert all(p is not None for p in first)
    assert [p.sequence for p in first if p] == [0xFFFF, 0, 1, 2, 3]
    assert {p.timestamp for p in first if p} == {1000} and {p.payload_type for p in first if p} == {PT}
    assert [parse_event(p.payload).duration for p in first if p] == [160, 320, 480, 480, 480]
    assert [p.marker for p in first if p] == [True, False, False, False, False]
    assert got[5] is None and got[6] is None  # the gap: 40 ms
    second = [p for p in got[7:10] if p]
    assert len(second) == 3 and second[0].marker and second[0].timestamp == 1000 + 7 * 160
    assert parse_event(second[0].payload) == TelephoneEvent(event=1, end=True, volume=10, duration=160)
    assert got[10:] == [None, None] and not sender.busy
    assert rtp.timestamp == 1000 + 12 * 160  # the media clock kept moving
    audio = parse_rtp(rtp.audio(b"x"))
    assert audio.marker and audio.sequence == 7  # audio after an event starts a talkspurt


def test_sender_refuses_unknown_keys_and_volumes() -> None:
    sender = EventSender()
    with pytest.raises(ValueError):
        sender.press("X")
    with pytest.raises(ValueError):
        sender.press("1", volume=64)
    assert not sender.busy and sender.next_packet(RtpSender(ssrc=1, sequence=0, timestamp=0, payload_type=0)) is None


# -- the receiver ------------------------------------------------------------------------


def packet(
    timestamp: int, duration: int, *, end: bool = False, marker: bool = False, event: int = 5,
    volume: int = 10, ssrc: int = 1, sequence: int = 0, payload_type: int = PT, payload: bytes | None = None,
) -> RtpPacket:
    body = build_event(event, end=end, volume=volume, duration=duration) if payload is None else payload
    return RtpPacket(
        marker=marker, payload_type=payload_type, sequence=sequence, timestamp=timestamp, ssrc=ssrc, payload=body
    )


def feed(rx: EventReceiver, packets: list[RtpPacket], start: float = 0.0) -> list[KeyEvent]:
    for n, p in enumerate(packets):
        rx.receive(p, start + n * 0.02)
    out = list(rx.events)
    rx.events.clear()
    return out


def test_a_press_is_reported_at_its_first_packet_and_released_at_its_end() -> None:
    rx = EventReceiver()
    rx.receive(packet(800, 160, marker=True, volume=7), 1.0)
    assert rx.events == [KeyPressed(key="5", event=5, volume=7, timestamp=800, now=1.0)]
    rx.events.clear()
    for n, duration in enumerate((320, 480)):
        rx.receive(packet(800, duration, volume=7), 1.02 + 0.02 * n)
    assert rx.events == [] and rx.next_deadline() == pytest.approx(1.04 + 1.0)
    rx.receive(packet(800, 640, end=True, volume=9), 1.06)
    assert rx.events == [
        KeyReleased(
            key="5", event=5, volume=9, timestamp=800, duration=640, seconds=0.08, complete=True, now=1.06
        )
    ]
    assert rx.next_deadline() is None


def test_retransmitted_end_packets_and_duplicates_count_once() -> None:
    rx = EventReceiver()
    plan = [packet(0, 160, marker=True), packet(0, 160, marker=True), packet(0, 320)] + [packet(0, 480, end=True)] * 3
    events = feed(rx, plan + [packet(0, 320)])  # and a late duplicate of a middle packet
    assert [type(e) for e in events] == [KeyPressed, KeyReleased]
    assert rx.duplicates == 3


def test_a_lost_start_packet_still_reports_the_press() -> None:
    rx = EventReceiver()
    events = feed(rx, [packet(1600, 480), packet(1600, 640, end=True)])
    assert [type(e) for e in events] == [KeyPressed, KeyReleased]
    assert isinstance(events[1], KeyReleased) and events[1].complete and events[1].duration == 640


def test_only_the_end_packet_arriving_reports_press_and_release() -> None:
    rx = EventReceiver()
    events = feed(rx, [packet(160, 800, end=True, event=11)])
    assert [(type(e), e.key) for e in events] == [(KeyPressed, "#"), (KeyReleased, "#")]


def test_a_lost_end_is_closed_by_the_timeout_on_virtual_time() -> None:
    rx = EventReceiver(timeout=0.5)
    feed(rx, [packet(0, 160, marker=True), packet(0, 320)], start=10.0)
    assert rx.next_deadline() == pytest.approx(10.52)
    rx.handle_timer(10.3)  # too early: nothing
    assert rx.events == []
    rx.handle_timer(10.52)
    assert rx.events == [
        KeyReleased(key="5", event=5, volume=10, timestamp=0, duration=320, seconds=0.04, complete=False, now=10.52)
    ]
    assert rx.next_deadline() is None
    rx.events.clear()
    rx.receive(packet(0, 480, end=True), 10.6)  # the end arrives after all: the press was already reported
    assert rx.events == [] and rx.duplicates == 1


def test_a_lost_end_is_closed_by_the_next_press() -> None:
    rx = EventReceiver()
    events = feed(rx, [packet(0, 160, marker=True), packet(0, 320), packet(2000, 160, marker=True, event=5)])
    assert [type(e) for e in events] == [KeyPressed, KeyReleased, KeyPressed]
    assert isinstance(events[1], KeyReleased) and not events[1].complete and events[1].duration == 320


def test_the_same_key_twice_is_two_presses() -> None:
    rx = EventReceiver()
    first = [packet(0, 160, marker=True), packet(0, 320, end=True), packet(0, 320, end=True)]
    second = [packet(1280, 160, marker=True), packet(1280, 320, end=True), packet(1280, 320, end=True)]
    events = feed(rx, first + second)
    assert [type(e) for e in events] == [KeyPressed, KeyReleased] * 2


def test_late_packets_of_an_older_event_are_ignored() -> None:
    rx = EventReceiver()
    events = feed(rx, [packet(5000, 160, marker=True, event=1), packet(1000, 480, end=True, event=2)])
    assert [type(e) for e in events] == [KeyPressed] and rx.late == 1


def test_a_long_press_split_in_segments_is_one_press() -> None:
    rx = EventReceiver()
    sender = EventSender(payload_type=PT)
    rtp = RtpSender(ssrc=3, sequence=100, timestamp=0xFFFFF000, payload_type=0)  # wraps the timestamp too
    sender.press("9", duration=20.0, volume=3)
    now = 0.0
    while sender.busy:
        data = sender.next_packet(rtp)
        assert data is not None
        rx.receive(parse_rtp(data), now)
        now += 0.02
    assert rx.events == [
        KeyPressed(key="9", event=9, volume=3, timestamp=0xFFFFF000, now=0.0),
        KeyReleased(
            key="9", event=9, volume=3, timestamp=0xFFFFF000, duration=160_000, seconds=20.0,
            complete=True, now=pytest.approx(now - 3 * 0.02),  # type: ignore[arg-type]  # the first of 3 ends
        ),
    ]


def test_long_press_with_a_lost_segment_start() -> None:
    rx = EventReceiver()
    frames = event_plan(4, duration=70_000)
    packets = [
        packet(f.offset, f.payload.duration, end=f.payload.end, marker=f.marker, event=4)
        for f in frames
        if not (f.offset == 65440 and f.payload.duration == 480)  # the second segment's first packet lost
    ]
    events = feed(rx, packets)
    assert [type(e) for e in events] == [KeyPressed, KeyReleased]
    assert isinstance(events[1], KeyReleased) and events[1].duration == 70_000


def test_other_payload_types_malformed_and_unknown_events_are_ignored() -> None:
    rx = EventReceiver()
    rx.receive(packet(0, 160, payload_type=0), 0.0)  # audio
    rx.receive(packet(0, 160, payload=b"\x05\x0a"), 0.0)  # too short
    rx.receive(packet(0, 160, event=17), 0.0)  # not a key
    rx.receive(packet(0, 160, event=255), 0.0)
    assert rx.events == [] and (rx.malformed, rx.unknown) == (1, 2) and rx.next_deadline() is None
    rx.receive(packet(0, 160, event=16, marker=True), 0.1)  # flash is a key
    assert rx.events == [KeyPressed(key="!", event=16, volume=10, timestamp=0, now=0.1)]


def test_a_new_ssrc_closes_the_open_event_and_starts_afresh() -> None:
    rx = EventReceiver()
    events = feed(rx, [packet(5000, 160, marker=True), packet(10, 160, marker=True, ssrc=2)])
    assert [type(e) for e in events] == [KeyPressed, KeyReleased, KeyPressed]


@given(st.lists(st.integers(0, 9), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_each_press_is_reported_once_whatever_is_duplicated_or_lost(keys: list[int], rnd: random.Random) -> None:
    """Send presses, duplicate some packets and drop others (never all of one
    press): every key is pressed and released exactly once, in order."""
    rtp = RtpSender(ssrc=1, sequence=0, timestamp=0, payload_type=0)
    sender = EventSender(payload_type=PT)
    for key in keys:
        sender.press(str(key), duration=rnd.choice([0.02, 0.1, 0.3]))
    stream: list[list[RtpPacket]] = []
    while sender.busy:
        data = sender.next_packet(rtp)
        if data is None:
            rtp.skip()
        else:
            stream.append([parse_rtp(data)])
    for copies in stream:
        if rnd.random() < 0.3:
            copies.append(copies[0])
    by_event: dict[int, list[int]] = {}
    for i, copies in enumerate(stream):
        by_event.setdefault(copies[0].timestamp, []).append(i)
    for indices in by_event.values():
        for i in indices[:-1]:  # the last repeat of each end always gets through
            if rnd.random() < 0.3:
                stream[i] = []
    rx = EventReceiver()
    now = 0.0
    for copies in stream:
        for p in copies:
            rx.receive(p, now)
        now += 0.02
    rx.handle_timer(now + 10)
    pressed = [e.key for e in rx.events if isinstance(e, KeyPressed)]
    released = [e.key for e in rx.events if isinstance(e, KeyReleased)]
    assert pressed == released == [str(k) for k in keys]
