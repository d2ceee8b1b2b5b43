"""How many RTP streams one core paces at 20 ms, and how late its ticks run.

Run:  .venv/bin/python bench/media_pacing.py [--streams 100,250,500,1000,2000]
      [--seconds 5] [--encode] [--asyncio]

For each stream count it opens that many :class:`b2bua.transport.rtp.RtpStream`
on 127.0.0.1, all paced by one :class:`~b2bua.transport.rtp.RtpPacer`, each
playing 160-byte G.711 frames to a sink socket that nobody reads (the kernel
drops what overflows it, so no receiver competes for the CPU).  With
``--encode`` every frame is encoded from linear samples as it is sent
(``g711.encode_ulaw``), the cost of a tone generated on the fly; without it the
frames are pre-encoded, as announcements are.

It prints, per stream count: the pacer's tick lateness (p50, p99, max: how
late the first packet of a tick leaves), "last p99" (lateness plus the time
the tick took to send them all: how late the last stream's packet leaves, the
worst frame-timing jitter a phone hears), packets sent against the 50 per
stream per second that were due, frames skipped by late ticks, and the CPU the
process used (user + system over wall time: 100% is one core).  The last
lines name the largest counts whose p99 tick lateness, and p99 last-packet
lateness, stayed under 10 ms.

The loop is uvloop, as the server runs (``--asyncio`` for the standard loop);
uvloop keeps timers to the millisecond, so its lateness comes in whole ms.
The figures depend on the machine and its load: compare runs on the same
machine, not against a fixed number.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import socket
import time
from array import array

from b2bua.media.g711 import encode_ulaw
from b2bua.transport.rtp import RtpPacer, RtpPortPool, RtpStream, open_stream

TARGET_P99 = 0.010  # seconds of tick lateness
FIRST_PORT, LAST_PORT = 30000, 39999


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else math.nan


def tone_frames() -> list[array[int]]:
    """One second of a 425 Hz tone, as 50 frames of linear samples."""
    samples = [round(8000 * math.sin(2 * math.pi * 425 * n / 8000)) for n in range(8000)]
    return [array("h", samples[i : i + 160]) for i in range(0, 8000, 160)]


async def measure(count: int, seconds: float, encode: bool) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    remote = sink.getsockname()
    pool = RtpPortPool(FIRST_PORT, LAST_PORT)
    pacer = RtpPacer(loop)
    streams: list[RtpStream] = []
    linear = tone_frames()
    encoded = [encode_ulaw(frame) for frame in linear]
    try:
        for _ in range(count):
            stream = await open_stream(pool, pacer, remote=remote)
            if encode:
                stream.play(encode_ulaw(frame) for frame in itertools.cycle(linear))
            else:
                stream.play(itertools.cycle(encoded))
            streams.append(stream)
        await asyncio.sleep(1.0)  # settle: the opening burst is not the steady state
        pacer.lateness.clear()
        pacer.spread.clear()
        sent0 = sum(s.sent for s in streams)
        skipped0 = pacer.skipped
        cpu0, wall0 = os.times(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = os.times(), time.monotonic()
        lateness = list(pacer.lateness)
        last_out = [late + spread for late, spread in zip(lateness, pacer.spread)]
        sent = sum(s.sent for s in streams) - sent0
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0)
        return {
            "p50": percentile(lateness, 50),
            "p99": percentile(lateness, 99),
            "max": max(lateness, default=math.nan),
            "last_p99": percentile(last_out, 99),
            "sent": sent / (wall1 - wall0),
            "due": 50.0 * count,
            "skipped": float(pacer.skipped - skipped0),
            "cpu": cpu,
        }
    finally:
        pacer.close()
        sink.close()


async def main(counts: list[int], seconds: float, encode: bool) -> None:
    print(
        f"{'streams':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'last p99':>9} "
        f"{'pkts/s':>9} {'due/s':>9} {'skipped':>8} {'CPU %':>6}"
    )
    best = best_last = 0
    for count in counts:
        r = await measure(count, seconds, encode)
        print(
            f"{count:>8} {r['p50'] * 1000:>8.2f} {r['p99'] * 1000:>8.2f} {r['max'] * 1000:>8.2f} "
            f"{r['last_p99'] * 1000:>9.2f} "
            f"{r['sent']:>9.0f} {r['due']:>9.0f} {r['skipped']:>8.0f} {r['cpu'] * 100:>6.0f}",
            flush=True,
        )
        if r["p99"] < TARGET_P99:
            best = max(best, count)
        if r["last_p99"] < TARGET_P99:
            best_last = max(best_last, count)
    limit = f"{TARGET_P99 * 1000:.0f} ms"
    print(f"largest count with p99 tick lateness under {limit}: {best or 'none'}")
    print(f"largest count with p99 lateness of the last packet of a tick under {limit}: {best_last or 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="100,250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--encode", action="store_true", help="encode every frame with G.711 as it is sent")
    parser.add_argument("--asyncio", action="store_true", help="the standard event loop instead of uvloop")
    args = parser.parse_args()
    counts = [int(c) for c in args.streams.split(",")]
    coro = main(counts, args.seconds, args.encode)
    if args.asyncio:
        asyncio.run(coro)
    else:
        import uvloop

        uvloop.run(coro)
