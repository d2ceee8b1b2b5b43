"""Header names and structured header values (RFC 3261 §7.3, §20, §25.1).

Messages keep header values as text; this module turns the values the core
relies on (Via, From/To/Contact/Route, CSeq, lists) into value objects, on demand.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from .errors import ParseError
from .uri import _FAST_HOST, SipUri, Uri, _fast_sip, format_host, parse_hostport, parse_uri

# Compact forms, RFC 3261 §7.3.3 and the IANA registry.
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}

# Canonical spelling used when the server writes a header it names itself.
CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1).  The
# authentication headers and Date are not: their values contain commas.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "alert-info",
        "call-info",
        "error-info",
        "warning",
        "allow-events",
        "path",
        "service-route",
        "reason",
    }
)

# Headers that may appear at most once (RFC 3261 §20, Table 2/3), checked by
# the endpoint on requests (RFC 4475 §3.3.8 multi01).
SINGLE_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"}
)

TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# ";name=token;flag..." with nothing quoted and no white space: the usual shape
# of Via, From/To and Contact parameters, checked in one regex scan.
_SIMPLE_PARAMS = r"(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~]+)?)+"
_SIMPLE_PARAMS_RE = re.compile(_SIMPLE_PARAMS + r"\Z")
_HOSTISH_RE = re.compile(r"[\[\]A-Za-z0-9:.\-]+")
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)
_DISPLAY_TOKENS = r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*"
_DISPLAY_TOKENS_RE = re.compile(_DISPLAY_TOKENS + r"\Z")


def canonical_name(key: str) -> str:
    """'call-id' -> 'Call-ID', 'content-type' -> 'Content-Type'."""
    try:
        return CANONICAL[key]
    except KeyError:
        return "-".join(p.capitalize() for p in key.split("-"))


def split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings and ``<...>``; items stripped."""
    if '"' not in text and "<" not in text:
        return [p.strip() for p in text.split(sep)]
    out: list[str] = []
    start = 0
    quoted = angle = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == sep and not angle:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    if quoted:
        raise ParseError("Unterminated quoted string")
    out.append(text[start:].strip())
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """``;name=value;flag`` (generic-param, values may be quoted) -> dict.

    Names are lowercased; quoted values are kept with their quotes so that
    writing them back is exact.
    """
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if _SIMPLE_PARAMS_RE.match(text):  # nothing to strip, unquote or check further
        return _simple_params(text)
    if not text.startswith(";"):
        raise ParseError(f"Bad header parameters: {text!r}")
    for item in split_outside(text[1:], ";"):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not TOKEN_RE.match(name):
            raise ParseError(f"Bad header parameter: {item!r}")
        if sep:
            value = value.strip()
            if not value:
                raise ParseError(f"Empty header parameter value: {item!r}")
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise ParseError(f"Bad quoted parameter value: {item!r}")
            elif not (TOKEN_RE.match(value) or _is_hostish(value)):
                raise ParseError(f"Bad header parameter value: {item!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _simple_params(text: str) -> dict[str, str | None]:
    """Parameters already matched by _SIMPLE_PARAMS (or empty): what parse_params gives."""
    params: dict[str, str | None] = {}
    if text:
        for item in text[1:].split(";"):
            name, sep, value = item.partition("=")
            params[name.lower()] = value if sep else None
    return params


def _is_hostish(value: str) -> bool:
    return bool(_HOSTISH_RE.fullmatch(value))


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def unquote(value: str) -> str:
    """Remove the quotes and backslash escapes of a quoted-string."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner
    return value


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class NameAddr(msgspec.Struct, frozen=True, kw_only=True):
    """From, To, Contact, Route, Record-Route values (name-addr / addr-spec)."""

    display: str | None = None  # unquoted display name
    uri: Uri
    params: dict[str, str | None] = {}

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        disp = f"{quote(self.display)} " if self.display else ""
        return f"{disp}<{self.uri}>{format_params(self.params)}"

    def with_tag(self, tag: str) -> "NameAddr":
        return msgspec.structs.replace(self, params={**self.params, "tag": tag})


# The usual From/To/Contact value, '"Display" <sip:...>;tag=x' (or a token display
# name, or none) with nothing escaped or spaced out; the URI must then pass _fast_sip.
_NAME_ADDR_FAST_RE = re.compile(
    rf'(?:"([^"\\]*)"[ \t]*|({_DISPLAY_TOKENS})[ \t]*)?<sip:([^<>]*)>((?:{_SIMPLE_PARAMS})?)\Z'
)


# Parsed values by their text.  One message's From, To, Contact and Via are read
# several times while it is handled (validation, the transaction, the dialog, the
# call) and a call's requests repeat its From and To; the values are immutable
# (frozen structs whose dicts nothing writes to), so one parse serves them all.
# Bounded: cleared when full, so peer input cannot grow it.
_MEMO_MAX = 4096
_name_addrs: dict[str, "NameAddr"] = {}
_vias: dict[str, "Via"] = {}
_cseqs: dict[str, "CSeq"] = {}
T = TypeVar("T")


def _remember(table: dict[str, Any], text: str, value: T) -> T:
    if len(table) >= _MEMO_MAX:
        table.clear()
    table[text] = value
    return value


def parse_name_addr(text: str) -> NameAddr:
    """Parse one From/To/Contact/Route value."""
    return _name_addrs.get(text) or _remember(_name_addrs, text, _parse_name_addr(text))


def _parse_name_addr(text: str) -> NameAddr:
    text = text.strip()
    fast = _NAME_ADDR_FAST_RE.match(text)
    if fast is not None:
        quoted, tokens, uri_rest, ptext = fast.groups()
        fast_uri = _fast_sip("sip", uri_rest)
        if fast_uri is not None:  # what the general path below gives
            display_ = quoted if quoted is not None else tokens
            return NameAddr(display=display_, uri=fast_uri, params=_simple_params(ptext))
    display: str | None = None
    if text.startswith('"'):
        i = text.find('"', 1)
        if i > 0 and "\\" not in text[1:i]:
            display = text[1:i]  # no quoted-pair: what the loop and unquote() give
        else:
            i = 1
            n = len(text)
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                if ch == '"':
                    break
                i += 1
            else:
                raise ParseError("Unterminated quoted string in display name")
            display = unquote(text[: i + 1])
        text = text[i + 1 :].lstrip()
        if not text.startswith("<"):
            raise ParseError("Display name not followed by <URI>")
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise ParseError("Missing '>' after URI")
        before = text[:lt].strip()
        if before:
            if not _DISPLAY_TOKENS_RE.match(before):
                raise ParseError(f"Bad display name: {before!r}")
            display = before
        uri = parse_uri(text[lt + 1 : gt])
        params = parse_params(text[gt + 1 :])
    else:
        # addr-spec without brackets: parameters belong to the header, and the
        # URI may not contain ',', ';' or '?' (RFC 3261 §20.10).
        uri_text, sep, ptext = text.partition(";")
        # LWS may come before the SEMI (RFC 3261 §25.1 SEMI = SWS ";" SWS;
        # RFC 4475 §3.1.1.1 "To: sip:... ;   tag = ...")
        uri_text = uri_text.rstrip(" \t")
        if not uri_text or any(c in uri_text for c in " \t"):
            raise ParseError(f"Bad address: {text!r}")
        uri = parse_uri(uri_text)
        if isinstance(uri, SipUri) and uri.headers is not None:
            raise ParseError(f"URI with headers must be enclosed in <>: {text!r}")
        params = parse_params(sep + ptext)
    return NameAddr(display=display, uri=uri, params=params)


class Via(msgspec.Struct, frozen=True, kw_only=True):
    """One Via value (RFC 3261 §20.42, RFC 3581 rport)."""

    transport: str  # upper case: UDP, TCP, TLS, SCTP, WS ...
    host: str
    port: int | None = None
    params: dict[str, str | None] = {}

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"


_VIA_PROTO_RE = re.compile(
    r"\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+"
)


# The usual "SIP/2.0/UDP host:port;name=token;flag" with no white space to
# skip, in one regex scan; what it matches, the general path parses alike.
_VIA_FAST_RE = re.compile(
    rf"SIP/2\.0/(UDP|TCP|TLS|SCTP|WS|WSS) ({_FAST_HOST})(?::([0-9]{{1,5}}))?((?:{_SIMPLE_PARAMS})?)\Z"
)
_SENT_BY_LWS_RE = re.compile(r"\s*:\s*(?=\d+\Z)")


def parse_via(text: str) -> Via:
    """Parse one Via value."""
    return _vias.get(text) or _remember(_vias, text, _parse_via(text))


def _parse_via(text: str) -> Via:
    fast = _VIA_FAST_RE.match(text)
    if fast is not None and (fast[3] is None or int(fast[3]) <= 65535):
        transport, host, port_text, ptext = fast.groups()
        port = int(port_text) if port_text is not None else None
        params = _simple_params(ptext)
    else:
        m = _VIA_PROTO_RE.match(text)
        if not m or m.group(1).upper() != "SIP":
            raise ParseError(f"Bad Via: {text!r}")
        transport = m.group(3).upper()
        rest = text[m.end() :]
        semi = rest.find(";")
        sent_by, ptext = (rest[:semi], rest[semi:]) if semi >= 0 else (rest, "")
        sent_by = sent_by.strip()
        # LWS is allowed around the ':' of sent-by
        sent_by = _SENT_BY_LWS_RE.sub(":", sent_by)
        host, port = parse_hostport(sent_by)
        params = parse_params(ptext)
    rport = params.get("rport", "")
    if rport is not None and rport != "" and not rport.isdigit():
        raise ParseError(f"Bad rport in Via: {text!r}")
    return Via(transport=transport, host=host, port=port, params=params)


class CSeq(msgspec.Struct, frozen=True):
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: less than 2**31


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq value."""
    return _cseqs.get(text) or _remember(_cseqs, text, _parse_cseq(text))


def _parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not TOKEN_RE.match(parts[1]):
        raise ParseError(f"Bad CSeq: {text!r}")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise ParseError("CSeq number too large")
    return CSeq(number, parts[1])


def parse_int(text: str, name: str, maximum: int) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 10 or int(text) > maximum:
        raise ParseError(f"Bad {name} value")
    return int(text)
