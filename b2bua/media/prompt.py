"""The prompt session: ask a caller for an account code, collect it, have it
checked, retry, confirm or fail (sans-IO, on virtual time).

Standards: none of its own; the digits come through :mod:`.collector`
(RFC 4733, SIP INFO, in-band ITU-T Q.24 DTMF), the tones are
:mod:`.tones`' (ITU-T E.180 or the North American plan).

Theory of operation
-------------------
A :class:`PromptSession` is a state machine fed by events and timers that
emits commands; one :class:`State` changed only along :data:`TRANSITIONS`
(h11's ``EVENT_TRIGGERED_TRANSITIONS`` in spirit)::

    IDLE --START--> PROMPTING     play the prompt (an announcement, or a tone)
    PROMPTING  --DIGIT (barge-in: the prompt stops)--> COLLECTING
               --PROMPT_PLAYED (the announcement ended)--> COLLECTING
               --NO_INPUT (tone prompt: no first digit in time)--> PROMPTING
    COLLECTING --COLLECTED--> VALIDATING   (command CodeCollected: "check this")
               --NO_INPUT--> PROMPTING     (prompt again)
               --INVALID (only the terminator was pressed)--> RETRY
    VALIDATING --VALID--> CONFIRMING
               --INVALID--> RETRY          (play "invalid code, please try again")
               --CHECK_TIMED_OUT--> FAILED (fail closed: no answer, no call)
    RETRY      --PLAYED--> PROMPTING
               --DIGIT (barge-in)--> COLLECTING
    CONFIRMING --PLAYED--> DONE            (PromptSucceeded)
    FAILED     --PLAYED--> DONE            (PromptFailed, after the reorder or goodbye)
    any of PROMPTING, COLLECTING, VALIDATING --EXHAUSTED--> FAILED

An *attempt* is one collection (one :class:`~.collector.DigitCollector`);
NO_INPUT and INVALID are fired while attempts remain
(``attempts < max_attempts``), EXHAUSTED when none do.  A trigger the
table does not list for the state is a bug here: :class:`PromptStateError`.

Inputs, each with ``now``: ``start(now)``; ``handle(event, now)`` with
:class:`DigitReceived` (a key and its transport), :class:`PlaybackFinished`
(the ``play_id`` of a :class:`Play` that ran to its end: the runtime reports
it for announcements and finite tones, never for a playback it was told to
stop; a stale id is ignored) and :class:`CodeChecked` (the answer to
:class:`CodeCollected`); ``handle_timer(now)`` when ``next_deadline()`` has
come.  Each returns the commands to carry out, in order: :class:`Play`,
:class:`StopPlayback`, :class:`CodeCollected`, then at the end exactly one of
:class:`PromptSucceeded` or :class:`PromptFailed`.

Two modes (``PromptConfig.mode``):

* ``"announcement"``: the prompt is an announcement ("please enter your
  N-digit account code followed by the pound key", see :mod:`.sounds`); the
  collector's first-digit timer starts when it ends (or at the first digit,
  which stops it); a retry plays "invalid code, please try again", success
  "thank you", failure "... goodbye".
* ``"tone"``: tones only, as Cisco CUCM prompts for a client matter code: the
  prompt is a tone (recall dial tone by default, looped; the collector's
  timer runs from its start), a retry is a burst of reorder
  (``retry_tone_seconds``), success the confirmation tone, failure reorder
  for ``fail_tone_seconds``.

Media are named, not rendered: an announcement by its :mod:`.sounds` name,
a tone as ``"tone:" + role`` (a role of :class:`~.tones.TonePlan`); the
runtime maps names to frames.  Every playback but a looped prompt tone has
a limit (its ``seconds``, or ``media_timeout`` as a safety net should a
finish never be reported), after which the session stops it and moves on.

Public API
----------
``PromptConfig(mode="announcement", max_attempts=3, collector=CollectorConfig(),
prompt_tone="recall_dial", confirm=True, validation_timeout=10.0,
media_timeout=60.0, retry_tone_seconds=1.0, fail_tone_seconds=3.0)``;
``PromptSession(config)``: ``start(now)``, ``handle(event, now)``,
``handle_timer(now)``, ``next_deadline()``, ``state``, ``attempts``;
events :class:`DigitReceived` ``(digit, source)``, :class:`PlaybackFinished`
``(play_id)``, :class:`CodeChecked` ``(valid)``; commands :class:`Play`
``(media_name, loop, play_id)``, :class:`StopPlayback` ``(play_id)``,
:class:`CodeCollected` ``(digits, sources)``, :class:`PromptSucceeded`
``(code, sources, attempts)``, :class:`PromptFailed` ``(reason, attempts)``.
"""

from __future__ import annotations

import enum
from typing import Literal, Union

import msgspec

from .collector import DTMF_KEYS, CollectionTimedOut, CollectorConfig, CollectorEvent, DigitCollector, DigitsCollected
from .sounds import CODE_FAILED, INVALID_CODE, THANK_YOU, prompt_name
from .tones import NORTH_AMERICAN

__all__ = [
    "CodeChecked",
    "CodeCollected",
    "Command",
    "DigitReceived",
    "Event",
    "Play",
    "PlaybackFinished",
    "PromptConfig",
    "PromptFailed",
    "PromptSession",
    "PromptStateError",
    "PromptSucceeded",
    "State",
    "StopPlayback",
    "TRANSITIONS",
    "Trigger",
]

TONE = "tone:"  # prefix of a tone's media name: "tone:reorder"


# -- events in ---------------------------------------------------------------


class DigitReceived(msgspec.Struct, frozen=True, kw_only=True):
    digit: str
    source: str  # "rfc4733", "info", "inband", "dialstring"


class PlaybackFinished(msgspec.Struct, frozen=True, kw_only=True):
    play_id: int


class CodeChecked(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool


Event = Union[DigitReceived, PlaybackFinished, CodeChecked]


# -- commands out --------------------------------------------------------------


class Play(msgspec.Struct, frozen=True, kw_only=True):
    """Play ``media_name`` to the caller, replacing whatever plays (``loop``:
    over and over until stopped)."""

    media_name: str
    loop: bool
    play_id: int


class StopPlayback(msgspec.Struct, frozen=True, kw_only=True):
    play_id: int


class CodeCollected(msgspec.Struct, frozen=True, kw_only=True):
    """Check this code; answer with :class:`CodeChecked`."""

    digits: str
    sources: tuple[str, ...]


class PromptSucceeded(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    sources: tuple[str, ...]
    attempts: int


class PromptFailed(msgspec.Struct, frozen=True, kw_only=True):
    reason: Literal["invalid_code", "no_input", "validation_timeout"]
    attempts: int


Command = Union[Play, StopPlayback, CodeCollected, PromptSucceeded, PromptFailed]


# -- the machine -----------------------------------------------------------------


class State(enum.Enum):
    IDLE = "idle"
    PROMPTING = "prompting"
    COLLECTING = "collecting"
    VALIDATING = "validating"
    RETRY = "retry"
    CONFIRMING = "confirming"
    FAILED = "failed"
    DONE = "done"


class Trigger(enum.Enum):
    START = "start"
    DIGIT = "digit"  # a key while something plays: barge-in
    PROMPT_PLAYED = "prompt_played"
    COLLECTED = "collected"
    NO_INPUT = "no_input"  # no (or too few) digits in time, attempts remain
    INVALID = "invalid"  # the code is not valid, attempts remain
    EXHAUSTED = "exhausted"  # no attempt remains
    VALID = "valid"
    CHECK_TIMED_OUT = "check_timed_out"
    PLAYED = "played"  # a retry, confirmation or failure media ended


TRANSITIONS: dict[State, dict[Trigger, State]] = {
    State.IDLE: {Trigger.START: State.PROMPTING},
    State.PROMPTING: {
        Trigger.DIGIT: State.COLLECTING,
        Trigger.PROMPT_PLAYED: State.COLLECTING,
        Trigger.NO_INPUT: State.PROMPTING,
        Trigger.EXHAUSTED: State.FAILED,
    },
    State.COLLECTING: {
        Trigger.COLLECTED: State.VALIDATING,
        Trigger.NO_INPUT: State.PROMPTING,
        Trigger.INVALID: State.RETRY,
        Trigger.EXHAUSTED: State.FAILED,
    },
    State.VALIDATING: {
        Trigger.VALID: State.CONFIRMING,
        Trigger.INVALID: State.RETRY,
        Trigger.EXHAUSTED: State.FAILED,
        Trigger.CHECK_TIMED_OUT: State.FAILED,
    },
    State.RETRY: {Trigger.PLAYED: State.PROMPTING, Trigger.DIGIT: State.COLLECTING},
    State.CONFIRMING: {Trigger.PLAYED: State.DONE},
    State.FAILED: {Trigger.PLAYED: State.DONE},
    State.DONE: {},
}


# what RETRY, CONFIRMING and FAILED play: (announcement, tone role)
STATE_MEDIA: dict[State, tuple[str, str]] = {
    State.RETRY: (INVALID_CODE, "reorder"),
    State.CONFIRMING: (THANK_YOU, "confirmation"),
    State.FAILED: (CODE_FAILED, "reorder"),
}


class PromptStateError(RuntimeError):
    """A trigger the transition table refuses: a bug in the session."""


class PromptConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["announcement", "tone"] = "announcement"
    max_attempts: int = 3
    collector: CollectorConfig = CollectorConfig()
    prompt_tone: str = "recall_dial"  # tone mode: a TonePlan role
    confirm: bool = True  # play "thank you" / the confirmation tone before succeeding
    validation_timeout: float = 10.0  # seconds to wait for CodeChecked, then fail closed
    media_timeout: float = 60.0  # seconds: the most any announcement may take
    retry_tone_seconds: float = 1.0  # tone mode: reorder before prompting again
    fail_tone_seconds: float = 3.0  # tone mode: reorder before giving up

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("prompt: max_attempts must be at least 1")
        NORTH_AMERICAN.tone(self.prompt_tone)  # an unknown role is an error here
        if min(self.validation_timeout, self.media_timeout, self.retry_tone_seconds, self.fail_tone_seconds) <= 0:
            raise ValueError("prompt: durations must be positive")


class PromptSession:
    """One caller being asked for a code; see the module docstring."""

    def __init__(self, config: PromptConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.attempts = 0
        self._collector: DigitCollector | None = None
        self._playing: int | None = None  # play_id of what plays now
        self._play_seq = 0
        self._deadline: float | None = None  # the session's own timer (media limit, validation)
        self._code = ""
        self._sources: tuple[str, ...] = ()
        self._reason: Literal["invalid_code", "no_input", "validation_timeout"] = "no_input"

    # -- inputs ------------------------------------------------------------------

    def start(self, now: float) -> list[Command]:
        return self._fire(Trigger.START, now)

    def handle(self, event: Event, now: float) -> list[Command]:
        if isinstance(event, DigitReceived):
            return self._digit(event, now)
        if isinstance(event, PlaybackFinished):
            if event.play_id != self._playing:
                return []  # stale: stopped, or replaced by a later playback
            self._playing = None
            return self._media_ended(now)
        if self.state is not State.VALIDATING:
            return []  # an answer for an attempt already given up
        self._deadline = None
        if event.valid:
            return self._fire(Trigger.VALID, now)
        self._reason = "invalid_code"
        return self._fire(self._attempt_failed(Trigger.INVALID), now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._deadline, self._collector_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Command]:
        out: list[Command] = []
        collector = self._collector
        if collector is not None and self.state in (State.PROMPTING, State.COLLECTING):
            out += self._collected(collector.handle_timer(now), now)
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            if self.state is State.VALIDATING:
                self._reason = "validation_timeout"
                out += self._fire(Trigger.CHECK_TIMED_OUT, now)
            else:  # a media limit: stop it and go on as if it had ended
                out += self._stop()
                out += self._media_ended(now)
        return out

    # -- the machine -------------------------------------------------------------

    def _fire(self, trigger: Trigger, now: float) -> list[Command]:
        new = TRANSITIONS[self.state].get(trigger)
        if new is None:
            raise PromptStateError(f"prompt: {trigger.name} is not allowed in {self.state.name}")
        previous, self.state = self.state, new
        return self._enter(new, previous, now)

    def _enter(self, state: State, previous: State, now: float) -> list[Command]:
        """What a state does on entry."""
        config = self.config
        announcement = config.mode == "announcement"
        out: list[Command] = []
        self._deadline = None
        if state is State.PROMPTING:
            self._collector = None
            if announcement:
                out += self._play(prompt_name(config.collector.length), now, limit=config.media_timeout)
            else:
                endless = NORTH_AMERICAN.tone(config.prompt_tone).duration is None
                out += self._play(TONE + config.prompt_tone, now, loop=endless, limit=None if endless else config.media_timeout)
                self._new_collector(now)
        elif state is State.COLLECTING:
            out += self._stop()
            if self._collector is None:
                self._new_collector(now)
        elif state is State.VALIDATING:
            out.append(CodeCollected(digits=self._code, sources=self._sources))
            self._deadline = now + config.validation_timeout
        elif state is State.RETRY:
            self._collector = None
            out += self._play_state_media(state, now)
        elif state is State.CONFIRMING:
            if not config.confirm:
                return out + self._fire(Trigger.PLAYED, now)
            out += self._play_state_media(state, now)
        elif state is State.FAILED:
            self._collector = None
            out += self._play_state_media(state, now)
        elif state is State.DONE:
            out += self._stop()
            if previous is State.CONFIRMING:
                out.append(PromptSucceeded(code=self._code, sources=self._sources, attempts=self.attempts))
            else:
                out.append(PromptFailed(reason=self._reason, attempts=self.attempts))
        return out

    def _play_state_media(self, state: State, now: float) -> list[Command]:
        """RETRY, CONFIRMING and FAILED's media (:data:`STATE_MEDIA`)."""
        config = self.config
        announcement, role = STATE_MEDIA[state]
        if config.mode == "announcement":
            return self._play(announcement, now, limit=config.media_timeout)
        seconds = config.retry_tone_seconds if state is State.RETRY else config.fail_tone_seconds
        if state is State.CONFIRMING:  # a finite tone: played to its end
            return self._play(TONE + role, now, limit=config.media_timeout)
        return self._play(TONE + role, now, loop=True, limit=seconds)

    def _media_ended(self, now: float) -> list[Command]:
        if self.state is State.PROMPTING:
            return self._fire(Trigger.PROMPT_PLAYED, now)
        if self.state in (State.RETRY, State.CONFIRMING, State.FAILED):
            return self._fire(Trigger.PLAYED, now)
        return []

    def _digit(self, event: DigitReceived, now: float) -> list[Command]:
        if event.digit not in DTMF_KEYS or len(event.digit) != 1:
            return []
        out: list[Command] = []
        if self.state in (State.PROMPTING, State.RETRY):
            out += self._fire(Trigger.DIGIT, now)
        if self.state is State.COLLECTING and self._collector is not None:
            out += self._collected(self._collector.digit(event.digit, now, event.source), now)
        return out

    def _collected(self, events: list[CollectorEvent], now: float) -> list[Command]:
        out: list[Command] = []
        for event in events:
            if isinstance(event, DigitsCollected):
                self._code, self._sources = event.digits, event.sources
                if event.digits:
                    out += self._fire(Trigger.COLLECTED, now)
                else:  # only the terminator: nothing to check
                    self._reason = "invalid_code"
                    out += self._fire(self._attempt_failed(Trigger.INVALID), now)
            elif isinstance(event, CollectionTimedOut):
                self._reason = "no_input"
                out += self._fire(self._attempt_failed(Trigger.NO_INPUT), now)
        return out

    def _attempt_failed(self, trigger: Trigger) -> Trigger:
        return trigger if self.attempts < self.config.max_attempts else Trigger.EXHAUSTED

    def _new_collector(self, now: float) -> None:
        self._collector = DigitCollector(self.config.collector, now)
        self.attempts += 1

    def _collector_deadline(self) -> float | None:
        if self._collector is None or self.state not in (State.PROMPTING, State.COLLECTING):
            return None
        return self._collector.next_deadline()

    def _play(self, name: str, now: float, *, loop: bool = False, limit: float | None) -> list[Command]:
        out = self._stop()
        self._play_seq += 1
        self._playing = self._play_seq
        self._deadline = None if limit is None else now + limit
        out.append(Play(media_name=name, loop=loop, play_id=self._play_seq))
        return out

    def _stop(self) -> list[Command]:
        if self._playing is None:
            return []
        play_id, self._playing = self._playing, None
        return [StopPlayback(play_id=play_id)]
