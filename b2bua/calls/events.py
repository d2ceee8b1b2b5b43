"""Call events: the one interface through which every call attempt is reported.

Each attempt produces ``CallStarted`` then any of ``CallRinging``,
``CallRedirected``, ``CallerConnected`` and ``CalleeAnswered``, and always exactly one
``CallEnded``.  Times are the loop's monotonic seconds (``at``); the sink that
persists them maps them to wall time.

Answering is two facts: ``CallerConnected`` (the caller's INVITE got its 2xx,
from the callee's answer relayed or from the server answering by itself,
``by_server``) and ``CalleeAnswered`` (a callee's 2xx: billing and credit
start here, never on the server's own answer).  For an ordinary call both
come from the same step, ``CalleeAnswered`` first (its cause), then
``CallerConnected``; a call the server answers itself (prompting) has
``CallerConnected`` first and ``CalleeAnswered`` later, if a callee answers.

The server's own offers on a connected call are reported too:
``OfferAnswered`` (one per re-offer, with the final status) and
``CallBridged`` (the caller and the callee now exchange media directly).
A code set during the call is ``CodeChanged``.
"""

from __future__ import annotations

from typing import Protocol, Union

import msgspec

from dialplan.policy import CodeSource


class AccountInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The account code a call carries, as the policy decided it."""

    code: str = ""
    source: CodeSource = CodeSource.NONE
    valid: bool | None = None  # None: no code; False: flagged invalid
    call_class: str = ""  # local, long_distance, international, ...
    name: str = ""  # client / matter of the code
    department: str = ""  # the code's department
    authorization: str = ""  # the description of the authorization code that allowed it (never its digits)
    authorization_level: int | None = None
    entry: str = ""  # how a prompted code was keyed: rfc4733, info, inband ("" when dialed or assigned)
    rate_plan: str = ""
    credit_account: str = ""


NO_ACCOUNT = AccountInfo()


class CallStarted(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str  # the call's own identifier, stable across both legs
    at: float
    caller: str  # extension, or the trunk's caller number for inbound calls
    caller_user: str  # authenticated user, or "trunk:NAME"
    department: str = ""
    group: str = ""
    dialed: str  # the Request-URI user as dialed
    destination: str  # number or extension after routing
    route: str  # "extension", "trunk:NAME" or "none"
    a_call_id: str
    source: str  # "udp:127.0.0.1:5070"
    account: AccountInfo = NO_ACCOUNT


class CallRouted(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A call the server held (prompting) is placed: where it goes and under which
    account code, now known (``CallManager.place`` with a route)."""

    ref: str
    at: float
    group: str = ""
    dialed: str  # as recorded (no code)
    destination: str
    route: str  # the route's label
    account: AccountInfo = NO_ACCOUNT


class CallRinging(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str
    at: float
    status: int  # 180 or 183


class CalleeEarlyMedia(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A callee's provisional with SDP (a carrier's ringback or announcement,
    RFC 3960) while the caller hears the server's media (a prompted call): not
    relayed as SIP; the runtime passes the callee's media on to the caller."""

    ref: str
    at: float
    status: int  # 180 or 183
    body: bytes  # the callee's SDP


class CallRedirected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A callee answered 3xx while the call rang (b2bua.calls.redirect)."""

    ref: str
    at: float
    status: int  # the callee's 3xx
    action: str  # "follow" (new forks to targets) or "relay" (kept for the caller)
    targets: tuple[str, ...] = ()  # the URIs followed, or the Contacts to relay


class CallerConnected(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str
    at: float
    by_server: bool = False  # the server answered the caller with its own SDP


class CalleeAnswered(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str
    at: float
    b_call_id: str


class OfferAnswered(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The answer to one of the server's own offers (re-INVITE or UPDATE)."""

    ref: str
    at: float
    side: str  # "caller" or "callee"
    status: int  # final status; 2xx: the new session holds, else the old one does
    method: str = "INVITE"


class InfoReceived(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """An INFO (RFC 6086) from the caller while the server holds its call (a
    prompt): answered 200 by the call layer, its body for the runtime (digits
    in ``application/dtmf-relay`` or ``application/dtmf``)."""

    ref: str
    at: float
    content_type: str  # lowercased media type, without parameters
    body: bytes


class CallBridged(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The server's re-offers connected the caller's and callee's media."""

    ref: str
    at: float


class CodeChanged(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The call's account code changed while it was up (b2bua.calls.midcall):
    ``account`` is the new code as the policy accepted it (``account.source``
    says how it came: Info-Package, legacy INFO, Target-Dialog, INFO digits),
    ``set_by`` the authenticated user who set it."""

    ref: str
    at: float
    account: AccountInfo
    set_by: str = ""
    post_call: bool = False  # attached after the call ended (the whole call takes the code)


class CallEnded(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str
    at: float
    status: int  # final SIP status of the attempt (200 for an answered call)
    cause: str  # "caller hung up", "callee hung up", "cancelled", "no answer", ...
    hangup: str  # "caller", "callee", "server" or "" when never answered
    b_call_id: str = ""


CallEvent = Union[
    CallStarted, CallRouted, CallRinging, CalleeEarlyMedia, CallRedirected, CallerConnected, CalleeAnswered,
    OfferAnswered, CallBridged, InfoReceived, CodeChanged, CallEnded,
]


class EventSink(Protocol):
    def __call__(self, event: CallEvent, /) -> None: ...
