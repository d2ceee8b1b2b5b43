"""Is a well-formed message acceptable?  The checks between the parser and the
transaction layer (RFC 3261 §8.2, §16.3 as RFC 7332 applies it to a B2BUA,
§18.1.2, §8.1.3.3; the outcomes RFC 4475 and RFC 5118 ask for).

Theory of operation
-------------------
:func:`b2bua.sip.message.parse_message` only splits a message: start line,
header list, body.  :func:`check_request` then reads the values a request must
have and raises :class:`~b2bua.sip.errors.ParseError` carrying the status to
answer, a reason phrase that names the fault, and the headers the answer must
carry (Allow, Unsupported, Accept, ...).  The checks run in the order RFC 3261
§8.2 implies, so that each message gets the answer the torture tests expect:

1. syntax (400): the mandatory headers are present (Via, From, To, Call-ID,
   CSeq; Max-Forwards may be absent, RFC 4475 §3.4.1), the single-valued ones
   are not repeated (§3.3.8), every value we rely on parses (Via, From, To,
   Call-ID, CSeq, Max-Forwards 0..255, Expires and Contact ``expires`` up to
   2**32-1, Contact, Content-Type), the Request-URI parses and carries no
   URI headers (§19.1.1 Table 1), a body has a Content-Type (§20.15), the top
   Via branch is not the bare magic cookie (RFC 4475 §3.2.1);
2. method (501 with Allow, §8.2.1).  Before the CSeq method check: RFC 4475
   §3.1.2.18 prefers 501 for an unknown method whose CSeq does not match;
3. CSeq method equals the request method (400, RFC 4475 §3.1.2.17);
4. Request-URI scheme sip, sips or tel (416, §8.2.2.1);
5. loop (482): one of our own Vias in the request (see below);
6. Max-Forwards 0 (483) on a request we would relay;
7. Require (420 with Unsupported, §8.2.2.3);
8. REGISTER: the To URI is an address-of-record, sip or sips (400, §10.3,
   RFC 4475 §3.3.4);
9. content (§8.2.3): a body of a method whose body we interpret must be of a
   type in ``accept`` (415 with Accept) without a content coding (415 with
   Accept-Encoding); an INVITE whose Accept excludes SDP gets 406 (RFC 4475
   §3.3.15).

An ACK is never answered (§17.1.1.3, §17.2.3): every error raised for one
carries ``status=None``.

A B2BUA is a user agent on each side, so the proxy rules are applied as
RFC 7332 says: §4 recommends proxy-style Via loop detection, §5 requires a
zero Max-Forwards to be rejected on what the B2BUA would forward.

* Loop detection (482).  A request that carries a Via whose sent-by is one of
  ``own_addresses`` with a branch we could have generated (it starts with the
  RFC 3261 magic cookie; every branch we send does) is one we sent ourselves
  on another leg, come back.  Our branches are random, not a hash of the
  routing state (§16.6 step 8), so a spiral cannot be told apart from a loop:
  all are answered 482.  Ports compare with the default filled in (5060,
  5061 for TLS), hosts case-insensitively and IPv6 in canonical form.
* Max-Forwards 0 (483) applies to requests outside a dialog (no To tag) that
  the B2BUA would relay.  OPTIONS and REGISTER are answered here (RFC 3261
  §16.3 step 3 lets a proxy answer OPTIONS itself; RFC 4475 §3.3.11 asks an
  endpoint to process them); ACK and CANCEL are hop-by-hop; in-dialog
  requests are exempt (RFC 7332 §5 makes that a MAY, and rejecting a BYE
  would leave a call up).

:func:`check_response` is the counterpart for responses: a response that must
be dropped raises ``ParseError(status=None)`` (more than one Via, §8.1.3.3 and
RFC 4475 §3.3.10; overlarge scalar values, RFC 4475 §3.1.2.5).

Proxy-Require is not checked: it addresses proxies, and a UAS ignores it
(RFC 3261 §20.29; RFC 4475 §3.3.5 lists "the Require or Proxy-Require
header field, depending on the role in which the element is responding").
The Date header is not checked: RFC 4475 §3.1.2.12 says an element should not
reject a bad Date unless it uses it, and this server does not.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Iterable

from .build import BRANCH_COOKIE
from .errors import ParseError
from .headers import (
    SINGLE_HEADERS,
    TOKEN_RE,
    NameAddr,
    Via,
    canonical_name,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from .message import Request, Response
from .uri import SipUri, TelUri

# Methods this server implements; anything else is 501 with this Allow list.
METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "INFO",
        "UPDATE",
        "PRACK",
        "NOTIFY",
        "SUBSCRIBE",
        "REFER",
        "MESSAGE",
    }
)
# Option tags for Require/Supported.  Only what code here implements: session
# timers (RFC 4028, b2bua.calls) and reliable provisional responses (RFC 3262,
# b2bua.calls.prack).  "path" (RFC 3327) and "replaces" (RFC 3891)
# belong here once the registrar stores Path and the call layer handles Replaces.
# "tdialog" (RFC 4538): mid-call account codes name the call with Target-Dialog.
SUPPORTED = frozenset({"timer", "100rel", "tdialog"})
# Body types of the methods whose bodies the B2BUA reads (SESSION_METHODS):
# session descriptions (RFC 3264), the DTMF relays of INFO and the account code
# of a mid-call INFO (b2bua.calls.midcall), and the hook flashes of ATAs (b2bua.calls.flash).
ACCEPT = frozenset({
    "application/sdp", "application/dtmf-relay", "application/dtmf", "application/x-account-code",
    "application/hook-flash", "application/broadsoft",
})

# Methods whose body this server interprets, so that an unknown type is a 415
# (RFC 3261 §8.2.3).  Other bodies (MESSAGE, NOTIFY, ...) are relayed as they are.
SESSION_METHODS = frozenset({"INVITE", "ACK", "UPDATE", "PRACK", "INFO"})
# Answered by this server itself, or hop-by-hop: Max-Forwards 0 is no reason to refuse them.
LOCAL_METHODS = frozenset({"OPTIONS", "REGISTER", "ACK", "CANCEL"})

MAX_FORWARDS = 255  # RFC 3261 §20.22: an integer in the range 0-255
MAX_DELTA_SECONDS = 2**32 - 1  # seconds, RFC 3261 §20.19 (Expires) and §20.10 (Contact expires)
DEFAULT_PORT = 5060  # RFC 3261 §19.1.2
DEFAULT_TLS_PORT = 5061  # RFC 3261 §19.1.2

# (canonical lowercase name, name in a reason phrase); RFC 3261 §8.1.1
_MANDATORY = (
    ("via", "Via"),
    ("from", "From"),
    ("to", "To"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
)
_SINGLE_SORTED = sorted(SINGLE_HEADERS)
# headers the first pass of _check_request counts and keeps the first value of
_WATCHED = (
    frozenset(k for k, _ in _MANDATORY)
    | SINGLE_HEADERS
    | {"contact", "require", "accept", "content-encoding", "max-forwards", "expires", "content-type"}
)
# callid = word [ "@" word ], RFC 3261 §25.1
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?\Z")
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# media-type = m-type SLASH m-subtype *(SEMI m-parameter), RFC 3261 §20.15
_MEDIA_TYPE_RE = re.compile(rf"\s*{_TOKEN}\s*/\s*{_TOKEN}\s*(?:;.*)?\Z", re.S)
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), RFC 3261 §25.1
_QVALUE_RE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")
_DIGITS_RE = re.compile(r"[0-9]+\Z")
_RETRY_AFTER_RE = re.compile(r"\s*([0-9]+)\s*(?:\(.*\))?\s*(?:;.*)?\Z", re.S)  # §20.33
_WARNING_RE = re.compile(r"[0-9]{3} \S+ \".*\"\Z", re.S)  # §20.43
_SDP_RANGES = frozenset({"application/sdp", "application/*", "*/*"})
_PSEUDONYM = "b2bua"  # warn-agent of our Warning values (RFC 3261 §20.43 pseudonym)


def check_request(
    req: Request,
    *,
    methods: frozenset[str] = METHODS,
    supported: frozenset[str] = SUPPORTED,
    accept: frozenset[str] = ACCEPT,
    own_addresses: frozenset[tuple[str, int]] = frozenset(),
) -> None:
    """Raise :class:`ParseError` (status, reason, headers) unless ``req`` is
    acceptable; see the module docstring for the rules and their order.

    ``own_addresses`` are the (host, port) pairs this server puts in its Vias;
    a request carrying one of them has looped back (482).
    """
    try:
        _check_request(req, methods, supported, accept, own_addresses)
    except ParseError as err:
        if err.partial is None:
            err.partial = req
        if req.method == "ACK":
            err.status = None  # an ACK is never answered
        raise


def check_response(resp: Response) -> None:
    """Raise ``ParseError(status=None)`` for a response that must be dropped
    (RFC 3261 §18.1.2, §8.1.3.3; RFC 4475 §3.1.2.5, §3.3.10)."""
    try:
        _check_response(resp)
    except ParseError as err:
        err.status = None
        raise


# -- requests ------------------------------------------------------------------


def _check_request(
    req: Request,
    methods: frozenset[str],
    supported: frozenset[str],
    accept: frozenset[str],
    own: frozenset[tuple[str, int]],
) -> None:
    method = req.method

    # 1. syntax ---------------------------------------------------------------
    # one pass over the headers: how often each watched one appears, its first value
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for _, key, value in req.headers:
        if key in _WATCHED:
            if key in counts:
                counts[key] += 1
            else:
                counts[key] = 1
                first[key] = value
    if len(first) < len(_MANDATORY) or any(key not in first for key, _ in _MANDATORY):
        missing = [name for key, name in _MANDATORY if key not in first]
        raise ParseError(f"Missing {_and(missing)} header{'s' if len(missing) > 1 else ''}")
    if len(counts) != sum(counts.values()):
        repeated = [canonical_name(k) for k in _SINGLE_SORTED if counts.get(k, 0) > 1]
        if repeated:
            raise ParseError(f"More than one {_and(repeated)} header")

    vias = _vias(req)
    if not vias:
        raise ParseError("Bad Via header")
    if vias[0].branch == BRANCH_COOKIE:
        raise ParseError("Via branch is the magic cookie alone")
    _name_addr(first["from"], "From")
    to = _name_addr(first["to"], "To")
    if not _CALL_ID_RE.match(first["call-id"]):
        raise ParseError("Bad Call-ID header")
    cseq_text = first["cseq"]
    try:
        cseq = parse_cseq(cseq_text)
    except ParseError as err:
        if _DIGITS_RE.match((cseq_text.split() or [""])[0]):
            raise ParseError("CSeq number out of range") from err
        raise ParseError("Bad CSeq header") from err
    max_forwards = _max_forwards(first.get("max-forwards"))
    expires = first.get("expires")
    if expires is not None and _delta_seconds(expires) is None:
        raise ParseError("Bad Expires header")
    if "contact" in first:
        _check_contacts(req, method, expires)
    try:
        ruri = req.ruri
    except ParseError as err:
        raise ParseError("Bad Request-URI") from err
    if isinstance(ruri, SipUri) and (ruri.headers is not None or "method" in ruri.params):
        raise ParseError("Request-URI must not carry headers or a method parameter")
    content_type = first.get("content-type")
    if content_type is not None and not _MEDIA_TYPE_RE.match(content_type):
        raise ParseError("Bad Content-Type header")
    if req.body and content_type is None:
        raise ParseError("Missing Content-Type header")

    # 2. method ---------------------------------------------------------------
    if method not in methods:
        raise ParseError("Method not implemented", status=501, headers=(("Allow", ", ".join(sorted(methods))),))

    # 3. CSeq method ----------------------------------------------------------
    if cseq.method != method:
        raise ParseError("CSeq method does not match Request-Line")

    # 4. Request-URI scheme ----------------------------------------------------
    if not isinstance(ruri, (SipUri, TelUri)):
        raise ParseError("Unsupported URI scheme in Request-URI", status=416)

    # 5. loop ------------------------------------------------------------------
    if own and _looped(vias, own):
        raise ParseError("Loop detected: our own Via in the request", status=482)

    # 6. Max-Forwards ------------------------------------------------------------
    if max_forwards == 0 and method not in LOCAL_METHODS and to.tag is None:
        raise ParseError("Too many hops: Max-Forwards is 0", status=483)

    # 7. Require ---------------------------------------------------------------
    if method != "ACK" and method != "CANCEL" and "require" in first:
        tags = req.get_all("require")
        if not all(TOKEN_RE.match(t) for t in tags):
            raise ParseError("Bad Require header")
        known = {s.lower() for s in supported}  # tokens compare case-insensitively, §7.3.1
        unknown = [t for t in tags if t.lower() not in known]
        if unknown:
            raise ParseError(
                "Required extension not supported", status=420, headers=(("Unsupported", ", ".join(unknown)),)
            )

    # 8. REGISTER ---------------------------------------------------------------
    if method == "REGISTER" and not isinstance(to.uri, SipUri):
        raise ParseError("REGISTER To must be a SIP or SIPS URI")

    # 9. content -----------------------------------------------------------------
    if method in SESSION_METHODS and req.body:
        codings = [c.lower() for c in req.get_all("content-encoding")] if "content-encoding" in first else []
        if any(c != "identity" for c in codings):
            raise ParseError(
                "Unsupported Content-Encoding", status=415, headers=(("Accept-Encoding", "identity"),)
            )
        if req.content_type not in accept:
            raise ParseError(
                "Unsupported Content-Type", status=415, headers=(("Accept", ", ".join(sorted(accept))),)
            )
    if method == "INVITE" and "accept" in first:
        ranges = {r.split(";", 1)[0].strip().lower() for r in req.get_all("accept")}
        if not ranges & _SDP_RANGES:
            raise ParseError(
                "Accept excludes application/sdp",
                status=406,
                headers=(("Warning", f'399 {_PSEUDONYM} "An answer can only be application/sdp"'),),
            )


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _vias(msg: Request | Response) -> list[Via]:
    try:
        return [parse_via(v) for v in msg.get_all("via")]
    except ParseError as err:
        raise ParseError("Bad Via header") from err


def _name_addr(value: str | None, name: str) -> NameAddr:
    try:
        return parse_name_addr(value or "")
    except ParseError as err:
        raise ParseError(f"Bad {name} header") from err


def _max_forwards(text: str | None) -> int | None:
    if text is None:
        return None  # RFC 2543 peers send none (RFC 4475 §3.4.1)
    text = text.strip()
    if not _DIGITS_RE.match(text) or len(text) > 10 or int(text) > MAX_FORWARDS:
        raise ParseError("Bad Max-Forwards header")
    return int(text)


def _delta_seconds(text: str) -> int | None:
    text = text.strip()
    if not _DIGITS_RE.match(text) or len(text) > 10 or int(text) > MAX_DELTA_SECONDS:
        return None
    return int(text)


def _check_contacts(req: Request, method: str, expires: str | None) -> None:
    values = req.get_all("contact")
    if "*" in values:
        # RFC 3261 §10.2.2: "Contact: *" only alone, in a REGISTER with Expires 0
        if method != "REGISTER" or len(values) != 1 or expires is None or _delta_seconds(expires) != 0:
            raise ParseError("Bad Contact header: '*' only alone in a REGISTER with Expires 0")
        return
    for value in values:
        try:
            addr = parse_name_addr(value)
        except ParseError as err:
            raise ParseError("Bad Contact header") from err
        params = addr.params
        if "expires" in params and _delta_seconds(params["expires"] or "") is None:
            raise ParseError("Bad Contact expires parameter")
        if "q" in params and not _QVALUE_RE.match(params["q"] or ""):
            raise ParseError("Bad Contact q parameter")


def _looped(vias: Iterable[Via], own: frozenset[tuple[str, int]]) -> bool:
    mine = _own_keys(own)
    for via in vias:
        branch = via.branch
        if branch is None or not branch.startswith(BRANCH_COOKIE):
            continue
        port = via.port if via.port is not None else _default_port(via.transport)
        if (_host_key(via.host), port) in mine:
            return True
    return False


@functools.lru_cache(maxsize=16)
def _own_keys(own: frozenset[tuple[str, int]]) -> frozenset[tuple[str, int]]:
    return frozenset((_host_key(host), port) for host, port in own)


def _host_key(host: str) -> str:
    host = host.lower().strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return host
    return host


def _default_port(transport: str) -> int:
    return DEFAULT_TLS_PORT if transport.upper() in ("TLS", "WSS") else DEFAULT_PORT


# -- responses -----------------------------------------------------------------


def _check_response(resp: Response) -> None:
    vias = _vias(resp)
    if len(vias) != 1:
        # §8.1.3.3: a UAC discards a response with more than one Via (none: no route either)
        raise ParseError(f"Response with {len(vias)} Via values")
    for key, name in _MANDATORY[1:]:
        if key not in resp:
            raise ParseError(f"Missing {name} header")
    _name_addr(resp.get("to"), "To")
    _name_addr(resp.get("from"), "From")
    try:
        resp.cseq
    except ParseError as err:
        raise ParseError("Bad CSeq header") from err
    retry_after = resp.get("retry-after")
    if retry_after is not None:
        m = _RETRY_AFTER_RE.match(retry_after)
        if m is None or _delta_seconds(m.group(1)) is None:
            raise ParseError("Bad Retry-After header")
    for warning in resp.get_all("warning"):
        if not _WARNING_RE.match(warning):
            raise ParseError("Bad Warning header")


__all__ = [
    "ACCEPT",
    "LOCAL_METHODS",
    "METHODS",
    "SESSION_METHODS",
    "SUPPORTED",
    "check_request",
    "check_response",
]
