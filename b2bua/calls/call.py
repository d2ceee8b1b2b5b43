"""A call: one caller leg, its forks, and ONE state with a transition table.

Theory of operation
-------------------
A call's progress is kept in a single :class:`CallState`, changed only by
:meth:`Call.fire` with a :class:`Trigger`; :data:`TRANSITIONS` is the whole
machine, in the spirit of h11's ``EVENT_TRIGGERED_TRANSITIONS``::

    ROUTING     the A leg exists (100 Trying at most); the call is checked and routed
      | ROUTED (the B-leg INVITEs are sent)
    PROCEEDING  waiting for any callee to speak
      | PROVISIONAL (the first 180/183 relayed to A)
    EARLY       ringing / early media (more provisionals keep it EARLY)
      | ANSWERED (the first 2xx of a fork; the others are cancelled)
    CONNECTED   both dialogs confirmed
      | ENDED   (from any state but ENDED: a failure to A, CANCEL, BYE, a timer)
    ENDED       the attempt is over; the call is forgotten 64*T1 later

PROCEEDING also goes straight to CONNECTED (a 2xx without a provisional).
With ``Settings.hold_answer`` the callee's answer is recorded durably before the
caller hears of it (the runtime's group commit), so the 2xx waits in a state
of its own::

    PROCEEDING/EARLY --HELD (a fork answered 2xx; B is confirmed)---> ANSWERING
    ANSWERING   the callee's answer is being recorded; A's INVITE is unanswered
      | RELEASED (``CallManager.release_answer``: the caller gets the 2xx)
    CONNECTED

A call ended in ANSWERING (CANCEL, a BYE, a timer) gets a BYE to the callee
and a final failure to the caller, like an unanswered one.
A call the server holds before (or instead of) relaying a callee, as for
prompting (:mod:`b2bua.calls.offers`), takes two more states::

    ROUTING --SERVED (the server answered the caller itself)----> SERVING
    PROCEEDING/EARLY --SERVED (with B legs already out)---------> PLACING
    SERVING     the caller talks to the server; no callee yet
      | ROUTED  (the B-leg INVITEs are sent)
    PLACING     the caller talks to the server while the callee rings
      | ANSWERED (a fork answered: both dialogs confirmed; bridging
      v          A and B is the server's re-offers, not a state)
    CONNECTED

The server's own 183 (early media) changes the A leg (EARLY), not the
call: the call's state follows the callee.  B's provisionals are not relayed in PLACING (the caller is answered); when
every fork fails there, or no one answers, the caller gets a BYE.
A trigger the table does not list for the current state is a bug in call
control: :class:`CallStateError` is raised (an internal error, never a SIP
answer).  ``Call.b`` is the answering leg once CONNECTED (a reference, not a
state test); ``Call.forks`` are every B leg ever sent.

RFC 3261 §16.7 step 6 is followed in spirit to choose which of several fork
failures is relayed (:func:`failure_rank`), and :func:`map_failure` maps a
B-leg failure to what the caller is told.

:class:`CallIndex` is the one owner of the call layer's lookup tables (calls
by ref, INVITE and in-dialog transactions, dialogs, A's INVITE keys, relayed
re-INVITEs); they change only through its add/remove methods, so that they
cannot drift apart.  :class:`Settings` are the call-control knobs.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from b2bua.sip.message import Request, Response

from .routing import Route

if TYPE_CHECKING:  # a leg and its call refer to each other
    from .leg import Leg


class CallState(enum.Enum):
    ROUTING = "routing"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CONNECTED = "connected"
    SERVING = "serving"  # the server answered the caller; no callee yet
    PLACING = "placing"  # the server answered the caller; the callee's forks are out
    ANSWERING = "answering"  # the callee answered; the caller's 2xx waits for the record
    ENDED = "ended"

    __hash__ = object.__hash__  # identity, in C: members are singletons (transition lookups)


class Trigger(enum.Enum):
    ROUTED = "routed"  # the B-leg INVITEs went out
    PROVISIONAL = "provisional"  # a 180/183 was relayed to the caller
    ANSWERED = "answered"  # a fork answered 2xx and won
    HELD = "held"  # a fork answered 2xx and won; the caller's 2xx waits (hold_answer)
    RELEASED = "released"  # the held 2xx went to the caller
    SERVED = "served"  # the server answered the caller with its own SDP
    ENDED = "ended"  # the attempt is over, whatever the cause

    __hash__ = object.__hash__  # identity, in C: members are singletons (transition lookups)


TRANSITIONS: dict[CallState, dict[Trigger, CallState]] = {
    CallState.ROUTING: {
        Trigger.ROUTED: CallState.PROCEEDING,
        Trigger.SERVED: CallState.SERVING,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.PROCEEDING: {
        Trigger.PROVISIONAL: CallState.EARLY,
        Trigger.ANSWERED: CallState.CONNECTED,
        Trigger.HELD: CallState.ANSWERING,
        Trigger.SERVED: CallState.PLACING,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.EARLY: {
        Trigger.PROVISIONAL: CallState.EARLY,
        Trigger.ANSWERED: CallState.CONNECTED,
        Trigger.HELD: CallState.ANSWERING,
        Trigger.SERVED: CallState.PLACING,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.ANSWERING: {
        Trigger.RELEASED: CallState.CONNECTED,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.CONNECTED: {
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.SERVING: {
        Trigger.ROUTED: CallState.PLACING,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.PLACING: {
        Trigger.ANSWERED: CallState.CONNECTED,
        Trigger.ENDED: CallState.ENDED,
    },
    CallState.ENDED: {},
}

# the states in which no callee has answered yet (a CANCEL or a timeout still applies)
UNANSWERED = frozenset({CallState.ROUTING, CallState.PROCEEDING, CallState.EARLY})
# the states in which the forks' responses still decide the call
RINGING = frozenset({CallState.PROCEEDING, CallState.EARLY})


class CallStateError(RuntimeError):
    """A trigger the transition table refuses: a bug in call control."""


class Call:
    __slots__ = (
        "ref",
        "a",
        "b",
        "forks",
        "route",
        "caller",
        "state",
        "answered_at",
        "timers",
        "best",
        "redirect",
        "prefer_update",
        "held_answer",
        "started",
        "midcall",
    )

    def __init__(self, ref: str, route: Route, caller: str) -> None:
        self.ref = ref
        self.a: Leg | None = None
        self.b: Leg | None = None  # the answering B leg
        self.forks: list[Leg] = []
        self.route = route
        self.caller = caller
        self.state = CallState.ROUTING
        self.answered_at: float | None = None
        self.timers: list[Any] = []  # call-level timers: no answer, maximum duration
        self.best: Response | None = None  # the fork failure to relay so far
        self.redirect: Any = None  # 3xx handling state (calls.redirect), once a callee redirected
        # the server's own re-offers on a confirmed leg: UPDATE where the peer allows it
        self.prefer_update = False
        # ANSWERING: what the caller's 2xx will carry (body, Content-Type, reason phrase)
        self.held_answer: tuple[bytes, str | None, str] | None = None
        self.started: Any = None  # the CallStarted reported (who, where, which code)
        self.midcall: Any = None  # mid-call code state (calls.midcall), once used

    def fire(self, trigger: Trigger) -> CallState:
        """Move along :data:`TRANSITIONS`; return the state left."""
        old = self.state
        new = TRANSITIONS[old].get(trigger)
        if new is None:
            raise CallStateError(f"call {self.ref}: {trigger.name} is not allowed in {old.name}")
        self.state = new
        return old


class Settings:
    """Call-control knobs (from the configuration)."""

    def __init__(
        self,
        *,
        user_agent: str = "b2bua",
        no_answer_timeout: float = 60.0,
        max_call_duration: float = 4 * 3600.0,
        session_interval: float = 1800.0,
        t1: float = 0.5,
        t2: float = 4.0,
        offer_100rel: bool = True,
        redirect: str = "follow",
        max_redirects: int = 5,
        hold_answer: bool = False,
        recv_info: tuple[str, ...] = (),
    ) -> None:
        self.user_agent = user_agent
        self.no_answer_timeout = no_answer_timeout
        self.max_call_duration = max_call_duration
        self.session_interval = session_interval
        self.t1 = t1
        self.t2 = t2
        self.offer_100rel = offer_100rel  # Supported: 100rel on our INVITEs (RFC 3262)
        self.redirect = redirect  # a callee's 3xx: "follow" its Contacts, or "relay" it to the caller
        self.max_redirects = max_redirects  # targets followed per call at most
        # relay a callee's 2xx only once release_answer() says its answer is recorded
        self.hold_answer = hold_answer
        # the Info-Packages the caller may send us (RFC 6086 §5.2: Recv-Info on A's 2xx)
        self.recv_info = recv_info


class CallIndex:
    """Every lookup table of the call layer, changed only through these methods."""

    __slots__ = ("calls", "txns", "relays", "dialogs", "a_invites", "reinvites")

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.txns: dict[str, Leg] = {}  # INVITE transactions (both sides) -> leg
        self.relays: dict[str, Leg] = {}  # relayed/own in-dialog client txns -> leg
        # RFC 3261 §12.2.2: (Call-ID, our tag, the peer's tag) -> leg
        self.dialogs: dict[tuple[str, str, str], Leg] = {}
        self.a_invites: dict[tuple[str, str], Leg] = {}  # (Call-ID, From tag) of A INVITEs
        # relayed re-INVITEs, for a CANCEL: server txn id -> (leg relayed to, client txn id)
        self.reinvites: dict[str, tuple[Leg, str]] = {}

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.__slots__}

    def add_call(self, call: Call) -> None:
        """A new call and its A leg: its INVITE, its (Call-ID, From tag), its dialog key."""
        a = call.a
        assert a is not None
        self.calls[call.ref] = call
        self.txns[a.invite_txn] = a
        self.a_invites[_a_key(a)] = a
        self.dialogs[_a_dialog(a)] = a

    def add_fork(self, leg: Leg) -> None:
        self.txns[leg.invite_txn] = leg

    def add_dialog(self, leg: Leg) -> None:
        assert leg.dialog is not None
        self.dialogs[leg.dialog.key] = leg

    def add_relay(self, txn: str, leg: Leg) -> None:
        self.relays[txn] = leg
        leg.sent.append(txn)

    def remove_relay(self, txn: str) -> None:
        self.relays.pop(txn, None)

    def add_reinvite(self, server_txn: str, leg: Leg, client_txn: str) -> None:
        self.reinvites[server_txn] = (leg, client_txn)

    def remove_reinvite(self, server_txn: str) -> None:
        self.reinvites.pop(server_txn, None)

    def remove_call(self, call: Call) -> None:
        """Forget every entry of the call and of its legs."""
        self.calls.pop(call.ref, None)
        for leg in (call.a, *call.forks):
            if leg is None:
                continue
            self.txns.pop(leg.invite_txn, None)
            for server_txn, req in leg.pending.values():
                if req.method == "INVITE":
                    self.reinvites.pop(server_txn, None)
            leg.pending.clear()
            for txn in leg.sent:
                self.relays.pop(txn, None)
            leg.sent = []
            if leg.dialog is not None:
                self.dialogs.pop(leg.dialog.key, None)
        a = call.a
        if a is not None:
            self.dialogs.pop(_a_dialog(a), None)
            key = _a_key(a)
            if self.a_invites.get(key) is a:  # a later call may reuse Call-ID and From tag
                del self.a_invites[key]


def _a_key(a: Leg) -> tuple[str, str]:
    return (a.invite.call_id, a.invite.from_.tag or "")


def _a_dialog(a: Leg) -> tuple[str, str, str]:
    """A's dialog key, known from its INVITE: Call-ID, our tag, A's From tag."""
    return (a.invite.call_id, a.to_tag, a.invite.from_.tag or "")


def dialog_key(request: Request) -> tuple[str, str, str]:
    """The key of the dialog an in-dialog request names (RFC 3261 §12.2.2):
    Call-ID, its To tag (ours), its From tag (the peer's)."""
    return (request.call_id, request.to.tag or "", request.from_.tag or "")


# RFC 3261 §16.7 step 6 spirit: which of several fork failures to relay
def failure_rank(status: int) -> int:
    if 600 <= status < 700:
        return 0
    if status in (486, 487, 603):
        return 1
    if 400 <= status < 500 and status not in (401, 407, 408, 480):
        return 2
    if status in (480, 408):
        return 3
    return 4


def map_failure(status: int) -> int:
    """A B-leg failure as relayed to A: 503 means "this server", so it is 502 here."""
    if status == 503:
        return 502
    if status in (401, 407):
        return 403
    return status
