"""The G.711 payloads of the server's own media, encoded once (sans-IO).

A media name is a sound of the :class:`~b2bua.media.sounds.SoundLibrary`
(an announcement) or ``tone:ROLE``, a tone of the :class:`~b2bua.media.tones.TonePlan`
(ringback, dial, reorder, ...).  :meth:`MediaPayloads.payloads` encodes a
name's 160-sample frames for a codec (PCMU or PCMA) the first time it is
asked and keeps them: a tone is its part played once and its looped part
(one cadence period), so every prompt, every ringback and every flash tone
sends payloads that already exist; nothing is synthesised or encoded per
call or per frame.  :meth:`MediaPayloads.frames` gives them in playing order.
"""

from __future__ import annotations

import itertools
from typing import Iterator

from . import g711
from .sounds import SoundLibrary
from .tones import TonePlan, tone_frames

FRAME = 0.02  # seconds of audio per payload

Payloads = tuple[tuple[bytes, ...], tuple[bytes, ...]]  # (played once, looped)


class MediaPayloads:
    """Every media name's payloads per codec, encoded on first use."""

    def __init__(self, sounds: SoundLibrary, tones: TonePlan) -> None:
        self.sounds = sounds
        self.tones = tones
        self._payloads: dict[tuple[str, int], Payloads] = {}

    def payloads(self, name: str, codec: int) -> Payloads:
        """(once, looped) G.711 payloads of a media name (``tone:ROLE`` or a sound)."""
        key = (name, codec)
        found = self._payloads.get(key)
        if found is None:
            encode = g711.encode_alaw if codec == g711.PCMA else g711.encode_ulaw
            if name.startswith("tone:"):
                intro, loop = tone_frames(self.tones.tone(name[5:]))
            else:
                intro, loop = self.sounds.frames(name), ()
            found = (tuple(encode(f) for f in intro), tuple(encode(f) for f in loop))
            self._payloads[key] = found
        return found

    def frames(self, name: str, codec: int, *, loop: bool = True, seconds: float | None = None) -> Iterator[bytes]:
        """A media name's payloads in playing order: its part played once, then
        its looped part over and over (``loop``), at most ``seconds`` long."""
        once, looped = self.payloads(name, codec)
        out: Iterator[bytes] = itertools.chain(once, itertools.cycle(looped)) if loop and looped else iter(once)
        return itertools.islice(out, round(seconds / FRAME)) if seconds is not None else out
