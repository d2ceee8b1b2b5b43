"""Synthetic audio for the media tests: DTMF keys, noise, speech-like sound."""

from __future__ import annotations

import math
import random
from array import array
from typing import Sequence

from b2bua.media.dtmf import COLUMNS, KEYS, DetectedDigit, DtmfDetector
from b2bua.media.tones import amplitude, synthesize

RATE = 8000


def silence(ms: float) -> array:
    return array("h", bytes(2 * round(ms * RATE / 1000)))


def key_tone(
    key: str, ms: float, *, row_dev: float = 0.0, col_dev: float = 0.0, row_level: float = -7.0, col_level: float = -7.0
) -> array:
    """``key``'s pair for ``ms``; deviations as fractions, levels in dBm0."""
    r = next(i for i, row in enumerate(KEYS) if key in row)
    c = KEYS[r].index(key)
    from b2bua.media.dtmf import ROWS

    components = [(ROWS[r] * (1 + row_dev), row_level), (COLUMNS[c] * (1 + col_dev), col_level)]
    return synthesize(components, round(ms * RATE / 1000))


def add_noise(samples: Sequence[int], rms: float, seed: int) -> array:
    rnd = random.Random(seed)
    return array("h", (max(-32768, min(32767, round(v + rnd.gauss(0.0, rms)))) for v in samples))


def noise_rms_for_snr(signal_levels_dbm0: Sequence[float], snr_db: float) -> float:
    power = sum(amplitude(level) ** 2 / 2 for level in signal_levels_dbm0)
    return math.sqrt(power / 10 ** (snr_db / 10))


def detect(samples: Sequence[int], *, chunk: int = 160, start: float = 0.0) -> list[DetectedDigit]:
    """Feed ``samples`` to a fresh detector in ``chunk``-sample pieces."""
    detector = DtmfDetector()
    found: list[DetectedDigit] = []
    for i in range(0, len(samples), chunk):
        found += detector.feed(array("h", samples[i : i + chunk]), start + i / RATE)
    return found


def speech_like(seconds: float, seed: int = 0) -> array:
    """Voiced sound: a glottal pulse train (f0 gliding 90-240 Hz) through two
    formant resonators gliding across the DTMF band, with unvoiced noise
    bursts between syllables; about -18 dBFS."""
    rnd = random.Random(seed)
    n = round(seconds * RATE)
    out = array("h", bytes(2 * n))
    phase = 0.0
    y1 = y2 = z1 = z2 = 0.0
    for i in range(n):
        t = i / RATE
        syllable = (t * 4.0) % 1.0  # four syllables a second
        f0 = 90 + 150 * (0.5 + 0.5 * math.sin(2 * math.pi * 0.7 * t))
        f1 = 300 + 600 * (0.5 + 0.5 * math.sin(2 * math.pi * 1.3 * t))
        f2 = 900 + 1500 * (0.5 + 0.5 * math.sin(2 * math.pi * 0.9 * t + 1))
        phase += f0 / RATE
        if syllable < 0.75:
            excitation = 1.0 if phase >= 1.0 else 0.0
        else:
            excitation = rnd.gauss(0.0, 0.05)
        phase %= 1.0
        # two-pole resonators, bandwidth 80 Hz
        r = math.exp(-math.pi * 80 / RATE)
        a1 = 2 * r * math.cos(2 * math.pi * f1 / RATE)
        b1 = 2 * r * math.cos(2 * math.pi * f2 / RATE)
        y = excitation + a1 * y1 - r * r * y2
        y2, y1 = y1, y
        z = y + b1 * z1 - r * r * z2
        z2, z1 = z1, z
        out[i] = max(-32768, min(32767, round(z * 900 + y * 1800)))
    return out
