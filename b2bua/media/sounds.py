"""Announcements: the shipped WAV files, an administrator's override
directory, and the account-code prompt composed from pieces.

Standards: the RIFF/WAVE container (read with the standard library's
``wave``), 8 kHz 16-bit mono linear PCM, the input of ITU-T G.711 encoding.

Theory of operation
-------------------
Every announcement has a *name* (lower case letters, digits, ``_``); its
file is ``NAME.wav`` in the override directory when one is configured and
holds it, else in the package's ``sounds/`` directory (generated with
espeak-ng by ``python -m b2bua.media.make_announcements`` and committed, so
nothing is synthesised at run time).  A file that is not 8 kHz, 16-bit,
mono is refused with a :class:`SoundError` that names it and says what it
is: a wrong file in the override directory is found at start-up, not by a
caller hearing noise.

Some names are compositions (:data:`COMPOSED`): the prompt "please enter
your N-digit account code followed by the pound key" is ``enter_code_N``
(N = 2..12), made of the pieces ``please_enter_your``, the number word
``nN``, ``digit_account_code`` and ``followed_by_pound``, with
:data:`GAP` seconds of silence between pieces; ``enter_code`` (any length)
is ``please_enter_your``, ``account_code``, ``followed_by_pound``.  An
override of a piece changes every composition that uses it; an override
file with the composed name itself (``enter_code_5.wav``) wins over the
composition.

:meth:`SoundLibrary.frames` cuts an announcement into 160-sample frames (the
last one padded with silence) for the RTP shell; results are cached.

Public API
----------
``SoundLibrary(override_dir=None)``: ``load(name) -> array('h')``,
``frames(name) -> tuple[array, ...]``, ``path(name) -> Path | None``,
``names()``; ``read_wav(path) -> array('h')``; ``prompt_name(length)``;
the names :data:`ENTER_CODE`, :data:`INVALID_CODE`, :data:`THANK_YOU`,
:data:`CODE_FAILED`; :data:`PIECES` (name -> the words spoken);
:class:`SoundError`.
"""

from __future__ import annotations

import re
import sys
import wave
from array import array
from pathlib import Path

from .errors import MediaError

__all__ = [
    "CODE_FAILED",
    "COMPOSED",
    "ENTER_CODE",
    "GAP",
    "INVALID_CODE",
    "PIECES",
    "SHIPPED",
    "THANK_YOU",
    "SoundError",
    "SoundLibrary",
    "prompt_name",
    "read_wav",
]

SAMPLE_RATE = 8000  # Hz, ITU-T G.711
SAMPLE_WIDTH = 2  # bytes: 16-bit linear
FRAME_SAMPLES = 160  # 20 ms
GAP = 0.08  # seconds of silence between the pieces of a composed prompt
SHIPPED = Path(__file__).resolve().parent / "sounds"

ENTER_CODE = "enter_code"
INVALID_CODE = "invalid_code"
THANK_YOU = "thank_you"
CODE_FAILED = "code_failed"

NUMBER_WORDS = {
    2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
    8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve",
}  # fmt: skip
PROMPT_LENGTHS = range(2, 13)  # the N of "N-digit account code" with a recorded number word

# the files: name -> what is said (make_announcements speaks these)
PIECES: dict[str, str] = {
    "please_enter_your": "please enter your",
    "account_code": "account code",
    "digit_account_code": "digit account code",
    "followed_by_pound": "followed by the pound key",
    INVALID_CODE: "invalid code, please try again",
    THANK_YOU: "thank you",
    CODE_FAILED: "your call cannot be completed without a valid account code. goodbye",
    **{f"n{n}": word for n, word in NUMBER_WORDS.items()},
}

COMPOSED: dict[str, tuple[str, ...]] = {
    ENTER_CODE: ("please_enter_your", "account_code", "followed_by_pound"),
    **{
        f"{ENTER_CODE}_{n}": ("please_enter_your", f"n{n}", "digit_account_code", "followed_by_pound")
        for n in PROMPT_LENGTHS
    },
}

_NAME = re.compile(r"[a-z0-9_]{1,64}")


class SoundError(MediaError, ValueError):
    """An announcement that cannot be used: missing, or not 8 kHz 16-bit mono."""


def prompt_name(length: int | None) -> str:
    """The announcement asking for a code of ``length`` digits (any length: None)."""
    if length is not None and length in PROMPT_LENGTHS:
        return f"{ENTER_CODE}_{length}"
    return ENTER_CODE


def read_wav(path: Path) -> array:
    """The samples of an 8 kHz 16-bit mono WAV file; :class:`SoundError` otherwise."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            if (rate, width, channels) != (SAMPLE_RATE, SAMPLE_WIDTH, 1):
                raise SoundError(
                    f"{path}: {rate} Hz, {8 * width}-bit, {channels} channel(s); "
                    f"announcements must be {SAMPLE_RATE} Hz, 16-bit, mono"
                )
            data = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise SoundError(f"{path}: not a readable WAV file ({exc})") from None
    samples = array("h")
    samples.frombytes(data[: len(data) // 2 * 2])
    if sys.byteorder == "big":  # WAV is little-endian
        samples.byteswap()
    return samples


class SoundLibrary:
    """Announcements by name, the override directory first (module docstring)."""

    def __init__(self, override_dir: Path | str | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir is not None else None
        if self.override_dir is not None and not self.override_dir.is_dir():
            raise SoundError(f"{self.override_dir}: the announcement directory does not exist")
        self._samples: dict[str, array] = {}
        self._frames: dict[str, tuple[array, ...]] = {}

    def names(self) -> list[str]:
        """Every name this library can play."""
        return sorted(set(PIECES) | set(COMPOSED))

    def path(self, name: str) -> Path | None:
        """The file that ``name`` is read from (None: composed from pieces)."""
        if not _NAME.fullmatch(name):
            raise SoundError(f"{name!r} is not an announcement name")
        if self.override_dir is not None:
            candidate = self.override_dir / f"{name}.wav"
            if candidate.is_file():
                return candidate
        if name in COMPOSED:
            return None
        candidate = SHIPPED / f"{name}.wav"
        if not candidate.is_file():
            raise SoundError(f"no announcement {name!r} (looked for {candidate})")
        return candidate

    def load(self, name: str) -> array:
        """The samples of ``name`` (cached; shared: do not modify)."""
        cached = self._samples.get(name)
        if cached is not None:
            return cached
        path = self.path(name)
        if path is not None:
            samples = read_wav(path)
        else:
            samples = array("h")
            gap = array("h", bytes(SAMPLE_WIDTH * round(GAP * SAMPLE_RATE)))
            for i, piece in enumerate(COMPOSED[name]):
                if i:
                    samples.extend(gap)
                samples.extend(self.load(piece))
        self._samples[name] = samples
        return samples

    def frames(self, name: str) -> tuple[array, ...]:
        """``name`` in 160-sample frames, the last padded with silence (cached)."""
        cached = self._frames.get(name)
        if cached is not None:
            return cached
        samples = self.load(name)
        padded = samples + array("h", bytes(SAMPLE_WIDTH * (-len(samples) % FRAME_SAMPLES)))
        frames = tuple(padded[i : i + FRAME_SAMPLES] for i in range(0, len(padded), FRAME_SAMPLES))
        self._frames[name] = frames
        return frames
