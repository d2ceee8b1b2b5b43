"""Digit collection on virtual time (sans-IO): lengths, a terminator, timeouts,
an optional digit map, and one press heard by several transports counted once.

Standards: the digit map notation is a subset of MGCP's (RFC 3435 §2.1.5);
the default North American map follows the NANP (7-, 10- and 11-digit
numbers, N11 service codes, ``011`` international with up to 15 digits as
ITU-T E.164 allows).  Digits arrive by RFC 4733 telephone-events, SIP INFO
(``application/dtmf-relay``), in-band DTMF (ITU-T Q.24, :mod:`.dtmf`) or in
the dial string; each report names its transport as ``source``.

Theory of operation
-------------------
A :class:`DigitCollector` is made with its :class:`CollectorConfig` and the
time collection starts; the shell feeds it ``digit(d, now, source)``, calls
``handle_timer(now)`` when ``next_deadline()`` has come, and acts on the
events both return (at most one: the collection ends once).

Ending, checked after each digit in this order:

1. ``d`` is the terminator (``#`` by default): ends with the digits before it,
   however many (a caller who presses ``#`` is done; too short is for the
   validation to judge): ``ended_by="terminator"``.
2. ``length`` digits (fixed length) or ``max_length``: ``ended_by="length"``.
3. With a digit map: the digits match a pattern and no pattern could match a
   longer string: ``ended_by="map"``; no pattern can match them any more:
   ``ended_by="mismatch"`` (fail fast: the caller hears the error at once).

Timers: the first digit must come within ``first_digit_timeout`` of the start
(else :class:`CollectionTimedOut` with ``first_digit=True``), each next one
within ``interdigit_timeout`` of the one before.  When the interdigit timer
fires, the digits so far end the collection (``ended_by="timeout"``) if
there are at least ``min_length`` of them (all ``length`` of them with a fixed
length, which then ends the collection first) and, with a map, they match a
pattern in full (a 7-digit number waiting to see if it is 10 digits long);
otherwise :class:`CollectionTimedOut` with ``first_digit=False``.

Duplicates.  A phone may send one key press by RFC 4733 *and* SIP INFO, and a
gateway may leave it in the audio too.  A report is the same press as the
last accepted digit when it has the same digit, comes from a transport that
has not reported that press yet, and arrives within :data:`DEDUPE_WINDOW`
(0.15 s) of the press's first report; it is then only added to the press's
``sources``.  One transport never reports one press twice (RFC 4733's end
retransmissions are merged by the RTP layer), so a report from a transport
that already reported the last press is a new press, even within the window:
"55" typed quickly on one transport is two digits.  Characters that are not
DTMF keys (0-9, *, #, A-D) are ignored: a peer's malformed INFO body never
raises here.

Public API
----------
``CollectorConfig(min_length=1, max_length=20, length=None, terminator="#",
first_digit_timeout=10.0, interdigit_timeout=5.0, digit_map=None,
dedupe_window=DEDUPE_WINDOW)``; ``DigitMap.parse(text)``, :data:`NANP_DIGIT_MAP`;
``DigitCollector(config, now)``: ``digit(d, now, source) -> list[CollectorEvent]``,
``handle_timer(now) -> list[CollectorEvent]``, ``next_deadline()``, ``digits``,
``done``; events :class:`DigitsCollected` ``(digits, ended_by, sources)`` and
:class:`CollectionTimedOut` ``(first_digit, digits)``.
"""

from __future__ import annotations

import enum
from typing import Literal, Union

import msgspec

__all__ = [
    "DEDUPE_WINDOW",
    "NANP_DIGIT_MAP",
    "CollectionTimedOut",
    "CollectorConfig",
    "CollectorEvent",
    "DigitCollector",
    "DigitMap",
    "DigitsCollected",
    "MapMatch",
]

DTMF_KEYS = frozenset("0123456789*#ABCD")  # ITU-T Q.23
DEDUPE_WINDOW = 0.15  # seconds: RFC 4733 and INFO for one press arrive within a packet or two of each other
# NANP: N11 service codes; 7-digit NXX-XXXX, 10-digit NPA-NXX-XXXX and 1 + 10 digits, where
# an NPA or NXX is never N11 (so "911" is complete at once); 011 + up to 15 digits
# (ITU-T E.164's maximum; the bound is max_length=18); 0 alone (operator).  No grouping in
# the notation: "not N11" is written as two patterns (second digit not 1, or third not 1).
NANP_DIGIT_MAP = "|".join(
    (
        "[2-9]11",
        "[2-9][02-9]xxxxx",
        "[2-9]x[02-9]xxxx",
        "[2-9][02-9]x[2-9]xxxxxx",
        "[2-9]x[02-9][2-9]xxxxxx",
        "1[2-9][02-9]x[2-9]xxxxxx",
        "1[2-9]x[02-9][2-9]xxxxxx",
        "011xx.",  # 011 and one digit or more
        "0",
    )
)

EndedBy = Literal["terminator", "length", "map", "mismatch", "timeout"]
Source = str  # "rfc4733", "info", "inband", "dialstring"


class DigitsCollected(msgspec.Struct, frozen=True, kw_only=True):
    """The collection ended with ``digits`` (the terminator left out);
    ``sources``: the transports that reported them, in order of first report."""

    digits: str
    ended_by: EndedBy
    sources: tuple[Source, ...]


class CollectionTimedOut(msgspec.Struct, frozen=True, kw_only=True):
    """No digit came in time (``first_digit``), or the caller stopped short."""

    first_digit: bool
    digits: str = ""


CollectorEvent = Union[DigitsCollected, CollectionTimedOut]


class MapMatch(enum.Enum):
    COMPLETE = "complete"  # matches, and nothing longer could
    PARTIAL = "partial"  # matches, and a longer string could too (wait for the timer)
    MORE = "more"  # a prefix: more digits are needed
    NONE = "none"  # no pattern can match


class DigitMap:
    """A digit map in MGCP notation (RFC 3435 §2.1.5), this subset: patterns
    joined by ``|``; in a pattern, a key (``0-9 * # A-D``), ``x`` (any digit
    0-9), ``[...]`` (a set: digits and ranges such as ``[2-9]`` or ``[13-5]``),
    and ``.`` after an element (that element zero or more times).  The timer
    letter ``T`` is not supported: here a full match that could grow always
    waits for the interdigit timer."""

    __slots__ = ("text", "_patterns")

    def __init__(self, text: str, patterns: list[list[tuple[frozenset[str], bool]]]) -> None:
        self.text = text
        self._patterns = patterns

    @classmethod
    def parse(cls, text: str) -> "DigitMap":
        patterns = []
        for alternative in text.replace(" ", "").strip("()").split("|"):
            if not alternative:
                raise ValueError(f"digit map {text!r}: an empty pattern")
            elements: list[tuple[frozenset[str], bool]] = []
            i = 0
            while i < len(alternative):
                ch = alternative[i]
                if ch == ".":
                    if not elements or elements[-1][1]:
                        raise ValueError(f"digit map {text!r}: '.' must follow an element")
                    elements[-1] = (elements[-1][0], True)
                elif ch in ("x", "X"):
                    elements.append((frozenset("0123456789"), False))
                elif ch == "[":
                    end = alternative.find("]", i)
                    if end < 0:
                        raise ValueError(f"digit map {text!r}: '[' without ']'")
                    elements.append((_digit_set(alternative[i + 1 : end], text), False))
                    i = end
                elif ch in DTMF_KEYS:
                    elements.append((frozenset(ch), False))
                else:
                    raise ValueError(f"digit map {text!r}: {ch!r} is not supported")
                i += 1
            patterns.append(elements)
        return cls(text, patterns)

    def match(self, digits: str) -> MapMatch:
        """How ``digits`` stand against the map (positions simulated as an NFA)."""
        full = longer = False
        for elements in self._patterns:
            positions = _closure({0}, elements)
            for d in digits:
                positions = _closure({p + (0 if elements[p][1] else 1) for p in positions if p < len(elements) and d in elements[p][0]}, elements)
                if not positions:
                    break
            if not positions:
                continue
            if len(elements) in positions:
                full = True
            if any(p < len(elements) for p in positions):
                longer = True
        if full:
            return MapMatch.PARTIAL if longer else MapMatch.COMPLETE
        return MapMatch.MORE if longer else MapMatch.NONE


def _closure(positions: set[int], elements: list[tuple[frozenset[str], bool]]) -> set[int]:
    """Positions reachable by skipping starred elements (zero repetitions)."""
    out = set(positions)
    todo = list(positions)
    while todo:
        p = todo.pop()
        if p < len(elements) and elements[p][1] and p + 1 not in out:
            out.add(p + 1)
            todo.append(p + 1)
    return out


def _digit_set(spec: str, text: str) -> frozenset[str]:
    keys: set[str] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            lo, hi = spec[i], spec[i + 2]
            if not (lo.isdigit() and hi.isdigit() and lo <= hi):
                raise ValueError(f"digit map {text!r}: bad range {spec[i : i + 3]!r}")
            keys.update(str(n) for n in range(int(lo), int(hi) + 1))
            i += 3
        elif spec[i] in DTMF_KEYS:
            keys.add(spec[i])
            i += 1
        else:
            raise ValueError(f"digit map {text!r}: {spec[i]!r} in a set")
    if not keys:
        raise ValueError(f"digit map {text!r}: an empty set")
    return frozenset(keys)


class CollectorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How digits are collected (seconds for the timeouts)."""

    min_length: int = 1
    max_length: int = 20
    length: int | None = None  # a fixed length: the collection ends when it is reached
    terminator: str = "#"  # "" for none
    first_digit_timeout: float = 10.0  # seconds from the start
    interdigit_timeout: float = 5.0  # seconds from the last digit
    digit_map: str | None = None  # MGCP notation, e.g. NANP_DIGIT_MAP
    dedupe_window: float = DEDUPE_WINDOW  # seconds

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("collector: need 1 <= min_length <= max_length")
        if self.length is not None and not self.min_length <= self.length <= self.max_length:
            raise ValueError("collector: length must lie within min_length .. max_length")
        if self.terminator not in ("", *DTMF_KEYS):
            raise ValueError(f"collector: terminator {self.terminator!r} is not a DTMF key")
        if self.first_digit_timeout <= 0 or self.interdigit_timeout <= 0 or self.dedupe_window < 0:
            raise ValueError("collector: timeouts must be positive")
        if self.digit_map is not None:
            DigitMap.parse(self.digit_map)  # a typo is an error here, not at the first call


class DigitCollector:
    """One collection; see the module docstring."""

    __slots__ = ("config", "_map", "_digits", "_sources", "_last_at", "_last_sources", "_deadline", "done")

    def __init__(self, config: CollectorConfig, now: float) -> None:
        self.config = config
        self._map = DigitMap.parse(config.digit_map) if config.digit_map is not None else None
        self._digits: list[str] = []
        self._sources: list[Source] = []  # every transport heard, in order
        self._last_at = 0.0  # the first report of the last press
        self._last_sources: set[Source] = set()  # the transports that reported the last press
        self._deadline: float | None = now + config.first_digit_timeout
        self.done = False

    @property
    def digits(self) -> str:
        return "".join(self._digits)

    def next_deadline(self) -> float | None:
        return self._deadline

    def digit(self, d: str, now: float, source: Source) -> list[CollectorEvent]:
        """One report of a key press."""
        if self.done or len(d) != 1 or d not in DTMF_KEYS:
            return []
        config = self.config
        last = self._digits[-1] if self._digits else None
        if (
            d == last
            and source not in self._last_sources
            and now - self._last_at <= config.dedupe_window
        ):
            self._last_sources.add(source)
            self._note(source)
            return []
        self._last_at = now
        self._last_sources = {source}
        self._note(source)
        if d == config.terminator and d:
            return self._end(DigitsCollected(digits=self.digits, ended_by="terminator", sources=self._sources_tuple()))
        self._digits.append(d)
        self._deadline = now + config.interdigit_timeout
        count = len(self._digits)
        if count == config.length or count >= config.max_length:
            return self._end(DigitsCollected(digits=self.digits, ended_by="length", sources=self._sources_tuple()))
        if self._map is not None:
            verdict = self._map.match(self.digits)
            if verdict is MapMatch.COMPLETE and count >= config.min_length:
                return self._end(DigitsCollected(digits=self.digits, ended_by="map", sources=self._sources_tuple()))
            if verdict is MapMatch.NONE:
                return self._end(DigitsCollected(digits=self.digits, ended_by="mismatch", sources=self._sources_tuple()))
        return []

    def handle_timer(self, now: float) -> list[CollectorEvent]:
        if self.done or self._deadline is None or now < self._deadline:
            return []
        if not self._digits:
            return self._end(CollectionTimedOut(first_digit=True))
        enough = len(self._digits) >= (self.config.length or self.config.min_length)
        if enough and self._map is not None:
            enough = self._map.match(self.digits) in (MapMatch.COMPLETE, MapMatch.PARTIAL)
        if enough:
            return self._end(DigitsCollected(digits=self.digits, ended_by="timeout", sources=self._sources_tuple()))
        return self._end(CollectionTimedOut(first_digit=False, digits=self.digits))

    def _note(self, source: Source) -> None:
        if source not in self._sources:
            self._sources.append(source)

    def _sources_tuple(self) -> tuple[Source, ...]:
        return tuple(self._sources)

    def _end(self, event: CollectorEvent) -> list[CollectorEvent]:
        self.done = True
        self._deadline = None
        return [event]
