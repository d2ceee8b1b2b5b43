"""Numbering plans (dialplan.numbering): one row per number, with why."""

from __future__ import annotations

import msgspec
import pytest

from dialplan import CallClass, E164Plan, ExtensionPlan, NorthAmericanPlan, NumberingPlan, classify, normalise
from tests.dialplan.book import NANP, UK

E = CallClass.EMERGENCY
S = CallClass.SERVICE
INT = CallClass.INTERNAL
L = CallClass.LOCAL
LD = CallClass.LONG_DISTANCE
TF = CallClass.TOLL_FREE
P = CallClass.PREMIUM
INTL = CallClass.INTERNATIONAL
X = CallClass.INVALID

NANP_ROWS = [
    # (dialed, class, routed number, e164)
    ("911", E, "911", ""),  # BroadWorks: emergency
    ("933", E, "933", ""),  # 933: 911 address test line
    ("9-1-1", E, "911", ""),  # separators are only visual
    ("611", S, "611", ""),  # BroadWorks: repair
    ("411", S, "411", ""),  # directory assistance (N11)
    ("211", S, "211", ""),
    ("811", S, "811", ""),
    ("100", INT, "100", ""),  # 3-5 digits starting 1-8: an extension
    ("12345", INT, "12345", ""),
    ("555-1234", L, "5551234", "12125551234"),  # 7 digits: local, completed with home NPA 212
    ("(212) 555-1234", L, "2125551234", "12125551234"),  # 10 digits in the home NPA
    ("646.555.1234", L, "6465551234", "16465551234"),  # 10 digits in a local NPA
    ("12125551234", LD, "12125551234", "12125551234"),  # 1+10 is toll dialing, even in 212
    ("8016424655", LD, "8016424655", "18016424655"),  # 3CX seed number, 10 digits elsewhere
    ("1 801 642 4655", LD, "18016424655", "18016424655"),
    ("+18016424655", LD, "+18016424655", "18016424655"),  # E.164 form
    ("+12125551234", L, "+12125551234", "12125551234"),  # E.164 in the home NPA
    ("18005551212", TF, "18005551212", "18005551212"),  # toll free
    ("1-833-555-1212", TF, "18335551212", "18335551212"),
    ("8885551212", TF, "8885551212", "18885551212"),  # toll free without the 1
    ("19005551234", P, "19005551234", "19005551234"),  # 1-900 premium
    ("976-1234", P, "9761234", "12129761234"),  # 976-XXXX premium
    ("011442071234567", INTL, "011442071234567", "442071234567"),
    ("+442071234567", INTL, "+442071234567", "442071234567"),
    ("011 683 4002", INTL, "0116834002", "6834002"),  # Niue: 7-digit E.164, the shortest
]

NANP_INVALID = [
    # (dialed, incomplete?)
    ("", True),  # nothing yet
    ("+", True),
    ("212555", True),  # 6 digits: could become 212-5551 or 212-555-1234
    ("9", True),  # one digit
    ("96424", True),  # 9 is not an extension first digit; too short for a number
    ("801642465", True),  # 9 digits: on the way to 10
    ("1801642", True),  # 1+ and fewer than 10 digits
    ("01", True),  # on the way to 011
    ("01144", True),  # international, too short yet
    ("80164246551", False),  # 11 digits not starting with 1
    ("180164246551", False),  # 1 + 11 digits
    ("1011234567", False),  # NPA cannot start with 0 (even before the 10th digit)
    ("1801111", False),  # exchange 111 cannot be
    ("0", True),  # on the way to 011
    ("2111234567", False),  # NPA cannot be N11
    ("8014111234", False),  # NXX cannot be N11
    ("4111234", False),  # 7 digits with an N11 exchange
    ("0123", False),  # 0 is not a prefix here
    ("0110442071234", False),  # E.164 country codes do not start with 0
    ("0111234567890123456", False),  # more than 15 digits
    ("12a4", False),  # letters
    ("*88", False),  # dial-string syntax is not a number
    ("555#1234", False),
]

UK_ROWS = [
    ("999", E, "999", ""),
    ("112", E, "112", ""),
    ("111", S, "111", ""),  # NHS non-emergency
    ("100", INT, "100", ""),
    ("020 7123 4567", L, "02071234567", "442071234567"),  # London is local
    ("01632 960123", LD, "01632960123", "441632960123"),  # elsewhere in the UK
    ("0800 123 4567", TF, "08001234567", "448001234567"),
    ("0909 876 5432", P, "09098765432", "449098765432"),
    ("+44 20 7123 4567", L, "+442071234567", "442071234567"),  # own country in E.164
    ("0044 20 7123 4567", L, "00442071234567", "442071234567"),
    ("+1 801 642 4655", INTL, "+18016424655", "18016424655"),
    ("001 801 642 4655", INTL, "0018016424655", "18016424655"),
]


@pytest.mark.parametrize(("dialed", "call_class", "number", "e164"), NANP_ROWS)
def test_nanp(dialed: str, call_class: CallClass, number: str, e164: str) -> None:
    got = classify(dialed, NANP)
    assert (got.call_class, got.number, got.e164) == (call_class, number, e164)


@pytest.mark.parametrize(("dialed", "incomplete"), NANP_INVALID)
def test_nanp_invalid(dialed: str, incomplete: bool) -> None:
    got = classify(dialed, NANP)
    assert got.call_class is X
    assert got.incomplete is incomplete


@pytest.mark.parametrize(("dialed", "call_class", "number", "e164"), UK_ROWS)
def test_e164(dialed: str, call_class: CallClass, number: str, e164: str) -> None:
    got = classify(dialed, UK)
    assert (got.call_class, got.number, got.e164) == (call_class, number, e164)


def test_outside_access_code_still_reaches_emergency() -> None:
    plan = NorthAmericanPlan(outside_access_code="9")
    assert classify("9911", plan).call_class is E  # Kari's Law: 9 + 911 works
    assert classify("9611", plan).call_class is S
    assert classify("918005551212", plan).number == "18005551212"  # the 9 is not routed
    assert classify("911", plan).call_class is E  # without the 9 too


def test_explicit_extension_list_only() -> None:
    plan = NorthAmericanPlan(extensions=ExtensionPlan(first_digits="", numbers=frozenset({"2001", "2002"})))
    assert classify("2001", plan).call_class is INT
    assert classify("2003", plan).call_class is X  # not in the list: not internal
    assert classify("100", plan).call_class is X


def test_open_plan_subscriber_numbers() -> None:
    # a country where local subscribers are dialed as 6-7 digits without prefix
    plan = E164Plan(country_code="49", local_min_digits=6, local_max_digits=8, local_area_code="30",
                    national_min_digits=7, national_max_digits=11)
    got = classify("9876543", plan)
    assert (got.call_class, got.national, got.e164) == (L, "309876543", "49309876543")
    assert classify("0301234567", plan).call_class is LD  # no local_prefixes: all national is LD


def test_no_national_prefix() -> None:
    plan = E164Plan(country_code="45", national_prefix="", national_min_digits=8, national_max_digits=8)
    assert classify("33123456", plan).call_class is LD  # Denmark: 8 digits, no trunk prefix
    assert classify("+4533123456", plan).e164 == "4533123456"


def test_forms_catch_every_way_of_dialing() -> None:
    assert classify("8016424655", NANP).forms == ("8016424655", "18016424655")
    assert classify("+18016424655", NANP).forms == ("18016424655", "8016424655")
    assert classify("5551234", NANP).forms == ("5551234", "2125551234", "12125551234")


def test_normalise() -> None:
    assert normalise(" +1 (801) 642-4655 ") == "+18016424655"
    assert normalise("80l6424655") is None  # a letter l for a 1
    assert normalise("1+2") is None  # '+' only in front


TOML = """
[plan]
kind = "nanp"
home_area_code = "212"
local_area_codes = ["646", "718"]
outside_access_code = "9"
extensions = { min_digits = 4, max_digits = 4, first_digits = "2" }
"""


class _Config(msgspec.Struct, forbid_unknown_fields=True):
    plan: NumberingPlan


def test_plan_from_toml() -> None:
    cfg = msgspec.toml.decode(TOML, type=_Config)
    assert isinstance(cfg.plan, NorthAmericanPlan)
    assert classify("2001", cfg.plan).call_class is INT
    assert classify("7185551234", cfg.plan).call_class is L
    uk = msgspec.toml.decode('[plan]\nkind = "e164"\ncountry_code = "44"\nemergency = ["112", "999"]\n',
                             type=_Config)
    assert isinstance(uk.plan, E164Plan) and classify("999", uk.plan).call_class is E


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('[plan]\nkind = "nanp"\nlocal_area_code = ["646"]\n', "$.plan"),  # typo: unknown key
        ('[plan]\nkind = "nanp"\nlocal_area_codes = ["64"]\n', "$.plan"),  # 2-digit NPA
        ('[plan]\nkind = "e164"\n', "$.plan"),  # country_code missing
        ('[plan]\nkind = "mars"\n', "$.plan.kind"),
    ],
)
def test_bad_plan_config_names_the_path(text: str, path: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=path.replace("$", r"\$").replace(".", r"\.")):
        msgspec.toml.decode(text, type=_Config)
