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

Matching: one canonical form of the destination
-----------------------------------------------
A restriction must hold for the number, not for one way of spelling it.  The
destination is matched on :attr:`dialplan.numbering.Classified.canonical`:
``+`` and its E.164 digits, the same for every spelling of the number (after
percent-decoding, visual separators, the outside access code, ``+``, the
plan's international prefix ``00``/``011``, and the national forms the plan
says are the same number: NANP ``2125551234`` == ``12125551234`` ==
``+12125551234`` == ``01112125551234``).  Extensions, short numbers and local
numbers whose area is unknown have no E.164 form and are matched on their
digits as routed.

Configured entries (digits only, no ``+``) are read under the numbering plan:

* ``allowed_numbers``: each entry is a complete number, classified like a
  dialed one; its canonical form must equal the destination's.  In NANP
  ``2125551234`` is +1 212 555 1234 (never Morocco, +212 555 1234) and
  ``5551234`` is completed with the home area code.  An entry the plan
  cannot classify is read as E.164 (``442071234567`` is +44 20 7123 4567).
* prefixes (``allowed_prefixes``, ``blocked_prefixes`` and the group's
  ``required_prefixes``): an entry starting with the plan's international
  prefix is E.164 after it (``01144`` is +44, ``0044`` in an ``00`` plan),
  and the international prefix alone (``011``, ``00``) means "every
  international number" (E.164 outside the plan's country code).  Otherwise
  NANP: ``1...`` is +1... (the toll prefix is the country code); three or
  more digits starting 2-9 are a national number, area code first (``801``
  is +1 801, ``441`` Bermuda, ``212976`` the 976 exchange in 212); one or two
  digits are an E.164 country code (``44`` is the UK, not 441 Bermuda nor
  443 Maryland).  E.164 plans: an entry starting with the national prefix is
  national (``020`` in the UK is +44 20); in a plan without national prefix
  a bare entry is national too; otherwise a bare entry is E.164 (``33`` is
  France).  Entries never contain the outside access code.
* An allow entry has exactly that one reading.  A block (and a required
  prefix) also applies under every other reading the digits can have as
  dialed here: E.164, national without prefix, and a local number in the
  home area (NANP ``976`` blocks NPA 976 and the home area's 976-XXXX; UK
  ``9`` blocks premium 09... as well as +9...).  Over-blocking is the safe
  mistake; over-allowing is toll fraud.
* For destinations with no E.164 form, entries are matched on the digits as
  written (the lobby phone's ``100`` and ``101``).

``allowed_classes`` must hold for the class of the number as dialed and for
the class of its canonical form (1+ toll dialing of a local NANP number is
long distance as dialed, local as a number: both classes must be allowed).
``min_digits`` / ``max_digits`` count digits as dialed (without access code
and ``+``), as the 3CX seed defines them; they are about dialing, not about
the destination, and are the one check that depends on the spelling.

An empty allow-list / class list means "no such restriction".  The checks
run in a fixed order (class, allow-list, blocked prefix, length) and the
first one that fails names the refusal.

``rate_plan`` and ``credit_account`` are for billing and only carried through.
:class:`CodeLookup` is what the policy needs from storage: the database
implements it, tests use a dict.
"""

from __future__ import annotations

import datetime
from typing import Final, Protocol

import msgspec

from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS
from dialplan.numbering import (
    E164_MAX_DIGITS,
    NANP_COUNTRY_CODE,
    CallClass,
    Classified,
    NorthAmericanPlan,
    NumberingPlan,
    classify,
    home_country_code,
)

FORBIDDEN: Final = 403  # RFC 3261 §21.4.4: understood, and refused
EVERY_INTERNATIONAL: Final = "+"  # the reading of a bare international prefix (never a real prefix alone)
_NPA_DIGITS: Final = 3  # NANP: an entry this long or longer starting 2-9 begins with an area code
_NATIONAL_FIRST: Final = frozenset("23456789")

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
            raise ValueError(f"{name}: {value!r} must be digits (no '+': write the international prefix)")


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


def number_reading(entry: str, plan: NumberingPlan) -> str:
    """The canonical form an ``allowed_numbers`` entry stands for (module docstring)."""
    found = classify(entry, plan)
    if found.call_class is CallClass.INVALID:
        return "+" + entry
    return found.canonical


def prefix_readings(entry: str, plan: NumberingPlan) -> tuple[str, ...]:
    """What a prefix entry can mean under ``plan``: canonical prefixes, the one
    allow entries use first (module docstring).  :data:`EVERY_INTERNATIONAL`
    stands for every international number."""
    intl = plan.international_prefix
    if entry.startswith(intl):
        rest = entry[len(intl):]
        return ("+" + rest if rest else EVERY_INTERNATIONAL,)
    cc = home_country_code(plan)
    if isinstance(plan, NorthAmericanPlan):
        if entry.startswith(NANP_COUNTRY_CODE):
            return ("+" + entry,)
        if entry[0] not in _NATIONAL_FIRST:
            return ()
        national, e164 = "+" + cc + entry, "+" + entry
        first = (national, e164) if len(entry) >= _NPA_DIGITS else (e164, national)
        area = plan.home_area_code
    else:
        nat = plan.national_prefix
        if nat and entry.startswith(nat):
            return ("+" + cc + entry[len(nat):],)
        national, e164 = "+" + cc + entry, "+" + entry
        first = (national, e164) if not nat else (e164, national)
        area = plan.local_area_code if plan.local_max_digits else ""
    local = ("+" + cc + area + entry,) if area else ()
    return tuple(dict.fromkeys(first + local))


def _prefix_matches(entry: str, dest: Classified, plan: NumberingPlan, *, every_reading: bool) -> bool:
    if not dest.e164:
        return dest.canonical.startswith(entry)
    readings = prefix_readings(entry, plan)
    for reading in readings if every_reading else readings[:1]:
        if reading == EVERY_INTERNATIONAL:
            if not dest.e164.startswith(home_country_code(plan)):
                return True
        elif dest.canonical.startswith(reading):
            return True
    return False


def allowed_by_prefix(entry: str, dest: Classified, plan: NumberingPlan) -> bool:
    """An allow entry: its one reading."""
    return _prefix_matches(entry, dest, plan, every_reading=False)


def blocked_by_prefix(entry: str, dest: Classified, plan: NumberingPlan) -> bool:
    """A block or a required prefix: any of its readings."""
    return _prefix_matches(entry, dest, plan, every_reading=True)


def canonical_class(dest: Classified, plan: NumberingPlan) -> CallClass:
    """The class of the number itself: of its canonical form when it has one."""
    return classify(dest.canonical, plan).call_class if dest.e164 else dest.call_class


def check_restrictions(account: AccountCode, dest: Classified, plan: NumberingPlan) -> Restricted | None:
    """The first restriction of ``account`` that ``dest`` breaks, or None.

    The caller never asks this for emergency or service calls.
    """
    if account.allowed_classes:
        for call_class in (dest.call_class, canonical_class(dest, plan)):
            if call_class not in account.allowed_classes:
                return Restricted(rule="class_not_allowed", what=f"make {CLASS_NAMES[call_class]} calls")
    if account.allowed_numbers or account.allowed_prefixes:
        allowed = any(number_reading(entry, plan) == dest.canonical for entry in account.allowed_numbers) or any(
            allowed_by_prefix(entry, dest, plan) for entry in account.allowed_prefixes
        )
        if not allowed:
            return Restricted(rule="destination_not_allowed", what=f"call {dest.number}")
    for prefix in account.blocked_prefixes:
        if blocked_by_prefix(prefix, dest, plan):
            return Restricted(rule="blocked_prefix", what=f"call prefix {prefix}")
    digits = len(dest.number.lstrip("+"))
    if account.min_digits is not None and digits < account.min_digits:
        return Restricted(rule="too_few_digits", what=f"call numbers of fewer than {account.min_digits} digits")
    if account.max_digits is not None and digits > account.max_digits:
        return Restricted(rule="too_many_digits", what=f"call numbers of more than {account.max_digits} digits")
    return None
