"""Micro-benchmark: the in-band DTMF detector's cost per 20 ms frame.

Run:  .venv/bin/python bench/dtmf_bench.py [--seconds N]

For four kinds of input (silence, white noise, dial tone, a held key) it feeds
160-sample frames to ``b2bua.media.dtmf.DtmfDetector`` and reports the
microseconds per frame, and, as the yardstick measured in the same run, the
cost of the least any Goertzel detector does: the 8 Goertzel filters over
every 102-sample block in a plain Python loop, with no tests at all
(DESIGN.md "Tests": performance as a ratio against a peer in the same run).
A 20 ms frame of real time is 20,000 microseconds: the figure divided by
200 is the percent of one core a stream takes.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from array import array
from typing import Callable

from b2bua.media.dtmf import BLOCK, COLUMNS, ROWS, DtmfDetector
from b2bua.media.tones import NORTH_AMERICAN, TonePlayer, synthesize

FRAME = 160


def inputs(frames: int) -> dict[str, array]:
    n = frames * FRAME
    rnd = random.Random(1)
    player = TonePlayer(NORTH_AMERICAN.dial)
    dial = array("h")
    for _ in range(frames):
        dial += player.next_frame()
    return {
        "silence": array("h", bytes(2 * n)),
        "noise": array("h", (max(-32768, min(32767, round(rnd.gauss(0, 1500)))) for _ in range(n))),
        "dial tone": dial,
        "key held": synthesize([(770.0, -7.0), (1336.0, -7.0)], n),
    }


def plain_goertzel(samples: array) -> None:
    coefficients = [2 * math.cos(2 * math.pi * f / 8000) for f in ROWS + COLUMNS]
    buffer = array("h")
    for i in range(0, len(samples), FRAME):
        buffer.extend(samples[i : i + FRAME])
        while len(buffer) >= BLOCK:
            block, buffer = buffer[:BLOCK], buffer[BLOCK:]
            for c in coefficients:
                s1 = s2 = 0.0
                for v in block:
                    s1, s2 = v + c * s1 - s2, s1
                _ = s1 * s1 + s2 * s2 - c * s1 * s2


def ours(samples: array) -> None:
    detector = DtmfDetector()
    for i in range(0, len(samples), FRAME):
        detector.feed(samples[i : i + FRAME], i / 8000)


def per_frame(fn: Callable[[array], None], samples: array) -> float:
    start = time.perf_counter()
    fn(samples)
    return (time.perf_counter() - start) / (len(samples) / FRAME) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description="DTMF detector cost per 20 ms frame")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of audio per input")
    args = parser.parse_args()
    frames = int(args.seconds * 50)
    print(f"{'input':<10} {'ours us/frame':>14} {'plain Goertzel':>15} {'ratio':>6}")
    for name, samples in inputs(frames).items():
        mine = min(per_frame(ours, samples) for _ in range(3))
        base = min(per_frame(plain_goertzel, samples) for _ in range(3))
        print(f"{name:<10} {mine:>14.1f} {base:>15.1f} {mine / base:>6.2f}")


if __name__ == "__main__":
    main()
