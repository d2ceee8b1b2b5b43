"""Tones: frequencies and levels by DFT, cadences exact in samples, phase
continuity across frames and across the loop, both plans."""

from __future__ import annotations

import cmath
import math
from array import array

import pytest

from b2bua.media.tones import (
    FRAME_SAMPLES,
    ITU,
    NORTH_AMERICAN,
    PLANS,
    ROLES,
    Tone,
    TonePlayer,
    amplitude,
    synthesize,
    tone_frames,
    tone_plan,
)

ALL_TONES = [(plan.name, role, plan.tone(role)) for plan in PLANS.values() for role in ROLES]
IDS = [f"{p}-{r}" for p, r, _ in ALL_TONES]


def play(tone: Tone, frames: int) -> array:
    player = TonePlayer(tone)
    out = array("h")
    for _ in range(frames):
        frame = player.next_frame()
        assert len(frame) == FRAME_SAMPLES
        out.extend(frame)
    return out


def peak_amplitude(samples: array, frequency: float) -> float:
    """Amplitude of the sine at ``frequency`` over ``samples`` (a DFT bin)."""
    w = -2j * math.pi * frequency / 8000
    return 2 * abs(sum(v * cmath.exp(w * n) for n, v in enumerate(samples))) / len(samples)


@pytest.mark.parametrize("plan", [NORTH_AMERICAN, ITU], ids=["na", "itu"])
def test_dial_tone_frequencies_and_level(plan: object) -> None:
    tone = tone_plan(getattr(plan, "name")).dial
    one_second = play(tone, 50)
    for f in tone.frequencies:
        # the peak, to the hertz, is the nominal frequency; its level is the plan's
        near = {g: peak_amplitude(one_second, g) for g in range(f - 3, f + 4)}
        assert max(near, key=near.__getitem__) == f
        assert 20 * math.log10(near[f] / amplitude(tone.level)) == pytest.approx(0.0, abs=0.05)
    # nothing else: the listed sines hold all the energy
    energy = sum(v * v for v in one_second) / len(one_second)
    assert energy == pytest.approx(sum(amplitude(tone.level) ** 2 / 2 for _ in tone.frequencies), rel=0.01)


def test_the_north_american_plan() -> None:
    na = tone_plan("north_american")
    assert tone_plan() is na
    assert na.dial.frequencies == (350, 440) and na.dial.level == -13.0 and na.dial.steady
    assert na.recall_dial.lead_in == ((0.1, 0.1),) * 3 and na.recall_dial.steady
    assert na.confirmation.cadence == ((0.1, 0.1),) * 3 and na.confirmation.duration == pytest.approx(0.6)
    assert na.reorder.frequencies == (480, 620) and na.reorder.cadence == ((0.25, 0.25),)
    assert na.busy.frequencies == (480, 620) and na.busy.cadence == ((0.5, 0.5),)
    assert na.ringback.frequencies == (440, 480) and na.ringback.cadence == ((2.0, 4.0),)
    assert na.beep.duration == pytest.approx(0.2)


def test_the_itu_plan() -> None:
    itu = tone_plan("itu")
    assert {itu.tone(r).frequencies for r in ROLES} == {(425,)}
    assert itu.dial.steady
    assert itu.busy.cadence == ((0.5, 0.5),)
    assert itu.reorder.cadence == ((0.25, 0.25),)
    assert itu.ringback.cadence == ((1.0, 4.0),)


def test_unknown_plan_and_role_are_errors_that_list_the_choices() -> None:
    with pytest.raises(ValueError, match="itu, north_american"):
        tone_plan("mars")
    with pytest.raises(ValueError, match="reorder"):
        NORTH_AMERICAN.tone("howler")


def test_invalid_tones_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        Tone(name="x", frequencies=(440.5,), level=-13.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clips"):
        Tone(name="x", frequencies=(440, 480), level=3.0)
    with pytest.raises(ValueError, match="negative"):
        Tone(name="x", frequencies=(440,), level=-13.0, cadence=((0.1, -0.1),))


@pytest.mark.parametrize(("plan", "role", "tone"), ALL_TONES, ids=IDS)
def test_cadence_is_exact_in_samples(plan: str, role: str, tone: Tone) -> None:
    """Each burst is the synthesized pair from phase 0, each gap exact zeros,
    in the order lead-in, cadence, cadence... (or silence after a single one)."""
    components = [(float(f), tone.level) for f in tone.frequencies]
    cycle = sum(round(on * 8000) + round(off * 8000) for on, off in tone.cadence)
    lead = sum(round(on * 8000) + round(off * 8000) for on, off in tone.lead_in)
    total = lead + (2 * cycle if tone.repeat and tone.cadence else cycle) + 1600
    out = play(tone, -(-total // FRAME_SAMPLES))
    pos = 0
    segments = list(tone.lead_in) + list(tone.cadence) * (2 if tone.repeat else 1)
    for on, off in segments:
        n_on, n_off = round(on * 8000), round(off * 8000)
        assert out[pos : pos + n_on] == synthesize(components, n_on)
        assert not any(out[pos + n_on : pos + n_on + n_off])
        pos += n_on + n_off
    if tone.steady:  # then steady, phase from 0 at its start
        assert out[pos : pos + 1600] == synthesize(components, 1600)
    elif not tone.repeat:
        assert not any(out[pos:])


@pytest.mark.parametrize(("plan", "role", "tone"), ALL_TONES, ids=IDS)
def test_no_discontinuity_at_frame_boundaries(plan: str, role: str, tone: Tone) -> None:
    """The step between the last sample of a frame and the first of the next
    is no larger than the sum of sines can make within a burst (bursts start
    at zero, so an onset is no step either); across the loop point too."""
    frames = tone_frames(tone)
    out = play(tone, len(frames.intro) + 2 * len(frames.loop) + 1)
    bound = sum(amplitude(tone.level) * 2 * math.pi * f / 8000 for f in tone.frequencies) + 1
    steps = [abs(out[i] - out[i - 1]) for i in range(FRAME_SAMPLES, len(out), FRAME_SAMPLES)]
    assert max(steps) <= bound


def test_a_steady_tone_loops_seamlessly() -> None:
    """Frames from the player (looping a precomputed cycle) equal a direct
    synthesis over a continuous sample index: phase continuity everywhere."""
    for tone in (NORTH_AMERICAN.dial, ITU.dial):
        components = [(float(f), tone.level) for f in tone.frequencies]
        assert play(tone, 250) == synthesize(components, 250 * FRAME_SAMPLES)


def test_frames_are_precomputed_once_and_loop() -> None:
    frames = tone_frames(NORTH_AMERICAN.ringback)
    assert frames is tone_frames(NORTH_AMERICAN.ringback)  # cached
    assert len(frames.intro) == 0 and len(frames.loop) == 300  # 6 s in 20 ms frames
    player = TonePlayer(NORTH_AMERICAN.ringback)
    first = [player.next_frame() for _ in range(300)]
    assert [player.next_frame() for _ in range(300)] == first
    stutter = tone_frames(NORTH_AMERICAN.recall_dial)
    assert len(stutter.intro) == 30 and len(stutter.loop) == 5  # 0.6 s of bursts; 350+440 repeat every 100 ms


def test_a_single_tone_finishes() -> None:
    player = TonePlayer(NORTH_AMERICAN.confirmation)
    for _ in range(29):
        player.next_frame()
    assert not player.finished
    player.next_frame()
    assert player.finished and player.frames_played == 30
    assert not any(player.next_frame())
    endless = TonePlayer(NORTH_AMERICAN.busy)
    for _ in range(500):
        endless.next_frame()
    assert not endless.finished
