"""Shared fixtures for the dialplan tests: plans, groups and the code book.

The code book is built from the seeds' own examples (3CX Enhanced Billing
Codes: the 12345 shortcut, blocked prefixes 801,004,920988, a lobby phone
limited to some extensions, no-international codes; BroadWorks/Telcordia:
fixed and variable lengths, *FAC dialing, flagging unknown codes).
"""

from __future__ import annotations

import datetime

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
    UserPolicy,
    Validation,
    evaluate,
    parse_prefix_list,
)

TODAY = datetime.date(2024, 6, 15)

# A New York office: 212 and 646 are local, 7-digit numbers are in 212.
NANP = NorthAmericanPlan(home_area_code="212", local_area_codes=frozenset({"646"}))
# A London office: 020 is local, 0800/0808 free, 09 premium, 999 and 112 emergency.
UK = E164Plan(
    country_code="44",
    emergency=frozenset({"112", "999"}),
    service=frozenset({"101", "111"}),
    national_min_digits=9,
    national_max_digits=10,
    local_prefixes=frozenset({"20"}),
    toll_free_prefixes=frozenset({"800", "808"}),
    premium_prefixes=frozenset({"9"}),
)

LONG_DISTANCE_AND_INTERNATIONAL = frozenset({CallClass.LONG_DISTANCE, CallClass.INTERNATIONAL})

MANDATORY = GroupPolicy(mode=Mode.MANDATORY)
OPTIONAL = GroupPolicy(mode=Mode.OPTIONAL)
OFF = GroupPolicy(mode=Mode.OFF)
LD_ONLY = GroupPolicy(mode=Mode.CLASSES, required_classes=LONG_DISTANCE_AND_INTERNATIONAL)
PREMIUM_PREFIXES = GroupPolicy(mode=Mode.PREFIXES, required_prefixes=("1900", "011"))
FAC_VARIABLE = GroupPolicy(mode=Mode.FAC, fac="*88")
FAC_FIXED5 = GroupPolicy(mode=Mode.FAC, fac="*88", code_length=5)
FIXED2 = GroupPolicy(mode=Mode.MANDATORY, code_length=2, validation=Validation.LENGTH)
FIXED14 = GroupPolicy(mode=Mode.MANDATORY, code_length=14, validation=Validation.LENGTH)
VARIABLE_LENGTH = GroupPolicy(mode=Mode.MANDATORY, fac="*88", validation=Validation.LENGTH)
FLAG = GroupPolicy(mode=Mode.MANDATORY, validation=Validation.FLAG)
LENGTH5 = GroupPolicy(mode=Mode.MANDATORY, code_length=5, validation=Validation.LENGTH)

CODES: dict[str, AccountCode] = {
    c.code: c
    for c in [
        # 3CX: "A list of prefixes could include something like 801,004,920988"
        AccountCode(code="12345", name="Smith v Jones", department="Litigation",
                    blocked_prefixes=parse_prefix_list("801,004,920988"), rate_plan="retail",
                    credit_account="smith"),
        # an unrestricted matter
        AccountCode(code="24680", name="Acme merger", department="Corporate"),
        # 3CX: "one account code could be used for a lobby phone to only permit calls to
        # specific extensions"
        AccountCode(code="4321", name="Lobby", allowed_numbers=("100", "101")),
        # 3CX: "Another account code may restrict international calls"
        AccountCode(code="777777", name="Domestic only",
                    allowed_classes=frozenset(CallClass) - {CallClass.INTERNATIONAL}),
        # international only to the UK
        AccountCode(code="2468", name="London desk", allowed_prefixes=("44",)),
        # 3CX: "less than the minimum or more than the maximum number of permitted digits"
        AccountCode(code="99999", name="Short numbers only", min_digits=7, max_digits=10),
        # not valid on TODAY, each for its own reason
        AccountCode(code="55555", name="Expired", active_until=datetime.date(2023, 12, 31)),
        AccountCode(code="66666", name="Switched off", active=False),
        AccountCode(code="88888", name="Not yet", active_from=datetime.date(2025, 1, 1)),
        # valid on its last day
        AccountCode(code="11111", name="Last day", active_until=TODAY),
        # code lengths at the seeds' limits (2 and 14 digits)
        AccountCode(code="42", name="Two digits"),
        AccountCode(code="12345678901234", name="Fourteen digits"),
    ]
}


def decide(
    dialed: str,
    group: GroupPolicy = MANDATORY,
    *,
    user: UserPolicy | None = None,
    source: str = "phone",
    trunk_code: str | None = None,
    plan: NumberingPlan = NANP,
    codes: dict[str, AccountCode] | None = None,
) -> Decision:
    assert source in ("phone", "trunk")
    ctx = CallContext(
        caller="1001",
        group=group,
        dialed=dialed,
        user=user or UserPolicy(),
        source="trunk" if source == "trunk" else "phone",
        trunk_code=trunk_code,
    )
    return evaluate(ctx, plan, CODES if codes is None else codes, TODAY)
