"""In-band DTMF: ITU-T Q.24 limits (frequency, twist, duration, pause),
noise, arbitrary framing, and talk-off (no digit from speech or tones)."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.media.dtmf import BLOCK, DtmfDetector, analyse
from b2bua.media.sounds import SoundLibrary
from b2bua.media.tones import PLANS, ROLES, TonePlayer

from .audio import add_noise, detect, key_tone, noise_rms_for_snr, silence, speech_like

KEYS = "0123456789*#ABCD"
OFFSETS = range(0, BLOCK, 17)  # where the tone starts against the 102-sample blocks


def digits(samples: array, **kw: object) -> str:
    return "".join(d.digit for d in detect(samples, **kw))  # type: ignore[arg-type]


def pressed(key: str, ms: float = 60, lead_ms: float = 100, **kw: float) -> array:
    return silence(lead_ms) + key_tone(key, ms, **kw) + silence(100)


@pytest.mark.parametrize("key", KEYS)
def test_every_key_at_nominal_once_with_its_start_time(key: str) -> None:
    for offset in OFFSETS:
        found = detect(silence(offset / 8) + pressed(key), start=10.0)
        assert [d.digit for d in found] == [key]
        assert found[0].start == pytest.approx(10.0 + 0.1 + offset / 8000, abs=0.002)
        assert found[0].start + 0.035 <= found[0].at <= found[0].start + 0.035 + 2 * BLOCK / 8000


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("dev", [0.015, -0.015])
def test_within_1_5_percent_is_accepted(key: str, dev: float) -> None:
    for row_dev, col_dev in ((dev, dev), (dev, -dev), (dev, 0.0), (0.0, dev)):
        for offset in OFFSETS[::2]:
            assert digits(silence(offset / 8) + pressed(key, row_dev=row_dev, col_dev=col_dev)) == key


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("dev", [0.035, -0.035])
def test_beyond_3_5_percent_is_rejected(key: str, dev: float) -> None:
    for row_dev, col_dev in ((dev, 0.0), (0.0, dev), (dev, dev)):
        for offset in OFFSETS[::2]:
            assert digits(silence(offset / 8) + pressed(key, row_dev=row_dev, col_dev=col_dev)) == ""


@pytest.mark.parametrize("key", "1590#D")
def test_twist_limits(key: str) -> None:
    """Normal twist (column weaker) up to 8 dB, reverse (column stronger) up to 4 dB."""
    for offset in OFFSETS[::2]:
        lead = silence(offset / 8)
        assert digits(lead + pressed(key, row_level=-4, col_level=-12)) == key  # normal, 8 dB
        assert digits(lead + pressed(key, row_level=-4, col_level=-13)) == ""  # 9 dB
        assert digits(lead + pressed(key, row_level=-12, col_level=-8)) == key  # reverse, 4 dB
        assert digits(lead + pressed(key, row_level=-12, col_level=-7)) == ""  # 5 dB


def test_twist_and_deviation_together() -> None:
    for key in KEYS:
        for dev in (0.015, -0.015):
            assert digits(pressed(key, row_dev=dev, col_dev=-dev, row_level=-4, col_level=-11.5)) == key
            assert digits(pressed(key, row_dev=-dev, col_dev=dev, row_level=-11.5, col_level=-8)) == key


def test_levels() -> None:
    assert digits(pressed("5", row_level=-25, col_level=-25)) == "5"
    assert digits(pressed("5", row_level=-36, col_level=-36)) == ""


@pytest.mark.parametrize("ms", [40, 45, 50])
def test_40_ms_is_a_digit_wherever_it_falls(ms: float) -> None:
    for offset in range(0, BLOCK, 3):
        assert digits(silence(offset / 8) + pressed("8", ms=ms)) == "8"


@pytest.mark.parametrize("ms", [10, 20, 25, 30])
def test_30_ms_and_less_is_not_a_digit_wherever_it_falls(ms: float) -> None:
    for offset in range(0, BLOCK, 3):
        assert digits(silence(offset / 8) + pressed("8", ms=ms)) == ""


def test_a_40_ms_pause_separates_two_presses_and_a_10_ms_break_does_not() -> None:
    for offset in range(0, BLOCK, 7):
        lead = silence(100 + offset / 8)
        twice = lead + key_tone("3", 50) + silence(40) + key_tone("3", 50) + silence(100)
        assert digits(twice) == "33"
        held = key_tone("3", 130)
        for i in range(400, 480):  # a 10 ms dropout in a held key
            held[i] = 0
        assert digits(lead + held + silence(100)) == "3"


def test_a_held_key_is_one_digit_and_a_sequence_is_every_digit() -> None:
    assert digits(pressed("0", ms=2000)) == "0"
    sequence = array("h")
    for key in KEYS:
        sequence += key_tone(key, 50) + silence(50)  # 10 digits a second
    assert digits(sequence) == KEYS


@pytest.mark.parametrize("snr", [20, 15])
def test_white_noise(snr: float) -> None:
    rms = noise_rms_for_snr([-7, -7], snr)
    for i, key in enumerate(KEYS):
        assert digits(add_noise(pressed(key), rms, seed=i)) == key


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(KEYS),
    lead=st.integers(min_value=0, max_value=2000),
    ms=st.integers(min_value=40, max_value=300),
    chunk=st.integers(min_value=1, max_value=500),
    row_dev=st.floats(min_value=-0.015, max_value=0.015),
    col_dev=st.floats(min_value=-0.015, max_value=0.015),
)
def test_any_offset_length_and_framing(key: str, lead: int, ms: int, chunk: int, row_dev: float, col_dev: float) -> None:
    audio = array("h", bytes(2 * lead)) + key_tone(key, ms, row_dev=row_dev, col_dev=col_dev) + silence(60)
    found = detect(audio, chunk=chunk, start=5.0)
    assert [d.digit for d in found] == [key]
    assert found[0].start == pytest.approx(5.0 + lead / 8000, abs=0.003)  # within 3 ms: the edge blocks are estimated from their amplitude


def test_reset_forgets_the_stream() -> None:
    detector = DtmfDetector()
    half = key_tone("9", 30)
    assert detector.feed(half, 0.0) == []
    detector.reset()
    assert detector.feed(silence(100), 1.0) == []
    assert detector.current is None
    assert [d.digit for d in detector.feed(key_tone("9", 60), 2.0)] == ["9"]
    assert detector.current == "9"


# -- talk-off ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SoundLibrary().names())
def test_no_digit_in_the_shipped_announcements(name: str) -> None:
    speech = SoundLibrary().load(name)
    for offset in (0, 51):
        assert digits(speech[offset:]) == ""
    blocks = [analyse(speech[i : i + BLOCK])[0] for i in range(0, len(speech) - BLOCK, BLOCK)]
    assert blocks.count(None) == len(blocks)  # not even one block looks like a key


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_no_digit_in_any_tone(plan: str, role: str) -> None:
    player = TonePlayer(PLANS[plan].tone(role))
    audio = array("h")
    for _ in range(400):  # 8 s: a whole ringback cycle and more
        audio += player.next_frame()
    assert digits(audio) == ""


def test_no_digit_in_speech_like_sound() -> None:
    for seed in range(2):
        assert digits(speech_like(4.0, seed=seed)) == ""


def test_no_digit_in_noise() -> None:
    assert digits(add_noise(silence(3000), 3000, seed=7)) == ""
