"""In-band DTMF detection on 8 kHz linear audio (sans-IO).

Standards: ITU-T Q.23 (the DTMF frequencies and keys) and ITU-T Q.24 (the
receiver: accept a tone pair within 1.5 % of the nominal frequencies, reject
beyond 3.5 %; twist; a tone of 40 ms or more is a digit, a pause of 40 ms or
more separates two digits, an interruption of 10 ms or less does not).

Theory of operation
-------------------
Audio is analysed in blocks of :data:`BLOCK` = 102 samples (12.75 ms), the
size spandsp and Asterisk use: the bins are 78 Hz apart, so the row
frequencies (73 to 89 Hz apart) fall in bins of their own (a tone leaks about
-22 dB into its neighbour's bin).  The shell's frames (160 samples) are
buffered into blocks; ``now`` is the time of the first sample fed, and every
sample after it is 1/8000 s later (a gap in the stream is the shell's to
report with :meth:`DtmfDetector.reset`).

Per block:

1. Energy.  A block whose energy is less than one tone at
   :data:`MIN_LEVEL_DBM0` carries no digit: nothing else is computed (the
   fast path, the common case while a caller listens).
2. Goertzel.  The DFT at each of the 8 frequencies, on each half of the block
   (51 samples); the halves give both the block's spectrum (their sum,
   aligned in phase) and the phase advance of the tone from the first half to
   the second, which is its frequency deviation from the nominal one.
3. The strongest row bin and the strongest column bin; two sieves on the
   bins: each bin not far below :data:`MIN_LEVEL_DBM0`, and each at least
   :data:`RELATIVE_PEAK_DB` above the other bins of its group (lenient: the
   raw bins leak into each other; the exact tests follow).
4. The two-tone fit (:func:`fit_pair`): each half's two bins are explained
   by a row tone and a column tone, each leaking into the other's bin; the
   fit gives each tone's level and its deviation from the nominal
   frequency (the phase advance from the first half to the second) to about
   0.05 dB and 0.01 %, where the raw bins would be off by up to 1 dB and 1 %.
5. The tests on the fit, in order: deviation within :data:`DEVIATION_LIMIT`
   (2.5 %, between Q.24's 1.5 % accept and 3.5 % reject); each tone at
   least :data:`MIN_LEVEL_DBM0`; twist (normal, the column weaker, at most
   :data:`NORMAL_TWIST_DB`; reverse, the column stronger, at most
   :data:`REVERSE_TWIST_DB`); the pair holding at least
   :data:`ENERGY_FRACTION` of the block's energy; the second harmonic at
   least :data:`HARMONIC_DB` below its fundamental.  The harmonic test is
   run for the column tones and for 941 Hz only: the second harmonics of
   697, 770 and 852 Hz lie within a bin of a column frequency, where the
   column tone itself would fail them; for those the energy test stands in
   (a harmonic strong enough to matter takes energy from the pair).  The
   block is then a *hit* for that key, else a *miss*.

Speech and music seldom pass the energy test for long; the duration rule
does the rest.  A run of hits for one key is a candidate; its duration is
measured to a millisecond or two, not to a block: the pair's amplitude in a block
is proportional to the number of samples of the tone it holds, so a block
at either edge of the run (including the miss just before it) counts for
``BLOCK * amplitude / amplitude of a full block``.  The key is *detected*
once the measured tone reaches :data:`MIN_DURATION` (35 ms: Q.24 wants 40 ms
accepted; 20 ms, and here 30 ms, rejected), and reported at once
(:class:`DetectedDigit` with the time the tone began).  A candidate whose
run ends short of that is dropped.  A detected key ends after
:data:`END_MISSES` consecutive misses (38 ms): a 10 ms interruption spoils
at most two blocks, while a 40 ms pause always spoils three, so a digit
pressed twice is reported twice and a digit with a dropout once.  A block
that hits another key while one is held counts as a miss: a new key needs
the pause.

Cost: the fast path costs the energy sum; a block with signal costs 8 x 102
Goertzel steps in one unrolled loop with local variables, the fit and the
tests only once the sieves pass (``bench/dtmf_bench.py`` measures the
microseconds per 20 ms frame).

Public API
----------
``DtmfDetector()``: ``feed(samples, now) -> list[DetectedDigit]``,
``reset()``, ``current`` (the key held, or None);
``DetectedDigit(digit, start, at)``: ``start`` is when the tone began,
``at`` when it was recognised (both on the caller's audio clock).
"""

from __future__ import annotations

import cmath
import math
from array import array
from operator import mul
from typing import Sequence

import msgspec

__all__ = ["BLOCK", "COLUMNS", "KEYS", "ROWS", "DetectedDigit", "DtmfDetector", "analyse", "fit_pair"]

SAMPLE_RATE = 8000  # samples per second
BLOCK = 102  # samples, 12.75 ms: bins 78 Hz apart (spandsp, Asterisk)
HALF = BLOCK // 2  # samples: the lag of the deviation estimate (unambiguous to +-78 Hz)
ROWS = (697, 770, 852, 941)  # Hz, ITU-T Q.23 low group
COLUMNS = (1209, 1336, 1477, 1633)  # Hz, ITU-T Q.23 high group
KEYS = ("123A", "456B", "789C", "*0#D")  # KEYS[row][column], ITU-T Q.23

DEVIATION_LIMIT = 0.025  # fraction of nominal; ITU-T Q.24: accept within 1.5 %, reject beyond 3.5 %
NORMAL_TWIST_DB = 8.0  # dB, column weaker than row (ITU-T Q.24, most administrations; spandsp default)
REVERSE_TWIST_DB = 4.0  # dB, column stronger than row (ITU-T Q.24, most administrations; spandsp default)
TWIST_MARGIN_DB = 0.25  # dB allowed beyond the twist limits for the measurement's error
MIN_LEVEL_DBM0 = -30.0  # dBm0 per frequency; ITU-T Q.24 asks operation down to about -25 dBm0
RELATIVE_PEAK_DB = 4.0  # dB, each bin of the pair above the other bins of its group (a sieve: Q.24's extremes keep >= 5.5)
ENERGY_FRACTION = 0.8  # of the block's energy in the fitted pair: a pure pair 1.0, at 15 dB SNR 0.97, speech far less
HARMONIC_DB = -10.0  # dB, second harmonic relative to its fundamental, at most
MIN_DURATION = 0.035  # seconds; ITU-T Q.24: 40 ms must operate, <= 20 ms must not (30 ms rejected here)
END_MISSES = 3  # blocks (38 ms): a 10 ms break spoils <= 2, a 40 ms pause (ITU-T Q.24) >= 3

_FULL_SCALE = 32767.0
_FULL_SCALE_DBM0 = 3.14  # dBm0, ITU-T G.711 (see tones.FULL_SCALE_DBM0)


def _peak(level_dbm0: float) -> float:
    return _FULL_SCALE * 10.0 ** ((level_dbm0 - _FULL_SCALE_DBM0) / 20.0)


_MIN_MEAN_SQUARE = _peak(MIN_LEVEL_DBM0) ** 2 / 2.0  # of one sine at the minimum level
_MIN_ENERGY = _MIN_MEAN_SQUARE * BLOCK  # a block quieter than one such sine holds no digit
# a sine of peak A in the middle of a bin gives |X|^2 = (A * BLOCK / 2)^2; 2.5 % off
# the bin costs up to 4 dB of that: the bins' first sieve is 6 dB below
_MIN_POWER_IN_BIN = 0.25 * 2.0 * _MIN_MEAN_SQUARE * (BLOCK / 2.0) ** 2
# the fitted twist is exact to about 0.05 dB: the limits are kept with 0.25 dB to spare
_NORMAL_TWIST = 10.0 ** ((NORMAL_TWIST_DB + TWIST_MARGIN_DB) / 10.0)
_REVERSE_TWIST = 10.0 ** ((REVERSE_TWIST_DB + TWIST_MARGIN_DB) / 10.0)
_RELATIVE_PEAK = 10.0 ** (RELATIVE_PEAK_DB / 10.0)
_HARMONIC = 10.0 ** (HARMONIC_DB / 10.0)
_FREQUENCIES = ROWS + COLUMNS
_MIN_SAMPLES = MIN_DURATION * SAMPLE_RATE


class DetectedDigit(msgspec.Struct, frozen=True, kw_only=True):
    """A key recognised in the audio: ``start``, when its tone began; ``at``,
    the end of the block that completed :data:`MIN_DURATION`."""

    digit: str
    start: float
    at: float


class _Bin:
    """Constants of the half-block DFT at one frequency."""

    __slots__ = ("coefficient", "tail", "align", "half_shift", "frequency")

    def __init__(self, frequency: float) -> None:
        w = 2.0 * math.pi * frequency / SAMPLE_RATE
        self.frequency = frequency
        self.coefficient = 2.0 * math.cos(w)
        # Goertzel over n = 0..HALF-1 ends with s1, s2; sum x[n] e^{-jwn} = align * (s1 - tail * s2)
        self.tail = cmath.exp(-1j * w)
        self.align = cmath.exp(-1j * w * (HALF - 1))
        self.half_shift = cmath.exp(-1j * w * HALF)  # the second half's phase reference moved to n = 0


_BINS = tuple(_Bin(f) for f in _FREQUENCIES)
# second harmonics checked: the columns and 941 Hz (index 3); see the module docstring
_HARMONIC_BINS: dict[int, _Bin] = {i: _Bin(2 * f) for i, f in enumerate(_FREQUENCIES) if i >= 3}


def _goertzel_halves(block: Sequence[int]) -> tuple[list[complex], list[complex]]:
    """DFT of each half of the block at the 8 frequencies, each half from its own n = 0."""
    c0, c1, c2, c3, c4, c5, c6, c7 = (b.coefficient for b in _BINS)
    halves: list[list[complex]] = []
    for start in (0, HALF):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
        for v in block[start : start + HALF]:
            a0, b0 = v + c0 * a0 - b0, a0
            a1, b1 = v + c1 * a1 - b1, a1
            a2, b2 = v + c2 * a2 - b2, a2
            a3, b3 = v + c3 * a3 - b3, a3
            a4, b4 = v + c4 * a4 - b4, a4
            a5, b5 = v + c5 * a5 - b5, a5
            a6, b6 = v + c6 * a6 - b6, a6
            a7, b7 = v + c7 * a7 - b7, a7
        states = ((a0, b0), (a1, b1), (a2, b2), (a3, b3), (a4, b4), (a5, b5), (a6, b6), (a7, b7))
        halves.append([b.align * (s1 - b.tail * s2) for b, (s1, s2) in zip(_BINS, states)])
    return halves[0], halves[1]


def _dft(block: Sequence[int], b: _Bin) -> complex:
    """One bin over the whole block (the on-demand harmonic check)."""
    c = b.coefficient
    s1 = s2 = 0.0
    for v in block:
        s1, s2 = v + c * s1 - s2, s1
    return s1 - b.tail * s2  # magnitude only is used: the phase reference does not matter


def _kernel(theta: float) -> complex:
    """sum over n = 0..HALF-1 of e^{j theta n}: how a complex exponential at
    ``theta`` (radians per sample) off a bin shows in that bin."""
    z = cmath.exp(1j * theta)
    if abs(1.0 - z) < 1e-12:
        return complex(HALF)
    return (1.0 - cmath.exp(1j * theta * HALF)) / (1.0 - z)


FIT_ROUNDS = 3  # the two-tone fit: rounds of re-estimating deviations (0.05 dB, 0.01 % after 3)


def fit_pair(first: list[complex], second: list[complex], r: int, c: int) -> tuple[float, float, float, float]:
    """The row and column tones that explain the half-block DFTs at bins ``r``
    and ``c``: ``(row deviation Hz, column deviation Hz, row power, column power)``,
    powers as mean squares (a sine of peak A: A**2 / 2).

    Each half's two bins are two equations in the tones' complex amplitudes
    (each tone leaks into the other's bin, and its negative-frequency image
    into both): solved with the deviations estimated so far, the phase
    advance of each amplitude from the first half to the second gives better
    deviations, and again.  This removes the cross-leakage that would
    otherwise bias the deviation by up to 1 % and the twist by up to 1 dB."""
    wr = 2.0 * math.pi * _FREQUENCIES[r] / SAMPLE_RATE
    wc = 2.0 * math.pi * _FREQUENCIES[c] / SAMPLE_RATE
    dr = dc = 0.0  # deviations, radians per sample
    amplitudes = [(0j, 0j), (0j, 0j)]  # per half: (row, column) positive-frequency amplitudes
    for _ in range(FIT_ROUNDS):
        k_rr, k_cc = _kernel(dr), _kernel(dc)
        k_rc, k_cr = _kernel(wc + dc - wr), _kernel(wr + dr - wc)  # column into row's bin, row into column's
        i_rr, i_rc = _kernel(-2.0 * wr - dr), _kernel(-wr - wc - dc)  # images into the row's bin
        i_cr, i_cc = _kernel(-wr - wc - dr), _kernel(-2.0 * wc - dc)  # images into the column's bin
        det = k_rr * k_cc - k_rc * k_cr
        if abs(det) < 1e-9:
            break
        previous = amplitudes
        amplitudes = []
        for half, (pa, pb) in zip((first, second), previous):
            xr = half[r] - pa.conjugate() * i_rr - pb.conjugate() * i_rc
            xc = half[c] - pa.conjugate() * i_cr - pb.conjugate() * i_cc
            amplitudes.append(((xr * k_cc - k_rc * xc) / det, (k_rr * xc - k_cr * xr) / det))
        (a1, b1), (a2, b2) = amplitudes
        dr = cmath.phase(a2 * a1.conjugate() * cmath.exp(-1j * wr * HALF)) / HALF
        dc = cmath.phase(b2 * b1.conjugate() * cmath.exp(-1j * wc * HALF)) / HALF
    (a1, b1), (a2, b2) = amplitudes
    to_hz = SAMPLE_RATE / (2.0 * math.pi)
    # a sine of peak A has positive-frequency amplitude A / 2, mean square A**2 / 2
    row = (abs(a1) ** 2 + abs(a2) ** 2)
    column = (abs(b1) ** 2 + abs(b2) ** 2)
    return dr * to_hz, dc * to_hz, row, column


def analyse(block: Sequence[int]) -> tuple[str | None, list[float]]:
    """One block: the key it holds (or None) and the power at the 8 frequencies
    (empty on the fast path).  Exposed for tests and tuning."""
    energy = float(sum(map(mul, block, block)))
    if energy < _MIN_ENERGY:
        return None, []
    first, second = _goertzel_halves(block)
    spectrum = [a + b.half_shift * c for a, b, c in zip(first, _BINS, second)]
    powers = [abs(x) ** 2 for x in spectrum]
    r = max(range(4), key=powers.__getitem__)
    c = 4 + max(range(4), key=lambda i: powers[4 + i])
    pr, pc = powers[r], powers[c]
    if pr < _MIN_POWER_IN_BIN or pc < _MIN_POWER_IN_BIN:
        return None, powers
    for i in range(4):
        if (i != r and powers[i] * _RELATIVE_PEAK > pr) or (i + 4 != c and powers[i + 4] * _RELATIVE_PEAK > pc):
            return None, powers
    dev_r, dev_c, row, column = fit_pair(first, second, r, c)
    if abs(dev_r) > DEVIATION_LIMIT * _FREQUENCIES[r] or abs(dev_c) > DEVIATION_LIMIT * _FREQUENCIES[c]:
        return None, powers
    if row < _MIN_MEAN_SQUARE or column < _MIN_MEAN_SQUARE:
        return None, powers
    if row > column * _NORMAL_TWIST or column > row * _REVERSE_TWIST:
        return None, powers
    if (row + column) * BLOCK < ENERGY_FRACTION * energy:
        return None, powers
    for i, p in ((r, pr), (c, pc)):
        hb = _HARMONIC_BINS.get(i)
        if hb is not None and abs(_dft(block, hb)) ** 2 > _HARMONIC * p:
            return None, powers
    return KEYS[r][c - 4], powers


def _amplitude(powers: list[float], key: tuple[int, int]) -> float:
    if not powers:
        return 0.0
    return math.sqrt(powers[key[0]]) + math.sqrt(powers[key[1]])


_INDEX = {KEYS[r][c]: (r, 4 + c) for r in range(4) for c in range(4)}


class DtmfDetector:
    """In-band DTMF for one stream; see the module docstring."""

    __slots__ = ("_buffer", "_buffer_start", "_previous", "_run_key", "_run", "_run_lead", "_run_start", "_held", "_misses")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (a gap, a new stream)."""
        self._buffer = array("h")
        self._buffer_start = 0.0
        self._previous: list[float] = []  # the powers of the last block
        self._run_key: str | None = None  # the key of the current run of hits, not yet detected
        self._run: list[list[float]] = []  # the run's blocks' powers
        self._run_lead: list[float] = []  # the powers of the block before the run (its leading edge)
        self._run_start = 0.0  # the start time of the run's first block
        self._held: str | None = None  # the key detected and not yet ended
        self._misses = 0  # consecutive misses while a key is held

    @property
    def current(self) -> str | None:
        """The key being held (detected, not yet ended), or None."""
        return self._held

    def feed(self, samples: Sequence[int], now: float) -> list[DetectedDigit]:
        """Analyse ``samples`` (16-bit linear, 8 kHz), the first of which was
        sampled at ``now``; return the keys whose tone reached
        :data:`MIN_DURATION` in them, each once, at its start."""
        buffer = self._buffer
        if not buffer:
            self._buffer_start = now
        buffer.extend(samples)
        out: list[DetectedDigit] = []
        start = self._buffer_start
        offset = 0
        last = len(buffer) - BLOCK
        while offset <= last:
            key, powers = analyse(buffer[offset : offset + BLOCK])
            found = self._step(key, powers, start + offset / SAMPLE_RATE)
            if found is not None:
                out.append(found)
            offset += BLOCK
        if offset:
            del buffer[:offset]
            self._buffer_start = start + offset / SAMPLE_RATE
        return out

    def _step(self, key: str | None, powers: list[float], at: float) -> DetectedDigit | None:
        """One block's verdict (``key`` or None: a miss) through the duration rules."""
        found = None
        end = at + BLOCK / SAMPLE_RATE
        if self._held is not None:
            if key == self._held:
                self._misses = 0
            else:
                self._misses += 1
                if self._misses >= END_MISSES:
                    self._held = None
        elif key is not None and key == self._run_key:
            self._run.append(powers)
            found = self._check(end)
        else:
            if self._run_key is not None:  # the run ends: this block is its trailing edge
                found = self._check(end, trailing=powers)
                if found is not None:
                    self._misses = 1  # this block is already the pause's first
                self._run_key = None
            if found is None and key is not None:
                self._run_key = key
                self._run = [powers]
                self._run_lead = self._previous
                self._run_start = at
        self._previous = powers
        return found

    def _check(self, at: float, trailing: list[float] | None = None) -> DetectedDigit | None:
        """The run's key, detected, once its measured tone reaches MIN_DURATION."""
        key = self._run_key
        assert key is not None
        index = _INDEX[key]
        amplitudes = [_amplitude(p, index) for p in self._run]
        if trailing is not None:
            amplitudes.append(_amplitude(trailing, index))
        full = max(amplitudes)
        coverage = [min(1.0, a / full) for a in amplitudes]  # of each block, the part the tone fills
        lead = min(1.0, _amplitude(self._run_lead, index) / full)
        samples = (lead + sum(coverage)) * BLOCK
        if samples < _MIN_SAMPLES:
            return None
        self._held = key
        self._misses = 0
        self._run_key = None
        # the tone began before the end of the run's first block by what it fills of it and of the lead
        began = self._run_start + (1.0 - coverage[0] - lead) * BLOCK / SAMPLE_RATE
        return DetectedDigit(digit=key, start=began, at=at)
