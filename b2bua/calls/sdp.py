"""Session descriptions (RFC 4566) and the offer/answer model (RFC 3264).

Pure: bytes in, frozen structs out, and back; no I/O, no clock, no randomness
(session ids and versions are passed in).

Theory of operation
-------------------
:func:`parse` reads a body into a :class:`SessionDescription`; :func:`build`
writes one back, and ``parse(build(sd)) == sd`` for every description
:func:`parse` can produce.  The model keeps what call control reads
(origin, session name, connection, timing, bandwidth, media lines with their
payload types, ``rtpmap``/``fmtp`` per payload, the direction attribute at
session and media level) and carries everything else through unchanged:
other attributes in their order, and the rarer lines (``i u e p z k r``) as
:class:`Line` values.  Lines are written back in the order RFC 4566 §5 gives,
so a description parsed from a body that used another order (some phones put
``c=`` after ``t=``) still builds to valid SDP.

Malformed input raises :class:`SdpError` (one type, its message naming the
line), never another exception; :func:`looks_valid` is the yes/no form the
call manager uses to answer 488 (RFC 3261 §13.3.1.4) instead of relaying a
body that is not SDP.  Limits: :data:`MAX_LINES` lines of at most
:data:`MAX_LINE` characters.

Offer/answer helpers, for the server answering and re-offering by itself:

* :func:`offer`: a description for a local address, port and codecs
  (by default PCMU 0, PCMA 8 and telephone-event 101 with ``fmtp 0-16``).
* :func:`answer`: RFC 3264 §6: one ``m=`` line per offered line, in the
  offer's order; the first audio RTP stream with a codec in common is
  accepted (the offer's payload numbers, in the offer's order, telephone-event
  included), every other line is rejected with port 0 (§6: a rejected stream
  keeps its line); the direction is the offer's reversed (§6.1), limited by
  the local wish (on hold, say).
* :func:`reoffer`: §8: a new offer in an existing session keeps the ``o=`` line
  of the previous one except for its version, incremented by one.
* :func:`with_direction`, :func:`hold`, :func:`resume`, :class:`Direction`
  (``reverse`` for answers), :func:`telephone_event`.
"""

from __future__ import annotations

import enum
from typing import Iterable, Sequence

import msgspec

MAX_LINES = 1000  # lines per body; real offers have < 100 (ICE candidates included)
MAX_LINE = 2048  # characters per line; long ICE/crypto/fingerprint lines are ~300


class SdpError(ValueError):
    """A body that is not a session description RFC 4566 allows."""


class Direction(enum.Enum):
    """The direction attributes (RFC 3264 §5.1), as seen by the side that wrote them."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        return _DIRECTIONS[sends, receives]

    def reverse(self) -> Direction:
        """The direction that answers this one (§6.1: sendonly <-> recvonly)."""
        return Direction.of(self.receives, self.sends)

    def limit(self, other: Direction) -> Direction:
        """Only what both allow: the local wish limiting what an offer permits."""
        return Direction.of(self.sends and other.sends, self.receives and other.receives)


_DIRECTIONS = {
    (True, True): Direction.SENDRECV, (True, False): Direction.SENDONLY,
    (False, True): Direction.RECVONLY, (False, False): Direction.INACTIVE,
}
_DIRECTION_NAMES = {d.value: d for d in Direction}


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str = "-"
    session_id: str  # a numeric string (RFC 4566 §5.2), kept as written
    version: int
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """``c=<nettype> <addrtype> <address>`` (multicast ``/ttl/count`` kept in ``address``)."""

    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str


class Bandwidth(msgspec.Struct, frozen=True, kw_only=True):
    """``b=<bwtype>:<bandwidth>`` (kbit/s for AS and CT, RFC 4566 §5.8)."""

    type: str
    value: int


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    """``t=<start> <stop>`` (NTP seconds; ``0 0`` for a SIP session) and its ``r=`` lines."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """A line the model does not interpret (``i u e p z k``), kept as written."""

    type: str
    value: str


class Attribute(msgspec.Struct, frozen=True, kw_only=True):
    """``a=<name>`` (``value`` None) or ``a=<name>:<value>``."""

    name: str
    value: str | None = None


class RtpMap(msgspec.Struct, frozen=True, kw_only=True):
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<parameters>]`` (RFC 4566 §6)."""

    encoding: str
    clock_rate: int | None = None  # missing in some old SDP (RFC 4475 torture tests)
    parameters: str | None = None  # channels, for audio


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """What the attributes say of one payload type: its rtpmap and fmtp."""

    pt: str
    rtpmap: RtpMap | None = None
    fmtp: str | None = None


class Media(msgspec.Struct, frozen=True, kw_only=True):
    """One ``m=<media> <port>[/<count>] <proto> <fmt> ...`` section."""

    media: str = "audio"
    port: int
    port_count: int | None = None
    proto: str = "RTP/AVP"
    formats: tuple[str, ...]
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    payloads: tuple[Payload, ...] = ()  # in order of first mention by rtpmap/fmtp
    direction: Direction | None = None
    attributes: tuple[Attribute, ...] = ()
    lines: tuple[Line, ...] = ()  # i=, k=

    def payload(self, pt: int | str) -> Payload | None:
        pt = str(pt)
        return next((p for p in self.payloads if p.pt == pt), None)

    def encoding(self, pt: int | str) -> tuple[str, int | None] | None:
        """(encoding name, clock rate) of a payload type: its rtpmap, else the static table."""
        p = self.payload(pt)
        if p is not None and p.rtpmap is not None:
            return p.rtpmap.encoding, p.rtpmap.clock_rate
        return STATIC_PAYLOADS.get(str(pt))


class SessionDescription(msgspec.Struct, frozen=True, kw_only=True):
    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timing: tuple[Timing, ...] = (Timing(),)
    direction: Direction | None = None
    attributes: tuple[Attribute, ...] = ()
    lines: tuple[Line, ...] = ()  # i= u= e= p= z= k=
    media: tuple[Media, ...] = ()

    def direction_of(self, index: int) -> Direction:
        """The direction of a media section: its own attribute wins over the session's
        (RFC 4566 §6); sendrecv when neither has one (RFC 3264 §5.1)."""
        return self.media[index].direction or self.direction or Direction.SENDRECV

    def connection_of(self, index: int) -> Connection | None:
        return self.media[index].connection or self.connection


# RFC 3551 §6: static payload types call control may meet without an rtpmap.
STATIC_PAYLOADS: dict[str, tuple[str, int | None]] = {
    "0": ("PCMU", 8000), "3": ("GSM", 8000), "4": ("G723", 8000), "8": ("PCMA", 8000),
    "9": ("G722", 8000), "13": ("CN", 8000), "18": ("G729", 8000),
}

# -- parsing ---------------------------------------------------------------------------

_SESSION_RANK = {t: i for i, t in enumerate("vosiuepcbtrzkam")}  # RFC 4566 §5 order
_MEDIA_RANK = {t: i for i, t in enumerate("micbka")}
_SESSION_EXTRA = frozenset("iuepzk")
_MEDIA_EXTRA = frozenset("ik")


def _fail(n: int, line: str, why: str) -> SdpError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return SdpError(f"SDP line {n} ({shown!r}): {why}")


def _int(text: str, n: int, line: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise _fail(n, line, f"{what} is not a number")
    return int(text)


def _fields(value: str, count: int, n: int, line: str, what: str) -> list[str]:
    parts = value.split()
    if len(parts) != count:
        raise _fail(n, line, f"{what} needs {count} fields")
    return parts


def _connection(value: str, n: int, line: str) -> Connection:
    net, addr_type, address = _fields(value, 3, n, line, "c=")
    return Connection(net_type=net, addr_type=addr_type, address=address)


def _bandwidth(value: str, n: int, line: str) -> Bandwidth:
    kind, sep, amount = value.partition(":")
    if not sep or not kind:
        raise _fail(n, line, "b= is not <type>:<value>")
    return Bandwidth(type=kind, value=_int(amount.strip(), n, line, "bandwidth"))


def _timing(value: str, n: int, line: str) -> Timing:
    start, stop = _fields(value, 2, n, line, "t=")
    return Timing(start=_int(start, n, line, "start time"), stop=_int(stop, n, line, "stop time"))


def _origin(value: str, n: int, line: str) -> Origin:
    user, sid, version, net, addr_type, address = _fields(value, 6, n, line, "o=")
    _int(sid, n, line, "session id")
    return Origin(username=user, session_id=sid, version=_int(version, n, line, "session version"),
                  net_type=net, addr_type=addr_type, address=address)


def _media(value: str, n: int, line: str) -> Media:
    parts = value.split()
    if len(parts) < 4:
        raise _fail(n, line, "m= needs a media type, port, protocol and formats")
    media, port_text, proto, *formats = parts
    port, slash, count = port_text.partition("/")
    return Media(
        media=media, port=_int(port, n, line, "port"),
        port_count=_int(count, n, line, "port count") if slash else None,
        proto=proto, formats=tuple(formats),
    )


class _Section:
    """Attributes of one level (session or a media section) while parsing."""

    def __init__(self) -> None:
        self.direction: Direction | None = None
        self.attributes: list[Attribute] = []
        self.payloads: dict[str, Payload] = {}
        self.connection: Connection | None = None
        self.bandwidths: list[Bandwidth] = []
        self.lines: list[tuple[int, int, Line]] = []  # (rank, position, line)

    def attribute(self, value: str, n: int, line: str, media: bool) -> None:
        name, sep, rest = value.partition(":")
        if not name:
            raise _fail(n, line, "a= without a name")
        if not sep and name.rstrip() in _DIRECTION_NAMES:
            self.direction = _DIRECTION_NAMES[name.rstrip()]
        elif media and sep and name in ("rtpmap", "fmtp"):
            pt, _, text = rest.partition(" ")
            if not pt or not text.strip():
                raise _fail(n, line, f"{name} needs a payload type and a value")
            known = self.payloads.get(pt)
            if name == "rtpmap":
                if known is not None and known.rtpmap is not None:
                    raise _fail(n, line, f"a second rtpmap for payload type {pt}")
                enc, _, clock = text.strip().partition("/")
                clock, slash, params = clock.partition("/")
                rtpmap = RtpMap(
                    encoding=enc, clock_rate=_int(clock, n, line, "clock rate") if clock else None,
                    parameters=params if slash else None,
                )
                self.payloads[pt] = Payload(pt=pt, rtpmap=rtpmap, fmtp=known.fmtp if known is not None else None)
            else:
                if known is not None and known.fmtp is not None:
                    raise _fail(n, line, f"a second fmtp for payload type {pt}")
                self.payloads[pt] = Payload(
                    pt=pt, rtpmap=known.rtpmap if known is not None else None, fmtp=text.strip()
                )
        else:
            self.attributes.append(Attribute(name=name, value=rest if sep else None))

    def line(self, kind: str, value: str, n: int, line: str, media: bool) -> bool:
        """Take a line both levels may have (c= b= a= and the kept ones); False if another."""
        if kind == "c":
            if self.connection is not None:
                raise _fail(n, line, "a second c= at one level")
            self.connection = _connection(value, n, line)
        elif kind == "b":
            self.bandwidths.append(_bandwidth(value, n, line))
        elif kind == "a":
            self.attribute(value, n, line, media)
        elif kind in (_MEDIA_EXTRA if media else _SESSION_EXTRA):
            rank = _MEDIA_RANK if media else _SESSION_RANK
            self.lines.append((rank[kind], len(self.lines), Line(type=kind, value=value)))
        else:
            return False
        return True

    def sorted_lines(self) -> tuple[Line, ...]:
        return tuple(ln for _, _, ln in sorted(self.lines, key=lambda x: (x[0], x[1])))


def parse(body: bytes | str) -> SessionDescription:
    """The session description in ``body``; raises :class:`SdpError` naming the bad line."""
    sd = _parse(body, build=True)
    assert sd is not None
    return sd


def _parse(body: bytes | str, build: bool) -> SessionDescription | None:
    """:func:`parse`; with ``build`` False only the checks (None when they pass)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SdpError(f"SDP is not UTF-8 (byte {err.start})") from None
    raw = body.split("\n")
    if len(raw) > MAX_LINES + 1:
        raise SdpError(f"SDP has more than {MAX_LINES} lines")
    session = _Section()
    origin: Origin | None = None
    name: str | None = None
    timing: list[Timing] = []
    media: list[tuple[Media, _Section]] = []
    seen_v = False
    section = session  # the level lines go to: the session's, then each m= section's
    in_media = False
    for n, line in enumerate(raw, 1):
        line = line.removesuffix("\r")
        if not line:
            continue  # blank lines (a trailing CRLF, sloppy writers) carry nothing
        if len(line) > MAX_LINE:
            raise _fail(n, line, f"longer than {MAX_LINE} characters")
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise _fail(n, line, "not <type>=<value>")
        kind, value = line[0], line[2:]
        if kind not in ("s", "i"):
            value = value.rstrip(" \t")  # trailing blanks some phones add
        if not seen_v:
            if kind != "v" or value != "0":
                raise _fail(n, line, "an SDP body starts with v=0")
            seen_v = True
            continue
        if kind == "a":  # most lines: straight to the current level
            section.attribute(value, n, line, in_media)
            continue
        if kind == "m":
            section = _Section()
            media.append((_media(value, n, line), section))
            in_media = True
            continue
        if section.line(kind, value, n, line, media=in_media):
            continue
        if media:
            raise _fail(n, line, f"{kind}= is not allowed in a media section")
        if kind == "o":
            if origin is not None:
                raise _fail(n, line, "a second o=")
            origin = _origin(value, n, line)
        elif kind == "s":
            if name is not None:
                raise _fail(n, line, "a second s=")
            name = value
        elif kind == "t":
            timing.append(_timing(value, n, line))
        elif kind == "r":
            if not timing:
                raise _fail(n, line, "r= before any t=")
            timing[-1] = msgspec.structs.replace(timing[-1], repeats=(*timing[-1].repeats, value))
        elif kind == "v":
            raise _fail(n, line, "a second v=")
        else:
            raise _fail(n, line, f"unknown line type {kind}=")  # RFC 4566 §5: not SDP we can use
    if not seen_v:
        raise SdpError("SDP is empty")
    if origin is None or name is None or not timing:
        missing = [k for k, absent in (("o=", origin is None), ("s=", name is None), ("t=", not timing)) if absent]
        raise SdpError(f"SDP lacks {', '.join(missing)}")
    if not build:
        return None
    return SessionDescription(
        origin=origin, session_name=name, connection=session.connection,
        bandwidths=tuple(session.bandwidths), timing=tuple(timing), direction=session.direction,
        attributes=tuple(session.attributes), lines=session.sorted_lines(),
        media=tuple(
            msgspec.structs.replace(
                m, connection=s.connection, bandwidths=tuple(s.bandwidths), payloads=tuple(s.payloads.values()),
                direction=s.direction, attributes=tuple(s.attributes), lines=s.sorted_lines(),
            )
            for m, s in media
        ),
    )


def looks_valid(body: bytes) -> bool:
    """True if ``body`` parses as SDP (the call manager answers 488 otherwise)."""
    try:
        _parse(body, build=False)
    except SdpError:
        return False
    return True


# -- building --------------------------------------------------------------------------


def _extra(lines: Iterable[Line], kinds: str) -> list[str]:
    return [f"{ln.type}={ln.value}" for ln in lines if ln.type in kinds]


def _attributes(direction: Direction | None, attributes: Iterable[Attribute],
                payloads: Iterable[Payload] = ()) -> list[str]:
    out: list[str] = []
    for p in payloads:
        if p.rtpmap is not None:
            r = p.rtpmap
            clock = f"/{r.clock_rate}" if r.clock_rate is not None else ""
            params = f"/{r.parameters}" if r.parameters is not None else ""
            out.append(f"a=rtpmap:{p.pt} {r.encoding}{clock}{params}")
        if p.fmtp is not None:
            out.append(f"a=fmtp:{p.pt} {p.fmtp}")
    out += [f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}" for a in attributes]
    if direction is not None:
        out.append(f"a={direction.value}")
    return out


def _c(c: Connection | None) -> list[str]:
    return [] if c is None else [f"c={c.net_type} {c.addr_type} {c.address}"]


def _b(bandwidths: Iterable[Bandwidth]) -> list[str]:
    return [f"b={b.type}:{b.value}" for b in bandwidths]


def build(sd: SessionDescription) -> bytes:
    """The body for ``sd``: CRLF lines in RFC 4566 §5 order."""
    o = sd.origin
    out = ["v=0", f"o={o.username} {o.session_id} {o.version} {o.net_type} {o.addr_type} {o.address}",
           f"s={sd.session_name}", *_extra(sd.lines, "iuep"), *_c(sd.connection), *_b(sd.bandwidths)]
    for t in sd.timing:
        out.append(f"t={t.start} {t.stop}")
        out += [f"r={r}" for r in t.repeats]
    out += _extra(sd.lines, "zk")
    out += _attributes(sd.direction, sd.attributes)
    for m in sd.media:
        port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
        out.append(f"m={m.media} {port} {m.proto} {' '.join(m.formats)}")
        out += _extra(m.lines, "i") + _c(m.connection) + _b(m.bandwidths) + _extra(m.lines, "k")
        out += _attributes(m.direction, m.attributes, m.payloads)
    return ("\r\n".join(out) + "\r\n").encode()


# -- offer/answer ----------------------------------------------------------------------


class Codec(msgspec.Struct, frozen=True, kw_only=True):
    """A payload format the server can send and receive."""

    pt: int
    encoding: str
    clock_rate: int = 8000
    fmtp: str | None = None

    def matches(self, encoding: tuple[str, int | None] | None) -> bool:
        return encoding is not None and encoding[0].lower() == self.encoding.lower() and (
            encoding[1] in (None, self.clock_rate))


PCMU = Codec(pt=0, encoding="PCMU")
PCMA = Codec(pt=8, encoding="PCMA")
TELEPHONE_EVENT = Codec(pt=101, encoding="telephone-event", fmtp="0-16")  # RFC 4733 §7.1.1: DTMF and flash
DEFAULT_CODECS = (PCMU, PCMA, TELEPHONE_EVENT)
RTP_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})  # plain RTP; SRTP needs keys the server does not have


def _local(address: str, session_id: int | str, version: int, username: str, session_name: str,
           media: tuple[Media, ...]) -> SessionDescription:
    """A description of the server's own media at ``address`` (IPv6 if it has a colon)."""
    conn = Connection(addr_type="IP6" if ":" in address else "IP4", address=address)
    return SessionDescription(
        origin=Origin(username=username, session_id=str(session_id), version=version,
                      addr_type=conn.addr_type, address=address),
        session_name=session_name, connection=conn, media=media,
    )


def _payload(codec: Codec, pt: str) -> Payload:
    return Payload(pt=pt, rtpmap=RtpMap(encoding=codec.encoding, clock_rate=codec.clock_rate), fmtp=codec.fmtp)


def offer(
    *, address: str, port: int, session_id: int | str, version: int = 1,
    codecs: Sequence[Codec] = DEFAULT_CODECS, direction: Direction = Direction.SENDRECV,
    username: str = "-", session_name: str = "-", ptime: int | None = 20,
) -> SessionDescription:
    """An offer of one audio stream at ``address``:``port`` (IPv4 or IPv6)."""
    return _local(address, session_id, version, username, session_name, (
        Media(
            port=port, formats=tuple(str(c.pt) for c in codecs),
            payloads=tuple(_payload(c, str(c.pt)) for c in codecs), direction=direction,
            attributes=(Attribute(name="ptime", value=str(ptime)),) if ptime is not None else (),
        ),
    ))


def _rejected(m: Media) -> Media:
    """RFC 3264 §6: a rejected stream keeps its line, with port zero."""
    return Media(media=m.media, port=0, proto=m.proto, formats=m.formats[:1] or ("0",))


def answer(
    offered: SessionDescription, *, address: str, port: int, session_id: int | str, version: int = 1,
    codecs: Sequence[Codec] = DEFAULT_CODECS, direction: Direction = Direction.SENDRECV,
    username: str = "-", session_name: str = "-",
) -> SessionDescription:
    """The answer to ``offered`` (module docstring); no stream accepted if none fits."""
    accepted = False
    out: list[Media] = []
    for i, m in enumerate(offered.media):
        common: list[Payload] = []
        if not accepted and m.port != 0 and m.media == "audio" and m.proto in RTP_PROTOS:
            for pt in m.formats:
                codec = next((c for c in codecs if c.matches(m.encoding(pt))), None)
                if codec is not None:
                    common.append(_payload(codec, pt))
        if not any(p.rtpmap is not None and p.rtpmap.encoding.lower() != "telephone-event" for p in common):
            out.append(_rejected(m))  # telephone-event alone carries no audio
            continue
        accepted = True
        ptime = next((a for a in m.attributes if a.name == "ptime"), None)
        out.append(Media(
            port=port, proto=m.proto, formats=tuple(p.pt for p in common), payloads=tuple(common),
            direction=offered.direction_of(i).reverse().limit(direction),
            attributes=(ptime,) if ptime is not None else (),
        ))
    return _local(address, session_id, version, username, session_name, tuple(out))


def reoffer(previous: SessionDescription, new: SessionDescription | None = None) -> SessionDescription:
    """``new`` (default: ``previous`` again) as the next offer of the session that
    ``previous`` described: RFC 3264 §8, the same ``o=`` line with the version plus one."""
    body = previous if new is None else new
    return msgspec.structs.replace(
        body, origin=msgspec.structs.replace(previous.origin, version=previous.origin.version + 1))


def with_direction(sd: SessionDescription, direction: Direction | Sequence[Direction]) -> SessionDescription:
    """Every media section (or each, given a sequence) with that direction attribute;
    the session-level attribute is dropped, the media level saying it all."""
    dirs = [direction] * len(sd.media) if isinstance(direction, Direction) else list(direction)
    if len(dirs) != len(sd.media):
        raise ValueError(f"{len(dirs)} directions for {len(sd.media)} media sections")
    return msgspec.structs.replace(sd, direction=None, media=tuple(
        m if m.port == 0 else msgspec.structs.replace(m, direction=d) for m, d in zip(sd.media, dirs)))


def hold(sd: SessionDescription) -> SessionDescription:
    """The offer putting the peer on hold (RFC 6337 §5.3): stop receiving, keep
    sending if we did (sendrecv -> sendonly, recvonly -> inactive)."""
    return with_direction(sd, [Direction.of(sd.direction_of(i).sends, False) for i in range(len(sd.media))])


def resume(sd: SessionDescription) -> SessionDescription:
    """The offer taking the peer off hold: receive again."""
    return with_direction(sd, [Direction.of(sd.direction_of(i).sends, True) for i in range(len(sd.media))])


def telephone_event(media: Media) -> int | None:
    """The payload type of RFC 4733 telephone-event at 8000 Hz in ``media``, if offered."""
    for pt in media.formats:
        enc = media.encoding(pt)
        if enc is not None and enc[0].lower() == "telephone-event" and enc[1] in (8000, None) and pt.isdigit():
            return int(pt)
    return None
