"""SIP requests and responses: parse and serialize (RFC 3261 §7, §18.3, §25).

Theory of operation
-------------------
``parse_message(data)`` splits one datagram (or one framed stream message) into
a start line, a list of headers and a body.  Headers are kept as h11 keeps
them: ``(name as written, canonical lowercase name, value)``.  Compact forms
are expanded in the canonical name only, so writing the message back is exact
except for folded lines (unfolded to one space) and Content-Length (always
written from the real body length).

Structured values (Via, From, To, CSeq ...) are parsed on demand by the
accessors below; :func:`b2bua.sip.validate.check_request` checks the ones a
request must have before the transaction layer sees it.

A request that cannot be parsed raises :class:`ParseError` with the status to
answer and, when the headers could be read, ``err.partial`` (a Request with
what was read) so a stateless error response can still be routed.
"""

from __future__ import annotations

import re
from typing import Iterator, Union

from .errors import ParseError, UnsafeValue
from .headers import (
    COMPACT,
    LIST_HEADERS,
    TOKEN_RE,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    parse_cseq,
    parse_name_addr,
    parse_via,
    split_outside,
)
from .uri import Uri, parse_uri

SIP_VERSION = "SIP/2.0"
MAX_CONTENT_LENGTH = 1 << 20  # bytes we accept in one body (datagrams are far smaller)

_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.I)
_EMPTY_LINE_RE = re.compile(rb"\r?\n\r?\n")
_HEADER_NAME_RE = TOKEN_RE

# Header names as peers usually spell them, with their canonical key: one dict
# lookup instead of the token check, lower() and the compact-form lookup that
# parse_headers does for any other name.  A fixed table, never filled from traffic.
_KNOWN_NAMES: dict[str, str] = {}
for _name in (
    "Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Record-Route",
    "Route", "Allow", "Supported", "Require", "Proxy-Require", "Unsupported", "Expires",
    "Min-Expires", "User-Agent", "Server", "Content-Type", "Content-Length",
    "Content-Disposition", "Content-Encoding", "Accept", "Accept-Encoding",
    "Accept-Language", "Allow-Events", "Event", "Subscription-State", "Authorization",
    "WWW-Authenticate", "Proxy-Authenticate", "Proxy-Authorization", "Date", "Timestamp",
    "Subject", "Organization", "Priority", "Reason", "Warning", "Session-Expires", "Min-SE",
    "RSeq", "RAck", "Refer-To", "Referred-By", "Replaces", "P-Asserted-Identity",
    "P-Preferred-Identity", "Privacy", "Remote-Party-ID", "Diversion", "Call-Info",
    "Alert-Info", "Path", "Service-Route", "MIME-Version", *COMPACT,
):
    for _spelling in (_name, _name.lower(), _name.upper()):
        assert _HEADER_NAME_RE.match(_spelling)
        _KNOWN_NAMES[_spelling] = COMPACT.get(_spelling.lower(), _spelling.lower())
_KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO",
     "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"}
)

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

Header = tuple[str, str, str]  # (name as written, canonical lowercase name, value)

# NUL outside a quoted-pair ("\" NUL is allowed in a quoted-string, RFC 3261 §25.1)
_RAW_NUL = re.compile(r"(?<!\\)\x00")


class Message:
    """Common part of requests and responses: headers and body."""

    __slots__ = ("headers", "body")

    headers: list[Header]
    body: bytes

    # -- header access -------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of header ``key`` (canonical lowercase name)."""
        for _, k, v in self.headers:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        """All values of ``key``; list headers are split at top-level commas."""
        out: list[str] = []
        split = key in LIST_HEADERS
        for _, k, v in self.headers:
            if k == key:
                if split and "," in v:
                    out.extend(x for x in split_outside(v, ",") if x)
                else:
                    out.append(v)
        return out

    def count(self, key: str) -> int:
        return sum(1 for _, k, _ in self.headers if k == key)

    def __contains__(self, key: str) -> bool:
        for _, k, _ in self.headers:
            if k == key:
                return True
        return False

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        key = name.lower()
        entry = (name, COMPACT.get(key, key), value)
        if first:
            self.headers.insert(0, entry)
        else:
            self.headers.append(entry)

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header by one with ``value`` (in place of the first)."""
        key = COMPACT.get(name.lower(), name.lower())
        for i, (n, k, _) in enumerate(self.headers):
            if k == key:
                self.headers[i] = (n, k, value)
                self.headers[i + 1 :] = [h for h in self.headers[i + 1 :] if h[1] != key]
                return
        self.headers.append((name, key, value))

    def remove(self, key: str) -> None:
        self.headers = [h for h in self.headers if h[1] != key]

    # -- structured values -----------------------------------------------
    @property
    def call_id(self) -> str:
        v = self.get("call-id")
        if v is None:
            raise ParseError("Missing Call-ID header")
        return v

    @property
    def cseq(self) -> CSeq:
        v = self.get("cseq")
        if v is None:
            raise ParseError("Missing CSeq header")
        return parse_cseq(v)

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.get_all("via")]

    @property
    def top_via(self) -> Via:
        v = self.get("via")
        if v is None:
            raise ParseError("Missing Via header")
        if "," in v:
            v = split_outside(v, ",")[0]
        return parse_via(v)

    @property
    def from_(self) -> NameAddr:
        v = self.get("from")
        if v is None:
            raise ParseError("Missing From header")
        return parse_name_addr(v)

    @property
    def to(self) -> NameAddr:
        v = self.get("to")
        if v is None:
            raise ParseError("Missing To header")
        return parse_name_addr(v)

    def name_addrs(self, key: str) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.get_all(key)]

    @property
    def content_type(self) -> str | None:
        v = self.get("content-type")
        return v.split(";", 1)[0].strip().lower() if v else None

    # -- writing -----------------------------------------------------------
    def _write_headers(self, out: list[str]) -> None:
        length_written = False
        for name, key, value in self.headers:
            if key == "content-length":
                if length_written:
                    continue
                value = str(len(self.body))
                length_written = True
            out.append(f"{name}: {value}\r\n")
        if not length_written:
            out.append(f"Content-Length: {len(self.body)}\r\n")
        out.append("\r\n")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and self._start() == other._start()
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def _start(self) -> tuple[object, ...]:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """The message on the wire.  Raises :class:`UnsafeValue` when the start
        line or a header value holds CR, LF or NUL (header injection): every
        element of ``out`` but the start line ends with the one CRLF we wrote."""
        out = [self.start_line(), "\r\n"]
        self._write_headers(out)
        text = "".join(out)
        lines = len(out) - 1
        if text.count("\n") != lines or text.count("\r") != lines or ("\0" in text and _RAW_NUL.search(text)):
            raise UnsafeValue(f"CR, LF or NUL in {self._unsafe_part()}: refusing to write it")
        return text.encode("utf-8", "surrogateescape") + self.body

    def _unsafe_part(self) -> str:
        for name, _, value in [("start line", "", self.start_line()), *self.headers]:
            text = name + value
            if "\r" in text or "\n" in text or _RAW_NUL.search(text):
                return "the start line" if name == "start line" else f"the {name} header"
        return "the message"

    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        return self.serialize()


class Request(Message):
    __slots__ = ("method", "uri", "version", "_ruri")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: list[Header] | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers if headers is not None else []
        self.body = body
        self._ruri: Uri | None = None

    @property
    def ruri(self) -> Uri:
        """The Request-URI, parsed (ParseError 400 if malformed)."""
        if self._ruri is None:
            self._ruri = parse_uri(self.uri)
        return self._ruri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def _start(self) -> tuple[object, ...]:
        return (self.method, self.uri, self.version)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("status", "reason", "version")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: list[Header] | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.status = status
        self.reason = REASONS.get(status, "Unknown") if reason is None else reason
        self.version = version
        self.headers = headers if headers is not None else []
        self.body = body

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def _start(self) -> tuple[object, ...]:
        return (self.status, self.reason, self.version)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


SipMessage = Union[Request, Response]


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split at the first empty line; a message without one has no body.

    A message whose first line ends in CRLF splits at the first CRLF CRLF
    (RFC 3261 §7).  One whose lines end in a bare LF (RFC 5118's archive has
    only those) splits at the first empty line of any kind, not at a CRLF CRLF
    that comes later, in its body.  CRLFs before the start line are skipped
    (§7.5).
    """
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    lf = data.find(b"\n")
    if lf > 0 and data[lf - 1] == 13:
        idx = data.find(b"\r\n\r\n")
        if idx >= 0:
            return data[:idx], data[idx + 4 :]
    m = _EMPTY_LINE_RE.search(data)
    if m is not None:
        return data[: m.start()], data[m.end() :]
    return data.rstrip(b"\r\n"), b""


def parse_headers(lines: list[str]) -> list[Header]:
    """Header lines (after the start line) -> header list; folds unfolded."""
    headers: list[Header] = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            if not headers:
                raise ParseError("Continuation line before any header")
            n, k, v = headers[-1]
            headers[-1] = (n, k, (v + " " + line.strip(" \t")).strip(" \t"))
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ParseError(f"Malformed header line: {line[:40]!r}")
        key = _KNOWN_NAMES.get(name)
        if key is None:
            name = name.rstrip(" \t")
            if not _HEADER_NAME_RE.match(name):
                raise ParseError(f"Bad header name: {name[:40]!r}")
            lname = name.lower()
            key = COMPACT.get(lname, lname)
        headers.append((name, key, value.strip(" \t")))
    return headers


def content_length(headers: list[Header]) -> int | None:
    """The Content-Length value; several different values or a bad one is a 400."""
    found: int | None = None
    for _, k, v in headers:
        if k == "content-length":
            v = v.strip()
            if not v.isdigit() or not v.isascii() or len(v) > 10:
                raise ParseError(f"Bad Content-Length: {v[:20]!r}")
            n = int(v)
            if found is not None and found != n:
                raise ParseError("Multiple Content-Length values")
            found = n
    return found


def parse_message(data: bytes, *, stream: bool = False) -> SipMessage:
    """Parse one message.  ``stream`` marks a message already framed by
    Content-Length (TCP), where the body is exactly what was framed."""
    raw_head, body = split_head(data)
    head = raw_head.decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    if head.count("\n") != len(lines) - 1:  # a bare LF as well: split on both
        lines = head.replace("\r\n", "\n").split("\n")
    while lines and not lines[0]:
        del lines[0]  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not lines:
        raise ParseError("Empty message", status=None)
    start = lines[0]
    is_response = start[:4].upper() == "SIP/"
    if head.count("\r") != head.count("\r\n") or ("\0" in head and _RAW_NUL.search(head)):
        # the grammar allows NUL only as a quoted-pair and CR only before LF
        # (RFC 3261 §25.1); echoed in our answers, they are what the
        # serializer refuses (UnsafeValue)
        err = ParseError("NUL or bare CR in the message head", status=None if is_response else 400)
        if not is_response:
            clean = [line for line in lines if "\r" not in line and not _RAW_NUL.search(line)]
            err.partial = _partial(start if clean and clean[0] is start else "", _readable_headers(clean[1:]))
        raise err
    try:
        headers = parse_headers(lines[1:])
    except ParseError as err:
        if is_response:
            err.status = None
        else:  # the lines that do parse route the 400 (Via, From, To, Call-ID, CSeq)
            err.partial = _partial(start, _readable_headers(lines[1:]))
        raise
    try:
        length = content_length(headers)
        if length is not None and not stream:
            if length > len(body):
                raise ParseError("Content-Length larger than message")
            body = body[:length]
        elif length is None and stream:
            raise ParseError("Missing Content-Length on a stream transport")
        if length is not None and length > MAX_CONTENT_LENGTH:
            raise ParseError("Content-Length too large", status=413)
    except ParseError as err:
        if is_response:
            err.status = None
        else:
            err.partial = _partial(start, headers)
        raise

    if is_response:
        return _parse_status_line(start, headers, body)
    try:
        method, uri, version = _parse_request_line(start)
    except ParseError as err:
        err.partial = _partial(start, headers)
        raise
    return Request(method, uri, headers, body, version)


def _readable_headers(lines: list[str]) -> list[Header]:
    """The headers that parse, skipping the (folded) lines that do not; for
    the answer to a request with a malformed header line (error path only)."""
    groups: list[list[str]] = []
    for line in lines:
        if line and line[0] in " \t" and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    headers: list[Header] = []
    for group in groups:
        try:
            headers.extend(parse_headers(group))
        except ParseError:
            continue
    return headers


def _partial(start: str, headers: list[Header]) -> Request:
    method = start.split(" ", 1)[0] if start else ""
    return Request(method if TOKEN_RE.match(method or "-") else "", "", headers)


def _parse_request_line(start: str) -> tuple[str, str, str]:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("Malformed Request-Line")
    method, uri, version = parts
    if method not in _KNOWN_METHODS and not TOKEN_RE.match(method):
        raise ParseError("Bad method in Request-Line")
    if "\t" in start or "<" in uri or ">" in uri:
        raise ParseError("Malformed Request-URI")
    if version != SIP_VERSION:
        if _VERSION_RE.match(version):
            if version.upper() != SIP_VERSION:
                raise ParseError("Version Not Supported", status=505)
        else:
            raise ParseError("Malformed SIP version")
    return method, uri, version


def _parse_status_line(start: str, headers: list[Header], body: bytes) -> Response:
    version, _, rest = start.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != SIP_VERSION:
        raise ParseError("Bad version in Status-Line", status=None)
    if len(code) != 3 or not code.isdigit() or not code.isascii() or not 100 <= int(code) <= 699:
        raise ParseError("Bad status code", status=None)
    return Response(int(code), reason, headers, body, version)


def iter_header_lines(msg: Message) -> Iterator[str]:
    for name, _, value in msg.headers:
        yield f"{name}: {value}"


def header(name: str, value: str) -> Header:
    """Build a header entry with ``name`` spelt canonically."""
    key = COMPACT.get(name.lower(), name.lower())
    return (canonical_name(key) if name.islower() else name, key, value)
