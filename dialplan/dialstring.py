"""Dial strings: an account code and a number in one Request-URI user part.

Theory of operation
-------------------
A phone sends everything the user dialed as the user part of the INVITE's
Request-URI.  Three forms carry (or do not carry) an account code:

* **shortcut** ``CODE**NUMBER`` with an optional trailing ``#`` (3CX Enhanced
  Billing Codes seed: ``<account_code>**<phone_number>#``, e.g.
  ``12345**8016424655#``);
* **feature access code** ``FAC CODE # NUMBER`` (BroadWorks and Telcordia
  GR-605 seeds: a ``*XX`` vertical service code, then the code ended by
  ``#``); with fixed-length codes the ``#`` may be left out, the code being
  the first N digits ("when sufficient account code digits have been
  entered").  ``FAC`` alone asks for a prompt;
* **plain** number: the code, if any, comes from elsewhere (the user's
  assignment, a trusted trunk, a prompt).

One trailing ``#`` (the phone's "send" key) is removed from the number in
every form.  ``#`` may arrive percent-encoded as ``%23`` (RFC 3261 §19.1.2
reserves it in a user part); every ``%HH`` is decoded and a broken escape is
left as a literal ``%``, which the character check then refuses.

Codes are secrets in logs and records: :func:`without_code` is the dial
string as logged and recorded (the number part, the code removed) and
:func:`mask_code` a code as logged (its last two digits at most).

Parsing is lenient about the code part so that the number can always be
found when it exists: the policy allows emergency and service calls even
when the code before them is garbage.  Faults are values (:class:`Fault`),
never exceptions; the status convention is 484 Address Incomplete for a dial
string whose shape is wrong or unfinished (RFC 3261 §21.4.22).
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from dialplan.numbering import normalise

# Telcordia/BroadWorks seed: "account codes ... can be from 2 to 14 digits long".
MIN_CODE_DIGITS: Final = 2
MAX_CODE_DIGITS: Final = 14
SHORTCUT_SEPARATOR: Final = "**"  # 3CX seed: <account_code>**<phone_number>#
CODE_TERMINATOR: Final = "#"  # GR-605: the subscriber ends a variable code with '#'
# Longest dial string looked at: FAC + 14-digit code + '#' + a 15-digit E.164
# number with international prefix and separators fits easily; anything longer
# is not dialing.
MAX_DIAL_CHARS: Final = 64  # characters after percent-decoding
MAX_RAW_CHARS: Final = 3 * MAX_DIAL_CHARS  # bound on the work done decoding
ADDRESS_INCOMPLETE: Final = 484  # RFC 3261 §21.4.22
# A vertical service code: '*' or '#' then digits, e.g. *88, *67, #9, *123.
VSC_STARTS: Final = "*#"
MAX_VSC_CHARS: Final = 8
_HEX: Final = frozenset("0123456789abcdefABCDEF")


class DialForm(enum.StrEnum):
    PLAIN = "plain"
    SHORTCUT = "shortcut"
    FAC = "fac"


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    """Why a dial string or a code cannot be used: the SIP status to answer
    with, a reason phrase for people, a short rule name for machines."""

    status: int
    reason: str
    rule: str


class ParsedDial(msgspec.Struct, frozen=True, kw_only=True):
    """A dial string split into its parts.

    ``number``: the number part (not yet normalised), None when it cannot be
    found; ``code``: the code part exactly as dialed (None in the plain form
    or when absent); ``fault``: the first problem found, if any;
    ``alternates``: other places a number may hide when the code part is
    garbage (everything after the FAC or after any leading ``*XX`` code,
    after the last ``#``, after the last ``**``), looked at for emergency and
    service numbers only, so that a panicked ``*88 911``, ``*67 911`` or
    ``*88 123456#911`` still reaches emergency.
    """

    form: DialForm
    number: str | None
    code: str | None = None
    fault: Fault | None = None
    alternates: tuple[str, ...] = ()


def _malformed(reason: str) -> Fault:
    return Fault(status=ADDRESS_INCOMPLETE, reason=reason, rule="malformed_dial_string")


def _empty_number(reason: str) -> Fault:
    return Fault(status=ADDRESS_INCOMPLETE, reason=reason, rule="empty_number")


def percent_decode(text: str) -> str:
    """Decode ``%HH`` escapes (RFC 3986 §2.1); a broken escape stays literal."""
    if "%" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            out.append(chr(int(text[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _strip_send_key(number: str) -> str:
    return number[: -len(CODE_TERMINATOR)] if number.endswith(CODE_TERMINATOR) else number


def code_format_fault(code: str, code_length: int | None) -> Fault | None:
    """Check a dialed code's shape: digits, and N digits (fixed) or 2..14 (variable)."""
    if not (code.isascii() and code.isdigit()):
        return Fault(status=ADDRESS_INCOMPLETE, reason="Account code must be digits", rule="bad_code_format")
    if code_length is not None and len(code) != code_length:
        return Fault(
            status=ADDRESS_INCOMPLETE, reason=f"Account code must be {code_length} digits", rule="bad_code_format"
        )
    if not MIN_CODE_DIGITS <= len(code) <= MAX_CODE_DIGITS:
        return Fault(
            status=ADDRESS_INCOMPLETE,
            reason=f"Account code must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS} digits",
            rule="bad_code_format",
        )
    return None


def _split_fac(rest: str, fac: str, code_length: int | None) -> ParsedDial:
    """``rest`` is what follows the FAC: ``CODE#NUMBER`` or, fixed, ``CODE[#]NUMBER``."""
    if not rest:
        return ParsedDial(form=DialForm.FAC, number=None)
    end = rest.find(CODE_TERMINATOR)
    if code_length is not None and (end < 0 or end >= code_length):
        code, number = rest[:code_length], rest[code_length:]
        if number.startswith(CODE_TERMINATOR):
            number = number[len(CODE_TERMINATOR):]
    elif end < 0:
        return ParsedDial(
            form=DialForm.FAC,
            number=None,
            fault=Fault(status=ADDRESS_INCOMPLETE, reason="Account code must end with #", rule="bad_code_format"),
        )
    else:
        code, number = rest[:end], rest[end + len(CODE_TERMINATOR):]
    number = _strip_send_key(number)
    fault: Fault | None = None
    if not code:
        fault = Fault(status=ADDRESS_INCOMPLETE, reason=f"Account code missing after {fac}", rule="bad_code_format")
    else:
        fault = code_format_fault(code, code_length)
    if fault is None and not number:
        fault = _empty_number("No number dialed after the account code")
    return ParsedDial(form=DialForm.FAC, number=number, code=code or None, fault=fault)


def parse_dial_string(raw: str, *, fac: str = "", code_length: int | None = None) -> ParsedDial:
    """Split a Request-URI user part into form, code and number.

    ``fac``: the group's feature access code ("" when it has none);
    ``code_length``: the fixed code length, None for variable codes.  The
    number part is returned as dialed (separators kept); characters are
    checked here, numbering rules by :func:`dialplan.numbering.classify`.
    """
    if len(raw) > MAX_RAW_CHARS:
        return ParsedDial(form=DialForm.PLAIN, number=None, fault=_malformed("Dial string too long"))
    text = percent_decode(raw)
    if len(text) > MAX_DIAL_CHARS:
        return ParsedDial(form=DialForm.PLAIN, number=None, fault=_malformed("Dial string too long"))
    if not text:
        return ParsedDial(form=DialForm.PLAIN, number=None, fault=_empty_number("No number dialed"))
    if fac and text.startswith(fac):
        parsed = _split_fac(text[len(fac):], fac, code_length)
    elif SHORTCUT_SEPARATOR in text:
        code, _, number = text.partition(SHORTCUT_SEPARATOR)
        number = _strip_send_key(number)
        fault: Fault | None
        if not code:
            fault = Fault(status=ADDRESS_INCOMPLETE, reason="Account code missing before **", rule="bad_code_format")
        else:
            fault = code_format_fault(code, code_length)
        if fault is None and not number:
            fault = _empty_number("No number dialed after **")
        parsed = ParsedDial(form=DialForm.SHORTCUT, number=number, code=code or None, fault=fault)
    else:
        number = _strip_send_key(text)
        fault = _empty_number("No number dialed") if not number else None
        parsed = ParsedDial(form=DialForm.PLAIN, number=number, fault=fault)
    if parsed.fault is None and parsed.number is not None and not _dialable(parsed.number):
        parsed = msgspec.structs.replace(
            parsed, fault=_malformed("Number may contain only digits, + and separators")
        )
    alternates = _alternates(text, fac if parsed.form is DialForm.FAC else "")
    if alternates:
        parsed = msgspec.structs.replace(parsed, alternates=alternates)
    return parsed


MASK: Final = "***"
_SHOWN_DIGITS: Final = 2  # digits of a code a log line may show
_MIN_CODE_TO_SHOW: Final = 5  # shorter codes are hidden entirely


def mask_code(code: str) -> str:
    """A code as logs may show it: ``***`` and its last two digits when it
    has at least five ("12345" -> "***45"), else ``***`` ("" stays "")."""
    if not code:
        return ""
    return MASK + code[-_SHOWN_DIGITS:] if len(code) >= _MIN_CODE_TO_SHOW else MASK


def split_auth(raw: str, auth_fac: str) -> tuple[str | None, str]:
    """``AUTH_FAC CODE # REST`` -> (CODE, REST), the authorization code before
    the rest of the dial string (which may hold an account code too); a dial
    string without the authorization FAC is (None, raw), one without ``#``
    after it is (everything after the FAC, "")."""
    if not auth_fac:
        return None, raw
    text = percent_decode(raw[:MAX_RAW_CHARS])
    if not text.startswith(auth_fac):
        return None, raw
    code, _, rest = text[len(auth_fac):].partition(CODE_TERMINATOR)
    return code, rest


def without_code(raw: str, *, fac: str = "", code_length: int | None = None, auth_fac: str = "") -> str:
    """The dial string as logged and recorded: the number part when a code
    was dialed with it (shortcut or FAC form, after an authorization code),
    the string unchanged when none was; an unfinished code form keeps its FAC
    and hides the rest."""
    if raw.isdigit() and raw.isascii() and not (fac and raw.startswith(fac)) and not (
        auth_fac and raw.startswith(auth_fac)
    ):
        return raw  # a plain number (the common case): no form can hide a code in it
    auth, raw = split_auth(raw, auth_fac)
    if auth is not None and not raw:
        return auth_fac + MASK if auth else auth_fac
    parsed = parse_dial_string(raw, fac=fac, code_length=code_length)
    if parsed.form is DialForm.PLAIN:
        return raw
    if parsed.number and parsed.code is not None:
        return parsed.number
    if parsed.form is DialForm.FAC:
        text = percent_decode(raw)
        return fac if text == fac else fac + MASK
    return MASK


def _alternates(text: str, fac: str) -> tuple[str, ...]:
    body = _strip_send_key(text)
    found: list[str] = []
    if fac:
        found.append(body[len(fac):])
    if body.startswith(tuple(VSC_STARTS)):
        found.extend(body[n:] for n in range(2, min(len(body), MAX_VSC_CHARS + 1)))
    for separator in (CODE_TERMINATOR, SHORTCUT_SEPARATOR):
        if separator in body:
            found.append(body.rpartition(separator)[2])
    return tuple(alt for alt in dict.fromkeys(found) if alt)


def _dialable(number: str) -> bool:
    return normalise(number) is not None
