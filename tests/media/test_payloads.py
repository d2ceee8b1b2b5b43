"""The encoded-once payloads of the server's sounds and tones (b2bua.media.payloads)."""

from __future__ import annotations

import itertools

from b2bua.media import g711
from b2bua.media.payloads import MediaPayloads
from b2bua.media.sounds import THANK_YOU, SoundLibrary
from b2bua.media.tones import tone_frames, tone_plan


def media() -> MediaPayloads:
    return MediaPayloads(SoundLibrary(), tone_plan("north_american"))


def test_a_tone_is_its_frames_encoded_once_per_codec() -> None:
    m = media()
    once, looped = m.payloads("tone:ringback", g711.PCMU)
    intro, loop = tone_frames(tone_plan("north_american").ringback)
    assert once == tuple(g711.encode_ulaw(f) for f in intro)
    assert looped == tuple(g711.encode_ulaw(f) for f in loop) and looped
    assert {len(p) for p in once + looped} == {160}
    assert m.payloads("tone:ringback", g711.PCMU) is m.payloads("tone:ringback", g711.PCMU)  # kept, not encoded again
    alaw = m.payloads("tone:ringback", g711.PCMA)
    assert alaw[1] == tuple(g711.encode_alaw(f) for f in loop) and alaw != (once, looped)


def test_a_sound_plays_once_and_a_tone_loops_until_its_bound() -> None:
    m = media()
    sound, nothing = m.payloads(THANK_YOU, g711.PCMU)
    assert sound and nothing == ()
    assert list(m.frames(THANK_YOU, g711.PCMU)) == list(sound)  # no loop: it ends
    once, looped = m.payloads("tone:reorder", g711.PCMU)
    played = list(m.frames("tone:reorder", g711.PCMU, seconds=3.0))
    assert len(played) == 150  # 3 s of 20 ms frames
    assert played == list(itertools.islice(itertools.chain(once, itertools.cycle(looped)), 150))
    assert list(m.frames("tone:reorder", g711.PCMU, loop=False)) == list(once)
    endless = m.frames("tone:dial", g711.PCMU)
    assert len(list(itertools.islice(endless, 1000))) == 1000
