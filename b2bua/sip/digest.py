"""HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 2617 §3, RFC 7616, RFC 8760).

Theory of operation
-------------------
Server side (phones authenticating to us): :class:`DigestServer` issues
challenges and checks credentials.  Nonces are *stateless*: each one is

    base64url( timestamp(8) | counter(8) | HMAC-SHA256(secret, realm|timestamp|counter)[:16] )

so any nonce we issued can be verified without having stored it, a nonce
from another secret (another process) or with a flipped bit fails the MAC,
and its age is read from the nonce itself (RFC 7616 §3.3 suggests exactly
this construction).  ``timestamp`` is the caller's ``now``; ``counter`` makes
nonces issued at the same instant distinct.  The secret comes from the
caller (the runtime draws it at start-up): this module never reads a clock
or draws random numbers.  One ``DigestServer`` per secret: the replay table
below lives in the instance.

Replay protection (RFC 7616 §3.4.5, RFC 2617 §3.2.2 nonce-count): for every
nonce used with ``qop=auth`` we remember the highest ``nc`` accepted; a
repeated or lower ``nc`` is a replay.  Entries are dropped when their nonce
expires and the table is capped; a nonce whose entry was dropped early
(cap reached) is refused with ``stale=true`` rather than risk accepting a
replay (fail closed: the phone simply retries with a fresh nonce).  Old
phones answering RFC 2069 style (no ``qop``, hence no ``nc``: pyVoIP 1.6.8
does) get a nonce that serves exactly one request: its first use burns it, a
second use is a replay.  Without that, one captured credential whose
digest-uri has no user part would place calls to any number until the nonce
expired (``allow_rfc2069=False`` refuses such responses altogether).

The digest-uri must name the request (RFC 3261 §22.4): it equals the
Request-URI, or (as SIPp and pyVoIP send it) it is a URI without user part
naming one of this server's own addresses (``own`` in :meth:`verify`); any
other host is refused.

Failures that prove the digest right (expired nonce, replayed nc, or a
nonce that is not ours, as after a restart drew a new secret) set
``stale``: RFC 2617 §3.2.1 lets the client retry with the fresh nonce
without asking its user for a password again.

Challenges offer the configured algorithms, one challenge per algorithm in
order of preference (RFC 8760 §2.4, RFC 7616 §3.7), each with ``qop="auth"``.
The default is MD5 alone, as Asterisk, FreeSWITCH and Kamailio offer: SIPp,
pyVoIP and common phones read only the first challenge and cannot use
SHA-256; SHA-256 is available per server and per user (``challenge`` and
``verify`` take the user's own list).

Client side (carrier trunks challenging us): :func:`parse_challenge`,
:func:`pick_challenge` and :func:`authorization`; the response is computed as
RFC 7616 §3.4.1 says, including the ``-sess`` variants and ``auth-int``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Any, Callable, Iterable, Sequence

import msgspec

from .errors import ParseError
from .uri import SipUri, parse_uri
from .headers import quote

# Algorithms we compute, by canonical name (RFC 7616 §6.1 registry spelling).
# SHA-512-256 is left out: hashlib support for it depends on the OpenSSL build.
_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")  # most preferred first
_CANONICAL = {a.upper(): a for a in ALGORITHMS}
_HEX_LEN = {"MD5": 32, "SHA-256": 64}

DEFAULT_ALGORITHMS = ("MD5",)  # offered by DigestServer; what phones and SIPp can answer
_BURNT = 0xFFFFFFFF  # the nc recorded for a nonce used without qop: any reuse is a replay
MAX_NONCES = 100_000  # replay-table entries kept at most (~100 bytes each)

_NONCE_HEAD = struct.Struct(">dQ")  # timestamp (caller's clock, seconds), counter
_NONCE_MAC_LEN = 16  # bytes of HMAC-SHA256 kept: 128 bits
_NONCE_LEN = _NONCE_HEAD.size + _NONCE_MAC_LEN  # 32 bytes -> 43 base64url chars
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_NC_RE = re.compile(r"[0-9A-Fa-f]{1,8}\Z")
_HEX_RE = re.compile(r"[0-9A-Fa-f]+\Z")

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_LWS = " \t\r\n"
# An unquoted auth-param value: a token in the grammar, but phones send
# nonces and URIs unquoted too, so anything up to white space or a comma.
_VALUE_STOP = frozenset(_LWS + ',"')


# -- auth-param lists ---------------------------------------------------------------


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest a=b, c="d"`` -> ``("Digest", {"a": "b", "c": "d"})``.

    RFC 3261 §25.1 challenge/credentials: ``auth-scheme LWS auth-param
    *(COMMA auth-param)``.  Parameter names are lowercased, quoted values
    unquoted (backslash escapes removed).  LWS around ``=`` and ``,`` and
    empty list elements are tolerated; a missing scheme, a parameter without
    ``=``, an unterminated quoted string, text after a value or a parameter
    given twice raise :class:`ParseError`.
    """
    s = value
    n = len(s)
    i = _skip_lws(s, 0)
    start = i
    while i < n and s[i] in _TOKEN_CHARS:
        i += 1
    scheme = s[start:i]
    if not scheme:
        raise ParseError("Missing authentication scheme")
    if i < n and s[i] not in _LWS:
        raise ParseError("Bad authentication scheme")
    params: dict[str, str] = {}
    need_comma = False
    i = _skip_lws(s, i)
    while i < n:
        if s[i] == ",":
            need_comma = False
            i = _skip_lws(s, i + 1)
            continue
        if need_comma:
            raise ParseError("Expected ',' between authentication parameters")
        start = i
        while i < n and s[i] in _TOKEN_CHARS:
            i += 1
        name = s[start:i].lower()
        if not name:
            raise ParseError("Bad authentication parameter name")
        i = _skip_lws(s, i)
        if i >= n or s[i] != "=":
            raise ParseError(f"Authentication parameter without value: {name[:40]!r}")
        i = _skip_lws(s, i + 1)
        if i < n and s[i] == '"':
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise ParseError("Unterminated quoted string in authentication parameter")
                ch = s[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise ParseError("Unterminated quoted string in authentication parameter")
                    out.append(s[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    i += 1
                    break
                out.append(ch)
                i += 1
            val = "".join(out)
        else:
            start = i
            while i < n and s[i] not in _VALUE_STOP:
                i += 1
            val = s[start:i]
            if not val:
                raise ParseError(f"Empty authentication parameter: {name[:40]!r}")
        if name in params:
            raise ParseError(f"Authentication parameter given twice: {name[:40]!r}")
        params[name] = val
        need_comma = True
        i = _skip_lws(s, i)
    return scheme, params


def _skip_lws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _LWS:
        i += 1
    return i


# -- the digest computation (RFC 7616 §3.4.1-§3.4.3, RFC 2617 §3.2.2) ---------------------------


def canonical_algorithm(name: str | None) -> str | None:
    """The registry spelling of a supported algorithm (absent means MD5,
    RFC 2617 §3.2.1), or None when we do not support it."""
    if name is None:
        return "MD5"
    return _CANONICAL.get(name.strip().upper())


def _h(base: str, data: bytes) -> str:
    return str(_HASHES[base](data).hexdigest())


def _enc(text: str) -> bytes:
    """UTF-8, giving back the wire bytes of text the parser decoded with
    surrogateescape (UnicodeEncodeError for other lone surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def response_digest(
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value, lowercase hex.

    ``algorithm`` is a canonical name from :data:`ALGORITHMS`; ``qop`` is
    None (RFC 2069 compatibility), ``"auth"`` or ``"auth-int"`` (which hashes
    ``body``); ``nc`` is the 8-hex-digit string as sent.  Strings are hashed
    as UTF-8 (RFC 7616 §4).
    """
    sess = algorithm.endswith("-sess")
    base = algorithm[:-5] if sess else algorithm
    if base not in _HASHES:
        raise ParseError(f"Unsupported digest algorithm: {algorithm!r}", status=None)
    ha1 = _h(base, _enc(f"{username}:{realm}:{password}"))
    if sess:
        if cnonce is None:
            raise ParseError("A -sess algorithm needs a cnonce", status=None)
        ha1 = _h(base, _enc(f"{ha1}:{nonce}:{cnonce}"))
    if qop == "auth-int":
        ha2 = _h(base, _enc(f"{method}:{uri}:{_h(base, body)}"))
    else:
        ha2 = _h(base, _enc(f"{method}:{uri}"))
    if qop is None:
        return _h(base, _enc(f"{ha1}:{nonce}:{ha2}"))
    return _h(base, _enc(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))


# -- server side ----------------------------------------------------------------------


class AuthResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`DigestServer.verify` found.

    ``username`` is the one claimed in the credentials (when they could be
    read), so failures can be logged; it is authenticated only when ``ok``.
    ``stale`` means the digest was right but the nonce cannot be used any
    more: challenge again with ``stale=true`` (RFC 2617 §3.2.1).
    """

    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""


class DigestServer:
    """Challenges and verifies phones' credentials (RFC 3261 §22.4, RFC 7616 §3.3-§3.5).

    The same instance serves 401/WWW-Authenticate and 407/Proxy-Authenticate:
    only the header names differ, and they are the caller's business.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_lifetime: float,
        *,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        allow_rfc2069: bool = True,
        max_nonces: int = MAX_NONCES,
    ) -> None:
        if not secret:
            raise ValueError("DigestServer needs a non-empty secret")
        canon = [canonical_algorithm(a) for a in algorithms]
        if not canon or any(a is None for a in canon):
            raise ValueError(f"unsupported digest algorithms: {list(algorithms)!r}")
        self.realm = realm
        self.nonce_lifetime = float(nonce_lifetime)
        self.algorithms: tuple[str, ...] = tuple(a for a in canon if a is not None)
        self.allow_rfc2069 = allow_rfc2069
        self.max_nonces = max_nonces
        self._secret = secret
        self._realm_bytes = realm.encode()
        self._counter = 0
        # nonce counter -> (highest nc accepted, time the nonce expires); in
        # first-use order, which is close to issue order, so expiry pops the front.
        self._nc_seen: dict[int, tuple[int, float]] = {}
        # counters at or below this may have been evicted from _nc_seen early
        self._forgotten_upto = -1
        # echoed by clients unchanged; integrity comes from the nonce's MAC, so
        # it depends on the realm alone and survives a change of secret (a
        # restart): a phone's old credentials are then stale, not refused
        self.opaque = hashlib.sha256(b"opaque\0" + self._realm_bytes).hexdigest()[:32]

    # -- nonces ---------------------------------------------------------------
    def _mac(self, head: bytes) -> bytes:
        return hmac.new(self._secret, b"nonce\0" + self._realm_bytes + b"\0" + head, hashlib.sha256).digest()[
            :_NONCE_MAC_LEN
        ]

    def make_nonce(self, now: float) -> str:
        """A fresh nonce carrying ``now`` and a counter, signed."""
        self._counter += 1
        head = _NONCE_HEAD.pack(now, self._counter)
        return base64.urlsafe_b64encode(head + self._mac(head)).decode("ascii").rstrip("=")

    def _read_nonce(self, nonce: str) -> tuple[float, int] | None:
        """(timestamp, counter) of a nonce we issued, None for anything else."""
        if not _NONCE_RE.match(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_LEN:
            return None
        head, mac = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if not hmac.compare_digest(mac, self._mac(head)):
            return None
        ts, counter = _NONCE_HEAD.unpack(head)
        return float(ts), int(counter)

    def _purge(self, now: float) -> None:
        seen = self._nc_seen
        while seen:
            counter = next(iter(seen))
            if seen[counter][1] > now:
                break
            del seen[counter]

    @property
    def tracked_nonces(self) -> int:
        """Entries in the nonce-count table (for tests and metrics)."""
        return len(self._nc_seen)

    # -- challenges -------------------------------------------------------------
    def challenge(self, now: float, *, stale: bool = False, algorithms: Sequence[str] | None = None) -> list[str]:
        """WWW-Authenticate / Proxy-Authenticate values: one per algorithm
        (the server's, or ``algorithms`` of the user the request names),
        preferred first (RFC 8760 §2.4), sharing one fresh nonce."""
        self._purge(now)
        nonce = self.make_nonce(now)
        tail = ", stale=true" if stale else ""
        realm = quote(self.realm)
        return [
            f'Digest realm={realm}, nonce="{nonce}", opaque="{self.opaque}", algorithm={alg}, qop="auth"{tail}'
            for alg in (self.algorithms if algorithms is None else _canonical_list(algorithms))
        ]

    # -- verification ----------------------------------------------------------
    def verify(
        self,
        method: str,
        credentials: str,
        password_for: Callable[[str], str | None],
        now: float,
        request_uri: str,
        *,
        own: Iterable[tuple[str, int]] = (),
        algorithms_for: Callable[[str], Sequence[str] | None] | None = None,
    ) -> AuthResult:
        """Check one Authorization / Proxy-Authorization value (RFC 7616 §3.4,
        RFC 3261 §22.4) for a request with ``method`` and ``request_uri``.

        ``password_for(username)`` returns the user's password or None for an
        unknown user; ``algorithms_for(username)`` the user's own algorithms
        (None: the server's).  ``own`` are this server's (host, port)
        addresses, which a digest-uri without user part may name.  Never raises on peer input: every fault is a result
        with ``ok=False`` and a reason.
        """
        try:
            scheme, p = parse_auth_params(credentials)
        except ParseError:
            return AuthResult(ok=False, reason="malformed credentials")
        if scheme.lower() != "digest":
            return AuthResult(ok=False, reason="unsupported scheme")
        username = p.get("username")
        if username is None:
            reason = "unsupported username*" if "username*" in p else "malformed credentials"
            return AuthResult(ok=False, reason=reason)

        def fail(reason: str, stale: bool = False) -> AuthResult:
            return AuthResult(ok=False, username=username, stale=stale, reason=reason)

        if p.get("userhash", "false").lower() == "true":
            return fail("unsupported userhash")
        realm, nonce, uri, response = p.get("realm"), p.get("nonce"), p.get("uri"), p.get("response")
        if realm is None or nonce is None or uri is None or response is None:
            return fail("malformed credentials")
        if realm != self.realm:
            return fail("realm mismatch")
        algorithm = canonical_algorithm(p.get("algorithm"))
        allowed = self.algorithms
        if algorithms_for is not None:
            mine = algorithms_for(username)
            if mine is not None:
                allowed = _canonical_list(mine)
        if algorithm is None or algorithm not in allowed:
            return fail("unsupported algorithm")
        qop = p.get("qop")
        nc_text = p.get("nc")
        cnonce = p.get("cnonce")
        nc = 0
        if qop is None:
            if not self.allow_rfc2069:
                return fail("qop required")
            if algorithm.endswith("-sess") and not cnonce:
                return fail("malformed credentials")
            nc_text = None
        elif qop.lower() != "auth":
            return fail("unsupported qop")
        else:
            qop = "auth"
            if nc_text is None or not _NC_RE.match(nc_text) or not cnonce:
                return fail("malformed credentials")
            nc = int(nc_text, 16)
            if nc < 1:
                return fail("malformed credentials")
        base = algorithm.removesuffix("-sess")
        if len(response) != _HEX_LEN[base] or not _HEX_RE.match(response):
            return fail("malformed credentials")
        if not _same_resource(uri, request_uri, own):
            return fail("uri mismatch")
        opaque = p.get("opaque")
        if opaque is not None and opaque != self.opaque:
            return fail("opaque mismatch")
        password = password_for(username)
        if password is None:
            return fail("unknown user")
        try:
            expected = response_digest(
                algorithm, username, realm, password, method, uri, nonce, qop=qop, nc=nc_text, cnonce=cnonce
            )
        except UnicodeEncodeError:  # a lone surrogate that came from no wire bytes
            return fail("malformed credentials")
        digest_ok = hmac.compare_digest(expected.encode(), response.lower().encode())
        issued = self._read_nonce(nonce)
        if issued is None:
            # Not a nonce of ours (tampered, made up, or issued before a restart
            # under another secret).  With a right digest the client knows the
            # password: stale lets it retry on a fresh nonce instead of failing.
            return fail("bad nonce", stale=digest_ok)
        if not digest_ok:
            return fail("wrong password")
        ts, counter = issued
        # The digest is right from here on: refusals are stale (RFC 2617 §3.2.1).
        expires_at = ts + self.nonce_lifetime
        if ts > now:
            return fail("nonce from the future", stale=True)
        if now >= expires_at:
            return fail("nonce expired", stale=True)
        self._purge(now)
        seen = self._nc_seen.get(counter)
        if seen is None:
            if counter <= self._forgotten_upto:
                return fail("nonce forgotten", stale=True)
        elif qop is None or nc <= seen[0]:
            # A replay, or a phone that reuses nc: re-challenging with
            # stale=true costs an attacker nothing and spares the user a prompt.
            return fail("nonce replayed", stale=True)
        # without qop there is no nc: the nonce serves this one request
        self._nc_seen[counter] = (nc if qop is not None else _BURNT, expires_at)
        while len(self._nc_seen) > self.max_nonces:
            oldest = next(iter(self._nc_seen))
            del self._nc_seen[oldest]
            self._forgotten_upto = max(self._forgotten_upto, oldest)
        return AuthResult(ok=True, username=username, reason="ok")


MAX_CREDENTIALS = 2  # Digest credentials for our realm verified per request


def credentials_for(values: Iterable[str], realm: str, limit: int = MAX_CREDENTIALS) -> list[str]:
    """Of several Authorization values (one per realm, RFC 3261 §22.4), the
    Digest ones for ``realm``, at most ``limit``: a request carrying hundreds
    of credentials costs no more hashing than one with two."""
    out: list[str] = []
    for value in values:
        try:
            scheme, p = parse_auth_params(value)
        except ParseError:
            continue
        if scheme.lower() == "digest" and p.get("realm") == realm:
            out.append(value)
            if len(out) >= limit:
                break
    return out


def find_credentials(values: Iterable[str], realm: str) -> str | None:
    """The first Digest value for ``realm``; None when there is none."""
    found = credentials_for(values, realm, 1)
    return found[0] if found else None


# -- client side ----------------------------------------------------------------------


class Challenge(msgspec.Struct, frozen=True, kw_only=True):
    """One Digest challenge from a WWW-Authenticate / Proxy-Authenticate value.

    ``algorithm`` is canonical when we support it (see :data:`ALGORITHMS`),
    else as received; ``qop`` lists the lowercased options offered (empty:
    RFC 2069 style).
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def supported(self) -> bool:
        """True when :func:`authorization` can answer it."""
        return self.algorithm in ALGORITHMS and (not self.qop or "auth" in self.qop or "auth-int" in self.qop)


def parse_challenge(value: str) -> Challenge:
    """Parse a Digest challenge (RFC 7616 §3.3); ParseError when it is not one."""
    scheme, p = parse_auth_params(value)
    if scheme.lower() != "digest":
        raise ParseError(f"Not a Digest challenge: {scheme[:20]!r}", status=None)
    realm, nonce = p.get("realm"), p.get("nonce")
    if realm is None or nonce is None:
        raise ParseError("Digest challenge without realm or nonce", status=None)
    raw_alg = p.get("algorithm")
    algorithm = canonical_algorithm(raw_alg) or (raw_alg or "").strip()
    qop = tuple(q.strip().lower() for q in p.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm,
        qop=qop,
        opaque=p.get("opaque"),
        stale=p.get("stale", "").strip().lower() == "true",
    )


def pick_challenge(values: Iterable[str]) -> Challenge | None:
    """The challenge with the best algorithm we support (SHA-256 before MD5,
    RFC 8760 §2.4); among equals the first.  None when none is usable."""
    best: Challenge | None = None
    for value in values:
        try:
            ch = parse_challenge(value)
        except ParseError:
            continue
        if not ch.supported:
            continue
        if best is None or ALGORITHMS.index(ch.algorithm) < ALGORITHMS.index(best.algorithm):
            best = ch
    return best


def authorization(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    *,
    body: bytes = b"",
) -> str:
    """An Authorization / Proxy-Authorization value answering ``challenge``
    (RFC 7616 §3.4, RFC 3261 §22.2).  ``uri`` is the Request-URI of the
    request that carries it; ``cnonce`` comes from the caller (the pure core
    draws no random numbers).  ``qop=auth`` is preferred; ``auth-int``
    (hashing ``body``) only when it is the sole option; none when the
    challenge offers none."""
    if not challenge.supported:
        raise ParseError(f"Unsupported digest challenge (algorithm {challenge.algorithm!r})", status=None)
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError("nc must be between 1 and 0xFFFFFFFF")
    qop: str | None = None
    if challenge.qop:
        qop = "auth" if "auth" in challenge.qop else "auth-int"
    nc_text = f"{nc:08x}"
    response = response_digest(
        challenge.algorithm,
        username,
        challenge.realm,
        password,
        method,
        uri,
        challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    parts = [
        f"username={quote(username)}",
        f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}",
        f"uri={quote(uri)}",
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None or challenge.algorithm.endswith("-sess"):
        parts.append(f"cnonce={quote(cnonce)}")
    if qop is not None:
        parts.append(f"qop={qop}")
        parts.append(f"nc={nc_text}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


def authorization_for_challenges(
    values: Iterable[str], method: str, uri: str, username: str, password: str, cnonce: str
) -> str:
    """Answer the best of several challenges from one 401/407 with nc=1
    (a fresh nonce each time); ParseError when none is usable."""
    ch = pick_challenge(values)
    if ch is None:
        raise ParseError("No usable Digest challenge", status=None)
    return authorization(ch, method, uri, username, password, cnonce, 1)


def _canonical_list(algorithms: Sequence[str]) -> tuple[str, ...]:
    return tuple(a for a in (canonical_algorithm(x) for x in algorithms) if a is not None)


def _same_resource(digest_uri: str, request_uri: str, own: Iterable[tuple[str, int]]) -> bool:
    """The digest-uri is the Request-URI (RFC 3261 §22.4), or, as SIPp
    (``sip:HOST:PORT``) and pyVoIP (``sip:HOST;transport=UDP``) send it, a URI
    without user part that names one of our own addresses (no port: any of
    that host's)."""
    a, b = digest_uri.strip(), request_uri.strip()
    if a == b:
        return True
    try:
        da = parse_uri(a)
    except ParseError:
        return False
    if not isinstance(da, SipUri) or da.user is not None:
        return False
    host = da.host.lower().strip("[]")
    return any(h.lower().strip("[]") == host and da.port in (None, p) for h, p in own)
