"""Call admission (sans-IO): may an INVITE become a call, and where does it go.

Theory of operation
-------------------
Every out-of-dialog INVITE becomes an *attempt*, keyed by its server
transaction, that walks these steps in order (each may end it):

1. ``AUTHENTICATE``: a source address inside a trunk's inbound networks is
   that trunk, trusted without digest unless the trunk requires it
   (``inbound_auth``: its own username and password) or accepts TCP only
   (``inbound_transport``: a UDP source address can be forged, so UDP calls
   from its address are refused 403); anyone else is a phone and must
   authenticate (RFC 3261 §22, :class:`~b2bua.sip.digest.DigestServer`):
   no or stale credentials are challenged (401 or 407 as configured), wrong
   ones refused with 403.  Neither starts a call.  Password guessing is
   limited by the :class:`CredentialGuard` (per username and source
   address); a locked-out phone still reaches emergency and service numbers.
2. ``TRUNK`` (trunk calls only): a DID, or any number from a trunk without a
   group, is routed straight to its extension; a trunk with a group (another
   PBX) calls out under that group's policy, passing its account code when
   trusted to (``X-Account-Code`` or ``ac=`` on the Request-URI).
3. ``LOCKOUT``: without configured groups there is no policy (straight to
   routing); an extension or address locked for guessing codes is refused
   (403) without evaluation (:class:`dialplan.Lockout`).
4. ``POLICY``: :func:`dialplan.evaluate`; a rejected code counts towards the
   lockout, a good one clears it; a refusal (or ``collect``, refused until
   prompting exists) is started as a refused call.
5. ``ROUTE``: the destination after policy goes to the :class:`Router`; a
   trunk's call routed to a trunk is refused (403 :data:`TRANSIT_REFUSED`)
   unless the trunk has ``allow_transit``.
6. ``CREDIT``: an allowed, routable, non-emergency call on a credit account
   is checked before it rings (only routable calls are checked, so routing
   comes first).  ``CheckCredit`` goes out and the attempt waits in
   ``CHECKING_CREDIT``; meanwhile the endpoint's INVITE server transaction
   has sent 100 Trying and absorbs the caller's retransmissions.  The check
   refused (402/403) or failed (503, fail closed) refuses the call.  A CANCEL
   while waiting starts the call with a 487 refusal route (answered and
   recorded like any refused attempt); the late credit result then starts
   nothing.  A transaction that vanished ends the attempt silently.
7. ``START``: ``StartCall`` for the call manager.  Every attempt past
   authentication is started, refused ones with a route of kind "none", so
   each one is reported (CallStarted + CallEnded) and billed.

The steps and their results form :data:`TRANSITIONS`, the machine at a
glance; :class:`Admission` runs the action of each step and follows the
table until the attempt waits or is done.

Public API
----------
``Admission(callers, auth, router, policy)``;
``handle(event, now) -> list[Command]`` with the events
:class:`InviteReceived`, :class:`CreditChecked`,
:class:`~b2bua.sip.endpoint.CancelReceived` (claimed only while the attempt
waits: ``handle`` returns no commands and ``claims(event)`` says False
otherwise), :class:`TransactionGone`; the commands :class:`SendResponse`,
:class:`CheckCredit` (a :class:`CreditRequest`: what the check needs of the
call about to start), :class:`StartCall` (later ``LookupCode`` and
``CollectDigits`` for prompting wait in states of their own, like
``CHECKING_CREDIT``).  :func:`authenticate` is the digest step alone, for
REGISTER (:mod:`b2bua.calls.auth`, with password-guessing protection).
Counters: ``lockouts``, ``lockout_refusals``, ``credit_refusals``;
``guard.lockouts`` and ``guard.refusals`` for passwords.

"""

from __future__ import annotations

import datetime
import enum
import logging
from typing import Literal, Sequence, TypeGuard

from b2bua.billing.credit import CreditCheck
from b2bua.sip.digest import DigestServer
from b2bua.sip.endpoint import CancelReceived, RequestReceived
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Request
from dialplan import (
    CallContext, Decision, GroupPolicy, Lockout, Outcome, UserPolicy, evaluate, is_exempt, lockout_keys,
)
from dialplan.dialstring import mask_code, without_code
from dialplan.policy import check_code_alone
from dialplan.numbering import UNRESTRICTED_CLASSES

from .auth import (
    CredentialGuard,
    SendResponse,
    authenticate,
    default_guard,
    claimed_account,
)
from .commands import (
    CheckCredit,
    CodeDirectory,
    CodeEntered,
    CollectNumber,
    Command,
    CreditChecked,
    CreditRequest,
    Event,
    InviteReceived,
    NumberEntered,
    Policy,
    PromptAgain,
    PromptEnded,
    PromptSpec,
    StartCall,
    StartPrompt,
    TransactionGone,
)
from .events import NO_ACCOUNT, AccountInfo
from .prompting import NO_LAST_CALL, POST_CALL_RULE, LastCalls, PromptSteps
from .steps import TRANSITIONS, WAITING, Found, Step
from .routing import Extension, Route, Router, Trunk, dialed_user, refusal

__all__ = [  # the machine, and what the shell and the tests use of it (commands, events)
    "Admission", "CheckCredit", "CodeDirectory", "CodeEntered", "Command", "CreditChecked", "CreditRequest",
    "CredentialGuard", "CollectNumber", "Event", "InviteReceived", "NumberEntered", "Policy", "PromptAgain", "PromptEnded", "PromptSpec",
    "SendResponse", "StartCall", "StartPrompt", "Step", "TransactionGone", "authenticate", "from_user",
]

log = logging.getLogger("b2bua.admission")

LOCKED_REASON = "Too many invalid account codes"
TRANSIT_REFUSED = "Transit not allowed"  # a trunk's call routed to a trunk
TRUNK_TRANSPORT_REFUSED = "Forbidden"  # a TCP-only trunk's address over UDP
CREDIT_UNAVAILABLE = "Credit control unavailable"
CANCELLED_REASON = "Request Terminated"  # RFC 3261 §21.4.25


# -- the machine ------------------------------------------------------------------------


class Attempt:
    """One INVITE on its way through the steps (mutable; the machine's own)."""

    __slots__ = (
        "event", "today", "own", "step", "dialed", "shown", "caller", "caller_user", "display", "department", "group",
        "user_policy", "ctx", "source", "trunk", "trunk_code", "keys", "destination", "account", "prepaid", "route",
        "prompted", "attempts", "fac_code", "entry", "collect_rule",
    )

    def __init__(self, event: RequestReceived, today: datetime.date, own: Sequence[tuple[str, int]] = ()) -> None:
        self.event = event
        self.today = today
        self.own = own
        self.step = Step.AUTHENTICATE
        self.dialed = dialed_user(event.request)
        self.shown = without_code(self.dialed)  # as logged and recorded: no code (set again per group)
        self.caller = ""
        self.caller_user = ""
        self.display = ""
        self.department = ""
        self.group = ""
        self.user_policy = UserPolicy()
        self.ctx: CallContext | None = None  # built at the lockout step, evaluated at the policy step
        self.source: Literal["phone", "trunk"] = "phone"
        self.trunk: Trunk | None = None
        self.trunk_code: str | None = None
        self.keys: list[tuple[str, str]] = []
        self.destination = self.dialed  # after policy
        self.account = NO_ACCOUNT
        self.prepaid = False  # allowed on a credit account, not an emergency/service call
        self.route: Route | None = None
        self.prompted = False  # the call exists, held by the server while its caller is asked
        self.attempts = 0  # codes entered at the prompt
        self.fac_code: str | None = None  # the FAC form: "" until its code is taken (None: not that form)
        self.entry = ""  # how that code was keyed
        self.collect_rule = ""  # the policy's collect rule, when prompted

    @property
    def txn(self) -> str:
        assert self.event.transaction_id is not None
        return self.event.transaction_id


class Admission(PromptSteps):
    """The admission machine; see the module docstring."""

    def __init__(
        self,
        callers: Sequence[Extension],
        auth: DigestServer,
        router: Router,
        policy: Policy,
        lockout: Lockout,
        *,
        guard: CredentialGuard | None = None,
    ) -> None:
        self.callers = {u.auth_name: u for u in callers}
        self.guard = guard if guard is not None else default_guard()
        self.auth = auth
        self.router = router
        self.policy = policy
        self.lockout = lockout
        self.pending: dict[str, Attempt] = {}  # INVITE txn -> attempt waiting for an event
        self.lockouts = 0  # times an extension or address got locked
        self.lockout_refusals = 0  # attempts refused while locked
        self.credit_refusals = 0
        self.last_calls: LastCalls | None = None  # ended calls a code may still go to (the VSC alone)
        self._actions = {
            Step.AUTHENTICATE: self._authenticate,
            Step.TRUNK: self._trunk,
            Step.LOCKOUT: self._lockout,
            Step.POLICY: self._policy,
            Step.PROMPT: self._prompt,
            Step.ROUTE: self._route,
            Step.CREDIT: self._credit,
            Step.START: self._start,
        }

    def claims(self, event: object) -> TypeGuard[CancelReceived]:
        """Is this endpoint event (a CANCEL) about an attempt still being admitted?"""
        return isinstance(event, CancelReceived) and event.transaction_id in self.pending

    def handle(self, event: Event, now: float) -> list[Command]:
        out: list[Command] = []
        if isinstance(event, InviteReceived):
            txn = event.event.transaction_id
            if txn is None or txn in self.pending:
                return out  # a retransmission the endpoint let through: already in hand
            self._run(Attempt(event.event, event.today, event.own), now, out)
            return out
        txn = event.transaction_id if isinstance(event, CancelReceived) else event.txn
        attempt = self.pending.pop(txn, None)
        if attempt is None:
            return out  # late: the attempt was cancelled, is gone or was never waiting
        if isinstance(event, CancelReceived):
            found = self._cancelled(attempt)
        elif isinstance(event, TransactionGone):
            found = Found.GONE
        elif isinstance(event, CodeEntered):
            found = self._code_entered(attempt, event, now, out)
        elif isinstance(event, NumberEntered):
            found = self._number_entered(attempt, event, now, out)
        elif isinstance(event, PromptEnded):
            found = self._prompt_ended(attempt, event)
        else:
            found = self._credit_result(attempt, event.result)
        self._follow(attempt, found)
        self._run(attempt, now, out)
        return out

    # -- the loop ------------------------------------------------------------------------
    def _run(self, attempt: Attempt, now: float, out: list[Command]) -> None:
        while attempt.step in self._actions:
            self._follow(attempt, self._actions[attempt.step](attempt, now, out))
        if attempt.step in WAITING:
            self.pending[attempt.txn] = attempt

    @staticmethod
    def _follow(attempt: Attempt, found: Found) -> None:
        attempt.step = TRANSITIONS[attempt.step][found]

    # -- the steps -----------------------------------------------------------------------
    def _authenticate(self, a: Attempt, now: float, out: list[Command]) -> Found:
        req = a.event.request
        trunk = self.router.inbound_trunk(a.event.source.host)
        if trunk is not None:
            if not self._trunk_trusted(a, trunk, now, out):
                return Found.ANSWERED
            a.trunk = trunk
            a.caller = from_user(req) or "anonymous"
            a.caller_user = trunk.label
            a.display = req.from_.display or ""
            return Found.TRUNK
        user = authenticate(
            self.auth, self.callers, a.event, self.policy.challenge, now, own=a.own, guard=self.guard,
            exempt=self._exempt_caller(a),
        )
        if isinstance(user, SendResponse):
            out.append(user)
            return Found.ANSWERED
        a.caller, a.caller_user, a.display = user.extension, user.auth_name, user.display_name
        a.department, a.group = user.department, self.policy.user_groups.get(user.extension, user.group)
        self._hide_code(a)
        a.user_policy = self.user_policy(user)
        a.keys = list(lockout_keys(extension=user.extension, address=a.event.source.host, authenticated=True))
        return Found.PHONE

    def user_policy(self, user: Extension) -> UserPolicy:
        """A user's code settings: the policy's copy, else the account's own."""
        found = self.policy.users.get(user.extension)
        return found if found is not None else UserPolicy(mode=user.account_code_mode, assigned_code=user.account_code)

    def _hide_code(self, a: Attempt) -> None:
        """The dial string as logs and records show it, read under the caller's group."""
        group = self.policy.groups.get(a.group)
        if group is not None:
            a.shown = without_code(a.dialed, fac=group.fac, code_length=group.code_length, auth_fac=group.auth_fac)

    def _trunk_trusted(self, a: Attempt, trunk: Trunk, now: float, out: list[Command]) -> bool:
        """A call from a trunk's address is the trunk's only over the transport
        and with the credentials it requires; otherwise answer it here."""
        src = a.event.source
        if trunk.inbound_transport == "tcp" and src.transport != "tcp":
            log.warning("trunk %s accepts TCP only: INVITE over %s from %s:%d refused",
                        trunk.name, src.transport, src.host, src.port)
            out.append(SendResponse(event=a.event, status=403, reason=TRUNK_TRANSPORT_REFUSED))
            return False
        if trunk.inbound_auth == "digest":
            account = Extension(extension=trunk.label, auth_name=trunk.username, password=trunk.password)
            found = authenticate(
                self.auth, {trunk.username: account}, a.event, self.policy.challenge, now, own=a.own,
                guard=self.guard,
            )
            if isinstance(found, SendResponse):
                out.append(found)
                return False
        return True

    def _exempt_caller(self, a: Attempt) -> bool:
        """Is this an emergency or service call (read under the claimed user's
        group): then a password lockout does not refuse it."""
        claimed = claimed_account(self.callers, a.event.request)
        group = (self.policy.groups.get(self.policy.user_groups.get(claimed.extension, claimed.group))
                 if claimed is not None else None)
        return is_exempt(CallContext(caller="", group=group or GroupPolicy(), dialed=a.dialed), self.policy.plan)

    def _trunk(self, a: Attempt, now: float, out: list[Command]) -> Found:
        trunk = a.trunk
        assert trunk is not None
        if not trunk.group or trunk.extension_for(a.dialed) is not None:
            a.route = self.router.route_from_trunk(trunk, a.dialed)
            return Found.DID
        # a trusted trunk (another PBX) calling out under a group's policy
        a.group, a.source = trunk.group, "trunk"
        self._hide_code(a)
        a.trunk_code = trunk_code(a.event.request) if trunk.pass_account_code else None
        a.keys = list(lockout_keys(extension=None, address=a.event.source.host, authenticated=False))
        return Found.GROUP_CALL

    def _lockout(self, a: Attempt, now: float, out: list[Command]) -> Found:
        if not self.policy.groups:  # account codes not configured: plain routing
            return Found.NO_POLICY
        a.ctx = CallContext(
            caller=a.caller,
            group=self.policy.groups.get(a.group) or GroupPolicy(),
            dialed=a.dialed,
            user=a.user_policy,
            source=a.source,
            trunk_code=a.trunk_code,
        )
        # emergency and service calls are never refused by guessing protection
        if not is_exempt(a.ctx, self.policy.plan) and self.lockout.check(a.keys, now):
            self.lockout_refusals += 1
            log.warning("account codes locked for %s: call to %s refused", _keys_text(a.keys), a.shown)
            a.route = refusal(a.shown, 403, LOCKED_REASON)
            return Found.LOCKED
        return Found.CLEAR

    def _policy(self, a: Attempt, now: float, out: list[Command]) -> Found:
        assert a.ctx is not None
        d = self._decide(a, a.ctx, now)
        if d.outcome is Outcome.ALLOW:
            return self._allowed(a, d)
        if d.outcome is Outcome.COLLECT and d.rule == POST_CALL_RULE and not self._has_last_call(a, now):
            log.info("call from %s to %s refused: %s", a.caller, a.shown, NO_LAST_CALL)
            a.route = refusal(a.shown, 403, NO_LAST_CALL)
            return Found.REFUSED
        if d.outcome is Outcome.COLLECT and self._can_prompt(a, d):
            a.destination = d.destination
            a.collect_rule = d.rule
            return Found.COLLECT
        log.info("call from %s to %s refused: %s (%s)", a.caller, a.shown, d.reason, d.rule)
        a.route = refusal(d.destination or a.shown, d.status or 403, d.reason)
        return Found.REFUSED

    @staticmethod
    def _allowed(a: Attempt, d: Decision) -> Found:
        """The policy allows the call: where it goes, and whether credit is checked."""
        a.destination = d.destination
        a.prepaid = bool(a.account.credit_account) and d.call_class not in UNRESTRICTED_CLASSES
        return Found.ALLOWED

    def _decide_code(self, a: Attempt, code: str, now: float) -> Decision:
        """The code alone (the FAC form, before its number): format and validation."""
        assert a.ctx is not None
        codes = self.policy.codes.for_group(a.group) if self.policy.codes is not None else NO_DATABASE
        d = check_code_alone(a.ctx.group, code, codes, a.today)
        self._count(a, d, now)
        return d

    def _decide(self, a: Attempt, ctx: CallContext, now: float) -> Decision:
        """The policy's decision for ``ctx``; sets the attempt's account and counts
        a rejected code towards the lockout."""
        codes = self.policy.codes.for_group(a.group) if self.policy.codes is not None else NO_DATABASE
        # a number counts as internal only if it reaches an extension
        d = evaluate(
            ctx, self.policy.plan, codes, a.today, internal=self.router.extensions, auth_codes=self.policy.auth_codes
        )
        acct = d.account
        grant = d.authorization
        a.account = AccountInfo(
            code=mask_code(d.code or "") if d.code_rejected else d.code or "",  # a guess is no account
            source=d.code_source,
            valid=d.code_valid,
            call_class=d.call_class.value,
            name=acct.name if acct else "",
            department=acct.department if acct else "",
            rate_plan=(acct.rate_plan or "") if acct else "",
            credit_account=(acct.credit_account or "") if acct else "",
            authorization=grant.description if grant else "",
            authorization_level=grant.level if grant else None,
        )
        self._count(a, d, now)
        return d

    def _count(self, a: Attempt, d: Decision, now: float) -> None:
        """A rejected code counts towards the lockout."""
        if d.code_rejected:
            self.lockout.record_failure(a.keys, now)
            if self.lockout.check(a.keys, now):
                self.lockouts += 1
                log.warning("account codes locked for %s after repeated invalid codes", _keys_text(a.keys))

    def _route(self, a: Attempt, now: float, out: list[Command]) -> Found:
        route = a.route = self.router.route_from_phone(a.destination)
        if a.trunk is not None and route.kind == "trunk" and not a.trunk.allow_transit:
            log.warning("call from %s to %s refused: no transit to %s", a.trunk.label, route.destination, route.label)
            route = a.route = refusal(route.destination, 403, TRANSIT_REFUSED)
        # internal calls (to an extension) are not charged to a credit account: no check
        return Found.PREPAID if a.prepaid and route.kind not in ("none", "extension") else Found.ROUTED

    def _credit(self, a: Attempt, now: float, out: list[Command]) -> Found:
        route = a.route
        assert route is not None
        if not self.policy.credit:
            log.warning("call from %s to %s refused: credit account %s cannot be checked",
                        a.caller, a.shown, a.account.credit_account)
            a.route = refusal(route.destination, 503, CREDIT_UNAVAILABLE)
            return Found.UNCHECKABLE
        out.append(CheckCredit(txn=a.txn, request=CreditRequest(
            caller=a.caller, caller_user=a.caller_user, group=a.group, dialed=a.shown,
            destination=route.destination, route=route.label, account=a.account,
        )))
        return Found.CHECK_SENT

    def _credit_result(self, a: Attempt, result: CreditCheck | None) -> Found:
        """Apply a credit answer; a refusal (or a failed check) sets the refusal route."""
        if result is not None and result.ok:
            return Found.CREDIT_OK
        check = result or CreditCheck(ok=False, reason="credit unavailable", status=503)
        self.credit_refusals += 1
        log.info("call from %s to %s refused: %s (credit account %s)",
                 a.caller, a.shown, check.reason, a.account.credit_account)
        assert a.route is not None
        a.route = refusal(a.route.destination, check.status or 503, credit_reason(check))
        return Found.CREDIT_REFUSED

    @staticmethod
    def _cancelled(a: Attempt) -> Found:
        """CANCEL while waiting: the call starts refused with 487 (answered and recorded)."""
        log.info("call to %s cancelled during its credit check", a.shown)
        a.route = refusal(a.destination, 487, CANCELLED_REASON, hangup="caller")
        return Found.CANCELLED

    def _start(self, a: Attempt, now: float, out: list[Command]) -> Found:
        assert a.route is not None
        out.append(self._start_call(a, a.route))
        return Found.STARTED

    @staticmethod
    def _start_call(a: Attempt, route: Route) -> StartCall:
        return StartCall(
            event=a.event, route=route, caller=a.caller, caller_user=a.caller_user, display=a.display,
            department=a.department, group=a.group, account=a.account, dialed=a.shown, prompted=a.prompted,
        )


# -- helpers, shared with the shell ---------------------------------------------------------


def credit_reason(check: CreditCheck) -> str:
    """The reason phrase of a call refused by its credit check."""
    if check.status == 402:
        return "Insufficient credit"
    if check.status == 503:
        return CREDIT_UNAVAILABLE
    return f"Credit refused: {check.reason}"


class _NoDatabase:
    """CodeLookup when the database is missing: every lookup fails, so the
    policy refuses calls that need a code checked (fail closed)."""

    def get(self, code: str, /) -> None:
        raise LookupError("account code database unavailable")


NO_DATABASE = _NoDatabase()


def _keys_text(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in keys)


def trunk_code(req: Request) -> str | None:
    """The account code a trusted trunk passes: X-Account-Code, else ac= on the Request-URI."""
    value = req.get("x-account-code")
    if value:
        return value.strip()
    try:
        uri = req.ruri
    except ParseError:
        return None
    params = getattr(uri, "params", {})
    ac = params.get("ac")
    return ac.strip() if ac else None


def from_user(req: Request) -> str:
    try:
        uri = req.from_.uri
    except ParseError:
        return ""
    return getattr(uri, "user", None) or ""
