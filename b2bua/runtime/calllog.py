"""The call-event sink of the running server: a log line per event and
counters for the status file.  Account codes are logged masked
(:func:`dialplan.dialstring.mask_code`); the dialed number comes without its
code from admission.  (Durable billing records are the billing
store's job; it will subscribe here.)"""

from __future__ import annotations

import logging
from typing import Any, Callable

from dialplan.dialstring import mask_code

from b2bua.calls.events import (
    CallBridged,
    CalleeAnswered,
    CallEnded,
    CallerConnected,
    CallEvent,
    CallRedirected,
    CallRinging,
    CallRouted,
    CallStarted,
    CodeChanged,
    OfferAnswered,
)

log = logging.getLogger("b2bua.events")


class CallLog:
    def __init__(self) -> None:
        self.counters = {
            "calls_started": 0, "calls_answered": 0, "calls_served": 0, "calls_ended": 0, "calls_failed": 0,
            "codes_changed": 0,
        }
        self.subscribers: list[Callable[[CallEvent], None]] = []

    def __call__(self, event: CallEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self.counters, event)
        for sub in self.subscribers:
            sub(event)


def _started(c: dict[str, int], event: CallStarted) -> None:
    c["calls_started"] += 1
    if not log.isEnabledFor(logging.INFO):
        return
    a = event.account
    code = ""
    if a.code:
        state = "valid" if a.valid else "flagged invalid" if a.valid is False else "unchecked"
        code = f"; account code {mask_code(a.code)} ({a.source}, {state})"
    if a.authorization:
        code += f"; authorized by {a.authorization!r} (level {a.authorization_level})"
    log.info(
        "call %s started: %s (%s) dialed %s -> %s via %s%s",
        event.ref, event.caller, event.caller_user, event.dialed, event.destination, event.route, code,
    )


def _routed(c: dict[str, int], event: CallRouted) -> None:
    a = event.account
    code = f"; account code {mask_code(a.code)} ({a.source}, keyed by {a.entry or 'dial string'})" if a.code else ""
    log.info("call %s routed after the prompt -> %s via %s%s", event.ref, event.destination, event.route, code)


def _ringing(c: dict[str, int], event: CallRinging) -> None:
    log.debug("call %s ringing (%d)", event.ref, event.status)


def _redirected(c: dict[str, int], event: CallRedirected) -> None:
    log.info("call %s redirected %d (%s): %s", event.ref, event.status, event.action, ", ".join(event.targets))


def _answered(c: dict[str, int], event: CalleeAnswered) -> None:
    c["calls_answered"] += 1  # calls_answered counts callees' answers
    log.info("call %s answered", event.ref)


def _connected(c: dict[str, int], event: CallerConnected) -> None:
    if event.by_server:  # the server answered the caller itself (calls_served)
        c["calls_served"] += 1
        log.info("call %s answered by the server", event.ref)


def _offer_answered(c: dict[str, int], event: OfferAnswered) -> None:
    log.debug("call %s: %s answered the server's %s %d", event.ref, event.side, event.method, event.status)


def _bridged(c: dict[str, int], event: CallBridged) -> None:
    log.info("call %s bridged", event.ref)


def _code_changed(c: dict[str, int], event: CodeChanged) -> None:
    c["codes_changed"] += 1
    a = event.account
    state = "valid" if a.valid else "flagged invalid"
    log.info("call %s: account code now %s (%s, %s) set by %r", event.ref, mask_code(a.code), a.source, state,
             event.set_by)


def _ended(c: dict[str, int], event: CallEnded) -> None:
    log.info("call %s ended: %d %s", event.ref, event.status, event.cause)
    c["calls_ended"] += 1
    if event.status >= 300:
        c["calls_failed"] += 1


# by event type (exact: events are final structs), one lookup instead of a chain of tests
_HANDLERS: dict[type, Callable[[dict[str, int], Any], None]] = {
    CallStarted: _started,
    CallRouted: _routed,
    CallRinging: _ringing,
    CallRedirected: _redirected,
    CalleeAnswered: _answered,
    CallerConnected: _connected,
    OfferAnswered: _offer_answered,
    CallBridged: _bridged,
    CodeChanged: _code_changed,
    CallEnded: _ended,
}
