"""Admission's steps and what each may find: the machine's transition table
(:mod:`b2bua.calls.admission` runs it; its docstring tells the steps)."""

from __future__ import annotations

import enum


class Step(enum.Enum):
    AUTHENTICATE = "authenticate"
    TRUNK = "trunk"
    LOCKOUT = "lockout"
    POLICY = "policy"
    PROMPT = "prompt"  # collect: the caller is asked for the code (b2bua.calls.prompting)
    PROMPTING = "prompting"  # waits for CodeEntered / PromptEnded / TransactionGone
    ROUTE = "route"
    CREDIT = "credit"
    CHECKING_CREDIT = "checking credit"  # waits for CreditChecked / CANCEL / TransactionGone
    START = "start"
    DONE = "done"

    # members are singletons compared by identity: hash them the same way (in C)
    # rather than by name in Python, for the transition-table lookups
    __hash__ = object.__hash__


class Found(enum.Enum):
    """What a step found (or which event came), the key of the transition."""

    TRUNK = "trunk"
    PHONE = "phone"  # authenticated
    ANSWERED = "answered"  # challenged or refused: no call
    DID = "did"
    GROUP_CALL = "group call"
    NO_POLICY = "no policy"
    LOCKED = "locked"
    CLEAR = "clear"
    ALLOWED = "allowed"
    REFUSED = "refused"
    COLLECT = "collect"  # no code where one is required, and the caller can be asked
    PROMPT_SENT = "prompt sent"
    CODE_WRONG = "code wrong"  # a refused code, attempts left: asked again
    CODE_TAKEN = "code taken"  # the FAC form: the code is taken, the number comes next
    PREPAID = "prepaid"  # allowed, routable, on a credit account
    ROUTED = "routed"
    UNCHECKABLE = "uncheckable"  # credit cannot be checked: 503
    CHECK_SENT = "check sent"
    CREDIT_OK = "credit ok"
    CREDIT_REFUSED = "credit refused"
    CANCELLED = "cancelled"
    GONE = "gone"
    STARTED = "started"

    # members are singletons compared by identity: hash them the same way (in C)
    # rather than by name in Python, for the transition-table lookups
    __hash__ = object.__hash__


TRANSITIONS: dict[Step, dict[Found, Step]] = {
    Step.AUTHENTICATE: {Found.TRUNK: Step.TRUNK, Found.PHONE: Step.LOCKOUT, Found.ANSWERED: Step.DONE},
    Step.TRUNK: {Found.DID: Step.START, Found.GROUP_CALL: Step.LOCKOUT},
    Step.LOCKOUT: {Found.NO_POLICY: Step.ROUTE, Found.LOCKED: Step.START, Found.CLEAR: Step.POLICY},
    Step.POLICY: {Found.ALLOWED: Step.ROUTE, Found.REFUSED: Step.START, Found.COLLECT: Step.PROMPT},
    Step.PROMPT: {Found.PROMPT_SENT: Step.PROMPTING},
    Step.PROMPTING: {
        Found.ALLOWED: Step.ROUTE,
        Found.CODE_WRONG: Step.PROMPTING,
        Found.CODE_TAKEN: Step.PROMPTING,
        Found.REFUSED: Step.START,
        Found.GONE: Step.DONE,
    },
    Step.ROUTE: {Found.PREPAID: Step.CREDIT, Found.ROUTED: Step.START},
    Step.CREDIT: {Found.CHECK_SENT: Step.CHECKING_CREDIT, Found.UNCHECKABLE: Step.START},
    Step.CHECKING_CREDIT: {
        Found.CREDIT_OK: Step.START,
        Found.CREDIT_REFUSED: Step.START,
        Found.CANCELLED: Step.START,
        Found.GONE: Step.DONE,
    },
    Step.START: {Found.STARTED: Step.DONE},
}


# the steps in which an attempt waits for an event (in Admission.pending)
WAITING = frozenset({Step.CHECKING_CREDIT, Step.PROMPTING})

