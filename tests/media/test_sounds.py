"""Announcements: the shipped files, the override directory, composition,
readable errors; the generator's resampler and level (without espeak-ng)."""

from __future__ import annotations

import math
import struct
import wave
from array import array
from pathlib import Path

import pytest

from b2bua.media import make_announcements as make
from b2bua.media.sounds import (
    CODE_FAILED,
    COMPOSED,
    ENTER_CODE,
    GAP,
    INVALID_CODE,
    PIECES,
    SHIPPED,
    THANK_YOU,
    SoundError,
    SoundLibrary,
    prompt_name,
    read_wav,
)
from b2bua.media.tones import synthesize


def write(path: Path, samples: array, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def test_every_piece_is_shipped_as_8_khz_16_bit_mono() -> None:
    assert {p.stem for p in SHIPPED.glob("*.wav")} == set(PIECES)
    total = sum(p.stat().st_size for p in SHIPPED.glob("*.wav"))
    assert total < 400_000  # bytes: small enough to commit
    for name in PIECES:
        samples = read_wav(SHIPPED / f"{name}.wav")
        assert 0.2 < len(samples) / 8000 < 6.0
        rms = math.sqrt(sum(v * v for v in samples) / len(samples))
        assert -24 < 20 * math.log10(rms / 32767) < -12  # about -16 dBFS when speaking


def test_the_prompt_is_composed_from_pieces() -> None:
    lib = SoundLibrary()
    assert prompt_name(5) == "enter_code_5" and prompt_name(None) == ENTER_CODE and prompt_name(40) == ENTER_CODE
    pieces = COMPOSED["enter_code_5"]
    assert pieces == ("please_enter_your", "n5", "digit_account_code", "followed_by_pound")
    expected = array("h")
    for i, piece in enumerate(pieces):
        if i:
            expected += array("h", bytes(2 * round(GAP * 8000)))
        expected += lib.load(piece)
    assert lib.load("enter_code_5") == expected
    assert lib.path("enter_code_5") is None
    for name in (ENTER_CODE, INVALID_CODE, THANK_YOU, CODE_FAILED, *(f"enter_code_{n}" for n in range(2, 13))):
        assert name in lib.names() and len(lib.load(name)) > 0


def test_frames_are_160_samples_padded_with_silence() -> None:
    lib = SoundLibrary()
    samples = lib.load(THANK_YOU)
    frames = lib.frames(THANK_YOU)
    assert all(len(f) == 160 for f in frames)
    assert len(frames) == -(-len(samples) // 160)
    joined = array("h")
    for f in frames:
        joined += f
    assert joined[: len(samples)] == samples and not any(joined[len(samples) :])
    assert lib.frames(THANK_YOU) is frames  # cached


def test_an_override_file_wins(tmp_path: Path) -> None:
    beep = synthesize([(1000.0, -10.0)], 800)
    write(tmp_path / "thank_you.wav", beep)
    lib = SoundLibrary(tmp_path)
    assert lib.path(THANK_YOU) == tmp_path / "thank_you.wav"
    assert lib.load(THANK_YOU) == beep
    assert lib.path(INVALID_CODE) == SHIPPED / "invalid_code.wav"  # the rest stays shipped


def test_an_override_piece_changes_the_compositions_and_a_composed_override_wins(tmp_path: Path) -> None:
    word = synthesize([(500.0, -10.0)], 400)
    write(tmp_path / "n5.wav", word)
    lib = SoundLibrary(tmp_path)
    start = len(lib.load("please_enter_your")) + round(GAP * 8000)
    assert lib.load("enter_code_5")[start : start + 400] == word
    shipped = SoundLibrary().load("enter_code_5")
    assert len(lib.load("enter_code_5")) == len(shipped) - len(SoundLibrary().load("n5")) + 400
    whole = synthesize([(600.0, -10.0)], 1600)
    write(tmp_path / "enter_code_5.wav", whole)
    assert SoundLibrary(tmp_path).load("enter_code_5") == whole


@pytest.mark.parametrize(
    ("rate", "channels", "width", "said"),
    [(22050, 1, 2, "22050 Hz"), (8000, 2, 2, "2 channel"), (8000, 1, 1, "8-bit")],
)
def test_a_wrong_format_is_a_readable_error_naming_the_file(tmp_path: Path, rate: int, channels: int, width: int, said: str) -> None:
    samples = array("h", bytes(3200)) if width == 2 else array("b", bytes(1600))
    path = write(tmp_path / "thank_you.wav", samples, rate=rate, channels=channels, width=width)  # type: ignore[arg-type]
    with pytest.raises(SoundError) as caught:
        SoundLibrary(tmp_path).load(THANK_YOU)
    assert str(path) in str(caught.value) and said in str(caught.value) and "8000 Hz, 16-bit, mono" in str(caught.value)


def test_other_errors(tmp_path: Path) -> None:
    (tmp_path / "thank_you.wav").write_bytes(b"not a wave file")
    with pytest.raises(SoundError, match="thank_you.wav: not a readable WAV"):
        SoundLibrary(tmp_path).load(THANK_YOU)
    with pytest.raises(SoundError, match="does not exist"):
        SoundLibrary(tmp_path / "missing")
    with pytest.raises(SoundError, match="not an announcement name"):
        SoundLibrary(tmp_path).load("../../etc/passwd")
    with pytest.raises(SoundError, match="no announcement 'fanfare'"):
        SoundLibrary().load("fanfare")


# -- the generator, without espeak-ng ------------------------------------------------


def test_the_resampler_keeps_the_band_and_removes_what_would_alias() -> None:
    rate = 22050
    n = rate // 2  # 0.5 s
    inside = [10000 * math.sin(2 * math.pi * 1000 * i / rate) for i in range(n)]
    above = [10000 * math.sin(2 * math.pi * 5000 * i / rate) for i in range(n)]  # would fold to 3 kHz
    kept = make.resample(inside, rate)
    assert len(kept) == 4000
    core = kept[200:-200]
    assert math.sqrt(sum(v * v for v in core) / len(core)) == pytest.approx(10000 / math.sqrt(2), rel=0.01)
    folded = make.resample(above, rate)[200:-200]
    assert math.sqrt(sum(v * v for v in folded) / len(folded)) < 10000 / math.sqrt(2) * 0.01  # -40 dB


def test_the_level_and_the_trim() -> None:
    speech = [0.0] * 4000 + [3000 * math.sin(2 * math.pi * 300 * i / 8000) for i in range(8000)] + [0.0] * 4000
    out = make.finish(speech)
    assert len(out) == 8000 + 2 * 160  # 20 ms kept each side
    loud = out[200:-200]
    rms = math.sqrt(sum(v * v for v in loud) / len(loud))
    assert 20 * math.log10(rms / 32767) == pytest.approx(make.TARGET_DBFS, abs=0.3)


def test_a_streamed_wav_is_read_to_its_end() -> None:
    body = array("h", [1, -2, 3, -4]).tobytes()
    header = b"RIFF" + struct.pack("<I", 0x7FFFF000) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    data = b"data" + struct.pack("<I", 0x7FFFF000) + body
    samples, rate = make.parse_streamed_wav(header + fmt + data)
    assert rate == 22050 and list(samples) == [1, -2, 3, -4]
