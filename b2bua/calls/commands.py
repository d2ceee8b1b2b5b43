"""What call admission takes in and gives out (sans-IO): its configuration
(:class:`Policy`), the events the shell feeds it and the commands it returns.
The machine itself is :mod:`b2bua.calls.admission`; prompting's steps are
:mod:`b2bua.calls.prompting`.
"""

from __future__ import annotations

import datetime
from typing import Mapping, Protocol, Union

import msgspec

from b2bua.billing.credit import CreditCheck
from b2bua.sip.endpoint import CancelReceived, RequestReceived
from dialplan import GroupPolicy, Prompt, UserPolicy
from dialplan.authcodes import AuthCodeLookup
from dialplan.codes import CodeLookup
from dialplan.numbering import NumberingPlan

from .auth import SendResponse
from .events import NO_ACCOUNT, AccountInfo
from .routing import Route

# -- configuration, as the call layer sees it ----------------------------------------


class CodeDirectory(Protocol):
    """The account codes of each business group."""

    def for_group(self, group: str, /) -> CodeLookup: ...


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """Account codes and credit: what the policy steps need."""

    groups: Mapping[str, GroupPolicy] = {}  # empty: account codes not used
    # extension -> code settings instead of the Extension's own (the database's copy)
    users: Mapping[str, UserPolicy] = {}
    # extension -> business group instead of the Extension's own (a user moved in the database)
    user_groups: Mapping[str, str] = {}
    plan: NumberingPlan
    codes: CodeDirectory | None = None  # None: no database (code checks fail closed)
    auth_codes: AuthCodeLookup | None = None  # authorization codes; None: a dialed one is refused 503
    challenge: int = 401  # 401 or 407 for INVITEs
    credit: bool = False  # can credit accounts be checked at all?
    prompting: bool = False  # can callers be prompted (a media endpoint)?


# -- events (in) and commands (out) -----------------------------------------------------


class InviteReceived(msgspec.Struct, frozen=True, kw_only=True):
    """An out-of-dialog INVITE with its server transaction; ``today`` is the
    date code validity is judged by."""

    event: RequestReceived
    today: datetime.date
    # this server's (host, port) addresses: a digest-uri without user part
    # must name one of them (see own_addresses)
    own: tuple[tuple[str, int], ...] = ()


class CreditChecked(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to :class:`CheckCredit`; None when the check itself failed."""

    txn: str
    result: CreditCheck | None


class TransactionGone(msgspec.Struct, frozen=True, kw_only=True):
    """The INVITE server transaction no longer exists (nothing can answer it)."""

    txn: str


class CreditRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a credit check needs to know of a call about to start: who pays
    (the account code's credit account), for what (destination, call class),
    at which rates (the code's rate plan, else the group's, else the default)."""

    caller: str
    caller_user: str
    group: str
    dialed: str  # as dialed, for the numbering plan's class when the policy gave none
    destination: str  # after routing: what the rate is looked up by
    route: str  # the route's label ("trunk:NAME")
    account: AccountInfo  # the code, its call class, rate plan and credit account

    @property
    def credit_account(self) -> str:
        return self.account.credit_account

    @property
    def call_class(self) -> str:
        return self.account.call_class

    @property
    def rate_plan(self) -> str:
        return self.account.rate_plan


class CheckCredit(msgspec.Struct, frozen=True, kw_only=True):
    """May the credit account pay for the call described?  Answer with CreditChecked."""

    txn: str
    request: CreditRequest


class StartCall(msgspec.Struct, frozen=True, kw_only=True):
    """Start the call (``CallManager.start_call``): refused ones have a route of kind
    "none".  ``prompted``: the call exists already, held by the server while its
    caller was prompted (:class:`StartPrompt`): place it (or end it, refused)."""

    event: RequestReceived
    route: Route
    caller: str
    caller_user: str
    display: str
    department: str = ""
    group: str = ""
    account: AccountInfo = NO_ACCOUNT
    dialed: str | None = None  # as recorded (no code); None: the Request-URI user
    prompted: bool = False


# -- prompting (b2bua.calls.prompting) ---------------------------------------------------


class PromptSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How to ask, from the caller's group."""

    style: Prompt = Prompt.ANNOUNCEMENT
    code_length: int | None = None  # a fixed length N, else variable codes ended by #
    answer: bool = False  # answer the caller (200) instead of early media (183)
    attempts: int = 3
    number: bool = False  # the feature-access-code form: the destination is collected after the code
    minimal: bool = False  # minimal prompt: a beep, then the whole dial string (code**number#) is collected


class StartPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """Start ``call`` held by the server (``place=False``), give its caller
    media and prompt it for a code; the results come as :class:`CodeEntered`
    or :class:`PromptEnded`."""

    call: StartCall
    spec: PromptSpec

    @property
    def txn(self) -> str:
        assert self.call.event.transaction_id is not None
        return self.call.event.transaction_id


class PromptAgain(msgspec.Struct, frozen=True, kw_only=True):
    """The code entered was refused: tell the caller and collect again."""

    txn: str
    attempt: int  # codes tried so far
    reason: str


class CollectNumber(msgspec.Struct, frozen=True, kw_only=True):
    """The code entered after a bare feature access code is taken: confirm it,
    give dial tone and collect the number (its answer: :class:`NumberEntered`)."""

    txn: str


class NumberEntered(msgspec.Struct, frozen=True, kw_only=True):
    """The destination keyed after the code (the feature-access-code form)."""

    txn: str
    number: str
    transport: str


class CodeEntered(msgspec.Struct, frozen=True, kw_only=True):
    """Digits a prompt session collected, and how (rfc4733, info, inband)."""

    txn: str
    digits: str
    transport: str


class PromptEnded(msgspec.Struct, frozen=True, kw_only=True):
    """The prompt ended without a code (nothing entered, no usable codec, no
    media port): the attempt is refused with ``status``."""

    txn: str
    status: int
    reason: str


Event = Union[
    InviteReceived, CreditChecked, CancelReceived, TransactionGone, CodeEntered, NumberEntered, PromptEnded,
]
Command = Union[SendResponse, CheckCredit, StartCall, StartPrompt, PromptAgain, CollectNumber]
