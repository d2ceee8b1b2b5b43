"""Admission's prompting steps (sans-IO): a caller without a required account
code is asked for one instead of being refused.  Mixed into
:class:`~b2bua.calls.admission.Admission`.

Theory of operation
-------------------
When the policy answers ``collect`` for an account code (rule
``code_required``: the mode needs a code for this destination and the dial
string has none), the INVITE carries an SDP offer to answer with the server's
media, the caller's group prompts (``GroupPolicy.prompt`` is not ``off``) and
the server has a media endpoint (``Policy.prompting``), the attempt goes to
the ``PROMPT`` step instead of being refused:

1. ``PROMPT`` emits :class:`~b2bua.calls.commands.StartPrompt`: the shell starts
   the call held by the server (route of kind ``"prompt"``: 100 Trying and
   CallStarted, nothing placed), gives the caller media (183 with the server's
   SDP, or 200 when the group answers) and runs a prompt session
   (:mod:`b2bua.media.prompt`).  The attempt waits in ``PROMPTING``.
2. :class:`~b2bua.calls.commands.CodeEntered` (the digits collected and their
   transport) is judged by the same policy with ``collected_code``.  A code it
   allows goes on to ``ROUTE`` (then ``CREDIT``: credit is checked only once
   the code, hence its account, is known) and ``START``, whose ``StartCall``
   says ``prompted``: the shell places the held call.  A rejected code counts
   towards the account-code lockout and, while attempts are left and the
   caller is not locked out, gives :class:`~b2bua.calls.commands.PromptAgain`
   ("invalid code, please try again"); the last attempt, a lockout or any other
   refusal go to ``START`` with a refusal route (the shell plays reorder and
   ends the held call with that status).
3. :class:`~b2bua.calls.commands.PromptEnded` (nothing entered in time, no
   usable codec, no media port) refuses the attempt with its status;
   ``TransactionGone`` (the caller hung up or cancelled: the call manager ended
   and recorded the call) ends the attempt silently.

Emergency and service numbers never reach ``collect`` (the policy allows them
first), so they are never prompted.  Prompting time is never billed: billing
starts at the callee's answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import msgspec

from dialplan import CallContext, CodeSource, Decision, Lockout, Outcome, Prompt
from dialplan.dialstring import mask_code, without_code

from .commands import (
    CodeEntered, CollectNumber, Command, NumberEntered, Policy, PromptAgain, PromptEnded, PromptSpec, StartCall,
    StartPrompt,
)
from .routing import Route, refusal

from .steps import Found

if TYPE_CHECKING:
    from .admission import Attempt

log = logging.getLogger("b2bua.admission")

FAC_RULE = "fac_prompt"  # a bare feature access code: the code, then the number, are collected
MINIMAL_RULE = "minimal_prompt"  # the minimal-prompt access number: a beep, then code**number# keyed
POST_CALL_RULE = "post_call_prompt"  # the mid-call VSC alone: a code for the caller's last call (b2bua.calls.postcall)
NO_LAST_CALL = "No recent call to assign an account code to"
ASSIGNED = "Account code assigned to the last call"

PROMPTED_RULES = frozenset({"code_required", FAC_RULE, MINIMAL_RULE, POST_CALL_RULE})  # the collect decisions a prompt answers
MAX_CODE_ENTRY = 32  # digits accepted from a session at most (the longest code is 14)
MAX_NUMBER_ENTRY = 32  # digits of a destination keyed after the code


class LastCalls(Protocol):
    """The callers' ended calls that may still take a code (b2bua.calls.postcall)."""

    def has_last(self, user: str, now: float) -> bool: ...
    def attach_last(self, user: str, code: str, address: str, now: float) -> tuple[int, str]: ...


class _Admission(Protocol):
    policy: Policy
    lockout: Lockout
    lockouts: int
    lockout_refusals: int
    last_calls: LastCalls | None

    def _decide(self, a: "Attempt", ctx: CallContext, now: float) -> Decision: ...
    def _decide_code(self, a: "Attempt", code: str, now: float) -> Decision: ...
    def _with_code(
        self, a: "Attempt", digits: str, transport: str, now: float, out: list[Command], *, retry: bool = True,
    ) -> Found: ...
    def _wrong(self, a: "Attempt", d: Decision, now: float, out: list[Command]) -> Found: ...
    def _last_call_code(self, a: "Attempt", digits: str, now: float, out: list[Command]) -> Found: ...
    def _dial_string_entered(self, a: "Attempt", ev: NumberEntered, now: float, out: list[Command]) -> Found: ...
    def _start_call(self, a: "Attempt", route: Route) -> StartCall: ...
    def _allowed(self, a: "Attempt", d: Decision) -> Found: ...


class PromptSteps:
    """The ``PROMPT`` step and the events of ``PROMPTING`` (module docstring)."""

    def _can_prompt(self: _Admission, a: "Attempt", d: Decision) -> bool:
        group = a.ctx.group if a.ctx is not None else None
        return (
            self.policy.prompting
            and group is not None
            and group.prompt is not Prompt.OFF
            and d.rule in PROMPTED_RULES
            and (bool(d.destination) or d.rule in (FAC_RULE, MINIMAL_RULE, POST_CALL_RULE))
            and bool(a.event.request.body)  # an offer the server's media can answer
        )

    def _has_last_call(self: _Admission, a: "Attempt", now: float) -> bool:
        """The VSC alone: is there a call of this caller's to give a code to?"""
        return self.last_calls is not None and self.last_calls.has_last(a.caller_user, now)

    def _prompt(self: _Admission, a: "Attempt", now: float, out: list[Command]) -> Found:
        assert a.ctx is not None
        group = a.ctx.group
        a.prompted = True
        a.fac_code = "" if a.collect_rule == FAC_RULE else None
        a.account = msgspec.structs.replace(a.account, source=CodeSource.PROMPT)  # a record says so, ended or not
        held = Route(kind="prompt", destination=a.destination)
        out.append(StartPrompt(
            call=self._start_call(a, held),
            spec=PromptSpec(
                # a code for the last call is a call of its own, answered: it ends by a BYE
                style=group.prompt, code_length=group.code_length,
                answer=group.prompt_answer or a.collect_rule == POST_CALL_RULE,
                attempts=group.prompt_attempts, number=a.fac_code is not None,
                minimal=a.collect_rule == MINIMAL_RULE,
            ),
        ))
        log.info("call from %s to %s: prompting for an account code", a.caller, a.shown)
        return Found.PROMPT_SENT

    def _code_entered(self: _Admission, a: "Attempt", ev: CodeEntered, now: float, out: list[Command]) -> Found:
        assert a.ctx is not None
        a.attempts += 1
        if self.lockout.check(a.keys, now):  # locked by earlier guesses, here or elsewhere
            self.lockout_refusals += 1
            a.route = refusal(a.destination or a.shown, 403, "Too many invalid account codes")
            return Found.REFUSED
        digits = ev.digits[:MAX_CODE_ENTRY]
        if a.collect_rule == POST_CALL_RULE:
            return self._last_call_code(a, digits, now, out)
        if a.fac_code is not None:  # the FAC form: the code first, on its own
            d = self._decide_code(a, digits, now)
            if d.outcome is Outcome.ALLOW:
                a.fac_code, a.entry = digits, ev.transport
                out.append(CollectNumber(txn=a.txn))
                return Found.CODE_TAKEN
            return self._wrong(a, d, now, out)
        return self._with_code(a, digits, ev.transport, now, out)

    def _number_entered(self: _Admission, a: "Attempt", ev: NumberEntered, now: float, out: list[Command]) -> Found:
        """The destination keyed after an accepted code (the FAC form), judged with
        it; or the whole dial string keyed after the minimal prompt's beep."""
        assert a.ctx is not None
        if a.collect_rule == MINIMAL_RULE:
            return self._dial_string_entered(a, ev, now, out)
        if not a.fac_code:
            return Found.CODE_TAKEN if a.fac_code is not None else Found.CODE_WRONG  # a stray event: still waiting
        a.destination = a.shown = ev.number[:MAX_NUMBER_ENTRY]
        a.ctx = msgspec.structs.replace(a.ctx, dialed=a.destination)
        return self._with_code(a, a.fac_code, a.entry, now, out, retry=False)

    def _dial_string_entered(self: _Admission, a: "Attempt", ev: NumberEntered, now: float, out: list[Command]) -> Found:
        """``code**number`` (or any dial string) keyed after the beep: the policy
        judges it as if it had been dialed; no second try."""
        assert a.ctx is not None
        group = a.ctx.group
        dialed = ev.number[:MAX_NUMBER_ENTRY]
        a.shown = without_code(dialed, fac=group.fac, code_length=group.code_length, auth_fac=group.auth_fac)
        a.ctx = msgspec.structs.replace(a.ctx, dialed=dialed)
        d = self._decide(a, a.ctx, now)
        if d.outcome is Outcome.ALLOW:
            source = CodeSource.PROMPT if a.account.code else a.account.source
            a.account = msgspec.structs.replace(a.account, entry=ev.transport, source=source)
            log.info("call from %s to %s: dial string keyed after the minimal prompt (%s)", a.caller, a.shown,
                     ev.transport)
            return self._allowed(a, d)
        log.info("call from %s to %s refused: %s (%s)", a.caller, a.shown, d.reason, d.rule)
        a.route = refusal(d.destination or a.shown, d.status or 403, d.reason)
        return Found.REFUSED

    def _last_call_code(self: _Admission, a: "Attempt", digits: str, now: float, out: list[Command]) -> Found:
        """The code keyed after the VSC alone: attached to the caller's last call
        (checked against that call's destination); a wrong one is asked again."""
        assert self.last_calls is not None and a.ctx is not None
        status, reason = self.last_calls.attach_last(a.caller_user, digits, a.event.source.host, now)
        if status == 200:
            log.info("call from %s: account code %s attached to the last call", a.caller, mask_code(digits))
            a.route = Route(kind="none", destination="", status=200, reason=ASSIGNED)
            return Found.REFUSED  # nothing is placed: the held call ends (thanked, then BYE)
        locked = self.lockout.check(a.keys, now)
        if status == 403 and a.attempts < a.ctx.group.prompt_attempts and not locked:
            out.append(PromptAgain(txn=a.txn, attempt=a.attempts, reason=reason))
            return Found.CODE_WRONG
        a.route = refusal("", status, "Too many invalid account codes" if locked else reason)
        return Found.REFUSED

    def _with_code(
        self: _Admission, a: "Attempt", digits: str, transport: str, now: float, out: list[Command], *,
        retry: bool = True,
    ) -> Found:
        """The policy's decision with ``digits`` as the collected code."""
        assert a.ctx is not None
        d = self._decide(a, msgspec.structs.replace(a.ctx, collected_code=digits), now)
        if d.outcome is Outcome.ALLOW:
            a.account = msgspec.structs.replace(a.account, entry=transport)
            log.info("call from %s to %s: account code %s entered (%s)", a.caller, d.destination,
                     mask_code(digits), transport)
            return self._allowed(a, d)
        if not retry:  # the number is wrong, or the code may not call it: no second try
            log.info("call from %s to %s refused: %s (%s)", a.caller, a.destination, d.reason, d.rule)
            a.route = refusal(d.destination or a.destination or a.shown, d.status or 403, d.reason)
            return Found.REFUSED
        return self._wrong(a, d, now, out)

    def _wrong(self: _Admission, a: "Attempt", d: Decision, now: float, out: list[Command]) -> Found:
        """A refused code: asked again while attempts are left, else refused."""
        assert a.ctx is not None
        attempts = a.ctx.group.prompt_attempts
        locked = self.lockout.check(a.keys, now)
        if d.code_rejected and a.attempts < attempts and not locked:
            out.append(PromptAgain(txn=a.txn, attempt=a.attempts, reason=d.reason))
            return Found.CODE_WRONG
        log.info("call from %s to %s refused after %d prompted code(s): %s (%s)",
                 a.caller, a.destination, a.attempts, d.reason, d.rule)
        reason = "Too many invalid account codes" if locked else d.reason
        a.route = refusal(a.destination or a.shown, d.status or 403, reason)
        return Found.REFUSED

    @staticmethod
    def _prompt_ended(a: "Attempt", ev: PromptEnded) -> Found:
        log.info("call from %s to %s: prompt ended without a code: %s", a.caller, a.destination, ev.reason)
        a.route = refusal(a.destination or a.shown, ev.status, ev.reason)
        return Found.REFUSED
