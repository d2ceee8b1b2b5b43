"""Dial-string forms (dialplan.dialstring): one row per string, with why."""

from __future__ import annotations

import pytest

from dialplan import DialForm, parse_dial_string, percent_decode
from dialplan.dialstring import mask_code, without_code

PLAIN, SHORTCUT, FAC = DialForm.PLAIN, DialForm.SHORTCUT, DialForm.FAC

ROWS = [
    # (dialed, fac, code_length, form, code, number, fault rule or None)
    ("12345**8016424655#", "", None, SHORTCUT, "12345", "8016424655", None),  # 3CX seed example
    ("12345**8016424655", "", None, SHORTCUT, "12345", "8016424655", None),  # '#' is optional
    ("12345**8016424655%23", "", None, SHORTCUT, "12345", "8016424655", None),  # '#' escaped
    ("12345%2A%2A8016424655", "", None, SHORTCUT, "12345", "8016424655", None),  # '*' escaped
    ("12345**+44 20 7123 4567", "", None, SHORTCUT, "12345", "+44 20 7123 4567", None),  # E.164 after code
    ("**8016424655", "", None, SHORTCUT, None, "8016424655", "bad_code_format"),  # no code before **
    ("**", "", None, SHORTCUT, None, "", "bad_code_format"),  # nothing at all
    ("12345**", "", None, SHORTCUT, "12345", "", "empty_number"),  # no number after **
    ("12345**#", "", None, SHORTCUT, "12345", "", "empty_number"),
    ("1**8016424655", "", None, SHORTCUT, "1", "8016424655", "bad_code_format"),  # 1 digit < 2
    ("123456789012345**8016424655", "", None, SHORTCUT, "123456789012345", "8016424655",
     "bad_code_format"),  # 15 digits > 14
    ("12a45**8016424655", "", None, SHORTCUT, "12a45", "8016424655", "bad_code_format"),  # letter
    ("123**8016424655", "", 5, SHORTCUT, "123", "8016424655", "bad_code_format"),  # fixed 5
    ("12345**80164x4655", "", None, SHORTCUT, "12345", "80164x4655", "malformed_dial_string"),
    ("*8812345#8016424655", "*88", None, FAC, "12345", "8016424655", None),  # FAC, code, #, number
    ("*8812345#8016424655#", "*88", None, FAC, "12345", "8016424655", None),  # and a send key
    ("*8812345%238016424655", "*88", None, FAC, "12345", "8016424655", None),  # %23 is '#'
    ("*88123458016424655", "*88", 5, FAC, "12345", "8016424655", None),  # fixed 5: no '#' needed
    ("*8812345#8016424655", "*88", 5, FAC, "12345", "8016424655", None),  # fixed 5: '#' allowed
    ("*88123#8016424655", "*88", 5, FAC, "123", "8016424655", "bad_code_format"),  # '#' too soon
    ("*88123458016424655", "*88", None, FAC, None, None, "bad_code_format"),  # variable needs '#'
    ("*88#8016424655", "*88", None, FAC, None, "8016424655", "bad_code_format"),  # empty code
    ("*8812345#", "*88", None, FAC, "12345", "", "empty_number"),  # code but no number
    ("*88", "*88", None, FAC, None, None, None),  # FAC alone: prompt for the rest
    ("8016424655", "*88", None, PLAIN, None, "8016424655", None),  # no FAC: plain
    ("8016424655#", "", None, PLAIN, None, "8016424655", None),  # send key removed
    ("+1 (801) 642-4655", "", None, PLAIN, None, "+1 (801) 642-4655", None),  # separators kept here
    ("", "", None, PLAIN, None, None, "empty_number"),
    ("#", "", None, PLAIN, None, "", "empty_number"),
    ("alice", "", None, PLAIN, None, "alice", "malformed_dial_string"),
    ("*72 8016424655", "*88", None, PLAIN, None, "*72 8016424655", "malformed_dial_string"),  # other *code
    ("1" * 65, "", None, PLAIN, None, None, "malformed_dial_string"),  # longer than any dialing
    ("%zz8016424655", "", None, PLAIN, None, "%zz8016424655", "malformed_dial_string"),  # bad escape
]


@pytest.mark.parametrize(("dialed", "fac", "code_length", "form", "code", "number", "rule"), ROWS)
def test_dial_string(
    dialed: str, fac: str, code_length: int | None, form: DialForm, code: str | None, number: str | None,
    rule: str | None,
) -> None:
    got = parse_dial_string(dialed, fac=fac, code_length=code_length)
    assert (got.form, got.code, got.number) == (form, code, number)
    assert (got.fault.rule if got.fault else None) == rule
    if got.fault is not None:
        assert got.fault.status == 484


def test_alternates_keep_where_a_number_may_hide() -> None:
    # a panicked *88 911 (no code), or a code of the wrong length before #911:
    # the policy still finds "911" there
    assert parse_dial_string("*88911", fac="*88").alternates[0] == "911"
    assert "911" in parse_dial_string("*67911").alternates  # a star code the group does not have
    assert parse_dial_string("*88911#", fac="*88", code_length=5).alternates[0] == "911"
    assert "911" in parse_dial_string("*88123456#911", fac="*88", code_length=5).alternates
    assert parse_dial_string("1**2**911").alternates == ("911",)
    assert parse_dial_string("8016424655#").alternates == ()


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [("%23", "#"), ("%2a%2A", "**"), ("100%", "100%"), ("%2", "%2"), ("%g1", "%g1"), ("a%41b", "aAb")],
)
def test_percent_decode(raw: str, decoded: str) -> None:
    assert percent_decode(raw) == decoded


@pytest.mark.parametrize(
    "raw,fac,length,shown",
    [
        ("12345**2125551234#", "", None, "2125551234"),
        ("12345%2A%2A2125551234", "", None, "2125551234"),
        ("*8812345#2125551234", "*88", None, "2125551234"),
        ("*88123452125551234", "*88", 5, "2125551234"),
        ("*8812345", "*88", None, "*88***"),  # unfinished: the code is hidden all the same
        ("12345**", "", None, "***"),
        ("2125551234", "", None, "2125551234"),
        ("*88", "*88", None, "*88"),
    ],
)
def test_dialed_without_code(raw: str, fac: str, length: int | None, shown: str) -> None:
    assert without_code(raw, fac=fac, code_length=length) == shown


def test_mask_code_shows_the_last_two_digits_at_most() -> None:
    assert mask_code("12345") == "***45"
    assert mask_code("12") == "***" and mask_code("1234") == "***"
    assert mask_code("") == ""
