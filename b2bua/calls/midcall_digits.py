"""The mid-call VSC keyed as digits (sans-IO): ``VSC CODE #`` (``GroupPolicy.midcall_vsc``,
default ``*89``) from the caller during its call, as INFO digits or as keys seen in
the media; the code goes to :meth:`b2bua.calls.midcall.MidCallCodes.apply`.

Theory of operation
-------------------
* **INFO digits** (``application/dtmf-relay`` ``Signal=``, or ``application/dtmf``):
  while the digits so far could still be the feature code each INFO is answered
  200 and held back; the closing ``#`` is answered with the verdict.  Digits that
  turn out not to be one (another digit where the VSC or the code expects
  something else, or :data:`DIGIT_TIMEOUT` without a digit) go to the callee as
  new INFOs of the server's, in their order, and the INFO that broke the pattern
  is relayed as usual.
* **Keys in the media** (RFC 4733, or in-band): held back from the callee while
  they could be the feature code; the keys of one that turns out not to be are
  not passed on (a packet cannot be sent later as an INFO can).

The digits held so far are a :class:`HeldDigits`, part of the call's mid-call
state (``MidCallCodes`` passes it in).

Public API
----------
``VscDigits(midcall)``: ``on_info(call, state, event, now) -> bool`` (True: answered
here), ``key(call, state, key, address, now) -> (held back?, status or None)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.message import header
from dialplan import CodeSource
from dialplan.dialstring import MAX_CODE_DIGITS

from .call import Call, CallState
from .events import CallStarted
from .leg import LegState
from .midcall_parse import parse_digit
from .timers import Timer

if TYPE_CHECKING:
    from .midcall import MidCallCodes

DIGIT_TIMEOUT = 5.0  # seconds: held digits of an unfinished feature code go on to the callee


class HeldDigits:
    """The keys of a possible feature code so far, on one call."""

    __slots__ = ("digits", "held", "timer")

    def __init__(self) -> None:
        self.digits = ""  # the keys so far
        self.held: list[tuple[bytes, str]] = []  # their INFOs' bodies and types, in order
        self.timer: Timer | None = None


class VscDigits:
    """See the module docstring."""

    def __init__(self, midcall: "MidCallCodes") -> None:
        self.midcall = midcall
        self.manager = midcall.manager

    def _vsc(self, call: Call) -> str:
        started = call.started
        group = self.midcall.admission.policy.groups.get(started.group) if isinstance(started, CallStarted) else None
        return group.midcall_vsc if group is not None else ""

    # -- keys from the media (RFC 4733, media kept through the server) ---------------------
    def key(self, call: Call, state: HeldDigits, key: str, address: str, now: float) -> tuple[bool, int | None]:
        """A key the caller pressed during its connected call: (hold it back from the
        callee?, the verdict's status once ``VSC code #`` is complete, else None)."""
        vsc = self._vsc(call)
        digits = state.digits + key
        if not vsc or not (vsc.startswith(digits) or digits.startswith(vsc)):
            held = bool(state.digits)
            state.digits = ""
            return held, None
        if len(digits) > len(vsc) + MAX_CODE_DIGITS + 1:
            state.digits = ""
            return True, None
        if digits.startswith(vsc) and key == "#" and len(digits) > len(vsc) + 1:
            state.digits = ""
            status, _ = self.midcall.apply(call, digits[len(vsc):-1], CodeSource.RFC4733, self.midcall.owner(call),
                                           address, now)
            return True, status
        state.digits = digits
        return True, None

    # -- INFO digits ----------------------------------------------------------------------
    def on_info(self, call: Call, state: HeldDigits, event: RequestReceived, now: float) -> bool:
        """A DTMF INFO from the caller of a connected call: True when answered here
        (held back, or the feature code's verdict), False to relay it."""
        vsc = self._vsc(call)
        req = event.request
        digit = parse_digit(req.body, req.content_type or "")
        if not vsc or (digit is None and not state.digits):
            return False
        if digit is None or not state.digits and digit != vsc[0]:
            self._flush(call, state, now)
            return False
        sofar = state.digits + digit
        code = sofar[len(vsc):]
        if vsc.startswith(sofar) or (sofar.startswith(vsc) and code.isdigit() and len(code) <= MAX_CODE_DIGITS):
            state.digits = sofar
            state.held.append((req.body, req.content_type or ""))
            self._restart_timer(call, state, now)
            self.manager.reply(event, 200, now)
            return True
        if sofar.startswith(vsc) and digit == "#" and code[:-1].isdigit():
            self._clear(state)
            status, reason = self.midcall.apply(call, code[:-1], CodeSource.DTMF_INFO, self.midcall.owner(call),
                                                event.source.host, now, reply=self.midcall.reply_to(event))
            if status:
                self.manager.reply(event, status, now, reason=reason)
            return True
        self._flush(call, state, now)  # not a feature code: what was held goes on, this one is relayed
        return False

    def _restart_timer(self, call: Call, state: HeldDigits, now: float) -> None:
        old = state.timer
        if old is not None:
            old.cancel()
        timer = self.manager.timers.schedule(now + DIGIT_TIMEOUT, self._timeout, call, state)
        state.timer = timer
        call.timers.append(timer)

    def _timeout(self, now: float, call: Call, state: HeldDigits) -> None:
        if call.state is CallState.CONNECTED:
            self._flush(call, state, now)

    @staticmethod
    def _clear(state: HeldDigits) -> None:
        if state.timer is not None:
            state.timer.cancel()
        state.timer = None
        state.digits = ""
        state.held = []

    def _flush(self, call: Call, state: HeldDigits, now: float) -> None:
        """The held digits go to the callee, in order, as INFOs of the server's."""
        held = state.held
        self._clear(state)
        b = call.b
        if b is None or b.dialog is None or b.state is LegState.TERMINATED:
            return
        for body, ctype in held:
            b.send_request(b.dialog.request("INFO", body=body, extra=[header("Content-Type", ctype)]), now)
