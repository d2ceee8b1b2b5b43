"""Call-progress tones: synthesis, tone plans and a frame player (sans-IO).

Standards: ITU-T E.180/Q.35 (characteristics of tones; the 425 Hz plan), the
North American precise tone plan (ANSI T1.401 / Telcordia LSSGR: dial
350+440 Hz, ringback 440+480 Hz, busy and reorder 480+620 Hz, with their
levels), ITU-T G.711 (the dBm0 reference of the digital signal).

Theory of operation
-------------------
A :class:`Tone` is a set of frequencies, each at ``level`` dBm0, switched by a
cadence of ``(on_seconds, off_seconds)`` pairs::

    lead_in   played once first (e.g. recall dial tone's three 0.1 s bursts)
    cadence   then this pattern: repeated forever (``repeat=True``), or played
              once and followed by silence (``repeat=False``: the tone
              *finishes*); an empty cadence is a steady tone, forever

Durations are converted to samples once (``round(seconds * 8000)``), so a
cadence is exact in samples.  Every burst starts at phase 0 (a sum of sines
starts at zero: no click at the onset); within a burst, and along a steady
tone, the phase runs on across frame boundaries.  A steady tone is looped
over a period holding whole cycles of every one of its frequencies: at 8 kHz
an integer frequency ``f`` repeats every ``8000 / gcd(8000, f)`` samples, so
the least common multiple of those periods divides 8000 (at most 1 s) and the
loop is seamless.  That is why frequencies are whole hertz.

:func:`tone_frames` renders a tone once into 160-sample frames (20 ms at
8 kHz): ``intro`` frames played once, then ``loop`` frames repeated forever.
The split is frame-aligned, so the runtime can encode each frame once (G.711
elsewhere) and loop the payloads without computing anything per packet.  The
result is cached per tone; the frames are shared and must not be modified.
:class:`TonePlayer` walks those frames: ``next_frame()`` gives the next 20 ms.

Levels: a sine whose peak is 16-bit full scale is +3.14 dBm0 (the G.711
A-law reference; µ-law's is 3.17, within 0.03 dB), so a sine at ``L`` dBm0 has
peak ``32767 * 10 ** ((L - 3.14) / 20)``.

Public API
----------
* ``Tone(name, frequencies, level, lead_in=(), cadence=(), repeat=True)``,
  ``Tone.duration`` (seconds, or None when endless);
* ``TonePlan(name, dial, recall_dial, confirmation, reorder, busy, ringback,
  beep)``, ``TonePlan.tone(name)``; :data:`PLANS`, ``tone_plan(name)``
  (``"north_american"``, the default, or ``"itu"``);
* ``synthesize(components, count, start=0) -> array('h')``: a sum of sines
  ``(frequency_hz, level_dbm0)``, samples ``start .. start+count-1``;
* ``tone_frames(tone) -> ToneFrames(intro, loop)``;
* ``TonePlayer(tone)``: ``next_frame()``, ``finished``, ``frames_played``;
* :data:`SAMPLE_RATE`, :data:`FRAME_SAMPLES`, :data:`SILENCE_FRAME`.
"""

from __future__ import annotations

import math
from array import array
from functools import lru_cache
from typing import NamedTuple, Sequence

import msgspec

__all__ = [
    "FRAME_SAMPLES",
    "FULL_SCALE_DBM0",
    "ITU",
    "NORTH_AMERICAN",
    "PLANS",
    "SAMPLE_RATE",
    "SILENCE_FRAME",
    "Tone",
    "ToneFrames",
    "TonePlan",
    "TonePlayer",
    "amplitude",
    "synthesize",
    "tone_frames",
    "tone_plan",
]

SAMPLE_RATE = 8000  # samples per second, ITU-T G.711
FRAME_SAMPLES = 160  # samples, 20 ms at 8 kHz: the RTP packetization (RFC 3551 §4.5 default for PCMU/PCMA)
FULL_SCALE_DBM0 = 3.14  # dBm0, ITU-T G.711: a sine at 16-bit full scale (A-law; µ-law 3.17)
FULL_SCALE = 32767  # the peak of a 16-bit sample
SILENCE_FRAME = array("h", bytes(2 * FRAME_SAMPLES))  # shared: do not modify

Segment = tuple[float, float]  # (on seconds, off seconds)


def amplitude(level_dbm0: float) -> float:
    """The peak sample value of a sine at ``level_dbm0``."""
    return FULL_SCALE * 10.0 ** ((level_dbm0 - FULL_SCALE_DBM0) / 20.0)


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


class Tone(msgspec.Struct, frozen=True, kw_only=True):
    """A call-progress tone: ``frequencies`` (whole Hz, each at ``level`` dBm0)
    switched by ``lead_in`` then ``cadence`` (see the module docstring)."""

    name: str
    frequencies: tuple[int, ...]
    level: float  # dBm0 per frequency
    lead_in: tuple[Segment, ...] = ()
    cadence: tuple[Segment, ...] = ()  # empty: steady
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.frequencies:
            raise ValueError(f"tone {self.name!r}: no frequency")
        for f in self.frequencies:
            if not isinstance(f, int) or not 0 < f < SAMPLE_RATE // 2:
                raise ValueError(f"tone {self.name!r}: frequency {f!r} is not a whole number of Hz below 4000")
        if amplitude(self.level) * len(self.frequencies) > FULL_SCALE:
            raise ValueError(f"tone {self.name!r}: {self.level} dBm0 per frequency clips")
        for on, off in self.lead_in + self.cadence:
            if on < 0 or off < 0:
                raise ValueError(f"tone {self.name!r}: negative duration in its cadence")
        if self.cadence and self.repeat and _samples(sum(on + off for on, off in self.cadence)) == 0:
            raise ValueError(f"tone {self.name!r}: a repeated cadence lasts no time")

    @property
    def steady(self) -> bool:
        """After the lead-in, the tone sounds without a break, forever."""
        return not self.cadence

    @property
    def duration(self) -> float | None:
        """Seconds until the tone falls silent for good, or None (endless)."""
        if self.steady or self.repeat:
            return None
        return sum(on + off for on, off in self.lead_in + self.cadence)


class TonePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The tones of one country's (or one standard's) plan, by role."""

    name: str
    dial: Tone
    recall_dial: Tone  # stutter dial tone: "say more" (CUCM prompts for a code with it)
    confirmation: Tone
    reorder: Tone  # congestion / fast busy: "this failed"
    busy: Tone
    ringback: Tone
    beep: Tone  # a short single beep, for minimal prompts

    def tone(self, role: str) -> Tone:
        """The tone for ``role`` (a field name: "dial", "reorder", ...)."""
        if role not in ROLES:
            raise ValueError(f"no tone {role!r} in plan {self.name!r}; roles: {', '.join(ROLES)}")
        tone: Tone = getattr(self, role)
        return tone


ROLES = ("dial", "recall_dial", "confirmation", "reorder", "busy", "ringback", "beep")

_BURSTS = ((0.1, 0.1),) * 3  # three 0.1 s bursts, 0.1 s apart

# ANSI T1.401 / LSSGR precise tones; levels per frequency
NORTH_AMERICAN = TonePlan(
    name="north_american",
    dial=Tone(name="dial", frequencies=(350, 440), level=-13.0),
    recall_dial=Tone(name="recall_dial", frequencies=(350, 440), level=-13.0, lead_in=_BURSTS),
    confirmation=Tone(name="confirmation", frequencies=(350, 440), level=-13.0, cadence=_BURSTS, repeat=False),
    reorder=Tone(name="reorder", frequencies=(480, 620), level=-24.0, cadence=((0.25, 0.25),)),
    busy=Tone(name="busy", frequencies=(480, 620), level=-24.0, cadence=((0.5, 0.5),)),
    ringback=Tone(name="ringback", frequencies=(440, 480), level=-19.0, cadence=((2.0, 4.0),)),
    beep=Tone(name="beep", frequencies=(440,), level=-13.0, cadence=((0.2, 0.0),), repeat=False),
)

# ITU-T E.180 recommended values: 425 Hz; ringing 1 s on 4 s off; busy 0.5/0.5;
# congestion faster than busy (0.25/0.25, the most common).  E.180 leaves the
# level to each administration within limits; -10 dBm0 is a common European choice.
# E.180 has no recall dial or confirmation tone: these follow the North
# American shapes on 425 Hz.
ITU = TonePlan(
    name="itu",
    dial=Tone(name="dial", frequencies=(425,), level=-10.0),
    recall_dial=Tone(name="recall_dial", frequencies=(425,), level=-10.0, lead_in=_BURSTS),
    confirmation=Tone(name="confirmation", frequencies=(425,), level=-10.0, cadence=_BURSTS, repeat=False),
    reorder=Tone(name="reorder", frequencies=(425,), level=-10.0, cadence=((0.25, 0.25),)),
    busy=Tone(name="busy", frequencies=(425,), level=-10.0, cadence=((0.5, 0.5),)),
    ringback=Tone(name="ringback", frequencies=(425,), level=-10.0, cadence=((1.0, 4.0),)),
    beep=Tone(name="beep", frequencies=(425,), level=-10.0, cadence=((0.2, 0.0),), repeat=False),
)

PLANS: dict[str, TonePlan] = {plan.name: plan for plan in (NORTH_AMERICAN, ITU)}


def tone_plan(name: str = "north_american") -> TonePlan:
    """The plan called ``name``; a ValueError lists the known ones."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown tone plan {name!r}; known: {', '.join(sorted(PLANS))}") from None


def synthesize(components: Sequence[tuple[float, float]], count: int, start: int = 0) -> array:
    """Samples ``start .. start+count-1`` of a sum of sines, each component
    ``(frequency_hz, level_dbm0)`` at phase 0 at sample 0; rounded and clipped
    to 16 bits."""
    parts = [(2.0 * math.pi * f / SAMPLE_RATE, amplitude(level)) for f, level in components]
    sin = math.sin
    out = array("h", bytes(2 * count))
    for i in range(count):
        n = start + i
        value = 0.0
        for step, peak in parts:
            value += peak * sin(step * n)
        out[i] = max(-FULL_SCALE - 1, min(FULL_SCALE, round(value)))
    return out


class ToneFrames(NamedTuple):
    """A tone as frames: ``intro`` once, then ``loop`` forever (shared: do not modify)."""

    intro: tuple[array, ...]
    loop: tuple[array, ...]


def _steady_period(frequencies: tuple[int, ...]) -> int:
    """Samples after which every frequency is back at its starting phase."""
    return math.lcm(*(SAMPLE_RATE // math.gcd(SAMPLE_RATE, f) for f in frequencies))


def _render(tone: Tone, segments: Sequence[Segment]) -> array:
    components = [(float(f), tone.level) for f in tone.frequencies]
    out = array("h")
    for on, off in segments:
        out.extend(synthesize(components, _samples(on)))  # each burst from phase 0
        out.extend(array("h", bytes(2 * _samples(off))))
    return out


@lru_cache(maxsize=64)
def tone_frames(tone: Tone) -> ToneFrames:
    """``tone`` rendered into 160-sample frames (cached per tone)."""
    intro = _render(tone, tone.lead_in)
    if tone.steady:
        period = _steady_period(tone.frequencies)
        loop = synthesize([(float(f), tone.level) for f in tone.frequencies], period)
    elif tone.repeat:
        loop = _render(tone, tone.cadence)
    else:
        intro.extend(_render(tone, tone.cadence))
        loop = array("h", [0])
    # the sample sequence is intro, then loop over and over; cut it into frames
    # so that everything after a frame-aligned point repeats with a whole
    # number of frames
    aligned = -(-len(intro) // FRAME_SAMPLES) * FRAME_SAMPLES
    cycle = math.lcm(len(loop), FRAME_SAMPLES)
    needed = aligned + cycle - len(intro)
    samples = intro + loop * -(-needed // len(loop))
    frames = [samples[i : i + FRAME_SAMPLES] for i in range(0, aligned + cycle, FRAME_SAMPLES)]
    split = aligned // FRAME_SAMPLES
    return ToneFrames(intro=tuple(frames[:split]), loop=tuple(frames[split:]))


class TonePlayer:
    """Consecutive 20 ms frames of a tone, from its start."""

    __slots__ = ("tone", "_intro", "_loop", "_index")

    def __init__(self, tone: Tone) -> None:
        self.tone = tone
        self._intro, self._loop = tone_frames(tone)
        self._index = 0

    def next_frame(self) -> array:
        """The next 160 samples (a shared frame: do not modify it)."""
        i = self._index
        self._index = i + 1
        intro = self._intro
        if i < len(intro):
            return intro[i]
        return self._loop[(i - len(intro)) % len(self._loop)]

    @property
    def frames_played(self) -> int:
        return self._index

    @property
    def finished(self) -> bool:
        """A tone that does not go on forever has played all of its sound."""
        return self.tone.duration is not None and self._index >= len(self._intro)
