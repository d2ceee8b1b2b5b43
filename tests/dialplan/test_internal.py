"""Internal only if it routes internally (dialplan.policy, the ``internal`` argument).

A number the plan calls internal (a configured extension or the extension
pattern) that the router does not reach internally goes to a trunk: it is an
outside call, and one that needs a code where codes are required.  Short
numbers the plan cannot place (``11880``, ``118118``: premium directory
services) are restricted and rated as premium, their cost being unknown.
"""

from __future__ import annotations

import msgspec
import pytest

from dialplan import (
    AccountCode,
    CallClass,
    CallContext,
    Decision,
    ExtensionPlan,
    GroupPolicy,
    Mode,
    NumberingPlan,
    UserPolicy,
    evaluate,
)
from tests.dialplan.book import CODES, LD_ONLY, MANDATORY, NANP, OPTIONAL, TODAY, UK

OFFICE = frozenset({"100", "101", "1001", "1234"})  # the extensions the router reaches


def run(dialed: str, group: GroupPolicy = MANDATORY, plan: NumberingPlan = UK, *,
        internal: frozenset[str] | None = OFFICE, user: UserPolicy | None = None) -> Decision:
    ctx = CallContext(caller="1001", group=group, dialed=dialed, user=user or UserPolicy())
    return evaluate(ctx, plan, CODES, TODAY, internal=internal)


@pytest.mark.parametrize("dialed", ["11880", "11811", "5555", "8888"])
def test_unrouted_short_number_needs_a_code(dialed: str) -> None:
    d = run(dialed)
    assert (d.outcome.value, d.rule, d.status) == ("collect", "code_required", 403), d
    assert d.call_class is CallClass.PREMIUM
    assert d.destination == dialed


def test_in_any_mode_that_asks_codes_for_some_calls() -> None:
    # long distance only: a number of unknown cost is not let through
    assert run("11880", LD_ONLY, NANP).rule == "code_required"
    prefixes = GroupPolicy(mode=Mode.PREFIXES, required_prefixes=("1900",))
    assert run("11880", prefixes, NANP).rule == "code_required"
    assert run("11880", OPTIONAL).rule == "code_not_required"  # optional: never required


def test_a_routed_extension_is_still_internal() -> None:
    d = run("100")
    assert (d.rule, d.call_class) == ("code_not_required", CallClass.INTERNAL)
    assert run("1234", plan=NANP).call_class is CallClass.INTERNAL


def test_without_an_answer_internal_means_internal() -> None:
    d = run("11880", internal=None)  # backward compatible: every internal-looking number routes internally
    assert (d.rule, d.call_class) == ("code_not_required", CallClass.INTERNAL)


def test_a_code_restricted_from_premium_cannot_call_it() -> None:
    d = run("777777**11880")  # domestic only
    assert d.allowed
    no_premium = AccountCode(code="55", allowed_classes=frozenset(CallClass) - {CallClass.PREMIUM})
    ctx = CallContext(caller="1001", group=MANDATORY, dialed="55**11880")
    assert evaluate(ctx, UK, {"55": no_premium}, TODAY, internal=OFFICE).rule == "class_not_allowed"
    lobby = run("11880", OPTIONAL, user=UserPolicy(assigned_code="4321"))
    assert lobby.rule == "destination_not_allowed"


def test_an_extension_pattern_over_real_numbers_classifies_them_as_numbers() -> None:
    # a 10-digit extension pattern also matches NANP numbers: unrouted, they are what the plan says
    plan = msgspec.structs.replace(NANP, extensions=ExtensionPlan(min_digits=3, max_digits=10, first_digits="2"))
    d = run("2125551234", plan=plan)
    assert (d.call_class, d.rule) == (CallClass.LOCAL, "code_required"), d
    assert run("2125551234", plan=plan, internal=frozenset({"2125551234"})).call_class is CallClass.INTERNAL
