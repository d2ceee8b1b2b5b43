"""Portal sessions and login throttling, kept in memory (clock-free: ``now`` is
passed in; a restart ends every session).

A session is a random id (32 bytes of ``os.urandom``, hex) in a cookie that is
HttpOnly, SameSite=Strict and, with TLS, Secure; the server keeps who it
belongs to, its CSRF token (another 32 random bytes, sent back in every form),
when it started and when it was last used.  It ends after ``idle`` seconds
unused or ``max_age`` seconds in all, at logout, or when its administrator is
removed.  A login makes a new id (no fixation).  At most ``max_sessions``
live at once; beyond that the least recently used ends.

Login throttling reuses the guessing protection of calls
(:class:`dialplan.Lockout`): wrong passwords count against the name tried
(``("admin", name)``, ``max_failures``) and against the source address
(``("ip", address)``, ``address_max_failures``); while either is locked every
login from there for that name gets the answer of a wrong password, right or
wrong, so a lock confirms no guess.
"""

from __future__ import annotations

import hmac
import os
from collections import OrderedDict
from typing import Callable

from b2bua.runtime.admins import Admin
from dialplan import KeyKind, Lockout

MAX_SESSIONS = 1000
TOKEN_BYTES = 32


def new_token() -> str:
    return os.urandom(TOKEN_BYTES).hex()


class Session:
    __slots__ = ("id", "admin", "csrf", "created", "used", "flash")

    def __init__(self, id: str, admin: Admin, csrf: str, now: float) -> None:
        self.id = id
        self.admin = admin
        self.csrf = csrf
        self.created = now
        self.used = now
        self.flash = ""  # a notice for the next page (shown once)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and self.same(self.csrf, token)

    @staticmethod
    def same(a: str, b: str) -> bool:
        """Equal tokens (compared in constant time)."""
        return bool(a) and hmac.compare_digest(a.encode(), b.encode())


class Sessions:
    def __init__(self, idle: float, max_age: float, *, max_sessions: int = MAX_SESSIONS,
                 token: Callable[[], str] = new_token) -> None:
        self.idle = idle
        self.max_age = max_age
        self.max_sessions = max_sessions
        self.token = token
        self._by_id: OrderedDict[str, Session] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._by_id)

    def create(self, admin: Admin, now: float) -> Session:
        session = Session(self.token(), admin, self.token(), now)
        self._by_id[session.id] = session
        while len(self._by_id) > self.max_sessions:
            self._by_id.popitem(last=False)
        return session

    def get(self, sid: str | None, now: float) -> Session | None:
        """The live session of this id (its use noted), else None."""
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        if now - session.used > self.idle or now - session.created > self.max_age:
            del self._by_id[sid]
            return None
        session.used = now
        self._by_id.move_to_end(sid)
        return session

    def end(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def end_admin(self, name: str) -> None:
        for sid in [s.id for s in self._by_id.values() if s.admin.name == name]:
            del self._by_id[sid]


class LoginGuard:
    """Login throttling (module docstring); counters for /metrics."""

    def __init__(self, max_failures: int, address_max_failures: int, window: float, lockout: float) -> None:
        self.lockout = Lockout(max_failures, window, lockout, address_max_failures=address_max_failures)
        self.failures = 0
        self.lockouts = 0

    @staticmethod
    def keys(name: str, address: str) -> tuple[tuple[str, str], ...]:
        return (("admin", name.lower()), (KeyKind.ADDRESS, address))

    def locked(self, name: str, address: str, now: float) -> bool:
        return self.lockout.check(self.keys(name, address), now)

    def failed(self, name: str, address: str, now: float) -> bool:
        """Count a wrong password; True when that locked the name or the address."""
        keys = self.keys(name, address)
        self.failures += 1
        was = self.lockout.check(keys, now)
        self.lockout.record_failure(keys, now)
        if not was and self.lockout.check(keys, now):
            self.lockouts += 1
            return True
        return False
