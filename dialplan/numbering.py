"""Numbering plans: what kind of call a dialed number is.

Theory of operation
-------------------
:func:`classify` turns a dialed number into a :class:`Classified`: the number
as it will be routed (visual separators and an optional outside-line access
code removed) and its :class:`CallClass`.  The account-code rules
(:mod:`dialplan.policy`) ask for codes per call class, and the seeds name
the classes that matter: emergency (911) and repair (611) calls are never
prompted (BroadWorks "Account Codes"), group administrators may require codes
for long distance only, leaving local and toll-free calls alone (same seed),
and call accounting rates local, long distance and international calls apart
(Yeastar "Call Accounting").

Two plans are provided, both frozen msgspec structs tagged by ``kind`` so a
configuration file can pick one:

* :class:`NorthAmericanPlan` (``kind = "nanp"``, NANP dialing as in the
  US/Canada): 911 and 933 emergency; N11 codes 211..811 service (611 is
  repair); internal extensions; 7-digit NXX-XXXX and 10-digit numbers in the
  configured local area codes are local; 1+10 digits (and 10 digits outside
  the local area codes) long distance; 1-800/833/844/855/866/877/888 toll
  free; 1-900 and NXX 976 (976-XXXX, NPA-976-XXXX) premium; 011+ international
  (011 1 ... is the same NANP number as +1 ...).
* :class:`E164Plan` (``kind = "e164"``), a generic ITU-T E.164 plan for other
  countries: configurable national (trunk) prefix such as ``0``, international
  prefix such as ``00``, emergency numbers such as 112/999, service numbers,
  extension pattern, and prefixes of national significant numbers that are
  local, toll free or premium.

Classification order is fixed and is what makes the safety rules hold:
emergency, then service (also after the outside access code, e.g. 9-911),
then internal, then everything else.  Internal means the number is a
configured extension or matches the extension pattern; whether it really
reaches an extension is the router's knowledge, which the policy takes as
an argument (:func:`dialplan.policy.evaluate`, ``internal``): one that does
not is classified again by :func:`classify_outside`.  A number that
fits no rule is ``invalid``; :attr:`Classified.incomplete` then tells whether
it could still become valid with more digits (answered 484 Address Incomplete
rather than 404 by the policy).

A leading ``+`` means an E.164 number (RFC 3966 global number).  Visual
separators (RFC 3966 §5.1.1 plus space and ``/``) are removed.  Nothing else
is tolerated: ``*``, ``#`` and letters make a number invalid here; the dial
string forms that use them are parsed by :mod:`dialplan.dialstring` first.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

# RFC 3966 §5.1.1 visual-separator is "-" / "." / "(" / ")"; phones and
# address books also put spaces, tabs and '/' in numbers.
VISUAL_SEPARATORS: Final = frozenset("-.() \t/")
# ITU-T E.164 §6.1: an international number has at most 15 digits.
E164_MAX_DIGITS: Final = 15
# Shortest international numbers (country code + subscriber number), e.g.
# Niue +683 XXXX: 7 digits.  Shorter ones are still being dialed.
E164_MIN_DIGITS: Final = 7
# NANP: NPA-NXX-XXXX, 10 digits; 7 without the area code; 1 is the prefix
# for toll (long distance) dialing and also the country code.
NANP_NATIONAL_DIGITS: Final = 10
NANP_LOCAL_DIGITS: Final = 7
NANP_TOLL_PREFIX: Final = "1"
NANP_COUNTRY_CODE: Final = "1"
_NXX_FIRST: Final = frozenset("23456789")  # NPA and NXX never start with 0 or 1


class CallClass(enum.StrEnum):
    """What kind of destination a number reaches; values are config names."""

    EMERGENCY = "emergency"
    SERVICE = "service"  # N11 and similar short codes; 611 repair is one of them
    INTERNAL = "internal"
    LOCAL = "local"
    LONG_DISTANCE = "long_distance"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    INTERNATIONAL = "international"
    INVALID = "invalid"


# Calls that are never prompted for a code, never blocked (BroadWorks seed:
# "All emergency (911) and repair (611) calls are never prompted").
UNRESTRICTED_CLASSES: Final = frozenset({CallClass.EMERGENCY, CallClass.SERVICE})
# Calls that leave the group ("every time they make a call outside of the group").
OUTSIDE_CLASSES: Final = frozenset(
    {
        CallClass.LOCAL,
        CallClass.LONG_DISTANCE,
        CallClass.TOLL_FREE,
        CallClass.PREMIUM,
        CallClass.INTERNATIONAL,
    }
)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _check_digit_set(name: str, values: frozenset[str] | tuple[str, ...]) -> None:
    for value in values:
        if not _digits(value):
            raise ValueError(f"{name}: {value!r} must be digits only")


def _check_access_code(code: str) -> None:
    if code and not _digits(code):
        raise ValueError(f"outside_access_code: {code!r} must be digits only")


class ExtensionPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which numbers are internal extensions: a pattern and/or an explicit list.

    The pattern is "``min_digits`` to ``max_digits`` digits whose first digit
    is in ``first_digits``" (default 3 to 5 digits starting 1..8, leaving 9
    and 0 for outside lines and operators); an empty ``first_digits`` turns
    the pattern off so only ``numbers`` count.
    """

    min_digits: int = 3
    max_digits: int = 5
    first_digits: str = "12345678"
    numbers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits <= E164_MAX_DIGITS:
            raise ValueError(f"extension digits must satisfy 1 <= min <= max <= {E164_MAX_DIGITS}")
        if self.first_digits and not _digits(self.first_digits):
            raise ValueError("first_digits must be digits only")
        _check_digit_set("numbers", self.numbers)

    def matches(self, number: str) -> bool:
        if number in self.numbers:
            return True
        return (
            bool(self.first_digits)
            and self.min_digits <= len(number) <= self.max_digits
            and number[0] in self.first_digits
            and _digits(number)
        )


class NorthAmericanPlan(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="nanp"
):
    """North American Numbering Plan dialing (see the module docstring).

    ``local_area_codes`` are NPAs whose 10-digit numbers are local calls;
    ``home_area_code`` (also local) completes 7-digit numbers so that their
    E.164 form is known for prefix rules.  1+10 digits are long distance even
    in a local area code: dialing the 1 is the toll prefix.
    ``outside_access_code`` (e.g. ``"9"``) is optional: when a number starts
    with it, it is removed, so 9-911 still reaches emergency.
    """

    emergency: frozenset[str] = frozenset({"911", "933"})
    service: frozenset[str] = frozenset({"211", "311", "411", "511", "611", "711", "811"})
    extensions: ExtensionPlan = ExtensionPlan()
    home_area_code: str = ""
    local_area_codes: frozenset[str] = frozenset()
    toll_free_area_codes: frozenset[str] = frozenset({"800", "833", "844", "855", "866", "877", "888"})
    premium_area_codes: frozenset[str] = frozenset({"900"})
    premium_exchanges: frozenset[str] = frozenset({"976"})
    international_prefix: str = "011"
    outside_access_code: str = ""

    def __post_init__(self) -> None:
        for name in ("emergency", "service", "local_area_codes", "toll_free_area_codes",
                     "premium_area_codes", "premium_exchanges"):
            _check_digit_set(name, getattr(self, name))
        for npa in self.local_area_codes | self.toll_free_area_codes | self.premium_area_codes:
            if len(npa) != 3:
                raise ValueError(f"area code {npa!r} must have 3 digits")
        if self.home_area_code and (len(self.home_area_code) != 3 or not _digits(self.home_area_code)):
            raise ValueError("home_area_code must be 3 digits")
        if not _digits(self.international_prefix):
            raise ValueError("international_prefix must be digits")
        _check_access_code(self.outside_access_code)


class E164Plan(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="e164"
):
    """A generic plan for countries outside the NANP.

    National numbers are dialed as ``national_prefix`` + national significant
    number (NSN, ``national_min_digits``..``national_max_digits`` long); with
    an empty national prefix (e.g. Denmark, Italy) a digit string of NSN
    length is national.  NSNs starting with one of ``toll_free_prefixes`` /
    ``premium_prefixes`` / ``local_prefixes`` are toll free / premium / local
    (checked in that order), any other is long distance.  In an open plan,
    subscriber numbers of ``local_min_digits``..``local_max_digits`` digits
    dialed without prefix are local (``local_max_digits = 0``: none), and
    ``local_area_code`` completes them to an NSN.
    """

    country_code: str
    national_prefix: str = "0"
    international_prefix: str = "00"
    emergency: frozenset[str] = frozenset({"112"})
    service: frozenset[str] = frozenset()
    extensions: ExtensionPlan = ExtensionPlan()
    national_min_digits: int = 7
    national_max_digits: int = 12
    local_prefixes: frozenset[str] = frozenset()
    toll_free_prefixes: frozenset[str] = frozenset()
    premium_prefixes: frozenset[str] = frozenset()
    local_min_digits: int = 0
    local_max_digits: int = 0
    local_area_code: str = ""
    outside_access_code: str = ""

    def __post_init__(self) -> None:
        if not (_digits(self.country_code) and 1 <= len(self.country_code) <= 3):
            raise ValueError("country_code must be 1 to 3 digits (ITU-T E.164)")
        if self.national_prefix and not _digits(self.national_prefix):
            raise ValueError("national_prefix must be digits")
        if not _digits(self.international_prefix):
            raise ValueError("international_prefix must be digits")
        if self.national_prefix and self.national_prefix == self.international_prefix:
            raise ValueError("national_prefix and international_prefix must differ")
        for name in ("emergency", "service", "local_prefixes", "toll_free_prefixes", "premium_prefixes"):
            _check_digit_set(name, getattr(self, name))
        if not 1 <= self.national_min_digits <= self.national_max_digits <= E164_MAX_DIGITS - len(self.country_code):
            raise ValueError("national digits must satisfy 1 <= min <= max <= 15 - len(country_code)")
        if self.local_max_digits and not 1 <= self.local_min_digits <= self.local_max_digits <= E164_MAX_DIGITS:
            raise ValueError("local digits must satisfy 1 <= min <= max <= 15 (or max = 0: none)")
        if self.local_area_code and not _digits(self.local_area_code):
            raise ValueError("local_area_code must be digits")
        _check_access_code(self.outside_access_code)


NumberingPlan = NorthAmericanPlan | E164Plan


class Classified(msgspec.Struct, frozen=True, kw_only=True):
    """A classified number.

    ``number``: as routed (separators and access code removed, ``+`` kept);
    ``national``: the national significant number when known (NANP: 10
    digits), else ""; ``e164``: the international form without ``+`` when
    known, else "".  ``incomplete`` (only for ``invalid``): more digits
    could still make it a valid number.  ``unplanned``: a number that looks
    like an extension, does not route internally and that the plan cannot
    otherwise place (e.g. ``11880``); see :func:`classify_outside`.
    """

    number: str
    call_class: CallClass
    national: str = ""
    e164: str = ""
    incomplete: bool = False
    unplanned: bool = False

    @property
    def forms(self) -> tuple[str, ...]:
        """The digit forms of this destination: as dialed, national, E.164.

        Restrictions do not match these (a prefix of one form can be a
        different number's prefix in another: ``44`` of ``4415551234``);
        they match :attr:`canonical` (see :mod:`dialplan.codes`).
        """
        out: list[str] = []
        for form in (self.number.lstrip("+"), self.national, self.e164):
            if form and form not in out:
                out.append(form)
        return tuple(out)

    @property
    def canonical(self) -> str:
        """The one form restrictions match (:mod:`dialplan.codes`): ``+`` and the
        E.164 digits when known, whatever the spelling dialed (``+``, ``%2B``,
        ``00``/``011``, national forms, access code, separators); else (an
        extension, a short number, a local number whose area is not known) the
        digits as routed, which have no other spelling."""
        return "+" + self.e164 if self.e164 else self.number.lstrip("+")


def home_country_code(plan: NumberingPlan) -> str:
    """The plan's own E.164 country code: what is not international."""
    return NANP_COUNTRY_CODE if isinstance(plan, NorthAmericanPlan) else plan.country_code


def normalise(raw: str) -> str | None:
    """Remove visual separators; return digits, ``+digits``, or None if anything else remains."""
    text = "".join(ch for ch in raw if ch not in VISUAL_SEPARATORS)
    body = text[1:] if text.startswith("+") else text
    if not _digits(body):
        return None
    return text


def _invalid(number: str, *, incomplete: bool = False) -> Classified:
    return Classified(number=number, call_class=CallClass.INVALID, incomplete=incomplete)


def _international(number: str, e164: str) -> Classified:
    if len(e164) < E164_MIN_DIGITS:
        return _invalid(number, incomplete=True)
    if len(e164) > E164_MAX_DIGITS or e164[0] == "0":
        return _invalid(number)
    return Classified(number=number, call_class=CallClass.INTERNATIONAL, e164=e164)


def _short_codes(number: str, plan: NumberingPlan) -> Classified | None:
    if number in plan.emergency:
        return Classified(number=number, call_class=CallClass.EMERGENCY)
    if number in plan.service:
        return Classified(number=number, call_class=CallClass.SERVICE)
    return None


def classify(raw: str, plan: NumberingPlan, *, extensions: bool = True) -> Classified:
    """Classify a dialed number (a plain number, no dial-string syntax).

    ``extensions=False``: the number does not route internally, so the
    extension plan is not asked (:func:`classify_outside`)."""
    number = normalise(raw)
    if number is None:  # not a number (yet): nothing to route
        bare = "".join(ch for ch in raw if ch not in VISUAL_SEPARATORS)
        return _invalid("", incomplete=bare in ("", "+"))
    found = _short_codes(number, plan)
    if found is not None:
        return found
    access = plan.outside_access_code
    outside = number
    if access and number.startswith(access) and len(number) > len(access):
        outside = number[len(access):]
        # access code + emergency wins even over an extension that looks the same
        found = _short_codes(outside, plan)
        if found is not None:
            return found
    if extensions and plan.extensions.matches(number):
        return Classified(number=number, call_class=CallClass.INTERNAL)
    number = outside
    if isinstance(plan, NorthAmericanPlan):
        return _classify_nanp(number, plan)
    return _classify_e164(number, plan)


def classify_outside(raw: str, plan: NumberingPlan) -> Classified:
    """``raw`` as a number that leaves the office although it looks like an
    extension: classified without the extension rule; a number the plan
    cannot place then (a short code such as ``11880``, a premium directory
    service) is ``premium`` and ``unplanned``, its cost being unknown."""
    found = classify(raw, plan, extensions=False)
    if found.call_class is not CallClass.INVALID:
        return found
    return Classified(number=found.number, call_class=CallClass.PREMIUM, unplanned=True)


# --- North American Numbering Plan -------------------------------------------------------


def _nanp_could_be(nsn: str) -> bool:
    """Whether the first digits of an NPA-NXX-XXXX can still become a valid one."""
    npa, nxx = nsn[:3], nsn[3:6]
    if npa and (npa[0] not in _NXX_FIRST or npa[1:] == "11"):
        return False
    return not nxx or (nxx[0] in _NXX_FIRST and nxx[1:] != "11")


def _nanp_short(number: str, nsn: str) -> Classified:
    """Fewer than 10 national digits, or more."""
    return _invalid(number, incomplete=len(nsn) < NANP_NATIONAL_DIGITS and _nanp_could_be(nsn))


def _nanp_national(number: str, nsn: str, plan: NorthAmericanPlan, *, toll_dialed: bool) -> Classified:
    """Classify a 10-digit NPA-NXX-XXXX; ``toll_dialed``: dialed with the 1 prefix."""
    if not _nanp_could_be(nsn):
        return _invalid(number)
    npa = nsn[:3]
    e164 = NANP_COUNTRY_CODE + nsn
    if npa in plan.toll_free_area_codes:
        call_class = CallClass.TOLL_FREE
    elif npa in plan.premium_area_codes or nsn[3:6] in plan.premium_exchanges:
        call_class = CallClass.PREMIUM
    elif not toll_dialed and (npa in plan.local_area_codes or npa == plan.home_area_code):
        call_class = CallClass.LOCAL
    else:
        call_class = CallClass.LONG_DISTANCE
    return Classified(number=number, call_class=call_class, national=nsn, e164=e164)


def _classify_nanp(number: str, plan: NorthAmericanPlan) -> Classified:
    intl = plan.international_prefix
    if number.startswith(("+", intl)):
        # 011 1 NPA... is +1 NPA...: a NANP number, whichever way it is written
        e164 = number[1:] if number.startswith("+") else number[len(intl):]
        if e164.startswith(NANP_COUNTRY_CODE):
            nsn = e164[len(NANP_COUNTRY_CODE):]
            if len(nsn) != NANP_NATIONAL_DIGITS:
                return _nanp_short(number, nsn)
            return _nanp_national(number, nsn, plan, toll_dialed=False)
        return _international(number, e164)
    if intl.startswith(number):
        return _invalid(number, incomplete=True)
    if number.startswith(NANP_TOLL_PREFIX):
        nsn = number[len(NANP_TOLL_PREFIX):]
        if len(nsn) != NANP_NATIONAL_DIGITS:
            return _nanp_short(number, nsn)
        return _nanp_national(number, nsn, plan, toll_dialed=True)
    if number[0] not in _NXX_FIRST:
        return _invalid(number)
    if len(number) == NANP_NATIONAL_DIGITS:
        return _nanp_national(number, number, plan, toll_dialed=False)
    if len(number) == NANP_LOCAL_DIGITS:
        nxx = number[:3]
        if nxx[1:] == "11":
            return _invalid(number)
        nsn = plan.home_area_code + number if plan.home_area_code else ""
        e164 = NANP_COUNTRY_CODE + nsn if nsn else ""
        call_class = CallClass.PREMIUM if nxx in plan.premium_exchanges else CallClass.LOCAL
        return Classified(number=number, call_class=call_class, national=nsn, e164=e164)
    # Fewer than 7 digits, or 8-9 (on the way to 10): more digits may follow.
    return _nanp_short(number, number)


# --- generic E.164 countries --------------------------------------------------------------


def _e164_national(number: str, nsn: str, plan: E164Plan) -> Classified:
    if len(nsn) < plan.national_min_digits:
        return _invalid(number, incomplete=True)
    if len(nsn) > plan.national_max_digits or nsn[0] == "0":
        return _invalid(number)
    if any(nsn.startswith(p) for p in plan.toll_free_prefixes):
        call_class = CallClass.TOLL_FREE
    elif any(nsn.startswith(p) for p in plan.premium_prefixes):
        call_class = CallClass.PREMIUM
    elif any(nsn.startswith(p) for p in plan.local_prefixes):
        call_class = CallClass.LOCAL
    else:
        call_class = CallClass.LONG_DISTANCE
    return Classified(number=number, call_class=call_class, national=nsn, e164=plan.country_code + nsn)


def _e164_global(number: str, e164: str, plan: E164Plan) -> Classified:
    """A number in international form (after ``+`` or the international prefix)."""
    if e164.startswith(plan.country_code) and len(e164) > len(plan.country_code):
        return _e164_national(number, e164[len(plan.country_code):], plan)
    return _international(number, e164)


def _classify_e164(number: str, plan: E164Plan) -> Classified:
    if number.startswith("+"):
        return _e164_global(number, number[1:], plan)
    intl, nat = plan.international_prefix, plan.national_prefix
    if number.startswith(intl):
        return _e164_global(number, number[len(intl):], plan)
    if nat and number.startswith(nat):
        return _e164_national(number, number[len(nat):], plan)
    if intl.startswith(number) or (nat and nat.startswith(number)):
        return _invalid(number, incomplete=True)
    if not nat and plan.national_min_digits <= len(number) <= plan.national_max_digits:
        return _e164_national(number, number, plan)
    if plan.local_max_digits and plan.local_min_digits <= len(number) <= plan.local_max_digits:
        nsn = plan.local_area_code + number if plan.local_area_code else ""
        return Classified(
            number=number,
            call_class=CallClass.LOCAL,
            national=nsn,
            e164=plan.country_code + nsn if nsn else "",
        )
    shortest = plan.local_min_digits if plan.local_max_digits else plan.national_min_digits
    return _invalid(number, incomplete=len(number) < shortest)
