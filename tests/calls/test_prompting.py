"""Admission's prompting steps (b2bua.calls.prompting): a caller without a
required code is asked for it; every answer of the machine, on virtual time."""

from __future__ import annotations

from typing import Any

import msgspec

from b2bua.calls.admission import (
    LOCKED_REASON, Admission, CheckCredit, CodeEntered, CollectNumber, Command, CreditChecked, NumberEntered, Policy,
    PromptAgain, PromptEnded,
    PromptSpec, StartCall, StartPrompt, Step, TransactionGone,
)
from b2bua.billing.credit import CreditCheck
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import Request
from dialplan import CodeSource, GroupPolicy, Mode, Prompt

from .harness import SDP_A
from .test_admission import GROUPS, LONG, LOCAL_NUMBER, machine, received, signed

def prompting(**kw: Any) -> Admission:
    adm = machine(**kw)
    adm.policy = msgspec.structs.replace(adm.policy, prompting=True)
    return adm


def with_offer(ev: RequestReceived) -> RequestReceived:
    req = ev.request
    headers = [h for h in req.headers if h[1] != "content-length"] + [("Content-Type", "content-type", "application/sdp")]
    return msgspec.structs.replace(ev, request=Request(req.method, req.uri, headers, SDP_A))


def dial(adm: Admission, dialed: str, now: float = 0.0, *, offer: bool = True, **kw: Any) -> list[Command]:
    ev = signed(adm, dialed, now, **kw)
    return adm.handle(received(with_offer(ev) if offer else ev), now)


def prompt_of(cmds: list[Command]) -> StartPrompt:
    assert len(cmds) == 1 and isinstance(cmds[0], StartPrompt), cmds
    return cmds[0]


def only(cmds: list[Command], kind: type) -> Any:
    assert len(cmds) == 1 and isinstance(cmds[0], kind), cmds
    return cmds[0]


def test_a_missing_code_is_prompted_for_and_the_call_placed_with_it() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, LONG))
    assert sp.spec == PromptSpec(style=Prompt.ANNOUNCEMENT, code_length=5, answer=False, attempts=3)
    held = sp.call
    assert held.prompted and held.route.kind == "prompt" and held.route.destination == LONG
    assert held.account.code == "" and held.caller == "1001"
    assert adm.pending[sp.txn].step is Step.PROMPTING
    go = only(adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="rfc4733"), 1.0), StartCall)
    assert go.prompted and go.route.kind == "trunk" and go.route.destination == LONG
    a = go.account
    assert (a.code, a.source, a.valid, a.entry, a.name) == ("12345", CodeSource.PROMPT, True, "rfc4733", "Acme")
    assert sp.txn not in adm.pending


def test_wrong_codes_are_asked_again_then_refused_and_counted() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, LONG))
    again = only(adm.handle(CodeEntered(txn=sp.txn, digits="99999", transport="info"), 1.0), PromptAgain)
    assert again.attempt == 1 and again.txn == sp.txn
    again = only(adm.handle(CodeEntered(txn=sp.txn, digits="99998", transport="info"), 2.0), PromptAgain)
    assert again.attempt == 2
    # the lockout (3 failures in the test machine) refuses the third
    end = only(adm.handle(CodeEntered(txn=sp.txn, digits="99997", transport="info"), 3.0), StartCall)
    assert end.prompted and end.route.kind == "none" and end.route.status == 403
    assert end.route.reason == LOCKED_REASON
    assert end.account.valid is False and "99997" not in end.account.code  # a guess is logged masked
    # the extension stays locked for the next call: refused before any prompt
    refused = only(dial(adm, LONG, 4.0), StartCall)
    assert refused.route.kind == "none" and refused.route.reason == LOCKED_REASON and not refused.prompted


def test_the_attempts_run_out_before_a_lockout() -> None:
    groups = {**GROUPS, "default": msgspec.structs.replace(GROUPS["default"], prompt_attempts=2)}
    adm = prompting(groups=groups)
    sp = prompt_of(dial(adm, LONG))
    assert sp.spec.attempts == 2
    only(adm.handle(CodeEntered(txn=sp.txn, digits="99999", transport="inband"), 1.0), PromptAgain)
    end = only(adm.handle(CodeEntered(txn=sp.txn, digits="99998", transport="inband"), 2.0), StartCall)
    assert end.route.kind == "none" and end.route.status == 403 and end.route.reason != LOCKED_REASON


def test_emergency_local_and_coded_calls_are_never_prompted() -> None:
    adm = prompting()
    for dialed in ("911", LOCAL_NUMBER, "12345**" + LONG):
        go = only(dial(adm, dialed), StartCall)
        assert not go.prompted and go.route.kind == "trunk", dialed


def test_without_prompting_an_offer_or_the_groups_consent_the_call_is_refused_as_before() -> None:
    for adm, offer in (
        (machine(), True),  # no media endpoint
        (prompting(), False),  # no SDP offer to answer with the server's media
        (prompting(groups={**GROUPS, "default": msgspec.structs.replace(GROUPS["default"], prompt=Prompt.OFF)}), True),
    ):
        refused = only(dial(adm, LONG, offer=offer), StartCall)
        assert refused.route.kind == "none" and refused.route.status == 403 and not refused.prompted


def test_a_prompt_ending_without_a_code_refuses_with_its_status() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, LONG))
    end = only(adm.handle(PromptEnded(txn=sp.txn, status=488, reason="No usable codec"), 1.0), StartCall)
    assert end.prompted and (end.route.kind, end.route.status, end.route.reason) == ("none", 488, "No usable codec")


def test_the_caller_leaving_during_the_prompt_ends_the_attempt_silently() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, LONG))
    assert adm.handle(TransactionGone(txn=sp.txn), 1.0) == []
    assert sp.txn not in adm.pending
    assert adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="info"), 2.0) == []  # late: nothing


def test_credit_is_checked_once_the_prompted_code_is_known() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, LONG))
    check = only(adm.handle(CodeEntered(txn=sp.txn, digits="31337", transport="rfc4733"), 1.0), CheckCredit)
    assert check.request.credit_account == "prepaid-1" and check.request.account.entry == "rfc4733"
    go = only(adm.handle(CreditChecked(txn=sp.txn, result=CreditCheck(ok=True, reason="ok")), 2.0), StartCall)
    assert go.prompted and go.route.kind == "trunk"


def test_a_mandatory_group_prompts_every_outside_call() -> None:
    groups = {**GROUPS, "default": GroupPolicy(mode=Mode.MANDATORY, prompt=Prompt.TONE, prompt_answer=True)}
    adm = prompting(groups=groups)
    sp = prompt_of(dial(adm, LOCAL_NUMBER))
    assert sp.spec == PromptSpec(style=Prompt.TONE, code_length=None, answer=True, attempts=3)
    go = only(adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="info"), 1.0), StartCall)
    assert go.prompted and go.route.destination == LOCAL_NUMBER


def test_policy_flag_defaults_off() -> None:
    assert Policy(plan=machine().policy.plan).prompting is False


def test_the_feature_access_code_alone_takes_the_code_then_the_number() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, "*88"))
    assert sp.spec.number and sp.call.route.kind == "prompt"
    # a wrong code first: asked again (and counted)
    again = only(adm.handle(CodeEntered(txn=sp.txn, digits="99999", transport="info"), 1.0), PromptAgain)
    assert again.attempt == 1
    taken = only(adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="rfc4733"), 2.0), CollectNumber)
    assert taken.txn == sp.txn and adm.pending[sp.txn].step is Step.PROMPTING
    go = only(adm.handle(NumberEntered(txn=sp.txn, number=LONG, transport="info"), 3.0), StartCall)
    assert go.prompted and go.route.kind == "trunk" and go.route.destination == LONG
    assert (go.account.code, go.account.source, go.account.entry) == ("12345", CodeSource.PROMPT, "rfc4733")
    assert go.dialed == LONG


def test_a_number_the_prompted_code_may_not_call_is_refused_without_a_retry() -> None:
    adm = prompting()
    sp = prompt_of(dial(adm, "*88"))
    only(adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="info"), 1.0), CollectNumber)
    end = only(adm.handle(NumberEntered(txn=sp.txn, number="1", transport="info"), 2.0), StartCall)
    assert end.prompted and end.route.kind == "none" and end.route.status in (403, 404, 484), end.route


def test_the_minimal_prompt_takes_a_whole_dial_string_after_a_beep() -> None:
    groups = {**GROUPS, "default": msgspec.structs.replace(GROUPS["default"], minimal_access="*90")}
    adm = prompting(groups=groups)
    sp = prompt_of(dial(adm, "*90"))
    assert sp.spec.minimal and not sp.spec.number
    go = only(adm.handle(NumberEntered(txn=sp.txn, number="12345**" + LONG, transport="inband"), 1.0), StartCall)
    assert go.prompted and go.route.kind == "trunk" and go.route.destination == LONG and go.dialed == LONG
    assert (go.account.code, go.account.source, go.account.entry) == ("12345", CodeSource.PROMPT, "inband")
    sp = prompt_of(dial(adm, "*90", 2.0))
    end = only(adm.handle(NumberEntered(txn=sp.txn, number="99999**" + LONG, transport="info"), 3.0), StartCall)
    assert end.route.kind == "none" and end.route.status == 403 and "99999" not in end.dialed  # shown masked
