"""Mid-call account codes (sans-IO): a code set on a call that is already up,
without the other party noticing (GR-605 "mid-call activation ... does not
interrupt the session"; RFC 6086 INFO packages; RFC 4538 Target-Dialog).

Theory of operation
-------------------
The caller's phone tells the server the account code of one of its live
calls in one of four ways; each is answered here and never relayed (the far
end sees no INFO, no re-INVITE, and the media is untouched):

* **Info-Package** (RFC 6086): an INFO in the caller's dialog with
  ``Info-Package: account-code`` and a body of type
  ``application/x-account-code`` (:mod:`b2bua.calls.midcall_parse`): ``code=12345`` or the
  digits alone.  The server lists the package in ``Recv-Info`` on its 2xx to
  the caller (``Settings.recv_info``).  The callee was never told of it: the
  package in an INFO from the callee's side gets 469 Bad Info Package
  (RFC 6086 §5.2.3), with our (empty) ``Recv-Info`` for that dialog.  Other
  packages are relayed as before.
* **Legacy INFO**: the same body without ``Info-Package`` (RFC 6086 §2, phones
  without packages); from the caller's side only (403 from the callee's).
* **Target-Dialog** (RFC 4538): an out-of-dialog INFO with the same body and
  ``Target-Dialog: CALL-ID;local-tag=PHONE-TAG;remote-tag=OUR-TAG`` naming
  the phone's dialog with us (the tags as the phone sees them; the other
  order is accepted too).  It is digest-authenticated like an INVITE
  (:func:`b2bua.calls.auth.authenticate`, with password-guessing
  protection) before anything is looked up: then 481 for a call that is not
  known (or not up), 403 "Not your call" (logged) for another user's call.
* **INFO digits** (``application/dtmf-relay`` ``Signal=``, or
  ``application/dtmf``) from the caller forming ``VSC CODE #``
  (``GroupPolicy.midcall_vsc``, default ``*89``), held back from the callee
  while they could be such a feature code (:mod:`b2bua.calls.midcall_digits`;
  so are such keys seen in the media).

Every code is checked as one dialed with the call
(:func:`dialplan.policy.check_midcall_code`: format, validation, the code's
restrictions for this call's destination), under the guessing protection of
admission (:class:`dialplan.Lockout`: a wrong code counts as at set-up,
keyed by the caller's extension and the requesting address; while locked
every code is refused).  Answers: 200 accepted; 403 with the rule in the
reason phrase (invalid, inactive, restricted, codes off, locked); 400 for a
body without a code; 415 for another body type.  A refused code leaves the
call under its previous code.  On a prepaid call (a code with a credit
account, through a trunk) a code of another credit account or rate plan
moves the call's credit first (:mod:`b2bua.calls.midcall_credit`: answered
once the new account holds the next chunk, else 403 ``Credit refused``); a
code without a credit account on a prepaid call, or with one on a call that
has none, is refused 403.

A hook flash, and the keys that follow it, go to :mod:`b2bua.calls.flash`
(``MidCallCodes.flash``, when the runtime gives one): the same :meth:`apply`
with source ``flash``.

An accepted code is reported as :class:`~b2bua.calls.events.CodeChanged`
(billing splits the record there).  Codes are logged masked.

Public API
----------
``MidCallCodes(manager, admission, today)``; the manager calls
``on_request(leg, event, now) -> bool`` for every in-dialog request before
relaying it (True: answered here); the application calls
``claims(event)`` and ``out_of_dialog(event, now, own=...) -> list[Command]`` (answers)
for an out-of-dialog INFO, carries out ``credit.take()`` (moves of prepaid
calls) and answers each with ``credit_moved(ref, result, now)``.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Callable, Sequence

from b2bua.billing.credit import MoveResult
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import header
from dialplan import CodeSource, UserPolicy, lockout_keys
from dialplan.dialstring import mask_code
from dialplan.policy import check_midcall_code

from .admission import LOCKED_REASON, NO_DATABASE, Admission, Command
from .auth import SendResponse, authenticate
from .call import Call, CallState
from .events import AccountInfo, CallStarted, CodeChanged
from .leg import Leg, LegState
from .midcall_credit import CreditMoves, Reply
from .midcall_digits import HeldDigits, VscDigits
from .midcall_parse import BODY_TYPE, DTMF_TYPES, PACKAGE, accept_headers, info_package, parse_code, parse_target_dialog

if TYPE_CHECKING:
    from .flash import FlashCodes
    from .manager import CallManager

log = logging.getLogger("b2bua.midcall")

NOT_YOUR_CALL = "Not your call"
MAX_RECENT = 10_000  # ended calls remembered for a code attached afterwards (bounded)


class _Ended:
    """An answered call that ended: what attaching a code to it afterwards needs."""

    __slots__ = ("ref", "started", "account", "at", "window")

    def __init__(self, ref: str, started: CallStarted, account: AccountInfo, at: float, window: float) -> None:
        self.ref, self.started, self.account, self.at, self.window = ref, started, account, at, window


class _State(HeldDigits):
    """A call's mid-call code state (``Call.midcall``): the code in force now, and
    the keys of a possible feature code so far."""

    __slots__ = ("account",)

    def __init__(self, account: AccountInfo) -> None:
        super().__init__()
        self.account = account


class MidCallCodes:
    """See the module docstring."""

    def __init__(self, manager: "CallManager", admission: Admission, today: Callable[[], datetime.date]) -> None:
        self.manager = manager
        self.admission = admission
        self.today = today
        self.accepted = 0
        self.refused = 0
        # ended calls, by their caller's dialog key: a code may still be attached (post_call_window)
        self.recent: dict[tuple[str, str, str], _Ended] = {}
        self.flash: FlashCodes | None = None  # flash + VSC (b2bua.calls.flash), set by the runtime
        self.credit = CreditMoves()  # prepaid calls moving to another credit account
        self.digits = VscDigits(self)  # the VSC and a code keyed as digits

    # -- in the dialog ----------------------------------------------------------------
    def on_request(self, leg: Leg, event: RequestReceived, now: float) -> bool:
        req = event.request
        if req.method != "INFO":
            return False
        if self.flash is not None and self.flash.on_info(leg, event, now):  # a flash, or keys after one
            return True
        ctype = req.content_type or ""
        package = info_package(event)
        call = leg.call
        if package == PACKAGE or (not package and ctype == BODY_TYPE):
            if package and not leg.uas:  # never indicated to the callee (RFC 6086 §5.2.3)
                self.manager.reply(event, 469, now, reason="Bad Info Package", extra=[header("Recv-Info", "")])
                return True
            if not leg.uas:
                self.manager.reply(event, 403, now, reason="Account code from the caller only")
                return True
            if call.state is not CallState.CONNECTED:
                self.manager.reply(event, 403, now, reason="Call not connected")
                return True
            source = CodeSource.INFO_PACKAGE if package else CodeSource.INFO
            status, reason = self._from_body(call, event, source, self.owner(call), now)
            if status:  # else answered once the credit has moved
                self.reply_to(event)(status, reason, now)
            return True
        if package or ctype not in DTMF_TYPES or not leg.uas or call.state is not CallState.CONNECTED:
            return False
        return self.digits.on_info(call, self._state(call), event, now)

    # -- out of the dialog ---------------------------------------------------------------
    @staticmethod
    def claims(event: object) -> bool:
        """An out-of-dialog INFO naming a dialog (Target-Dialog)."""
        return (
            isinstance(event, RequestReceived) and event.request.method == "INFO" and not event.request.to.tag
            and event.request.get("target-dialog") is not None
        )

    def ended(self, call: Call, now: float) -> None:
        """An answered call ended: its caller may attach a code to it for the
        group's ``post_call_window`` (a Target-Dialog request naming its dialog)."""
        if self.flash is not None:
            self.flash.ended(call.ref)
        started, a = call.started, call.a
        if not isinstance(started, CallStarted) or call.answered_at is None or a is None or a.dialog is None:
            return
        group = self.admission.policy.groups.get(started.group)
        if group is None or group.post_call_window <= 0 or self._segmented(call):
            return
        state = call.midcall
        account = state.account if isinstance(state, _State) else started.account
        self.recent[a.dialog.key] = _Ended(call.ref, started, account, now, float(group.post_call_window))
        while len(self.recent) > MAX_RECENT:
            self.recent.pop(next(iter(self.recent)))

    @staticmethod
    def _segmented(call: Call) -> bool:
        """Was the code changed during the call (then it is not attached afterwards)?"""
        state = call.midcall
        started = call.started
        return isinstance(state, _State) and isinstance(started, CallStarted) and state.account != started.account

    def _post_call(
        self, event: RequestReceived, key: tuple[str, str, str], user: str, now: float
    ) -> tuple[int, str] | None:
        """A Target-Dialog request naming a call that ended: (status, reason), or None
        when no such call is remembered."""
        ended = self.recent.get(key)
        if ended is None:
            return None
        if now - ended.at > ended.window:
            del self.recent[key]
            return None
        if ended.started.caller_user != user:
            return None  # the caller's own calls only (answered like an unknown one: 481 by the caller)
        if (event.request.content_type or "") != BODY_TYPE:
            return 415, "Unsupported Media Type"
        code = parse_code(event.request.body)
        if code is None:
            return 400, "No account code in the body"
        return self.attach(key, code, user, event.source.host, now)

    def attach(self, key: tuple[str, str, str], code: str, user: str, address: str, now: float) -> tuple[int, str]:
        """Attach ``code`` to the ended call remembered under ``key``: (status, reason)."""
        ended = self.recent[key]
        status, reason, account = self._check(
            ended.started, ended.account, code, CodeSource.POST_CALL, address, now, ref=ended.ref)
        if account is None:
            return status, reason
        if status == 0:  # another credit account: the call's credit is settled already
            return self._refused(ended.ref, code, 403, "Account code of another credit account")
        del self.recent[key]  # once: the record now carries it
        self.accepted += 1
        log.info("call %s: account code %s attached after the call by %s", ended.ref, mask_code(code), user)
        self.manager.events.append(CodeChanged(ref=ended.ref, at=now, account=account, set_by=user, post_call=True))
        return 200, "OK"

    def out_of_dialog(
        self, event: RequestReceived, now: float, *, own: Sequence[tuple[str, int]] = ()
    ) -> list[Command]:
        """Answer an out-of-dialog INFO naming a call (see the module docstring):
        the commands are SendResponse only (a challenge is stateless)."""
        adm = self.admission
        user = authenticate(adm.auth, adm.callers, event, 401, now, own=own, guard=adm.guard)
        if isinstance(user, SendResponse):
            return [user]
        target = parse_target_dialog(event.request.get("target-dialog") or "")
        if target is None:
            return [SendResponse(event=event, status=400, reason="Bad Target-Dialog")]
        call_id, local, remote = target
        index = self.manager.index
        leg = index.dialogs.get((call_id, remote, local)) or index.dialogs.get((call_id, local, remote))
        if leg is None or not leg.uas or leg.call is None or leg.state is LegState.TERMINATED \
                or leg.call.state is not CallState.CONNECTED:
            for key in ((call_id, remote, local), (call_id, local, remote)):
                after = self._post_call(event, key, user.auth_name, now)
                if after is not None:
                    return [SendResponse(event=event, status=after[0], reason=after[1], headers=tuple(accept_headers(after[0])))]
            return [SendResponse(event=event, status=481, reason="Call Does Not Exist")]
        call = leg.call
        if self.owner(call) != user.auth_name:
            src = f"{event.source.transport}:{event.source.host}:{event.source.port}"
            log.warning("user %r from %s named call %s of another user: refused", user.auth_name, src, call.ref)
            self.refused += 1
            return [SendResponse(event=event, status=403, reason=NOT_YOUR_CALL)]
        status, reason = self._from_body(call, event, CodeSource.TARGET_DIALOG, user.auth_name, now)
        if not status:  # answered once the credit has moved
            return []
        return [SendResponse(event=event, status=status, reason=reason, headers=tuple(accept_headers(status)))]

    # -- the code ------------------------------------------------------------------------
    @staticmethod
    def owner(call: Call) -> str:
        """The user who placed ``call`` (whose codes it takes)."""
        started = call.started
        return started.caller_user if isinstance(started, CallStarted) else ""

    def _from_body(
        self, call: Call, event: RequestReceived, source: CodeSource, set_by: str, now: float
    ) -> tuple[int, str]:
        if (event.request.content_type or "") != BODY_TYPE:
            return 415, "Unsupported Media Type"
        code = parse_code(event.request.body)
        if code is None:
            return 400, "No account code in the body"
        return self.apply(call, code, source, set_by, event.source.host, now, reply=self.reply_to(event))

    def reply_to(self, event: RequestReceived) -> Reply:
        """The answer to ``event`` once its code is decided (a prepaid call's credit moved)."""
        def reply(status: int, reason: str, now: float) -> None:
            self.manager.reply(event, status, now, reason=reason, extra=accept_headers(status))
        return reply

    def apply(
        self, call: Call, code: str, source: CodeSource, set_by: str, address: str, now: float,
        *, reply: Reply | None = None,
    ) -> tuple[int, str]:
        """Check ``code`` for ``call`` and make it current: (status, reason); (0, "")
        while a prepaid call's credit moves to the code's account (``reply`` answers then)."""
        started = call.started
        if not isinstance(started, CallStarted):
            return 481, "Call Does Not Exist"
        state = self._state(call)
        status, reason, new = self._check(started, state.account, code, source, address, now, ref=call.ref)
        if new is None:
            return status, reason
        if status == 0:
            status, reason = self.credit.start(call.ref, started, new, set_by, reply)
            return (0, "") if status == 0 else self._refused(call.ref, code, status, reason)
        self._make_current(call, new, set_by, now)
        return 200, "OK"

    def _make_current(self, call: Call, new: AccountInfo, set_by: str, at: float) -> None:
        self._state(call).account = new
        self.accepted += 1
        log.info("call %s: account code %s set by %s (%s)", call.ref, mask_code(new.code), set_by or "?",
                 new.source.value)
        self.manager.events.append(CodeChanged(ref=call.ref, at=at, account=new, set_by=set_by))

    def credit_moved(self, ref: str, result: MoveResult | None, now: float) -> None:
        """The shell moved (or could not move) a prepaid call's credit: the code
        asked for takes effect where the new credit segment starts, or is refused."""
        found = self.credit.done(ref, result)
        if found is None:
            return
        pending, outcome = found
        call = self.manager.index.calls.get(ref)
        if outcome.ok and call is not None and call.state is CallState.CONNECTED:
            self._make_current(call, pending.account, pending.set_by, outcome.at)
            pending.reply(200, "OK", now)
            return
        if not outcome.ok:
            status, reason = 403, f"Credit refused: {outcome.reason}"
        else:  # ended meanwhile (its credit controller released the new reservation)
            status, reason = 481, "Call Does Not Exist"
        pending.reply(*self._refused(ref, pending.account.code, status, reason), now)

    def _check(
        self, started: CallStarted, old: AccountInfo, code: str, source: CodeSource, address: str, now: float,
        *, ref: str,
    ) -> tuple[int, str, AccountInfo | None]:
        """The policy's checks of ``code`` for the call ``started`` describes (and the
        guessing lockout): (200, "OK", the new account) or (status, reason, None)."""
        adm = self.admission
        policy = adm.policy
        group = policy.groups.get(started.group)
        if group is None:
            return (*self._refused(ref, code, 403, "Account codes not used"), None)
        keys = lockout_keys(extension=started.caller, address=address, authenticated=True)
        if adm.lockout.check(keys, now):
            adm.lockout_refusals += 1
            log.warning("call %s: account code refused, %s locked for guessing", ref, started.caller)
            return (*self._refused(ref, code, 403, LOCKED_REASON), None)
        user = adm.callers.get(started.caller_user)
        codes = policy.codes.for_group(started.group) if policy.codes is not None else NO_DATABASE
        d = check_midcall_code(
            group, UserPolicy(mode=adm.user_policy(user).mode if user is not None else None), started.destination,
            code, source, policy.plan, codes, self.today(), internal=adm.router.extensions,
        )
        if d.code_rejected:
            adm.lockout.record_failure(keys, now)
            if adm.lockout.check(keys, now):
                adm.lockouts += 1
                log.warning("account codes locked for %s after repeated invalid mid-call codes", started.caller)
        if not d.allowed:
            return (*self._refused(ref, code, d.status or 403, d.reason), None)
        acct = d.account
        credit = (acct.credit_account or "") if acct else ""
        plan = (acct.rate_plan or "") if acct else ""
        move = started.route not in ("none", "extension") and bool(old.credit_account or credit) \
            and (credit, plan) != (old.credit_account, old.rate_plan)
        if move and not (credit and old.credit_account):
            return (*self._refused(ref, code, 403, "Account code of another credit account"), None)
        new = AccountInfo(
            code=code, source=source, valid=d.code_valid, call_class=d.call_class.value or old.call_class,
            name=acct.name if acct else "", department=acct.department if acct else "",
            authorization=old.authorization, authorization_level=old.authorization_level,
            rate_plan=plan, credit_account=credit,
        )
        return (0, "", new) if move else (200, "OK", new)

    def _refused(self, ref: str, code: str, status: int, reason: str) -> tuple[int, str]:
        self.refused += 1
        log.info("call %s: account code %s refused: %s", ref, mask_code(code), reason)
        return status, reason

    def _state(self, call: Call) -> _State:
        if call.midcall is None:
            started = call.started
            call.midcall = _State(started.account if isinstance(started, CallStarted) else AccountInfo())
        state: _State = call.midcall
        return state

    # -- keys from the media (RFC 4733, media kept through the server) ---------------------
    def key(self, ref: str, key: str, address: str, now: float, *, source: str = "rfc4733") -> tuple[bool, int | None]:
        """A key the caller pressed during its call, seen in the media (RFC 4733):
        (hold it back from the callee?, the verdict's status once ``*VSC code #``
        is complete, else None).  Keys of a feature code that turns out not to be
        one are not passed on (unlike INFO digits, whose INFOs can be sent later).
        A flash, and keys while a flash feature is in use, are the flash's."""
        if self.flash is not None and self.flash.on_key(ref, key, source, address, now):
            return True, None
        call = self.manager.index.calls.get(ref)
        if call is None or call.state is not CallState.CONNECTED:
            return False, None
        return self.digits.key(call, self._state(call), key, address, now)
