"""Restrictions match the number, not the way it was spelled (dialplan.codes).

A destination is matched on one canonical form (``+`` and its E.164 digits,
from dialplan.numbering.classify) and configured entries are read under the
numbering plan (see the dialplan.codes docstring).  Rows: the holes that
matching on every digit form left open; property: no spelling of a number
(with or without ``+``, ``%2B``, ``00``, ``011``, the outside access code,
national forms, separators; ``00`` where it is not the international
prefix) reaches a destination that its canonical form
``+E164`` is refused.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialplan import (
    AccountCode,
    CallClass,
    CallContext,
    Decision,
    E164Plan,
    GroupPolicy,
    Mode,
    NorthAmericanPlan,
    NumberingPlan,
    classify,
    evaluate,
)
from dialplan.codes import number_reading, prefix_readings
from dialplan.numbering import NANP_COUNTRY_CODE
from tests.dialplan.book import NANP, TODAY, UK

CODE = "24680"


def run(dialed: str, account: AccountCode, plan: NumberingPlan = NANP, group: GroupPolicy | None = None) -> Decision:
    ctx = CallContext(caller="1001", group=group or GroupPolicy(mode=Mode.MANDATORY), dialed=f"{account.code}**{dialed}")
    return evaluate(ctx, plan, {account.code: account}, TODAY)


NEW_YORK_ONLY = AccountCode(code=CODE, allowed_numbers=("2125551234",))
UK_ONLY = AccountCode(code=CODE, allowed_prefixes=("44",))
NO_INTERNATIONAL = AccountCode(code=CODE, blocked_prefixes=("011",))


@pytest.mark.parametrize(
    ("dialed", "account", "allowed"),
    [
        # a NANP national number is the same number with 1 or +1 in front...
        ("2125551234", NEW_YORK_ONLY, True),
        ("12125551234", NEW_YORK_ONLY, True),
        ("+1 212 555 1234", NEW_YORK_ONLY, True),
        ("%2B12125551234", NEW_YORK_ONLY, True),
        # ...but with + alone it is Morocco (+212), another number
        ("+2125551234", NEW_YORK_ONLY, False),
        ("%2B2125551234", NEW_YORK_ONLY, False),
        ("0112125551234", NEW_YORK_ONLY, False),
        ("+212555123456", NEW_YORK_ONLY, False),
        # 44 is the UK's country code, not the start of NANP area code 441 (Bermuda)
        ("011442071234567", UK_ONLY, True),
        ("+442071234567", UK_ONLY, True),
        ("14415551234", UK_ONLY, False),
        ("+14415551234", UK_ONLY, False),
        ("4415551234", UK_ONLY, False),
        ("4435551234", UK_ONLY, False),
        # a block on 011 is a block on international calls, however dialed
        ("011442071234567", NO_INTERNATIONAL, False),
        ("+442071234567", NO_INTERNATIONAL, False),
        ("%2B442071234567", NO_INTERNATIONAL, False),
        ("+44 (20) 7123-4567", NO_INTERNATIONAL, False),
        ("+18016424655", NO_INTERNATIONAL, True),  # +1 is not international here
        ("2125551234", NO_INTERNATIONAL, True),
    ],
)
def test_nanp_spellings(dialed: str, account: AccountCode, allowed: bool) -> None:
    d = run(dialed, account)
    assert d.allowed is allowed, d


def test_uk_spellings() -> None:
    london = AccountCode(code=CODE, allowed_numbers=("02071234567",))
    for dialed in ("02071234567", "+442071234567", "00442071234567", "%2B44 20 7123 4567"):
        assert run(dialed, london, UK).allowed, dialed
    assert not run("0012071234567", london, UK).allowed  # +1 207: Maine, not London
    no_intl = AccountCode(code=CODE, blocked_prefixes=("00",))
    for dialed in ("0033123456789", "+33123456789", "%2B33123456789"):
        assert run(dialed, no_intl, UK).rule == "blocked_prefix", dialed
    assert run("+442071234567", no_intl, UK).allowed  # +44 is not international in London


def test_premium_exchange_is_premium_with_its_area_code() -> None:
    # 976-1234 is premium; dialing it with the area code must not make it local
    no_premium = AccountCode(code=CODE, allowed_classes=frozenset(CallClass) - {CallClass.PREMIUM})
    for dialed in ("9761234", "2129761234", "12129761234", "+12129761234"):
        assert run(dialed, no_premium).rule == "class_not_allowed", dialed


def test_toll_dialed_local_number_checks_the_class_of_the_number_too() -> None:
    # 1+10 digits is long distance as dialed; the number itself is local: both must be allowed
    long_distance_only = AccountCode(code=CODE, allowed_classes=frozenset({CallClass.LONG_DISTANCE}))
    assert not run("12125551234", long_distance_only).allowed
    assert not run("+12125551234", long_distance_only).allowed


def test_prefix_mode_requires_a_code_however_dialed() -> None:
    group = GroupPolicy(mode=Mode.PREFIXES, required_prefixes=("011",))
    for dialed in ("011442071234567", "+442071234567", "%2B442071234567"):
        ctx = CallContext(caller="1001", group=group, dialed=dialed)
        assert evaluate(ctx, NANP, {}, TODAY).rule == "code_required", dialed


# --- property: every spelling of a number -------------------------------------------------

PLANS: list[NumberingPlan] = [
    NANP,
    msgspec.structs.replace(NANP, outside_access_code="9"),
    NorthAmericanPlan(),  # no home area: 7-digit numbers have no E.164 form
    UK,
    msgspec.structs.replace(UK, outside_access_code="9"),
    E164Plan(country_code="45", national_prefix="", national_min_digits=8, national_max_digits=8),
]
NANP_AREAS = ["212", "646", "441", "442", "801", "800", "900", "876", "920", "976"]
COUNTRIES = ["44", "212", "33", "49", "45", "353", "683", "1"]
ENTRIES = ["44", "441", "4420", "212", "2125551234", "1", "1212", "011", "00", "0044", "01144", "0", "020",
           "801", "9", "976", "9761234", "5551234", "4", "2", "800", "33", "3312", "18005551212"]


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def e164_numbers(draw: st.DrawFn) -> str:
    if draw(st.booleans()):  # NANP: 1 NPA NXX XXXX
        nxx = draw(st.sampled_from(["555", "976", "801", "441"]))
        return NANP_COUNTRY_CODE + draw(st.sampled_from(NANP_AREAS)) + nxx + draw(_digits(4))
    cc = draw(st.sampled_from(COUNTRIES))
    first = draw(st.sampled_from("123456789"))
    return cc + first + draw(_digits(draw(st.integers(5, 11 - len(cc)))))


def spellings(e164: str, plan: NumberingPlan) -> list[str]:
    out = ["+" + e164, "%2B" + e164, "%2b" + e164, plan.international_prefix + e164]
    if isinstance(plan, NorthAmericanPlan):
        out.append("00" + e164)  # not an international prefix here: a number that cannot be called
        if e164.startswith(NANP_COUNTRY_CODE) and len(e164) == 11:
            # national forms exist only for a whole NANP number: "+1" and 7 digits
            # is no number, and its 7 digits dialed alone are a local number
            nsn = e164[1:]
            out += [nsn, "1" + nsn]
            if nsn[:3] == plan.home_area_code:
                out.append(nsn[3:])
    elif e164.startswith(plan.country_code):
        out.append(plan.national_prefix + e164[len(plan.country_code):])
    return out


@st.composite
def spelled(draw: st.DrawFn) -> tuple[NumberingPlan, str, str]:
    plan = draw(st.sampled_from(PLANS))
    e164 = draw(e164_numbers())
    spelling = draw(st.sampled_from(spellings(e164, plan)))
    if plan.outside_access_code and draw(st.booleans()):
        spelling = plan.outside_access_code + spelling
    for _ in range(draw(st.integers(0, 3))):  # visual separators anywhere after a '+'
        at = draw(st.integers(0, len(spelling)))
        if spelling[:at].endswith(("%", "%2")):
            continue
        at = max(at, 1) if spelling.startswith("+") else at
        spelling = spelling[:at] + draw(st.sampled_from(["-", " ", ".", "(", ")", "/"])) + spelling[at:]
    return plan, e164, spelling


@st.composite
def entries(draw: st.DrawFn, e164: str) -> str:
    return draw(st.one_of(
        st.sampled_from(ENTRIES),
        st.integers(1, len(e164)).map(lambda n: e164[:n]),  # a prefix of the E.164 digits
        st.integers(1, len(e164) - 1).map(lambda n: e164[1:n + 1]),  # of the national digits
        st.text("0123456789", min_size=1, max_size=4),
    ))


@st.composite
def restricted(draw: st.DrawFn, e164: str) -> AccountCode:
    some = st.lists(entries(e164), max_size=3).map(tuple)
    return AccountCode(
        code=CODE,
        allowed_classes=draw(st.sets(st.sampled_from(list(CallClass))).map(frozenset)),
        allowed_numbers=draw(st.lists(st.sampled_from([e164, e164[1:], e164[2:], "0" + e164[2:]]), max_size=2)
                             .map(tuple)),
        allowed_prefixes=draw(some),
        blocked_prefixes=draw(some),
    )


@settings(max_examples=1500)
@given(st.data())
def test_no_spelling_reaches_what_the_number_may_not(data: st.DataObject) -> None:
    plan, e164, spelling = data.draw(spelled())
    account = data.draw(restricted(e164))
    canonical = run("+" + e164, account, plan)
    if not canonical.allowed:
        assert not run(spelling, account, plan).allowed, (spelling, canonical)


@settings(max_examples=300)
@given(st.data())
def test_every_spelling_is_one_number(data: st.DataObject) -> None:
    plan, e164, spelling = data.draw(spelled())
    got = classify(spelling.replace("%2B", "+").replace("%2b", "+"), plan)
    if got.call_class is not CallClass.INVALID and got.e164:
        assert got.e164 == e164, (spelling, got)


@pytest.mark.parametrize(
    ("entry", "plan", "readings"),
    [
        ("011", NANP, ("+",)),  # every international number
        ("01144", NANP, ("+44",)),
        ("1801", NANP, ("+1801",)),
        ("801", NANP, ("+1801", "+801", "+1212801")),  # allow: area code 801 only
        ("44", NANP, ("+44", "+144", "+121244")),  # allow: the UK only
        ("004", NANP, ()),  # not a way to dial anything here
        ("00", UK, ("+",)),
        ("020", UK, ("+4420",)),
        ("33", UK, ("+33", "+4433")),
    ],
)
def test_entry_readings(entry: str, plan: NumberingPlan, readings: tuple[str, ...]) -> None:
    assert prefix_readings(entry, plan) == readings


def test_allowed_number_readings() -> None:
    assert number_reading("2125551234", NANP) == "+12125551234"
    assert number_reading("5551234", NANP) == "+12125551234"
    assert number_reading("100", NANP) == "100"
    assert number_reading("442071234567", NANP) == "+442071234567"
    assert number_reading("2125551234", UK) == "+2125551234"  # in London a bare 212... is Morocco
