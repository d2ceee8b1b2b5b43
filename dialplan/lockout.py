"""Guessing protection: lock out whoever keeps trying wrong account codes.

Theory of operation
-------------------
The 3CX seed sells account codes as security ("if someone (cleaning crew for
example) can gain access to the phone (extension) they can make unauthorized
calls"); that only holds if codes cannot be found by trying them all.  A
:class:`Lockout` counts wrong codes (decisions whose ``code_rejected`` is
true) per key, where the runtime passes one key per thing to hold
responsible, e.g. ``("ext:1001", "addr:192.0.2.7")``: a guesser moving
between phones is still caught by address, and one behind a shared NAT by
extension.

``max_failures`` failures of a key within ``window_s`` seconds lock that key
for ``lockout_s`` seconds; while any key of a call is locked, :meth:`check`
says so and the runtime refuses the call without evaluating its code.  A
success clears the key's failure history (not an active lock) when
``reset_on_success`` is set: honest typos then never add up, at the price of
letting a guesser who knows one good code interleave it; set it false where
that matters.

Pure and clock-free (``now`` is the caller's monotonic seconds).  Memory is
bounded by ``max_keys``: when full, forgotten first are keys whose failures
and lock are over, then the least recently seen key, so a flood of new
(spoofed) addresses cannot grow memory, and it evicts the flooder's own old
keys before the locks of keys that are still trying.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Final

MAX_FAILURES: Final = 5  # wrong codes tolerated per window
WINDOW_S: Final = 300.0  # seconds over which failures add up
LOCKOUT_S: Final = 900.0  # seconds a key stays locked
MAX_KEYS: Final = 10_000  # keys remembered at most
_EVICTION_SCAN: Final = 64  # stale entries looked for before evicting a live one


class _Entry:
    __slots__ = ("failures", "locked_until")

    def __init__(self) -> None:
        self.failures: list[float] = []  # times of recent failures, oldest first, at most max_failures
        self.locked_until = float("-inf")


class Lockout:
    """Failure counting and lockout per key (see the module docstring)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        lockout_s: float = LOCKOUT_S,
        *,
        max_keys: int = MAX_KEYS,
        reset_on_success: bool = True,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lockout_s < 0 or max_keys < 1:
            raise ValueError("max_failures >= 1, window_s > 0, lockout_s >= 0, max_keys >= 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_keys = max_keys
        self.reset_on_success = reset_on_success
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _stale(self, entry: _Entry, now: float) -> bool:
        return entry.locked_until <= now and (not entry.failures or entry.failures[-1] <= now - self.window_s)

    def _touch(self, key: Hashable) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _make_room(self, now: float) -> None:
        for key in list(self._entries)[:_EVICTION_SCAN]:
            if self._stale(self._entries[key], now):
                del self._entries[key]
        while len(self._entries) >= self.max_keys:
            self._entries.popitem(last=False)

    def check(self, keys: Iterable[Hashable], now: float) -> bool:
        """True if any of ``keys`` is locked at ``now``."""
        locked = False
        for key in keys:
            entry = self._touch(key)
            if entry is not None and entry.locked_until > now:
                locked = True
        return locked

    def retry_after(self, keys: Iterable[Hashable], now: float) -> float:
        """Seconds until none of ``keys`` is locked (0.0 if none is): for Retry-After."""
        until = now
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                until = max(until, entry.locked_until)
        return until - now

    def record_failure(self, keys: Iterable[Hashable], now: float) -> None:
        """Count one wrong code against every key; lock keys that reach the limit."""
        for key in keys:
            entry = self._touch(key)
            if entry is None:
                if len(self._entries) >= self.max_keys:
                    self._make_room(now)
                entry = self._entries[key] = _Entry()
            horizon = now - self.window_s
            recent = [t for t in entry.failures if t > horizon]
            recent.append(now)
            if len(recent) >= self.max_failures:
                entry.locked_until = max(entry.locked_until, now + self.lockout_s)
                recent = []
            entry.failures = recent  # shorter than max_failures: bounded

    def record_success(self, keys: Iterable[Hashable], now: float) -> None:
        """A good code: forget the keys' failures (an active lock stays)."""
        if not self.reset_on_success:
            return
        for key in keys:
            entry = self._touch(key)
            if entry is None:
                continue
            entry.failures = []
            if self._stale(entry, now):
                del self._entries[key]

    def locked_count(self, now: float) -> int:
        """How many keys are locked at ``now``."""
        return sum(1 for entry in self._entries.values() if entry.locked_until > now)
