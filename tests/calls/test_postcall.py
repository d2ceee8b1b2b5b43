"""A code for the caller's last call by dialing the mid-call VSC alone
(b2bua.calls.postcall with admission's prompting steps), on virtual time: the
real mid-call codes of an ended call, the real admission machine."""

from __future__ import annotations

import msgspec

from b2bua.calls.admission import CodeEntered, PromptAgain, StartCall
from b2bua.calls.events import CodeChanged
from b2bua.calls.postcall import LastCallCodes
from b2bua.calls.prompting import ASSIGNED, NO_LAST_CALL
from dialplan import CodeSource

from .test_midcall import changes, connect, hang_up, rig
from .test_prompting import dial, only, prompt_of


def ended_call() -> tuple[object, object]:
    """1001's long distance call, answered and ended; admission prompts and knows the last calls."""
    h, mc = rig()
    connect(h)
    hang_up(h)
    adm = mc.admission
    adm.policy = msgspec.structs.replace(adm.policy, prompting=True)
    adm.last_calls = LastCallCodes(mc)
    return h, adm


def test_the_vsc_alone_prompts_and_attaches_the_code_to_the_last_call() -> None:
    h, adm = ended_call()
    now = h.now + 10  # type: ignore[attr-defined]
    sp = prompt_of(dial(adm, "*89", now))  # type: ignore[arg-type]
    assert sp.spec.answer and not sp.spec.number  # answered: the call ends by a BYE
    assert sp.call.route.kind == "prompt" and sp.call.dialed in ("*89", None)
    # a code the last call's destination may not take: asked again, counted
    again = only(adm.handle(CodeEntered(txn=sp.txn, digits="22222", transport="info"), now + 1), PromptAgain)  # type: ignore[attr-defined]
    assert again.reason == "Account code ***22 may not make long distance calls"
    done = only(adm.handle(CodeEntered(txn=sp.txn, digits="12345", transport="info"), now + 2), StartCall)  # type: ignore[attr-defined]
    assert done.prompted and done.route.kind == "none" and (done.route.status, done.route.reason) == (200, ASSIGNED)
    h.pump()  # type: ignore[attr-defined]
    (ch,) = [e for e in changes(h) if isinstance(e, CodeChanged)]  # type: ignore[arg-type]
    assert ch.post_call and ch.account.code == "12345" and ch.account.source is CodeSource.POST_CALL
    assert ch.set_by == "1001" and ch.at == now + 2
    # once: the call took its code, there is no other to give one to
    refused = only(dial(adm, "*89", now + 3), StartCall)  # type: ignore[arg-type]
    assert not refused.prompted and (refused.route.status, refused.route.reason) == (403, NO_LAST_CALL)


def test_wrong_codes_run_out_the_attempts_and_the_call_keeps_no_code() -> None:
    h, adm = ended_call()
    now = h.now  # type: ignore[attr-defined]
    sp = prompt_of(dial(adm, "*89%23", now))  # type: ignore[arg-type]
    only(adm.handle(CodeEntered(txn=sp.txn, digits="99999", transport="rfc4733"), now + 1), PromptAgain)  # type: ignore[attr-defined]
    only(adm.handle(CodeEntered(txn=sp.txn, digits="99998", transport="rfc4733"), now + 2), PromptAgain)  # type: ignore[attr-defined]
    end = only(adm.handle(CodeEntered(txn=sp.txn, digits="99997", transport="rfc4733"), now + 3), StartCall)  # type: ignore[attr-defined]
    # the third wrong code locks the extension (3 failures in the test machine)
    assert end.route.kind == "none" and (end.route.status, end.route.reason) == (403, "Too many invalid account codes")
    h.pump()  # type: ignore[attr-defined]
    assert changes(h) == []  # type: ignore[arg-type]
    assert adm.lockouts == 1  # type: ignore[attr-defined]


def test_outside_the_window_or_for_another_user_there_is_no_last_call() -> None:
    h, adm = ended_call()
    other = only(dial(adm, "*89", h.now, user="1002", password="pw1002", from_user="1002"), StartCall)  # type: ignore[arg-type, attr-defined]
    assert (other.route.status, other.route.reason) == (403, NO_LAST_CALL) and not other.prompted
    late = only(dial(adm, "*89", h.now + 301), StartCall)  # type: ignore[arg-type, attr-defined]
    assert (late.route.status, late.route.reason) == (403, NO_LAST_CALL)
    h.pump()  # type: ignore[attr-defined]
    assert changes(h) == []  # type: ignore[arg-type]
