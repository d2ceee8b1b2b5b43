"""Digest authentication of phones for call admission and REGISTER, with
password-guessing protection (RFC 3261 §22, §8.2.7).

Pure: :func:`authenticate` takes the request, the accounts and ``now`` and
returns the authenticated account or the :class:`SendResponse` to send
(a challenge, sent statelessly, or the 403 of wrong credentials).

Password guessing
-----------------
:class:`CredentialGuard` counts wrong digest credentials per (claimed
username, source address) in a :class:`dialplan.Lockout` (growing locks).
While a pair is locked every credential of that username from that address
is answered 403 "Authentication failed", right or wrong, fresh or stale
nonce: exactly the answer of a wrong password, so the lock cannot confirm a
guess.  A right password during the lock is refused without counting as a
failure.  Emergency and service calls (:func:`dialplan.is_exempt` on the
dialed number) pass the lock with the right password, and confirm it: a
guesser could use them as an oracle at the cost of placing an emergency
call.  Other users at the same address and the same user elsewhere are not
locked.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Sequence

import msgspec

from b2bua.sip.digest import DigestServer, credentials_for
from b2bua.sip.endpoint import RequestReceived
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Header, Request, header
from dialplan import KeyKind, Lockout
from dialplan.dialstring import MASK, VSC_STARTS, without_code

from .routing import Extension, dialed_user

log = logging.getLogger("b2bua.admission")

AUTH_FAILED = "Authentication failed"  # the one answer to wrong credentials, locked or not
# guessing protection for passwords: on by default, at most 10 failures in 10 minutes
AUTH_MAX_FAILURES = 10
AUTH_WINDOW_S = 600.0
AUTH_LOCKOUT_S = 300.0
AUTH_LOCKOUT_GROWTH = 2.0
AUTH_MAX_LOCKOUT_S = 3600.0


class CredentialGuard:
    """Password guessing protection (module docstring); ``lockout`` None turns it off.

    Counters: ``lockouts`` (pairs locked), ``refusals`` (right credentials
    refused while locked), ``failures`` (wrong credentials counted)."""

    def __init__(self, lockout: Lockout | None) -> None:
        self.lockout = lockout
        self.lockouts = 0
        self.refusals = 0
        self.failures = 0

    @staticmethod
    def key(username: str, address: str) -> tuple[str, str]:
        return (KeyKind.CREDENTIAL, f"{username}@{address}")

    def locked(self, username: str, address: str, now: float) -> bool:
        return self.lockout is not None and self.lockout.check((self.key(username, address),), now)

    def failed(self, username: str, address: str, now: float) -> None:
        if self.lockout is None:
            return
        self.failures += 1
        keys = (self.key(username, address),)
        was = self.lockout.check(keys, now)
        self.lockout.record_failure(keys, now)
        if not was and self.lockout.check(keys, now):
            self.lockouts += 1
            log.warning("password guessing: user %r from %s locked for %.0f s", username, address,
                        self.lockout.retry_after(keys, now))


def default_guard() -> CredentialGuard:
    return CredentialGuard(Lockout(
        AUTH_MAX_FAILURES, AUTH_WINDOW_S, AUTH_LOCKOUT_S, growth=AUTH_LOCKOUT_GROWTH, max_lockout_s=AUTH_MAX_LOCKOUT_S,
    ))


class SendResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Answer the request without starting a call (a challenge or a 403)."""

    event: RequestReceived
    status: int
    reason: str | None = None
    headers: tuple[Header, ...] = ()
    stateless: bool = False  # a challenge: no transaction kept (RFC 3261 §8.2.7, §26.3.2.4)


def authenticate(
    auth: DigestServer,
    callers: Mapping[str, Extension],
    event: RequestReceived,
    status: int,
    now: float,
    *,
    own: Sequence[tuple[str, int]] = (),
    guard: CredentialGuard | None = None,
    exempt: bool = False,
) -> Extension | SendResponse:
    """The authenticated caller, or the answer to send: a challenge (``status``
    401 or 407; stale=true for an expired nonce; sent statelessly, with the
    algorithms of the user the request claims to be) or 403 for wrong
    credentials.  At most a few credentials of our realm are verified.

    ``guard``: password guessing protection (module docstring): wrong
    credentials count against (username, source address), and while that
    pair is locked any credentials of the username get the 403 of a wrong
    password, unless ``exempt`` (an emergency or service call)."""
    req = event.request
    creds = credentials_for((v for _, k, v in req.headers if k in ("authorization", "proxy-authorization")), auth.realm)
    stale = locked = False
    reason = ""
    mine = own_addresses(own, req)
    host = event.source.host
    for value in creds:
        result = auth.verify(
            req.method, value, _password_for(callers), now, request_uri=req.uri, own=mine,
            algorithms_for=_algorithms_for(callers),
        )
        name = result.username or ""
        if guard is not None and name and not exempt and guard.locked(name, host, now):
            # the answer of a wrong password, whatever this one is
            locked = True
            if result.ok:
                guard.refusals += 1
                log.info("user %r from %s refused: locked for password guessing", name, host)
            elif not result.stale:
                guard.failed(name, host, now)
            reason = "locked"
            continue
        user = callers.get(name) if result.ok else None
        if user is not None:
            return user
        if guard is not None and name and not result.stale:
            guard.failed(name, host, now)
        stale = stale or result.stale
        reason = result.reason
    if creds and (locked or not stale):
        src = f"{event.source.transport}:{host}:{event.source.port}"
        log.warning("authentication failed for %s %s from %s: %s", req.method, _unauthenticated_dial(req), src,
                    reason)
        return SendResponse(event=event, status=403, reason=AUTH_FAILED)
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    claimed = claimed_account(callers, req)
    algorithms = claimed.digest_algorithms if claimed is not None else None
    return SendResponse(
        event=event,
        status=status,
        headers=tuple(header(name, c) for c in auth.challenge(now, stale=stale, algorithms=algorithms)),
        stateless=True,
    )


def _unauthenticated_dial(req: Request) -> str:
    """The dial string for a log line before the caller's group (and so its
    feature access codes) is known: without a shortcut code, and only the
    first three characters of anything starting with a star code."""
    shown = without_code(dialed_user(req))
    return shown[:3] + MASK if shown[:1] in VSC_STARTS else shown


def own_addresses(listening: Sequence[tuple[str, int]], req: Request) -> list[tuple[str, int]]:
    """The addresses a digest-uri without user part may name: those we listen
    on; on a wildcard address, the host the request was sent to."""
    own = list(listening)
    wild = [p for h, p in own if h in ("0.0.0.0", "::")]
    if wild:
        try:
            uri = req.ruri
        except ParseError:
            return own
        host = getattr(uri, "host", None)
        if host:
            own += [(host, p) for p in wild]
    return own


def claimed_account(callers: Mapping[str, Extension], req: Request) -> Extension | None:
    """The account a request claims before authentication: the To user of a
    REGISTER (its address of record), else the From user."""
    try:
        uri = req.to.uri if req.method == "REGISTER" else req.from_.uri
    except ParseError:
        return None
    who = getattr(uri, "user", None) or ""
    found = callers.get(who)
    if found is None:
        found = next((c for c in callers.values() if c.extension == who), None)
    return found


def _algorithms_for(callers: Mapping[str, Extension]) -> Callable[[str], Sequence[str] | None]:
    def algorithms(username: str) -> Sequence[str] | None:
        user = callers.get(username)
        return user.digest_algorithms if user is not None else None

    return algorithms


def _password_for(callers: Mapping[str, Extension]) -> Callable[[str], str | None]:
    def password(username: str) -> str | None:
        user = callers.get(username)
        return user.password if user else None

    return password
