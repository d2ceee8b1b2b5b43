"""Key presses in INFO bodies (b2bua.calls.info)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from b2bua.calls.info import FLASH, KeyPress, key_of


@pytest.mark.parametrize(
    ("ctype", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", KeyPress(key="5", duration_ms=160)),
        ("application/dtmf-relay", b"Signal= #\nDuration= 250", KeyPress(key="#", duration_ms=250)),
        ("application/dtmf-relay", b"Signal=10\r\n", KeyPress(key="*")),
        ("application/dtmf-relay", b"Signal=11", KeyPress(key="#")),
        ("application/dtmf-relay", b"Signal=16\r\nDuration=500", KeyPress(key=FLASH, duration_ms=500)),
        ("application/dtmf-relay", b"signal=a", KeyPress(key="A")),
        ("Application/DTMF-Relay", b"Signal=0", KeyPress(key="0")),
        ("application/dtmf", b"7", KeyPress(key="7")),
        ("application/dtmf", b"11\r\n", KeyPress(key="#")),
        ("application/dtmf-relay", b"Signal=17", None),
        ("application/dtmf-relay", b"Signal=55", None),
        ("application/dtmf-relay", b"Duration=100", None),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=-3", KeyPress(key="5")),
        ("application/dtmf-relay", b"Signal=\xff", None),
        ("text/plain", b"Signal=5", None),
        ("application/dtmf-relay", b"Signal=5" + b" " * 600, None),
    ],
)
def test_bodies(ctype: str, body: bytes, expected: KeyPress | None) -> None:
    assert key_of(ctype, body) == expected


@given(st.text(max_size=64), st.binary(max_size=700))
def test_never_raises(ctype: str, body: bytes) -> None:
    found = key_of(ctype, body)
    assert found is None or found.key in "0123456789*#ABCD" + FLASH
