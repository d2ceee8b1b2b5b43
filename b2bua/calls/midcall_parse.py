"""What a mid-call code request carries (sans-IO; b2bua.calls.midcall answers it):
the Info-Package and body type of a code, the body's code, a DTMF INFO's digit,
and the dialog a ``Target-Dialog`` header names.  Nothing here raises on what a
peer sends: a body or header without what is looked for gives None.

Public API
----------
:data:`PACKAGE`, :data:`BODY_TYPE`, :data:`DTMF_TYPES`; ``parse_code(body)``,
``parse_digit(body, content_type)``, ``parse_target_dialog(value)``,
``info_package(event)``, ``accept_headers(status)``.
"""

from __future__ import annotations

from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import header
from dialplan.dialstring import MAX_CODE_DIGITS

PACKAGE = "account-code"  # our Info-Package name (RFC 6086 §10)
BODY_TYPE = "application/x-account-code"  # "code=12345" or "12345"
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
_SIGNALS = {"10": "*", "11": "#"}  # some phones send the event number of * and #


def parse_code(body: bytes) -> str | None:
    """The code of an ``application/x-account-code`` body: ``code=DIGITS`` or
    ``DIGITS`` (surrounding white space ignored); None when there is none."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if text.lower().startswith("code="):
        text = text[5:].strip()
    if not text or len(text) > 2 * MAX_CODE_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return text


def parse_digit(body: bytes, content_type: str) -> str | None:
    """The digit of a DTMF INFO: ``Signal=`` of application/dtmf-relay, or the
    body of application/dtmf; None for anything else (a flash, garbage)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    value = text.strip()
    if content_type == "application/dtmf-relay":
        value = ""
        for line in text.splitlines():
            name, _, v = line.partition("=")
            if name.strip().lower() == "signal":
                value = v.strip()
    value = _SIGNALS.get(value, value)
    return value if len(value) == 1 and value in "0123456789*#" else None


def parse_target_dialog(value: str) -> tuple[str, str, str] | None:
    """``Target-Dialog`` (RFC 4538 §7): (Call-ID, local-tag, remote-tag)."""
    parts = [p.strip() for p in value.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        name, _, v = p.partition("=")
        params[name.strip().lower()] = v.strip()
    call_id, local, remote = parts[0], params.get("local-tag", ""), params.get("remote-tag", "")
    if not call_id or not local or not remote:
        return None
    return call_id, local, remote


def info_package(event: RequestReceived) -> str:
    """The request's ``Info-Package`` (lower case, without parameters), or ""."""
    return (event.request.get("info-package") or "").split(";", 1)[0].strip().lower()


def accept_headers(status: int) -> list[tuple[str, str, str]]:
    """The headers of an answer: ``Accept`` of the code's body type with 415."""
    return [header("Accept", BODY_TYPE)] if status == 415 else []
