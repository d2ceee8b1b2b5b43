"""Guessing protection: lock out whoever keeps trying wrong account codes.

Theory of operation
-------------------
The 3CX seed sells account codes as security ("if someone (cleaning crew for
example) can gain access to the phone (extension) they can make unauthorized
calls"); that only holds if codes cannot be found by trying them all.  A
:class:`Lockout` counts wrong codes (decisions whose ``code_rejected`` is
true) per key; the runtime passes the keys of the one thing to hold
responsible, made by :func:`lockout_keys`:

* an **authenticated phone** is keyed by its extension only,
  ``("ext", "1001")``: one guessing phone is locked, the rest of an office
  behind the same NAT address keeps calling;
* a **trunk** or an **unauthenticated** source is keyed by its address,
  ``("ip", "192.0.2.7")`` (a claimed extension is not proof: keying by it
  would let anyone lock out a colleague).  Many people share an address, so
  an address key locks only after ``address_max_failures`` failures, by
  default ten times ``max_failures``.

Other keys (plain strings, other tuples) count against ``max_failures``;
the digest guard (:mod:`b2bua.calls.admission`) keys a username at a source
address, ``("cred", "1001@192.0.2.7")``.
``max_failures`` failures of a key within ``window_s`` seconds lock that key
for ``lockout_s`` seconds; while any key of a call is locked, :meth:`check`
says so and the runtime refuses the call without evaluating its code.

**Growing locks** (optional, ``growth`` > 1): each further lock of a key
lasts ``growth`` times the one before, up to ``max_lockout_s``; a key that
stays quiet (unlocked, without failures) for ``max_lockout_s`` after its
last lock starts again at ``lockout_s``.  With ``growth`` 1 (the default)
every lock lasts ``lockout_s``.

**Emergency and service calls are never refused**: the policy decides which
calls those are (:func:`dialplan.policy.is_exempt`, the same test
:func:`dialplan.policy.evaluate` applies first), and the runtime asks it
before :meth:`check`.  Such calls never count as failures either (their
decisions never have ``code_rejected``).

A good code forgives nothing: a guesser who knows one valid code could
otherwise mix it into the guesses and never be locked.  Honest typos do not
add up for long because failures older than ``window_s`` no longer count.
:meth:`record_success` stays for callers and does nothing.

**Across a restart**: :meth:`snapshot` returns a frozen :class:`LockoutState`
(msgspec-encodable: keys, failure ages and the lock time left, relative to
the ``now`` given, so a new process with another monotonic clock can use it)
and :meth:`restore` puts it back at the new ``now``, optionally counting the
``elapsed_s`` the server was down.  Restored locks never run longer than the
current ``lockout_s`` and the state is cut to the current bounds.

Pure and clock-free (``now`` is the caller's monotonic seconds).  Memory is
bounded by ``max_keys``: when full, forgotten first are keys whose failures
and lock are over, then the least recently seen key, so a flood of new
(spoofed) addresses cannot grow memory, and it evicts the flooder's own old
keys before the locks of keys that are still trying.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from typing import Annotated, Final

import msgspec

MAX_FAILURES: Final = 5  # wrong codes tolerated per window
WINDOW_S: Final = 300.0  # seconds over which failures add up
LOCKOUT_S: Final = 900.0  # seconds a key stays locked
ADDRESS_FACTOR: Final = 10  # default address_max_failures = ADDRESS_FACTOR * max_failures
MAX_KEYS: Final = 10_000  # keys remembered at most
_EVICTION_SCAN: Final = 64  # stale entries looked for before evicting a live one


class KeyKind(enum.StrEnum):
    """What a key names; the values are the runtime's spellings (``("ext", "1001")``)."""

    EXTENSION = "ext"
    ADDRESS = "ip"
    CREDENTIAL = "cred"  # a digest username at a source address, "1001@192.0.2.7"


Key = str | tuple[str, str]


def lockout_keys(*, extension: str | None, address: str, authenticated: bool) -> tuple[tuple[str, str], ...]:
    """The keys to count a call's wrong codes against (module docstring)."""
    if authenticated and extension:
        return ((KeyKind.EXTENSION, extension),)
    return ((KeyKind.ADDRESS, address),)


_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class KeyState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One key in a :class:`LockoutState`: seconds before the snapshot of each
    recent failure (oldest first) and seconds of lock left (0: not locked)."""

    key: Key
    failure_ages: tuple[_Seconds, ...] = ()
    locked_for: _Seconds = 0.0
    strikes: Annotated[int, msgspec.Meta(ge=0)] = 0  # locks so far (growing locks)


class LockoutState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What :meth:`Lockout.snapshot` saves, least recently seen key first."""

    keys: tuple[KeyState, ...] = ()


class _Entry:
    __slots__ = ("failures", "locked_until", "strikes")

    def __init__(self) -> None:
        self.failures: list[float] = []  # times of recent failures, oldest first, fewer than the key's limit
        self.locked_until = float("-inf")
        self.strikes = 0  # locks so far, while they still make the next one longer


class Lockout:
    """Failure counting and lockout per key (see the module docstring)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        lockout_s: float = LOCKOUT_S,
        *,
        address_max_failures: int | None = None,
        max_keys: int = MAX_KEYS,
        growth: float = 1.0,
        max_lockout_s: float | None = None,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lockout_s < 0 or max_keys < 1:
            raise ValueError("max_failures >= 1, window_s > 0, lockout_s >= 0, max_keys >= 1")
        if max_lockout_s is None:
            max_lockout_s = lockout_s
        if growth < 1 or max_lockout_s < lockout_s:
            raise ValueError("growth >= 1, max_lockout_s >= lockout_s")
        if address_max_failures is None:
            address_max_failures = ADDRESS_FACTOR * max_failures
        if address_max_failures < max_failures:
            raise ValueError("address_max_failures must be at least max_failures")
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.growth = growth
        self.max_lockout_s = max_lockout_s
        self.max_keys = max_keys
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def limit(self, key: Key) -> int:
        """Failures within the window that lock ``key``."""
        if isinstance(key, tuple) and key[0] == KeyKind.ADDRESS:
            return self.address_max_failures
        return self.max_failures

    def _stale(self, entry: _Entry, now: float) -> bool:
        return (
            entry.locked_until <= now
            and (not entry.failures or entry.failures[-1] <= now - self.window_s)
            and not self._remembered(entry, now)
        )

    def _remembered(self, entry: _Entry, now: float) -> bool:
        """Do the entry's past locks still make its next one longer?"""
        return entry.strikes > 0 and self.growth > 1 and now < entry.locked_until + self.max_lockout_s

    def lock_duration(self, strikes: int) -> float:
        """Seconds a key is locked after ``strikes`` earlier locks."""
        if strikes == 0 or self.growth == 1:
            return self.lockout_s
        return min(self.lockout_s * self.growth ** min(strikes, 64), self.max_lockout_s)

    def _touch(self, key: Key) -> _Entry | None:
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

    def check(self, keys: Iterable[Key], now: float) -> bool:
        """True if any of ``keys`` is locked at ``now``."""
        locked = False
        for key in keys:
            entry = self._touch(key)
            if entry is not None and entry.locked_until > now:
                locked = True
        return locked

    def retry_after(self, keys: Iterable[Key], now: float) -> float:
        """Seconds until none of ``keys`` is locked (0.0 if none is): for Retry-After."""
        until = now
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                until = max(until, entry.locked_until)
        return until - now

    def record_failure(self, keys: Iterable[Key], now: float) -> None:
        """Count one wrong code against every key; lock keys that reach their limit."""
        for key in keys:
            entry = self._touch(key)
            if entry is None:
                if len(self._entries) >= self.max_keys:
                    self._make_room(now)
                entry = self._entries[key] = _Entry()
            horizon = now - self.window_s
            recent = [t for t in entry.failures if t > horizon]
            recent.append(now)
            if len(recent) >= self.limit(key):
                if entry.strikes and not self._remembered(entry, now):
                    entry.strikes = 0
                entry.locked_until = max(entry.locked_until, now + self.lock_duration(entry.strikes))
                entry.strikes += 1
                recent = []
            entry.failures = recent  # shorter than the limit: bounded

    def record_success(self, keys: Iterable[Key], now: float) -> None:
        """A good code: forgives nothing (module docstring); kept for callers."""

    def locked_count(self, now: float) -> int:
        """How many keys are locked at ``now``."""
        return sum(1 for entry in self._entries.values() if entry.locked_until > now)

    def snapshot(self, now: float) -> LockoutState:
        """The state worth keeping at ``now``, in times relative to ``now``."""
        keys = []
        for key, entry in self._entries.items():
            if self._stale(entry, now):
                continue
            ages = tuple(now - t for t in entry.failures if t > now - self.window_s)
            strikes = entry.strikes if self._remembered(entry, now) else 0
            keys.append(KeyState(
                key=key, failure_ages=ages, locked_for=max(entry.locked_until - now, 0.0), strikes=strikes
            ))
        return LockoutState(keys=tuple(keys))

    def restore(self, state: LockoutState, now: float, *, elapsed_s: float = 0.0) -> None:
        """Replace the state with ``state`` taken ``elapsed_s`` seconds before ``now``."""
        self._entries.clear()
        for saved in state.keys[-self.max_keys:]:
            key, entry = saved.key, _Entry()
            # a lock that is over dates its repeats (no later than the snapshot)
            entry.locked_until = now + min(saved.locked_for, self.max_lockout_s) - elapsed_s
            entry.strikes = saved.strikes
            ages = sorted((age + elapsed_s for age in saved.failure_ages), reverse=True)
            times = [now - age for age in ages if age < self.window_s]
            entry.failures = times[max(len(times) - (self.limit(key) - 1), 0):]  # fewer than the limit
            if not self._stale(entry, now):
                self._entries[key] = entry
