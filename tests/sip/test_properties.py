"""Hypothesis properties of the message layer: round trip, stream framing,
and that no byte sequence raises anything but the parser's own error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.sip.errors import ParseError, SipError
from b2bua.sip.framing import StreamFramer
from b2bua.sip.headers import COMPACT
from b2bua.sip.message import Request, Response, parse_message

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
token = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# header values: printable text incl. non-ASCII, no CR/LF, no edge white space
value = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=0, max_size=40
).map(lambda s: s.strip(" \t\x85\xa0"))
header_name = token.filter(lambda n: n.lower() not in COMPACT and n.lower() != "content-length")


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    headers = [(n, n.lower(), v) for n, v in draw(st.lists(st.tuples(header_name, value), max_size=12))]
    body = draw(st.binary(max_size=300))
    headers.append(("Content-Length", "content-length", str(len(body))))
    if draw(st.booleans()):
        user = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8))
        host = draw(st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]", "h"]))
        return Request(draw(token), f"sip:{user}@{host}", headers, body)
    reason = draw(value)
    return Response(draw(st.integers(100, 699)), reason, headers, body)


@given(messages())
def test_parse_serialize_round_trip(msg: Request | Response) -> None:
    data = msg.serialize()
    assert parse_message(data) == msg
    assert parse_message(data, stream=True) == msg
    assert parse_message(data).serialize() == data


@given(st.lists(messages(), min_size=1, max_size=5), st.data())
def test_any_split_of_a_stream_yields_the_same_messages(msgs: list[Request | Response], data: st.DataObject) -> None:
    wire = [m.serialize() for m in msgs]
    stream = b"".join(wire)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    framer = StreamFramer()
    out: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out.extend(framer.feed(stream[start:cut]))
        start = cut
    assert out == wire
    assert framer.pending == 0
    assert [parse_message(x, stream=True) for x in out] == msgs


def test_every_byte_boundary_split() -> None:
    msg = (
        b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    stream = b"\r\n" + msg + msg  # a keep-alive CRLF first
    for i in range(len(stream) + 1):
        framer = StreamFramer()
        assert framer.feed(stream[:i]) + framer.feed(stream[i:]) == [msg, msg]


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    for stream in (False, True):
        try:
            parse_message(data, stream=stream)
        except ParseError:
            pass
    framer = StreamFramer()
    try:
        framer.feed(data)
    except SipError:
        pass


sip_like = st.lists(
    st.sampled_from(
        [b"INVITE ", b"SIP/2.0", b" ", b"\r\n", b":", b";", b",", b"<", b">", b'"', b"sip:", b"@",
         b"Via", b"Content-Length", b"l", b"CSeq", b"From", b"To", b"tag=", b"1", b"999999999999",
         b"\t", b"[", b"]", b"%", b"\xff", b"\x00", b"=", b"/"]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=1000)
@given(sip_like)
def test_sip_shaped_noise_raises_only_parse_errors(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except ParseError:
        return
    # accessors on a parsed message raise only the parser's error too
    for attr in ("top_via", "from_", "to", "cseq", "call_id", "vias", "content_type"):
        try:
            getattr(msg, attr)
        except ParseError:
            pass
    if isinstance(msg, Request):
        try:
            msg.ruri
        except ParseError:
            pass


def test_messages_before_a_framing_fault_are_kept() -> None:
    good = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    bad = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"
    framer = StreamFramer()
    assert framer.feed(good + bad) == [good]
    assert framer.broken is not None
    try:
        framer.feed(good)
    except SipError:
        pass
    else:
        raise AssertionError("a broken stream must stay broken")
