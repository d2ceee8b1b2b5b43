"""The account-code policy (dialplan.policy) against the seeds' own examples.

One row per call: what was dialed, under which group/user/source, and the
decision expected.  Seeds: 3CX Enhanced Billing Codes (shortcut, prefixes,
lobby phone, restrictions), BroadWorks Account Codes (mandatory, long
distance only, FAC, 911/611), Telcordia GR-605 text (2-14 digits, fixed or
variable ended by '#', flagging), Voxbone-style call billing (code on the
SIP account or in the dial string).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec
import pytest

from dialplan import (
    AccountCode,
    CallContext,
    CodeSource,
    Decision,
    GroupPolicy,
    Mode,
    NumberingPlan,
    Outcome,
    UserPolicy,
    evaluate,
)
from dialplan.policy import is_exempt
from tests.dialplan.book import (
    CODES,
    FAC_FIXED5,
    FAC_VARIABLE,
    FIXED2,
    FIXED14,
    FLAG,
    LD_ONLY,
    LENGTH5,
    MANDATORY,
    NANP,
    OFF,
    OPTIONAL,
    PREMIUM_PREFIXES,
    TODAY,
    UK,
    VARIABLE_LENGTH,
    decide,
)

ALLOW, REFUSE, COLLECT = Outcome.ALLOW, Outcome.REFUSE, Outcome.COLLECT
ASSIGNED, SHORTCUT, FAC, TRUNK, NONE = (
    CodeSource.ASSIGNED, CodeSource.SHORTCUT, CodeSource.FAC, CodeSource.TRUNK, CodeSource.NONE)
LOBBY = UserPolicy(assigned_code="4321")
ANY = object()  # "not checked"


class Case(NamedTuple):
    dialed: str
    outcome: Outcome
    rule: str
    group: GroupPolicy = MANDATORY
    user: UserPolicy | None = None
    source: str = "phone"
    trunk_code: str | None = None
    plan: NumberingPlan = NANP
    destination: object = ANY
    code: object = ANY
    code_source: object = ANY
    code_valid: object = ANY
    status: object = ANY
    reason: object = ANY


CASES = {
    # --- 3CX shortcut <account_code>**<phone_number># -----------------------------------
    "3cx shortcut, code blocks 801": Case(
        "12345**8016424655#", REFUSE, "blocked_prefix", destination="8016424655", code="12345",
        code_source=SHORTCUT, code_valid=True, status=403, reason="Account code ***45 may not call prefix 801"),
    "3cx shortcut, unrestricted code": Case(
        "24680**8016424655#", ALLOW, "code_accepted", destination="8016424655", code="24680",
        code_source=SHORTCUT, code_valid=True, status=None),
    "shortcut without the send key": Case("24680**8016424655", ALLOW, "code_accepted", destination="8016424655"),
    # --- blocked prefixes 801,004,920988 -----------------------------------------------
    "801 dialed as 1+10 is still 801": Case("12345**18016424655", REFUSE, "blocked_prefix", status=403),
    "801 dialed as E.164 is still 801": Case("12345**+18016424655", REFUSE, "blocked_prefix"),
    "920988 prefix blocked": Case(
        "12345**9209881234", REFUSE, "blocked_prefix", reason="Account code ***45 may not call prefix 920988"),
    "920987 is not 920988": Case("12345**9209871234", ALLOW, "code_accepted"),
    "004 blocked from a UK office": Case(
        "12345**0049301234567", REFUSE, "blocked_prefix", plan=UK, reason="Account code ***45 may not call prefix 004"),
    "same code, other destination": Case(
        "12345**4352221234", ALLOW, "code_accepted", code="12345", code_valid=True),
    # --- lobby phone: its assigned code may only call some extensions -------------------
    "lobby calls reception": Case(
        "100", ALLOW, "code_accepted", group=OPTIONAL, user=LOBBY, code="4321", code_source=ASSIGNED),
    "lobby calls another extension": Case(
        "102", REFUSE, "destination_not_allowed", group=OPTIONAL, user=LOBBY, status=403,
        reason="Assigned account code may not call 102"),  # the assigned code is not shown
    "lobby calls outside": Case("5551234", REFUSE, "destination_not_allowed", group=OPTIONAL, user=LOBBY),
    "lobby calls 911": Case("911", ALLOW, "emergency", group=OPTIONAL, user=LOBBY, code=None),
    # --- long distance only (BroadWorks): local and toll free not prompted --------------
    "LD-only: 7-digit local": Case("5551234", ALLOW, "code_not_required", group=LD_ONLY, code=None),
    "LD-only: 10-digit local area code": Case("6465551234", ALLOW, "code_not_required", group=LD_ONLY),
    "LD-only: toll free": Case("18005551212", ALLOW, "code_not_required", group=LD_ONLY),
    "LD-only: internal": Case("1234", ALLOW, "code_not_required", group=LD_ONLY),
    "LD-only: long distance needs a code": Case(
        "18016424655", COLLECT, "code_required", group=LD_ONLY, status=403, destination="18016424655",
        reason="Account code required for long distance calls"),
    "LD-only: international needs a code": Case(
        "011442071234567", COLLECT, "code_required", group=LD_ONLY,
        reason="Account code required for international calls"),
    "LD-only: long distance with a code": Case("24680**18016424655", ALLOW, "code_accepted", group=LD_ONLY),
    # --- mandatory: every outside call ------------------------------------------------
    "mandatory: local call": Case("5551234", COLLECT, "code_required", reason="Account code required"),
    "mandatory: toll free too": Case("18005551212", COLLECT, "code_required"),
    "mandatory: internal never": Case("100", ALLOW, "code_not_required"),
    # --- prefixes mode -----------------------------------------------------------------
    "prefixes: 1-900": Case(
        "19005551234", COLLECT, "code_required", group=PREMIUM_PREFIXES,
        reason="Account code required for calls to 1900"),
    "prefixes: 1-900 dialed in E.164": Case("+19005551234", COLLECT, "code_required", group=PREMIUM_PREFIXES),
    "prefixes: other numbers free": Case("18016424655", ALLOW, "code_not_required", group=PREMIUM_PREFIXES),
    # --- code lengths: fixed 2, fixed 14, variable 2-14 ended by '#' -------------------
    "fixed 2": Case("42**5551234", ALLOW, "code_accepted", group=FIXED2, code="42"),
    "fixed 2, 3 dialed": Case(
        "423**5551234", REFUSE, "bad_code_format", group=FIXED2, status=484, reason="Account code must be 2 digits"),
    "fixed 14": Case("12345678901234**5551234", ALLOW, "code_accepted", group=FIXED14, code="12345678901234"),
    "fixed 14, 13 dialed": Case("1234567890123**5551234", REFUSE, "bad_code_format", group=FIXED14, status=484),
    "variable: 2 digits and #": Case("*8842#5551234", ALLOW, "code_accepted", group=VARIABLE_LENGTH, code="42"),
    "variable: 14 digits and #": Case(
        "*8812345678901234#5551234", ALLOW, "code_accepted", group=VARIABLE_LENGTH, code="12345678901234"),
    "variable: 15 digits": Case(
        "*88123456789012345#5551234", REFUSE, "bad_code_format", group=VARIABLE_LENGTH, status=484,
        reason="Account code must be 2 to 14 digits"),
    "variable: 1 digit": Case("*884#5551234", REFUSE, "bad_code_format", group=VARIABLE_LENGTH),
    "variable: no # to end it": Case(
        "*88425551234", REFUSE, "bad_code_format", group=VARIABLE_LENGTH, reason="Account code must end with #"),
    # --- feature access code (BroadWorks FAC mode) -----------------------------------
    "FAC + code + # + number": Case(
        "*8812345#4352221234", ALLOW, "code_accepted", group=FAC_VARIABLE, code="12345", code_source=FAC,
        destination="4352221234"),
    "FAC fixed 5, no #": Case(
        "*88246804352221234", ALLOW, "code_accepted", group=FAC_FIXED5, code="24680", destination="4352221234"),
    "FAC fixed 5, with #": Case("*8824680#4352221234", ALLOW, "code_accepted", group=FAC_FIXED5, code="24680"),
    "FAC with a blocked prefix": Case("*8812345#8016424655", REFUSE, "blocked_prefix", group=FAC_VARIABLE),
    "FAC mode: no FAC, no code needed": Case(
        "18016424655", ALLOW, "code_not_required", group=FAC_VARIABLE, code=None),
    "FAC alone: prompt (later)": Case("*88", COLLECT, "fac_prompt", group=FAC_VARIABLE, status=484, destination=""),
    "FAC and code, no number": Case("*8812345#", REFUSE, "empty_number", group=FAC_VARIABLE, status=484),
    # --- emergency and repair: never prompted, never blocked ---------------------------
    "911 in mandatory": Case("911", ALLOW, "emergency", code=None, code_source=NONE, code_valid=None),
    "611 repair in mandatory": Case("611", ALLOW, "service", code=None),
    "933 in mandatory": Case("933", ALLOW, "emergency"),
    "911 after an expired code": Case("55555**911", ALLOW, "emergency", code=None, destination="911"),
    "911 after a garbage code": Case("x9**911#", ALLOW, "emergency", destination="911"),
    "911 after the FAC without a code": Case("*88911", ALLOW, "emergency", group=FAC_VARIABLE, destination="911"),
    "911 after FAC and a code": Case("*8812345#911", ALLOW, "emergency", group=FAC_VARIABLE, code=None),
    "611 with a fixed-length FAC": Case("*88611", ALLOW, "service", group=FAC_FIXED5),
    "112 in the UK": Case("112", ALLOW, "emergency", plan=UK),
    "999 in the UK with a code": Case("12345**999", ALLOW, "emergency", plan=UK),
    # --- flag vs list vs length validation ------------------------------------------
    "list: unknown code": Case(
        "13579**5551234", REFUSE, "invalid_code", code="13579", code_valid=False, status=403,
        reason="Invalid account code"),
    "flag: unknown code flagged": Case(
        "13579**5551234", ALLOW, "code_flagged", group=FLAG, code="13579", code_valid=False, status=None),
    "length: unknown code, 5 digits": Case("13579**5551234", ALLOW, "code_accepted", group=LENGTH5, code_valid=True),
    "length: 4 digits": Case("1357**5551234", REFUSE, "bad_code_format", group=LENGTH5, status=484),
    "flag: known code's restrictions apply": Case("12345**8016424655", REFUSE, "blocked_prefix", group=FLAG),
    # --- inactive, expired, not yet valid: the same answer as unknown -----------------
    "list: expired": Case("55555**5551234", REFUSE, "invalid_code", status=403, reason="Invalid account code"),
    "list: switched off": Case("66666**5551234", REFUSE, "invalid_code", reason="Invalid account code"),
    "list: not yet valid": Case("88888**5551234", REFUSE, "invalid_code", reason="Invalid account code"),
    "list: last valid day": Case("11111**5551234", ALLOW, "code_accepted"),
    "flag: expired is flagged": Case("55555**5551234", ALLOW, "code_flagged", group=FLAG, code_valid=False),
    # --- other restrictions ---------------------------------------------------------
    "no international on this code": Case(
        "777777**011442071234567", REFUSE, "class_not_allowed",
        reason="Account code ***77 may not make international calls"),
    "domestic code, domestic call": Case("777777**18016424655", ALLOW, "code_accepted"),
    "UK-only code to the UK": Case("2468**011442071234567", ALLOW, "code_accepted"),
    "UK-only code to France": Case("2468**0113314567890", REFUSE, "destination_not_allowed"),
    "min 7 digits": Case(
        "99999**1234", REFUSE, "too_few_digits",
        reason="Account code ***99 may not call numbers of fewer than 7 digits"),
    "max 10 digits": Case("99999**18016424655", REFUSE, "too_many_digits"),
    "within 7-10 digits": Case("99999**4352221234", ALLOW, "code_accepted"),
    # --- code from a trusted trunk (X-Account-Code / ac=) -----------------------------
    "trunk passes a code": Case(
        "4352221234", ALLOW, "code_accepted", source="trunk", trunk_code="24680", code="24680", code_source=TRUNK),
    "trunk code with a blocked prefix": Case(
        "8016424655", REFUSE, "blocked_prefix", source="trunk", trunk_code="12345"),
    "trunk passes an unknown code": Case(
        "4352221234", REFUSE, "invalid_code", source="trunk", trunk_code="13579", reason="Invalid account code"),
    "trunk passes a malformed code": Case(
        "4352221234", REFUSE, "invalid_code", source="trunk", trunk_code="JSDJFSDK34534", status=403),
    "a phone cannot pass a trunk code": Case("4352221234", COLLECT, "code_required", trunk_code="24680"),
    "dialed code wins over trunk code": Case(
        "12345**4352221234", ALLOW, "code_accepted", source="trunk", trunk_code="24680", code="12345"),
    # --- code assigned to the user (SIP account) -------------------------------------
    "assigned code covers mandatory": Case(
        "4352221234", ALLOW, "code_accepted", user=UserPolicy(assigned_code="24680"), code="24680",
        code_source=ASSIGNED),
    "dialed code wins over assigned": Case(
        "12345**4352221234", ALLOW, "code_accepted", user=UserPolicy(assigned_code="24680"), code="12345",
        code_source=SHORTCUT),
    "expired assigned code": Case(
        "4352221234", REFUSE, "invalid_code", user=UserPolicy(assigned_code="55555"), reason="Invalid account code"),
    # --- user mode overrides --------------------------------------------------------
    "user off in a mandatory group": Case("4352221234", ALLOW, "codes_off", user=UserPolicy(mode=Mode.OFF)),
    "user mandatory in an off group": Case(
        "4352221234", COLLECT, "code_required", group=OFF, user=UserPolicy(mode=Mode.MANDATORY)),
    "off: a dialed code is stripped": Case(
        "12345**8016424655", ALLOW, "codes_off", group=OFF, destination="8016424655", code=None),
    "optional: no code, no question": Case("4352221234", ALLOW, "code_not_required", group=OPTIONAL),
    "optional: a wrong code is still wrong": Case("13579**4352221234", REFUSE, "invalid_code", group=OPTIONAL),
    # --- '#' as %23 ---------------------------------------------------------------------
    "%23 ends the number": Case("24680**4352221234%23", ALLOW, "code_accepted", destination="4352221234"),
    "%23 ends the FAC code": Case(
        "*8824680%234352221234", ALLOW, "code_accepted", group=FAC_VARIABLE, code="24680", destination="4352221234"),
    "%2A%2A is the shortcut": Case("24680%2A%2A4352221234", ALLOW, "code_accepted", code_source=SHORTCUT),
    # --- malformed and wrong numbers ------------------------------------------------
    "letters in the number": Case(
        "24680**43522x1234", REFUSE, "malformed_dial_string", status=484, code=None),
    "nothing after **": Case("24680**", REFUSE, "empty_number", status=484, reason="No number dialed after **"),
    "only **": Case("**", REFUSE, "bad_code_format", status=484),
    "code over 14 digits": Case("123456789012345**4352221234", REFUSE, "bad_code_format", status=484),
    "empty dial string": Case("", REFUSE, "empty_number", status=484),
    "unfinished number": Case("801642", REFUSE, "incomplete_number", status=484, reason="Address incomplete"),
    "impossible number": Case(
        "24680**0123456", REFUSE, "invalid_number", status=404, reason="Number not in the numbering plan"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_seed_case(case: Case) -> None:
    d = decide(case.dialed, case.group, user=case.user, source=case.source, trunk_code=case.trunk_code,
               plan=case.plan)
    assert (d.outcome, d.rule) == (case.outcome, case.rule), d
    for field in ("destination", "code", "code_source", "code_valid", "status", "reason"):
        expected = getattr(case, field)
        if expected is not ANY:
            assert getattr(d, field) == expected, (field, d)
    assert (d.status is None) == (d.outcome is ALLOW)


def test_account_record_is_carried_for_billing() -> None:
    d = decide("12345**4352221234")
    assert d.account is not None
    assert (d.account.rate_plan, d.account.credit_account, d.account.name) == ("retail", "smith", "Smith v Jones")


def test_wrong_code_answer_does_not_say_why() -> None:
    # guessing protection: unknown, expired, switched off and not-yet-valid codes get the same decision
    answers = {code: decide(f"{code}**5551234") for code in ("13579", "55555", "66666", "88888")}
    shapes = {(d.outcome, d.status, d.reason, d.rule, d.code_valid, d.account) for d in answers.values()}
    assert len(shapes) == 1
    assert all(d.code_rejected for d in answers.values())


class _BrokenStore:
    def get(self, code: str, /) -> AccountCode | None:
        raise ConnectionError("database gone")


def test_database_failure_fails_closed_but_911_still_works() -> None:
    def run(dialed: str) -> Decision:
        return evaluate(CallContext(caller="1001", group=MANDATORY, dialed=dialed), NANP, _BrokenStore(), TODAY)

    d = run("24680**4352221234")
    assert (d.outcome, d.status, d.rule, d.reason) == (REFUSE, 503, "lookup_failed", "Account code check unavailable")
    assert run("24680**911").outcome is ALLOW
    assert run("100").outcome is ALLOW  # no code, no lookup


def test_codes_table_is_the_seed_book() -> None:
    assert CODES["12345"].blocked_prefixes == ("801", "004", "920988")


POLICY_TOML = """
[group]
mode = "classes"
required_classes = ["long_distance", "international"]
fac = "*88"
code_length = 5
validation = "flag"

[[codes]]
code = "12345"
name = "Smith v Jones"
blocked_prefixes = ["801", "004", "920988"]
active_until = 2024-12-31
allowed_classes = ["local", "long_distance", "toll_free"]
rate_plan = "retail"
"""


class _PolicyConfig(msgspec.Struct, forbid_unknown_fields=True):
    group: GroupPolicy
    codes: list[AccountCode]


def test_policy_from_toml() -> None:
    cfg = msgspec.toml.decode(POLICY_TOML, type=_PolicyConfig)
    assert cfg.group.mode is Mode.CLASSES and cfg.group.code_length == 5
    d = decide("*8812345#18016424655", cfg.group, codes={c.code: c for c in cfg.codes})
    assert (d.rule, d.reason) == ("blocked_prefix", "Account code ***45 may not call prefix 801")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[group]\nmode = "mandatroy"\n[[codes]]\ncode = "12"\n', "$.group.mode"),  # typo in a value
        ('[group]\nmode = "fac"\n[[codes]]\ncode = "12"\n', "$.group"),  # fac mode without a fac
        ('[group]\nmod = "off"\n[[codes]]\ncode = "12"\n', "$.group"),  # typo in a key
        ('[group]\n[[codes]]\ncode = "1"\n', "$.codes[0]"),  # a 1-digit code
        ('[group]\n[[codes]]\ncode = "12"\nblocked_prefixes = ["+44"]\n', "$.codes[0]"),
        ('[group]\nrequired_classes = ["emergency"]\n[[codes]]\ncode = "12"\n', "$.group"),  # never requirable
    ],
)
def test_bad_policy_config_names_the_path(text: str, where: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.toml.decode(text, type=_PolicyConfig)
    assert where in str(info.value)


@pytest.mark.parametrize(
    ("dialed", "group", "exempt"),
    [
        ("911", MANDATORY, True),
        ("9-1-1", MANDATORY, True),
        ("611", MANDATORY, True),
        ("55555**911", MANDATORY, True),  # behind an expired code
        ("x9**911#", MANDATORY, True),  # behind garbage
        ("*8812345#911", FAC_VARIABLE, True),
        ("*88911", FAC_VARIABLE, True),
        ("5551234", MANDATORY, False),
        ("12345**5551234", MANDATORY, False),
        ("100", MANDATORY, False),
        ("", MANDATORY, False),
    ],
)
def test_emergency_and_service_calls_are_exempt_from_lockout(dialed: str, group: GroupPolicy, exempt: bool) -> None:
    ctx = CallContext(caller="1001", group=group, dialed=dialed)
    assert is_exempt(ctx, NANP) is exempt
    if exempt:  # the policy allows what it calls exempt, whatever the codes
        assert evaluate(ctx, NANP, CODES, TODAY).allowed


def test_exempt_after_the_outside_access_code() -> None:
    plan = msgspec.structs.replace(NANP, outside_access_code="9")
    assert is_exempt(CallContext(caller="1001", group=MANDATORY, dialed="9911"), plan)
