"""Authorization codes: secrets that authorize a class of calls (BroadWorks
"authorization codes", CUCM "forced authorization codes").

Theory of operation
-------------------
Unlike an account code, which names who pays and stays visible in records
and reports, an authorization code is a secret: whoever knows it may make
the calls it allows.  It is therefore stored only as a salted hash and never
shown, logged or recorded; a call record names the code's ``description``
and ``level`` instead (:class:`AuthGrant`).

* :func:`b2bua.runtime.authcodes.hash_code`: ``hashlib.scrypt`` of the digits with the table's salt
  (one random salt per table, kept with it: one hash per call finds the
  code whatever the number of codes; a per-code salt would cost one scrypt
  per stored code per call).  Short codes remain guessable offline from a
  stolen table (10^6 six-digit codes at ~30 ms each is hours, not years):
  protect the database, prefer long codes; online guessing is stopped by the
  account-code lockout, which counts wrong authorization codes too.
* :class:`AuthCode`: one stored code: ``digest``, ``description``,
  ``level`` (0-255, CUCM's authorization level), ``classes`` (the call
  classes it authorizes; empty: every class) and ``active``.
* :class:`AuthCodeLookup`: what the policy needs, ``find(code)``: the
  record (active or not) or None; :class:`b2bua.runtime.authcodes.AuthCodeTable`
  implements it (hashing stays out of this pure package).

How a call carries one and when one is needed is the policy's business
(:mod:`dialplan.policy`, the group's ``auth_fac``, ``auth_classes`` and
``auth_level``); how it is dialed, :func:`dialplan.dialstring.split_auth`.
"""

from __future__ import annotations

from typing import Annotated, Final, Protocol

import msgspec

from dialplan.dialstring import MAX_CODE_DIGITS
from dialplan.numbering import CallClass

MIN_AUTH_DIGITS: Final = 4

Level = Annotated[int, msgspec.Meta(ge=0, le=255)]


def is_auth_code(code: str) -> bool:
    """Digits, MIN_AUTH_DIGITS to MAX_CODE_DIGITS of them."""
    return code.isascii() and code.isdigit() and MIN_AUTH_DIGITS <= len(code) <= MAX_CODE_DIGITS


class AuthGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a call record says about the authorization code that allowed it."""

    description: str
    level: int


class AuthCode(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One stored authorization code (the digits are not kept)."""

    id: int
    digest: str
    description: str
    level: Level = 0
    classes: frozenset[CallClass] = frozenset()  # empty: every class
    active: bool = True

    @property
    def grant(self) -> AuthGrant:
        return AuthGrant(description=self.description, level=self.level)


class AuthCodeLookup(Protocol):
    """What the policy needs: the record of a dialed code, or None."""

    def find(self, code: str, /) -> AuthCode | None: ...
