"""Generate the shipped announcements: ``python -m b2bua.media.make_announcements``.

A development tool, run by hand when the wording changes; its output
(``b2bua/media/sounds/*.wav``) is committed, so neither the server nor the
tests need espeak-ng.  Needs the ``espeak-ng`` program (Debian package
``espeak-ng``).

Standards: RIFF/WAVE; 8 kHz 16-bit mono linear PCM (the input of ITU-T
G.711); the level follows the usual telephony practice of speech about
16 dB below full scale (ITU-T P.56 active speech level).

Theory of operation
-------------------
For each entry of :data:`b2bua.media.sounds.PIECES`: espeak-ng speaks the
words to a 22050 Hz WAV on its standard output; the samples are resampled to
8 kHz by a windowed-sinc low-pass interpolator (:func:`resample`: cut-off
3.6 kHz, below the new Nyquist frequency, Blackman window, 32 input samples
each side), leading and trailing silence is trimmed to 20 ms, and the level
is set so that the active speech (the 10 ms stretches louder than -50 dBFS)
has an RMS of :data:`TARGET_DBFS`, unless that would clip (then the peak is
held at :data:`PEAK_LIMIT`).  Everything but espeak-ng is deterministic and
pure Python.
"""

from __future__ import annotations

import argparse
import math
import struct
import subprocess
import sys
import wave
from array import array
from pathlib import Path
from typing import Sequence

from .sounds import PIECES, SHIPPED

TARGET_DBFS = -16.0  # dBFS, RMS of the active speech
PEAK_LIMIT = 0.89  # of full scale (-1 dBFS): the gain never pushes a peak past it
SILENCE_DBFS = -50.0  # dBFS: a 10 ms stretch quieter than this is silence
CUTOFF = 3600.0  # Hz: the low-pass before 8 kHz (Nyquist 4 kHz)
HALF_TAPS = 32  # input samples each side of the interpolation point
VOICE = "en-us"
SPEED = 150  # words per minute (espeak-ng's default is 175: slower is clearer on a phone)
OUT_RATE = 8000  # Hz


def speak(text: str, voice: str = VOICE) -> tuple[array, int]:
    """espeak-ng's rendering of ``text``: (samples, sample rate)."""
    proc = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(SPEED), "--stdout", text],
        capture_output=True,
        check=True,
    )
    return parse_streamed_wav(proc.stdout)


def parse_streamed_wav(data: bytes) -> tuple[array, int]:
    """A 16-bit mono WAV written to a pipe: its sizes are placeholders, so the
    ``data`` chunk is taken to run to the end."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not write a WAV file")
    pos = 12
    rate = 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
            if channels != 1 or bits != 16:
                raise ValueError(f"espeak-ng wrote {channels} channel(s) of {bits}-bit samples")
        elif chunk == b"data":
            samples = array("h")
            body = data[pos + 8 :]
            samples.frombytes(body[: len(body) // 2 * 2])
            if sys.byteorder == "big":
                samples.byteswap()
            return samples, rate
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk in espeak-ng's WAV")


def resample(samples: Sequence[int], rate_in: int, rate_out: int = OUT_RATE) -> list[float]:
    """Band-limited interpolation: each output sample is the input convolved
    with a Blackman-windowed sinc low-pass (``CUTOFF``) centred on its time."""
    step = rate_in / rate_out
    fc = CUTOFF / rate_in  # cycles per input sample
    count = int(len(samples) / step)
    out: list[float] = []
    for n in range(count):
        t = n * step
        centre = int(t)
        acc = 0.0
        for k in range(centre - HALF_TAPS + 1, centre + HALF_TAPS + 1):
            if 0 <= k < len(samples):
                x = t - k
                window = 0.42 + 0.5 * math.cos(math.pi * x / HALF_TAPS) + 0.08 * math.cos(2 * math.pi * x / HALF_TAPS)
                core = 2 * fc if x == 0 else math.sin(2 * math.pi * fc * x) / (math.pi * x)
                acc += samples[k] * core * window
        out.append(acc)
    return out


def finish(samples: list[float], rate: int = OUT_RATE) -> array:
    """Trim silence (keeping 20 ms), set the level, round to 16 bits."""
    stretch = rate // 100  # 10 ms
    floor = (32767 * 10 ** (SILENCE_DBFS / 20)) ** 2
    loud = [
        i
        for i in range(0, len(samples), stretch)
        if sum(v * v for v in samples[i : i + stretch]) / len(samples[i : i + stretch]) > floor
    ]
    if not loud:
        raise ValueError("espeak-ng produced silence")
    margin = 2 * stretch
    body = samples[max(0, loud[0] - margin) : loud[-1] + stretch + margin]
    active = [v for i in loud for v in samples[i : i + stretch]]
    rms = math.sqrt(sum(v * v for v in active) / len(active))
    peak = max(abs(v) for v in body)
    gain = min(32767 * 10 ** (TARGET_DBFS / 20) / rms, PEAK_LIMIT * 32767 / peak)
    return array("h", (max(-32768, min(32767, round(v * gain))) for v in body))


def write_wav(path: Path, samples: array) -> None:
    data = samples
    if sys.byteorder == "big":
        data = array("h", samples)
        data.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(OUT_RATE)
        w.writeframes(data.tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=SHIPPED, help="directory for the WAV files")
    parser.add_argument("--voice", default=VOICE)
    parser.add_argument("names", nargs="*", help="only these (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or sorted(PIECES):
        samples, rate = speak(PIECES[name], args.voice)
        out = finish(resample(samples, rate))
        write_wav(args.out / f"{name}.wav", out)
        print(f"{name}.wav: {len(out) / OUT_RATE:.2f} s  {PIECES[name]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
