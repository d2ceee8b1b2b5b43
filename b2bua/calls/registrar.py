"""Registrar and location service (RFC 3261 §10.3, §20.10, §20.19, §21.4.17).

Theory of operation
-------------------
:class:`LocationService` holds, per address-of-record (an extension), the
contacts phones registered: :class:`Binding` value objects with an absolute
expiry time on the caller's clock.  It is pure and in memory; the runtime
persists :meth:`LocationService.snapshot` (SQLite) and feeds it back with
:meth:`LocationService.restore` at start-up.  Expired bindings are invisible
to :meth:`~LocationService.lookup` at once and dropped by
:meth:`~LocationService.expire`, which :class:`ExpiryTimer` runs on the
server's single timer (at most every :data:`PURGE_INTERVAL`), telling the
runtime which bindings went so it can drop them from its store too.

:class:`Registrar` applies one REGISTER that the caller has ALREADY
authenticated (digest, :mod:`b2bua.sip.digest`) to the location service, as
RFC 3261 §10.3 steps 5-8 say, and returns the response:

* step 5: the To AOR must be the authenticated user's extension (else 403);
* step 6: ``Contact: *`` only alone and with ``Expires: 0`` (else 400);
  expiry per contact: its ``expires`` parameter, else the Expires header,
  else the default (``max_expires``); 0 removes; below ``min_expires`` ->
  423 with Min-Expires (§10.3 step 7, §21.4.17); above ``max_expires`` is
  lowered;
* step 7: an existing binding with the same Call-ID and a CSeq not lower
  than the request's aborts the whole request (500);
* step 8: the 200 lists every current binding with its remaining expiry.

The request is checked completely before anything changes (the RFC wants
the update atomic).  Bindings are matched by URI equality (§19.1.4) or,
when both carry them, by ``+sip.instance`` and ``reg-id`` (RFC 5626 §6),
so a phone that re-registers from a new address replaces its old binding.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Protocol

import msgspec

from b2bua.sip.build import make_response
from b2bua.sip.errors import ParseError
from b2bua.sip.headers import NameAddr, parse_name_addr
from b2bua.sip.message import Header, Request, Response, header
from b2bua.sip.uri import SipUri, parse_uri, uri_equal

MIN_EXPIRES = 60  # seconds, RFC 3261 §10.2.8 suggests at least 60 is reasonable (config default)
MAX_EXPIRES = 3600  # seconds, also the default expiry when the phone names none (§10.3 step 7)
MAX_BINDINGS = 10  # contacts per AOR; a cap on what one account can make us hold
_MAX_DELTA = 2**32 - 1  # RFC 3261 §20.19: delta-seconds above this may be treated as this
_DEFAULT_Q = 1.0  # an unspecified q sorts as the highest preference
PURGE_INTERVAL = 1.0  # seconds, at least, between two sweeps of expired bindings (a sweep reads them all)


class Binding(msgspec.Struct, frozen=True, kw_only=True):
    """One registered contact of an AOR (RFC 3261 §10.3).

    ``contact`` is the Contact value as stored and echoed in the 200, without
    its ``expires`` parameter (e.g. ``<sip:1001@127.0.0.1:5070;transport=udp>``);
    ``contact_uri`` the bare URI.  ``source`` is the address the REGISTER
    came from, stored as given (an Address tuple in the runtime).
    ``registered_at`` is when the binding was last created or refreshed.
    """

    aor: str
    contact: str
    contact_uri: str
    expires_at: float
    call_id: str
    cseq: int
    source: Any = None
    q: float | None = None
    user_agent: str = ""
    instance: str | None = None  # +sip.instance, unquoted (RFC 5626 §4.1)
    reg_id: int | None = None  # reg-id (RFC 5626 §4.2)
    registered_at: float = 0.0

    def remaining(self, now: float) -> int:
        """Whole seconds left, at least 1 while unexpired (0 once expired)."""
        left = self.expires_at - now
        return 0 if left <= 0 else max(1, int(left + 0.5))


def same_binding(a: Binding, b: Binding) -> bool:
    """Whether ``b`` updates ``a``: same instance and reg-id (RFC 5626 §6),
    else equal contact URIs (RFC 3261 §10.3 step 7, §19.1.4)."""
    if a.instance is not None and a.instance == b.instance and a.reg_id is not None and a.reg_id == b.reg_id:
        return True
    if a.contact_uri == b.contact_uri:
        return True
    try:
        return uri_equal(parse_uri(a.contact_uri), parse_uri(b.contact_uri))
    except ParseError:
        return False


def _order(b: Binding) -> tuple[float, float]:
    return (-(b.q if b.q is not None else _DEFAULT_Q), -b.registered_at)


class LocationService:
    """Bindings per AOR, in memory (RFC 3261 §10: the location service).

    Every call takes ``now``; nothing here reads a clock.
    """

    def __init__(self) -> None:
        self._by_aor: dict[str, list[Binding]] = {}
        self._due: float | None = None  # no binding expires before this (see due())

    # -- changes ------------------------------------------------------------------
    def update(self, aor: str, changes: Iterable[Binding], now: float) -> None:
        """Apply ``changes`` to ``aor`` in order: a binding expiring after
        ``now`` replaces the one it matches (:func:`same_binding`) or is
        added; one expiring at or before ``now`` removes its match.  Expired
        bindings of the AOR are dropped on the way."""
        current = [b for b in self._by_aor.get(aor, ()) if b.expires_at > now]
        for change in changes:
            if change.aor != aor:
                change = msgspec.structs.replace(change, aor=aor)
            current = [b for b in current if not same_binding(b, change)]
            if change.expires_at > now:
                current.append(change)
                if self._due is None or change.expires_at < self._due:
                    self._due = change.expires_at
        if current:
            self._by_aor[aor] = current
        else:
            self._by_aor.pop(aor, None)

    def remove_all(self, aor: str) -> list[Binding]:
        """Drop every binding of ``aor`` (``Contact: *``); return them."""
        return self._by_aor.pop(aor, [])

    def expire(self, now: float) -> list[Binding]:
        """Drop the bindings expired at ``now``; return them."""
        removed: list[Binding] = []
        for aor in list(self._by_aor):
            keep: list[Binding] = []
            for b in self._by_aor[aor]:
                (keep if b.expires_at > now else removed).append(b)
            if keep:
                self._by_aor[aor] = keep
            else:
                del self._by_aor[aor]
        self._due = self.next_expiry()
        return removed

    # -- queries ------------------------------------------------------------------
    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings of ``aor``: highest q first (no q counts as
        1.0), then the most recently registered first."""
        return sorted((b for b in self._by_aor.get(aor, ()) if b.expires_at > now), key=_order)

    def all(self, now: float) -> list[Binding]:
        """Every unexpired binding, by AOR then as :meth:`lookup` orders them."""
        out: list[Binding] = []
        for aor in sorted(self._by_aor):
            out.extend(self.lookup(aor, now))
        return out

    @property
    def count(self) -> int:
        """Bindings held, expired ones included until :meth:`expire` runs."""
        return sum(len(v) for v in self._by_aor.values())

    def __len__(self) -> int:
        return self.count

    def next_expiry(self) -> float | None:
        """When the next binding expires, None when empty (reads every binding)."""
        return min((b.expires_at for v in self._by_aor.values() for b in v), default=None)

    def due(self) -> float | None:
        """A time no binding expires before, None when none is held since the last
        :meth:`expire`; costs nothing, so a timer may ask after every message.  It may
        be early (a refreshed or removed binding), never late."""
        return self._due

    # -- persistence ------------------------------------------------------------------
    def snapshot(self) -> list[Binding]:
        """Every binding held (for the runtime to persist)."""
        return [b for v in self._by_aor.values() for b in v]

    def restore(self, bindings: Iterable[Binding], now: float) -> None:
        """Replace the content with ``bindings``, keeping the unexpired ones."""
        self._by_aor = {}
        self._due = None
        for b in bindings:
            if b.expires_at > now:
                self.update(b.aor, [b], now)


class ExpiryTimer:
    """Drops expired bindings on the driver's single timer (a ``Timed`` component).

    Lookups hide an expired binding at once; this only frees it, so sweeps may be
    late: at most one every ``interval`` seconds.  ``on_expired(bindings, now)``
    hears what each sweep dropped (the runtime deletes them from its store);
    ``expired`` counts them.
    """

    def __init__(
        self, location: LocationService, on_expired: Callable[[list[Binding], float], None] | None = None,
        interval: float = PURGE_INTERVAL,
    ) -> None:
        self.location = location
        self.on_expired = on_expired
        self.interval = interval
        self.expired = 0
        self._last: float | None = None  # when the last sweep ran

    def next_deadline(self) -> float | None:
        due = self.location.due()
        if due is None or self._last is None:
            return due
        return max(due, self._last + self.interval)

    def handle_timer(self, now: float) -> None:
        deadline = self.next_deadline()
        if deadline is None or deadline > now:
            return
        self._last = now
        removed = self.location.expire(now)
        if removed:
            self.expired += len(removed)
            if self.on_expired is not None:
                self.on_expired(removed, now)


class _HasExtension(Protocol):
    @property
    def extension(self) -> str: ...


class Registrar:
    """REGISTER processing for authenticated requests (RFC 3261 §10.3 steps 5-8)."""

    def __init__(
        self,
        location: LocationService | None = None,
        *,
        min_expires: int = MIN_EXPIRES,
        max_expires: int = MAX_EXPIRES,
        max_bindings: int = MAX_BINDINGS,
    ) -> None:
        if not 0 < min_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= max_expires")
        if max_bindings < 1:
            raise ValueError("max_bindings must be at least 1")
        self.location = location if location is not None else LocationService()
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.max_bindings = max_bindings

    def handle(self, req: Request, source: Any, user: str | _HasExtension, now: float, to_tag: str) -> Response:
        """Apply one REGISTER from the authenticated ``user`` (an extension,
        or an object with ``.extension``) and return the response to send.

        Never raises on the peer's input: faults become 400/403/423/500.
        """
        extension = user if isinstance(user, str) else user.extension
        try:
            return self._handle(req, source, extension, now, to_tag)
        except ParseError as err:
            return make_response(req, err.status or 400, err.reason, to_tag=to_tag)

    # -- steps -----------------------------------------------------------------------
    def _handle(self, req: Request, source: Any, extension: str, now: float, to_tag: str) -> Response:
        if req.method != "REGISTER":
            return make_response(req, 405, to_tag=to_tag, headers=[header("Allow", "REGISTER")])
        # step 5: the AOR is the To URI; the user may only register their own.
        to_uri = req.to.uri
        aor = to_uri.user if isinstance(to_uri, SipUri) else None
        if aor != extension:
            return make_response(req, 403, "Forbidden (To does not match credentials)", to_tag=to_tag)
        call_id = req.call_id
        cseq = req.cseq.number

        values = req.get_all("contact")
        if not values:  # a query: just list the bindings (step 6)
            return self._ok(req, aor, now, to_tag)
        expires_header = self._expires_header(req)

        if any(v.strip() == "*" for v in values):
            # step 6: '*' alone, with Expires: 0, removes every binding.
            if len(values) != 1 or expires_header != 0:
                return make_response(req, 400, "Contact: * needs Expires: 0 and no other Contact", to_tag=to_tag)
            current = self.location.lookup(aor, now)
            if any(b.call_id == call_id and cseq <= b.cseq for b in current):
                return self._out_of_order(req, to_tag)
            self.location.remove_all(aor)
            return self._ok(req, aor, now, to_tag)

        # Read every contact before changing anything (atomic update, §10.3).
        changes: list[Binding] = []
        user_agent = req.get("user-agent") or ""
        for value in values:
            addr = self._parse_contact(value)
            expires = self._contact_expires(addr, expires_header)
            if 0 < expires < self.min_expires:
                return make_response(
                    req, 423, to_tag=to_tag, headers=[header("Min-Expires", str(self.min_expires))]
                )
            expires = min(expires, self.max_expires)
            changes.append(_binding(aor, addr, expires, now, call_id, cseq, source, user_agent))

        # step 7: a request older than what a binding already holds aborts.
        current = self.location.lookup(aor, now)
        resulting = list(current)
        for change in changes:
            for b in resulting:
                if same_binding(b, change) and b.call_id == call_id and cseq <= b.cseq:
                    return self._out_of_order(req, to_tag)
            resulting = [b for b in resulting if not same_binding(b, change)]
            if change.expires_at > now:
                resulting.append(change)
        if len(resulting) > self.max_bindings and len(resulting) > len(current):
            return make_response(req, 403, "Too many registrations", to_tag=to_tag)

        # step 8
        self.location.update(aor, changes, now)
        return self._ok(req, aor, now, to_tag)

    def _expires_header(self, req: Request) -> int | None:
        value = req.get("expires")
        if value is None:
            return None
        return _delta_seconds(value, "Expires header")

    def _contact_expires(self, addr: NameAddr, expires_header: int | None) -> int:
        param = addr.params.get("expires")
        if "expires" in addr.params:
            if param is None:
                raise ParseError("Bad Contact: expires parameter without value")
            return _delta_seconds(param, "Contact expires parameter")
        if expires_header is not None:
            return expires_header
        return self.max_expires

    @staticmethod
    def _parse_contact(value: str) -> NameAddr:
        try:
            addr = parse_name_addr(value)
        except ParseError as err:
            raise ParseError(f"Malformed Contact: {err.reason}") from None
        if not isinstance(addr.uri, SipUri):
            raise ParseError("Bad Contact: only sip: and sips: URIs can be registered")
        q = addr.params.get("q")
        if "q" in addr.params:
            if q is None or not _valid_q(q):
                raise ParseError("Bad Contact: malformed q parameter")
        return addr

    def _ok(self, req: Request, aor: str, now: float, to_tag: str) -> Response:
        headers: list[Header] = [
            header("Contact", f"{b.contact};expires={b.remaining(now)}") for b in self.location.lookup(aor, now)
        ]
        return make_response(req, 200, to_tag=to_tag, headers=headers)

    @staticmethod
    def _out_of_order(req: Request, to_tag: str) -> Response:
        # RFC 3261 §10.3 step 7: "the update MUST be aborted and the request fails".
        return make_response(req, 500, "Out of order CSeq for this Call-ID", to_tag=to_tag)


def _delta_seconds(text: str, what: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"Bad {what}: {text[:20]!r}")
    # RFC 3261 §20.19: larger than 2**32-1 counts as 2**32-1 (then capped at max_expires)
    return _MAX_DELTA if len(text) > 10 else min(int(text), _MAX_DELTA)


# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC 3261 §25.1
_QVALUE_RE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")


def _valid_q(text: str) -> bool:
    return _QVALUE_RE.match(text) is not None


def _binding(
    aor: str,
    addr: NameAddr,
    expires: int,
    now: float,
    call_id: str,
    cseq: int,
    source: Any,
    user_agent: str,
) -> Binding:
    params = {k: v for k, v in addr.params.items() if k != "expires"}
    q = params.get("q")
    instance = params.get("+sip.instance")
    reg_id = params.get("reg-id")
    stored = NameAddr(display=addr.display, uri=addr.uri, params=params)
    return Binding(
        aor=aor,
        contact=str(stored),
        contact_uri=str(addr.uri),
        expires_at=now + expires,
        call_id=call_id,
        cseq=cseq,
        source=source,
        q=float(q) if q is not None else None,
        user_agent=user_agent,
        instance=instance.strip('"') if instance else None,
        reg_id=int(reg_id) if reg_id and reg_id.isdigit() and reg_id.isascii() and len(reg_id) < 10 else None,
        registered_at=now,
    )
