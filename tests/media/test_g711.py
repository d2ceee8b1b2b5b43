"""G.711 mu-law and A-law against the ITU-T reference values, the standard
library's old ``audioop`` where it still exists, and round-trip properties."""

from __future__ import annotations

import warnings
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.media.g711 import (
    ALAW_DECODE,
    ALAW_SILENCE,
    ULAW_DECODE,
    ULAW_SILENCE,
    decode_alaw,
    decode_ulaw,
    encode_alaw,
    encode_ulaw,
)

ALL_SAMPLES = array("h", range(-32768, 32768))
sample = st.integers(-32768, 32767)


def test_silence() -> None:
    assert encode_ulaw(array("h", [0] * 160)) == bytes([ULAW_SILENCE]) * 160 == b"\xff" * 160
    assert encode_alaw(array("h", [0] * 160)) == bytes([ALAW_SILENCE]) * 160 == b"\xd5" * 160


def test_ulaw_reference_codewords() -> None:
    assert ULAW_DECODE[0xFF] == 0 and ULAW_DECODE[0x7F] == 0  # positive and negative zero
    assert ULAW_DECODE[0x80] == 32124 and ULAW_DECODE[0x00] == -32124  # full scale
    assert ULAW_DECODE[0xFE] == 8 and ULAW_DECODE[0x7E] == -8  # the smallest steps
    assert ULAW_DECODE[0xF0] == 120 and ULAW_DECODE[0xEF] == 132  # segment 0 ends, segment 1 begins
    assert encode_ulaw([32767, -32768, 32124, -32124]) == b"\x80\x00\x80\x00"  # clipped to full scale


def test_alaw_reference_codewords() -> None:
    assert ALAW_DECODE[0xD5] == 8 and ALAW_DECODE[0x55] == -8  # the smallest magnitude
    assert ALAW_DECODE[0xAA] == 32256 and ALAW_DECODE[0x2A] == -32256  # full scale
    assert encode_alaw([32767, -32768]) == b"\xaa\x2a"
    assert encode_alaw([-1]) == b"\x55"


def test_decoding_is_odd_symmetric() -> None:
    for code in range(128):
        assert ULAW_DECODE[code] == -ULAW_DECODE[code | 0x80]
        assert ALAW_DECODE[code ^ 0x80] == -ALAW_DECODE[code]


def test_decoded_values_are_monotonic_in_the_codeword_order() -> None:
    # mu-law: 0x80..0xFF run from +full scale down to +0, 0x00..0x7F from -full scale up to -0
    positive = [ULAW_DECODE[c] for c in range(0x80, 0x100)]
    assert positive == sorted(positive, reverse=True)
    # A-law: remove the even-bit inversion and the codes run with the magnitude
    magnitudes = [ALAW_DECODE[(c ^ 0x55) | 0x80] for c in range(0x80)]
    assert magnitudes == sorted(magnitudes) and len(set(magnitudes)) == 128


def test_every_codeword_decodes_and_reencodes_to_itself() -> None:
    for code in range(256):
        if code != 0x7F:  # negative zero encodes as positive zero
            assert encode_ulaw([ULAW_DECODE[code]]) == bytes([code])
        assert encode_alaw([ALAW_DECODE[code]]) == bytes([code])
    assert encode_ulaw([ULAW_DECODE[0x7F]]) == b"\xff"


def test_decode_returns_native_16_bit_arrays() -> None:
    out = decode_ulaw(bytes(range(256)))
    assert out.typecode == "h" and list(out) == list(ULAW_DECODE)
    assert list(decode_alaw(bytes(range(256)))) == list(ALAW_DECODE)
    assert len(decode_ulaw(b"")) == 0 and encode_alaw([]) == b""
    assert list(decode_alaw(bytearray(b"\xd5"))) == [8]


def step_at(value: int, decoded: tuple[int, ...]) -> int:
    """The quantisation interval around ``value``: the gap between the
    decoded levels either side of it."""
    levels = sorted(set(decoded))
    above = min((v for v in levels if v >= value), default=levels[-1])
    below = max((v for v in levels if v <= value), default=levels[0])
    return max(above - below, 8)


LAWS = {
    "mu-law": (encode_ulaw, decode_ulaw, ULAW_DECODE, 32124),
    "A-law": (encode_alaw, decode_alaw, ALAW_DECODE, 32256),
}


@pytest.mark.parametrize("law", sorted(LAWS))
@given(samples=st.lists(sample, max_size=200))
def test_round_trip_is_within_one_quantisation_step(law: str, samples: list[int]) -> None:
    encode, decode, levels, full_scale = LAWS[law]
    decoded = decode(encode(array("h", samples)))
    for x, y in zip(samples, decoded):
        clipped = max(min(x, full_scale), -full_scale)
        assert abs(clipped - y) <= step_at(clipped, levels)


@given(st.binary(max_size=300))
def test_decode_encode_is_the_identity_on_codewords(data: bytes) -> None:
    assert encode_alaw(decode_alaw(data)) == data
    assert encode_ulaw(decode_ulaw(data)) == data.replace(b"\x7f", b"\xff")


def test_out_of_range_samples_are_refused() -> None:
    with pytest.raises(OverflowError):
        encode_ulaw([40000])


def test_tables_agree_with_audioop_where_it_exists() -> None:
    """``audioop`` (removed in Python 3.13) is an independent implementation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    raw = ALL_SAMPLES.tobytes()
    assert encode_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(raw, 2)
    assert encode_alaw(ALL_SAMPLES) == audioop.lin2alaw(raw, 2)
    assert decode_ulaw(bytes(range(256))).tobytes() == audioop.ulaw2lin(bytes(range(256)), 2)
    assert decode_alaw(bytes(range(256))).tobytes() == audioop.alaw2lin(bytes(range(256)), 2)
