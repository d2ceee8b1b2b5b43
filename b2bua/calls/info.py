"""Key presses carried by SIP INFO (RFC 6086 without a package, as phones send them).

Two bodies are in use, neither standardised by an RFC:

* ``application/dtmf-relay`` (Cisco, and most phones and gateways)::

      Signal=5
      Duration=160

  ``Signal`` is ``0``-``9``, ``*``, ``#``, ``A``-``D``, or the RFC 4733 event
  number (``10`` for ``*``, ``11`` for ``#``, ``12``-``15`` for ``A``-``D``,
  ``16`` for a hook flash); ``Duration`` is in milliseconds and optional.
* ``application/dtmf``: the key alone (``5``), or its event number.

:func:`key_of` gives the key as a character (``"!"`` for a flash), or None for
a body that carries none; it never raises on what a peer sends.
"""

from __future__ import annotations

from typing import Final

import msgspec

FLASH: Final = "!"  # a hook flash, as digit strings write it (Asterisk's convention)
_BY_EVENT: Final = {str(n): k for n, k in enumerate("0123456789*#ABCD")} | {"16": FLASH}
_KEYS: Final = frozenset("0123456789*#ABCD")
MAX_BODY: Final = 512  # bytes: a key press needs a few dozen


class KeyPress(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # 0-9 * # A-D, or FLASH
    duration_ms: int | None = None


def _key(text: str) -> str | None:
    text = text.strip().upper()
    if text in _KEYS:
        return text
    return _BY_EVENT.get(text.lstrip("0") or "0") if text.isdigit() and len(text) <= 3 else None


def key_of(content_type: str, body: bytes) -> KeyPress | None:
    """The key an INFO body carries (see the module docstring), else None."""
    if len(body) > MAX_BODY:
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    ctype = content_type.lower()
    if ctype == "application/dtmf":
        key = _key(text)
        return KeyPress(key=key) if key is not None else None
    if ctype != "application/dtmf-relay":
        return None
    fields: dict[str, str] = {}
    for line in text.replace("\r", "\n").split("\n"):
        name, sep, value = line.partition("=")
        if sep:
            fields.setdefault(name.strip().lower(), value.strip())
    key = _key(fields.get("signal", ""))
    if key is None:
        return None
    duration = fields.get("duration", "")
    ms = int(duration) if duration.isdigit() and len(duration) <= 6 else None
    return KeyPress(key=key, duration_ms=ms)
