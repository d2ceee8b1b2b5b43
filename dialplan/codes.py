"""Account codes: the records, their validity dates and their call restrictions.

Theory of operation
-------------------
An :class:`AccountCode` names a client, matter or department (3CX Enhanced
Billing Codes seed: "reports by account code, department, extension") and
may restrict what calls it can pay for (same seed, "Restrict Calls"):

* ``min_digits`` / ``max_digits``: "block calls if the phone number dialed is
  less than the minimum or more than the maximum number of permitted digits";
* ``blocked_prefixes``: "block calls starting with digits that match a list of
  specified prefixes", e.g. ``801,004,920988`` (:func:`parse_prefix_list`
  reads that comma form);
* ``allowed_numbers`` / ``allowed_prefixes``: an allow-list, e.g. "an account
  code ... for a lobby phone to only permit calls to specific extensions", or
  international calls only to specific countries or numbers;
* ``allowed_classes``: e.g. everything but international.

Prefix and exact-number rules look at every digit form of the destination
(:attr:`dialplan.numbering.Classified.forms`: as dialed, national, E.164), so
a rule cannot be dodged by dialing ``1801...`` or ``+1801...`` instead of
``801...``.  An empty allow-list / class list means "no such restriction".
The checks run in a fixed order (class, allow-list, blocked prefix, length)
and the first one that fails names the refusal.

``rate_plan`` and ``credit_account`` are for billing and only carried through.
:class:`CodeLookup` is what the policy needs from storage: the database
implements it, tests use a dict.
"""

from __future__ import annotations

import datetime
from typing import Final, Protocol

import msgspec

from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS
from dialplan.numbering import E164_MAX_DIGITS, CallClass, Classified

FORBIDDEN: Final = 403  # RFC 3261 §21.4.4: understood, and refused

CLASS_NAMES: Final = {
    CallClass.EMERGENCY: "emergency",
    CallClass.SERVICE: "service",
    CallClass.INTERNAL: "internal",
    CallClass.LOCAL: "local",
    CallClass.LONG_DISTANCE: "long distance",
    CallClass.TOLL_FREE: "toll-free",
    CallClass.PREMIUM: "premium-rate",
    CallClass.INTERNATIONAL: "international",
    CallClass.INVALID: "invalid",
}


def _is_code(text: str) -> bool:
    return text.isascii() and text.isdigit() and MIN_CODE_DIGITS <= len(text) <= MAX_CODE_DIGITS


def _check_prefixes(name: str, values: tuple[str, ...]) -> None:
    for value in values:
        if not (value.isascii() and value.isdigit() and len(value) <= E164_MAX_DIGITS + 3):
            raise ValueError(f"{name}: {value!r} must be digits (no '+': every digit form is matched)")


def parse_prefix_list(text: str) -> tuple[str, ...]:
    """``"801,004,920988"`` -> ``("801", "004", "920988")``; spaces and empty items ignored."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


class AccountCode(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One account code and its restrictions (see the module docstring)."""

    code: str
    name: str = ""
    department: str = ""
    active: bool = True
    active_from: datetime.date | None = None  # first day the code works
    active_until: datetime.date | None = None  # last day the code works
    min_digits: int | None = None
    max_digits: int | None = None
    blocked_prefixes: tuple[str, ...] = ()
    allowed_numbers: tuple[str, ...] = ()
    allowed_prefixes: tuple[str, ...] = ()
    allowed_classes: frozenset[CallClass] = frozenset()
    rate_plan: str | None = None
    credit_account: str | None = None

    def __post_init__(self) -> None:
        if not _is_code(self.code):
            raise ValueError(f"code must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS} digits")
        if self.active_from and self.active_until and self.active_from > self.active_until:
            raise ValueError("active_from is after active_until")
        for limit in (self.min_digits, self.max_digits):
            if limit is not None and not 1 <= limit <= E164_MAX_DIGITS + 3:
                raise ValueError("min_digits/max_digits must be between 1 and 18")
        if self.min_digits is not None and self.max_digits is not None and self.min_digits > self.max_digits:
            raise ValueError("min_digits is above max_digits")
        _check_prefixes("blocked_prefixes", self.blocked_prefixes)
        _check_prefixes("allowed_numbers", self.allowed_numbers)
        _check_prefixes("allowed_prefixes", self.allowed_prefixes)

    def is_active(self, today: datetime.date) -> bool:
        """Usable on ``today``: the active flag set and today within the dates (inclusive)."""
        if not self.active:
            return False
        if self.active_from is not None and today < self.active_from:
            return False
        return self.active_until is None or today <= self.active_until


class CodeLookup(Protocol):
    """Storage as the policy sees it; ``dict[str, AccountCode]`` satisfies it."""

    def get(self, code: str, /) -> AccountCode | None: ...


class Restricted(msgspec.Struct, frozen=True, kw_only=True):
    """A restriction that refused the call: rule name and the reason's tail."""

    rule: str
    what: str  # completes "<who> may not ...", e.g. "call prefix 801"


def check_restrictions(account: AccountCode, dest: Classified) -> Restricted | None:
    """The first restriction of ``account`` that ``dest`` breaks, or None.

    The caller never asks this for emergency or service calls.
    """
    forms = dest.forms
    if account.allowed_classes and dest.call_class not in account.allowed_classes:
        return Restricted(rule="class_not_allowed", what=f"make {CLASS_NAMES[dest.call_class]} calls")
    if account.allowed_numbers or account.allowed_prefixes:
        allowed = any(form in account.allowed_numbers for form in forms) or any(
            form.startswith(prefix) for form in forms for prefix in account.allowed_prefixes
        )
        if not allowed:
            return Restricted(rule="destination_not_allowed", what=f"call {dest.number}")
    for prefix in account.blocked_prefixes:
        if any(form.startswith(prefix) for form in forms):
            return Restricted(rule="blocked_prefix", what=f"call prefix {prefix}")
    digits = len(dest.number.lstrip("+"))
    if account.min_digits is not None and digits < account.min_digits:
        return Restricted(rule="too_few_digits", what=f"call numbers of fewer than {account.min_digits} digits")
    if account.max_digits is not None and digits > account.max_digits:
        return Restricted(rule="too_many_digits", what=f"call numbers of more than {account.max_digits} digits")
    return None
