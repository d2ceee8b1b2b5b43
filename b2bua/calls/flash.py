"""Switch-hook flash + VSC (sans-IO): an analogue phone behind an ATA sets the
account code of its answered call (GR-605: "switch-hook flash on an active
call ... recall dial tone ... VSC ... account code ... flash ... re-connected
to the initial call").

Theory of operation
-------------------
A flash reaches the server in one of four forms, all from the caller's side:

* INFO ``application/dtmf-relay`` with ``Signal=16`` (RFC 4733's event
  number for a flash; most ATAs) or ``Signal=!``; INFO ``application/dtmf``
  with ``16`` or ``!``;
* INFO ``application/hook-flash`` (Linksys/Sipura and others), body
  ``signal=hf`` or empty;
* INFO ``application/broadsoft`` with a line ``event flashhook``;
* RFC 4733 event 16 in media the server holds (``MidCallCodes.key`` with
  key ``"!"``).

Each INFO is answered here and never relayed: 200 when taken (also when it
ends or abandons a feature in use), 403 "Call not connected" before the
answer, 488 "Flash needs media through the server" when the media side
cannot hold the call (no ``[media]``: the server could neither hold the far
end nor speak to the caller; the call goes on untouched).  While the
server prompts the caller, every INFO of the caller goes to the prompt,
which ignores a flash (answered 200).

A :class:`FlashSession` per call decides; its transitions, in the manner of
h11's table::

    TALKING     --flash--------> COLLECTING  HoldFarEnd, PlayTone(recall_dial, looped)
    COLLECTING  --key----------> COLLECTING  StopTone at the first key; the digit collector
                                             ends entry by #, the fixed length, or the
                                             interdigit timeout
    COLLECTING  --collected----> CHECKING    ApplyCode (VSC + code) | refused: see below
    COLLECTING  --flash--------> TALKING     Reconnect (nothing applied)
    COLLECTING  --no key in first_digit_timeout--> TALKING  Reconnect (no change)
    CHECKING    --verdict------> CONFIRMING  PlayTone(confirmation | reorder, confirm_time)
    CONFIRMING  --flash--------> TALKING     Reconnect
    CONFIRMING  --confirm_time (reconnect "entry") or
                  reconnect_timeout (reconnect "flash")--> TALKING  Reconnect

Entry that is not the VSC followed by a code, or that stops short, is
refused like a refused code (reorder, the call under its previous code).
Keys while a feature is in use (COLLECTING, CONFIRMING) are the session's
and never reach the far end; in TALKING they are not the session's.

:class:`FlashCodes` runs one session per call: it answers the INFOs, feeds
keys from INFO digits and from the media (RFC 4733 or in-band, by way of
:class:`~b2bua.calls.midcall.MidCallCodes`), applies a code with
``MidCallCodes.apply`` (source ``flash``: the same checks, guessing
protection and billing split as every mid-call code; the new segment starts
when the code is applied), keeps its deadline on the call's timers, and
hands the media commands to a :class:`FlashMedia` (the runtime's: it holds
the far end and plays tones, on media anchored through the server or after
re-offering both ends, :mod:`b2bua.runtime.flash`).  The
time the far end is held is part of the call (billed as talk time).

Public API
----------
``is_flash(content_type, body)``; ``FlashConfig``, ``FlashSession(config)``:
``flash(now)``, ``key(key, source, now)``, ``verdict(accepted, now)``,
``handle_timer(now)``, ``next_deadline()``, ``phase``, ``active``; commands
:class:`HoldFarEnd`, :class:`PlayTone`, :class:`StopTone`, :class:`ApplyCode`,
:class:`Reconnect`.
``FlashCodes(midcall, media)``: ``on_info(leg, event, now) -> bool``,
``on_key(ref, key, source, address, now) -> bool``, ``abandon(ref)``, ``ended(ref)``.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Literal, Protocol, Union

import msgspec

from b2bua.media.collector import CollectionTimedOut, CollectorConfig, CollectorEvent, DigitCollector, DigitsCollected
from b2bua.sip.endpoint import RequestReceived
from dialplan import CodeSource
from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS

from .call import Call, CallState
from .events import CallStarted
from .info import FLASH, key_of
from .leg import Leg

if TYPE_CHECKING:
    from .midcall import MidCallCodes

log = logging.getLogger("b2bua.flash")

HOOK_FLASH_TYPE = "application/hook-flash"
BROADSOFT_TYPE = "application/broadsoft"
FIRST_DIGIT_TIMEOUT = 10.0  # seconds of recall dial tone before the call is reconnected unchanged
INTERDIGIT_TIMEOUT = 5.0  # seconds between keys (GR-605's interdigit timing, as prompting uses)
CONFIRM_TIME = 1.0  # seconds of confirmation (three 0.1 s bursts) or reorder tone
RECONNECT_TIMEOUT = 10.0  # seconds after the verdict before a caller who never flashes back is reconnected
MAX_BODY = 512  # bytes: a flash needs a few dozen
NO_MEDIA_REASON = "Flash needs media through the server"

Reconnect_ = Literal["flash", "entry"]


def is_flash(content_type: str, body: bytes) -> bool:
    """Does an INFO with this body carry a hook flash (module docstring)?"""
    ctype = content_type.lower()
    if len(body) > MAX_BODY:
        return False
    if ctype in ("application/dtmf-relay", "application/dtmf"):
        press = key_of(ctype, body)
        if press is not None:
            return press.key == FLASH
        text = body.decode("ascii", "replace")
        if ctype == "application/dtmf":
            return text.strip() == FLASH
        return any(
            name.strip().lower() == "signal" and value.strip() == FLASH
            for name, _, value in (line.partition("=") for line in text.replace("\r", "\n").split("\n"))
        )
    text = body.decode("ascii", "replace").strip().lower()
    if ctype == HOOK_FLASH_TYPE:
        return text in ("", "signal=hf", "signal=flash", "signal=16")
    if ctype == BROADSOFT_TYPE:
        return any(line.split() == ["event", "flashhook"] for line in text.splitlines())
    return False


# -- the pure machine --------------------------------------------------------------


class Phase(enum.Enum):
    TALKING = "talking"  # no flash feature in use
    COLLECTING = "collecting"  # far end held, recall dial tone, keys collected
    CHECKING = "checking"  # the code is being applied
    CONFIRMING = "confirming"  # the verdict's tone; waiting for the reconnect


class HoldFarEnd(msgspec.Struct, frozen=True, kw_only=True):
    """Stop passing media to and from the far end."""


class PlayTone(msgspec.Struct, frozen=True, kw_only=True):
    """Play a tone of the plan to the caller alone (looped when ``seconds`` is None)."""

    role: str  # recall_dial, confirmation, reorder
    seconds: float | None = None


class StopTone(msgspec.Struct, frozen=True, kw_only=True):
    """The caller's tone ends (the first key ends recall dial tone)."""


class ApplyCode(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    sources: tuple[str, ...]  # the transports of the keys (rfc4733, info, inband)


class Reconnect(msgspec.Struct, frozen=True, kw_only=True):
    """Media end to end again (the far end un-held, the tone stopped)."""

    why: str  # flash, entry, no_entry, timeout


FlashCommand = Union[HoldFarEnd, PlayTone, StopTone, ApplyCode, Reconnect]


class FlashConfig(msgspec.Struct, frozen=True, kw_only=True):
    vsc: str = "*89"
    code_length: int | None = None  # the group's fixed code length, or None (ended by #)
    reconnect: Reconnect_ = "flash"  # what reconnects after the verdict: a flash, or the end of entry
    first_digit_timeout: float = FIRST_DIGIT_TIMEOUT
    interdigit_timeout: float = INTERDIGIT_TIMEOUT
    confirm_time: float = CONFIRM_TIME
    reconnect_timeout: float = RECONNECT_TIMEOUT


class FlashSession:
    """One call's flash feature (module docstring); clock-free, ``now`` passed in."""

    def __init__(self, config: FlashConfig) -> None:
        self.config = config
        self.phase = Phase.TALKING
        self.collector: DigitCollector | None = None
        self._deadline: float | None = None  # CONFIRMING's

    @property
    def active(self) -> bool:
        """A feature is in use: keys are the session's, the far end is held."""
        return self.phase is not Phase.TALKING

    def next_deadline(self) -> float | None:
        if self.phase is Phase.COLLECTING and self.collector is not None:
            return self.collector.next_deadline()
        return self._deadline if self.phase is Phase.CONFIRMING else None

    def flash(self, now: float) -> list[FlashCommand]:
        if self.phase is Phase.TALKING:
            c = self.config
            n = len(c.vsc)
            self.collector = DigitCollector(CollectorConfig(
                min_length=n + MIN_CODE_DIGITS, max_length=n + MAX_CODE_DIGITS,
                length=n + c.code_length if c.code_length else None, terminator="#",
                first_digit_timeout=c.first_digit_timeout, interdigit_timeout=c.interdigit_timeout,
            ), now)
            self.phase = Phase.COLLECTING
            return [HoldFarEnd(), PlayTone(role="recall_dial")]
        if self.phase is Phase.CHECKING:
            return []
        return self._reconnect("flash")  # COLLECTING (abandoned) or CONFIRMING

    def key(self, key: str, source: str, now: float) -> list[FlashCommand]:
        if key == FLASH:
            return self.flash(now)
        if self.phase is not Phase.COLLECTING or self.collector is None:
            return []
        first = [StopTone()] if not self.collector.digits else []
        events = self.collector.digit(key, now, source)
        return (first if self.collector.digits or events else []) + self._collected(events, now)

    def verdict(self, accepted: bool, now: float) -> list[FlashCommand]:
        if self.phase is not Phase.CHECKING:
            return []
        c = self.config
        self.phase = Phase.CONFIRMING
        self._deadline = now + (c.confirm_time if c.reconnect == "entry" else c.confirm_time + c.reconnect_timeout)
        return [PlayTone(role="confirmation" if accepted else "reorder", seconds=c.confirm_time)]

    def handle_timer(self, now: float) -> list[FlashCommand]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        if self.phase is Phase.CONFIRMING:
            return self._reconnect("entry" if self.config.reconnect == "entry" else "timeout")
        assert self.collector is not None
        return self._collected(self.collector.handle_timer(now), now)

    def _collected(self, events: list[CollectorEvent], now: float) -> list[FlashCommand]:
        for ev in events:
            if isinstance(ev, CollectionTimedOut) and ev.first_digit:
                return self._reconnect("no_entry")
            self.phase = Phase.CHECKING
            vsc = self.config.vsc
            code = ev.digits[len(vsc):] if isinstance(ev, DigitsCollected) and ev.digits.startswith(vsc) else ""
            if code.isdigit():
                return [ApplyCode(code=code, sources=ev.sources if isinstance(ev, DigitsCollected) else ())]
            return self.verdict(False, now)
        return []

    def _reconnect(self, why: str) -> list[FlashCommand]:
        self.phase = Phase.TALKING
        self.collector = None
        self._deadline = None
        return [Reconnect(why=why)]


# -- one session per call ------------------------------------------------------------


class FlashMedia(Protocol):
    """The media side (the runtime's): the far end held, tones to the caller."""

    def can_hold(self, ref: str) -> bool: ...
    def hold(self, ref: str) -> None: ...
    def play(self, ref: str, role: str, seconds: float | None) -> None: ...
    def stop(self, ref: str) -> None: ...
    def reconnect(self, ref: str) -> None: ...


class _Running:
    __slots__ = ("session", "address", "timer")

    def __init__(self, session: FlashSession, address: str) -> None:
        self.session = session
        self.address = address  # where the flash came from (guessing protection's key)
        self.timer: object | None = None


class FlashCodes:
    """See the module docstring."""

    def __init__(self, midcall: "MidCallCodes", media: FlashMedia) -> None:
        self.midcall = midcall
        self.manager = midcall.manager
        self.media = media
        self.running: dict[str, _Running] = {}  # by call ref, while a feature is in use
        self.counters = {"flashes": 0, "refused": 0, "codes_accepted": 0, "codes_refused": 0}

    def on_info(self, leg: Leg, event: RequestReceived, now: float) -> bool:
        """An in-dialog INFO: a flash, or a key while a feature is in use; True when answered here."""
        req = event.request
        ctype = (req.content_type or "").split(";", 1)[0].strip().lower()
        call = leg.call
        if not leg.uas:
            return False  # the callee's INFOs are relayed as before
        running = self.running.get(call.ref)
        if is_flash(ctype, req.body):
            if call.state is not CallState.CONNECTED:
                self.counters["refused"] += 1
                self.manager.reply(event, 403, now, reason="Call not connected")
                return True
            if running is None and not self.media.can_hold(call.ref):
                self.counters["refused"] += 1
                log.info("call %s: flash refused, media not through the server", call.ref)
                self.manager.reply(event, 488, now, reason=NO_MEDIA_REASON)
                return True
            self.manager.reply(event, 200, now)
            self._flash(call, event.source.host, now)
            return True
        if running is not None and ctype in ("application/dtmf-relay", "application/dtmf"):
            press = key_of(ctype, req.body)
            self.manager.reply(event, 200, now)
            if press is not None:
                self._run(call, running, running.session.key(press.key, "info", now), now)
            return True
        return False

    def on_key(self, ref: str, key: str, source: str, address: str, now: float) -> bool:
        """A key seen in the caller's media (RFC 4733 or in-band): True when it is
        the flash feature's (then it is not passed on)."""
        call = self.manager.index.calls.get(ref)
        if call is None or call.state is not CallState.CONNECTED:
            return False
        running = self.running.get(ref)
        if key == FLASH:
            if running is None and not self.media.can_hold(ref):
                return False
            self._flash(call, address, now)
            return True
        if running is None:
            return False
        self._run(call, running, running.session.key(key, source, now), now)
        return True

    def abandon(self, ref: str) -> None:
        """The media side could not hold the call (a peer refused a re-offer): the
        feature ends where it is, nothing applied after this."""
        running = self.running.pop(ref, None)
        if running is not None and running.timer is not None:
            running.timer.cancel()  # type: ignore[attr-defined]
            running.timer = None

    def ended(self, ref: str) -> None:
        """The call ended: its feature with it (the timer is the call's, cleared with it)."""
        self.running.pop(ref, None)

    def _flash(self, call: Call, address: str, now: float) -> None:
        running = self.running.get(call.ref)
        if running is None:
            running = self.running[call.ref] = _Running(FlashSession(self._config(call)), address)
            self.counters["flashes"] += 1
            log.info("call %s: flash, the far end held for code entry", call.ref)
        self._run(call, running, running.session.flash(now), now)

    def _config(self, call: Call) -> FlashConfig:
        started = call.started
        group = self.midcall.admission.policy.groups.get(started.group) if isinstance(started, CallStarted) else None
        if group is None:
            return FlashConfig(vsc="")
        return FlashConfig(vsc=group.midcall_vsc, code_length=group.code_length, reconnect=group.flash_reconnect)

    def _run(self, call: Call, running: _Running, commands: list[FlashCommand], now: float) -> None:
        ref = call.ref
        while commands:
            cmd = commands.pop(0)
            if isinstance(cmd, HoldFarEnd):
                self.media.hold(ref)
            elif isinstance(cmd, PlayTone):
                self.media.play(ref, cmd.role, cmd.seconds)
            elif isinstance(cmd, StopTone):
                self.media.stop(ref)
            elif isinstance(cmd, ApplyCode):
                owner = call.started.caller_user if isinstance(call.started, CallStarted) else ""
                status, _ = self.midcall.apply(call, cmd.code, CodeSource.FLASH, owner, running.address, now)
                self.counters["codes_accepted" if status == 200 else "codes_refused"] += 1
                commands.extend(running.session.verdict(status == 200, now))
            elif isinstance(cmd, Reconnect):
                self.media.reconnect(ref)
                self.running.pop(ref, None)
                log.info("call %s: reconnected after flash (%s)", ref, cmd.why)
        self._rearm(call, running)

    def _rearm(self, call: Call, running: _Running) -> None:
        if running.timer is not None:
            running.timer.cancel()  # type: ignore[attr-defined]
            running.timer = None
        deadline = running.session.next_deadline()
        if deadline is not None and self.running.get(call.ref) is running:
            running.timer = self.manager.timers.schedule(deadline, self._timer, call, running)
            call.timers.append(running.timer)

    def _timer(self, now: float, call: Call, running: _Running) -> None:
        running.timer = None
        if call.state is CallState.CONNECTED and self.running.get(call.ref) is running:
            self._run(call, running, running.session.handle_timer(now), now)
