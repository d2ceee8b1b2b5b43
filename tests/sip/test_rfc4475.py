"""RFC 4475 torture messages through the parser and the validator.

The messages are the files of the RFC's Appendix A archive, byte-exact
(``torture_messages``), and the table there says what the server owes each.
Here: every message gets its outcome, over a datagram and, where the RFC's
framing allows, over a stream; the valid ones parse to the values the RFC
describes; the error answers carry the headers they must.  The last part
covers the validator rules that no RFC 4475 message reaches (482, 483, ACK,
Contact "*", content codings, responses).
"""

from __future__ import annotations

import hashlib

import pytest

from b2bua.sip.build import CountingIds, make_response
from b2bua.sip.endpoint import Address, Endpoint
from b2bua.sip.errors import FramingError, ParseError
from b2bua.sip.framing import StreamFramer
from b2bua.sip.headers import CSeq
from b2bua.sip.message import Request, Response, parse_message
from b2bua.sip.uri import SipUri, parse_uri, uri_equal
from b2bua.sip.validate import ACCEPT, METHODS, check_request, check_response
from tests.sip.torture_messages import (
    ARCHIVE_SHA256,
    OK,
    TORTURE,
    TORTURE_BY_NAME,
    Torture,
    outcome,
)

RFC4475 = [t for t in TORTURE if t.section.startswith("RFC 4475")]
# RFC 4475 §3: 13 valid, 19 invalid, 1 transaction, 15 application-layer and
# 1 backward-compatibility message; "test" is the archive's extra file.
NAMES = """
    wsinv intmeth esc01 escnull esc02 lwsdisp longreq dblreq semiuri transports mpart01
    unreason noreason badinv01 clerr ncl scalar02 scalarlg quotbal ltgtruri lwsruri lwsstart
    trws escruri baddate regbadct badaspec baddn badvers mismatch01 mismatch02 bigcode
    badbranch insuf unkscm novelsc unksm2 bext01 invut regaut01 multi01 mcl01 bcast zeromf
    cparam01 cparam02 regescrt sdp01 inv2543 test
""".split()


def _ids(entries: list[Torture]) -> list[str]:
    return [t.name for t in entries]


def req(name: str) -> Request:
    msg = parse_message(TORTURE_BY_NAME[name].data)
    assert isinstance(msg, Request)
    return msg


def resp(name: str) -> Response:
    msg = parse_message(TORTURE_BY_NAME[name].data)
    assert isinstance(msg, Response)
    return msg


def error(name: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        msg = parse_message(TORTURE_BY_NAME[name].data)
        if isinstance(msg, Request):
            check_request(msg)
        else:
            check_response(msg)
    return info.value


# -- the table --------------------------------------------------------------------


def test_every_archive_message_is_in_the_table_once() -> None:
    assert _ids(RFC4475) == NAMES
    assert len({t.name for t in TORTURE}) == len(TORTURE)


@pytest.mark.parametrize("entry", [t for t in TORTURE if t.name in ARCHIVE_SHA256], ids=lambda t: t.name)
def test_literal_is_the_rfc_archive_file(entry: Torture) -> None:
    assert hashlib.sha256(entry.data).hexdigest() == ARCHIVE_SHA256[entry.name]


@pytest.mark.parametrize("entry", RFC4475, ids=_ids(RFC4475))
def test_outcome_over_a_datagram(entry: Torture) -> None:
    assert outcome(entry.data) == entry.expect


STREAMABLE = [t for t in RFC4475 if not t.datagram_only and not t.framing_fault]
FRAMING_FAULTS = [t for t in RFC4475 if t.framing_fault]


@pytest.mark.parametrize("entry", STREAMABLE, ids=_ids(STREAMABLE))
def test_outcome_over_a_stream(entry: Torture) -> None:
    assert outcome(entry.data, stream=True) == entry.expect


@pytest.mark.parametrize("entry", STREAMABLE, ids=_ids(STREAMABLE))
def test_a_stream_frames_the_message_whole(entry: Torture) -> None:
    framer = StreamFramer()
    assert framer.feed(entry.data) == [entry.data]
    assert framer.pending == 0


@pytest.mark.parametrize("entry", FRAMING_FAULTS, ids=_ids(FRAMING_FAULTS))
def test_a_framing_fault_on_a_stream_is_answered_400_naming_it(entry: Torture) -> None:
    framer = StreamFramer()
    with pytest.raises(FramingError) as info:
        framer.feed(entry.data)
    head = info.value.head
    assert head and entry.data.startswith(head + b"\r\n\r\n")
    ep = Endpoint(CountingIds(), local={"tcp": Address("tcp", "192.0.2.1", 5060)})
    peer = Address("tcp", "192.0.2.9", 40000)
    ep.framing_fault(head, info.value.reason, peer)
    [(data, dest)] = ep.outbox
    assert dest == peer
    assert data.startswith(b"SIP/2.0 400 " + info.value.reason.encode() + b"\r\n")
    assert ep.transaction_count == 0


def test_datagram_only_messages_say_why() -> None:
    for entry in RFC4475:
        assert bool(entry.note) == (entry.datagram_only or entry.framing_fault), entry.name


@pytest.mark.parametrize("entry", [t for t in RFC4475 if t.expect == OK], ids=lambda t: t.name)
def test_valid_messages_survive_serialize(entry: Torture) -> None:
    first = parse_message(entry.data)
    again = parse_message(first.serialize())
    assert again.serialize() == first.serialize()
    assert outcome(first.serialize()) == OK


# -- 3.1.1 valid messages: the values the RFC describes ------------------------------


def test_wsinv_short_tortuous_invite() -> None:
    m = req("wsinv")
    assert m.method == "INVITE"
    assert m.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    ruri = m.ruri
    assert isinstance(ruri, SipUri) and ruri.user == "vivekg" and ruri.params == {"unknownparam": None}
    # header names as written, canonical names for lookup (compact forms expanded)
    assert [n for n, _, _ in m.headers][:3] == ["TO", "from", "MaX-fOrWaRdS"]
    assert [k for _, k, _ in m.headers if k in ("subject", "via", "contact")] == ["via", "subject", "via", "contact"]
    to = m.to
    assert to.display is None and to.tag == "1918181833n"
    assert str(to.uri) == "sip:vivekg@chair-dnrc.example.com"
    frm = m.from_
    assert frm.display == 'J Rosenberg \\"'  # "J Rosenberg \\\"" unquoted
    assert frm.tag == "98asjd8" and str(frm.uri) == "sip:jdrosen@example.com"
    assert m.get("max-forwards") == "0068"
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert m.cseq == CSeq(9, "INVITE")  # "0009\r\n  INVITE": folded, leading zeros
    assert [(v.transport, v.host, v.port, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", None, "390skdjuw"),
        ("TCP", "spindle.example.com", None, "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", None, "z9hG4bK30239"),
    ]
    assert m.get("subject") == ""
    assert m.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.get("unknownheaderwithunusualvalue") == ";;,,;;,;"
    (route,) = m.name_addrs("route")
    assert isinstance(route.uri, SipUri)
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    (contact,) = m.name_addrs("contact")
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.content_type == "application/sdp"
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n") and m.body.endswith(b"a=rtpmap:31 LPC\r\n")


def test_intmeth_wide_range_of_valid_characters() -> None:
    m = req("intmeth")
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method and m.cseq == CSeq(139122385, method)
    ruri = m.ruri
    assert isinstance(ruri, SipUri)
    assert ruri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert ruri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert ruri.host == "example.com"
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"  # % is no escape in a token
    to = m.to
    assert to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"  # quoted-pairs of control characters
    assert isinstance(to.uri, SipUri) and to.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    frm = m.from_
    assert frm.display == "token1~` token2'+_ token3*%!.-"
    assert frm.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert frm.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.get("max-forwards") == "255"
    assert m.get("extensionheader-!.%*+_`'~") == "\ufeff大停電"
    # an endpoint answers an unknown method with 501 listing what it knows
    err = error("intmeth")
    assert err.status == 501 and err.headers == (("Allow", ", ".join(sorted(METHODS))),)


def test_esc01_valid_use_of_escapes() -> None:
    m = req("esc01")
    ruri = m.ruri
    assert isinstance(ruri, SipUri) and ruri.user == "sips:user@example.com" and ruri.host == "example.net"
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "user"
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "I have spaces"
    (contact,) = m.name_addrs("contact")
    uri = contact.uri
    assert isinstance(uri, SipUri) and uri.user == "caller"
    # ";%6C%72" is ";lr"; "n%61me=v%61lue%25%34%31" is name="value%41" (unescaped once, RFC 3986)
    assert uri.params == {"lr": None, "name": "value%41"}
    assert "lr" in uri.params
    assert parse_uri(str(uri)) == uri
    assert uri_equal(uri, parse_uri("sip:caller@host5.example.net;lr;name=value%2541"))
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # "i:" compact form
    assert m.content_type == "application/sdp" and len(m.body) == 150  # "C:" compact form


def test_escnull_escaped_nulls() -> None:
    m = req("escnull")
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "null-\x00-null"
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "null-\x00-null"
    first, second = (c.uri for c in m.name_addrs("contact"))
    assert isinstance(first, SipUri) and isinstance(second, SipUri)
    assert (first.user, second.user) == ("\x00", "\x00\x00")
    assert not uri_equal(first, second)  # two distinct bindings
    assert str(first) == "sip:%00@host5.example.com"
    assert m.get("content-length") == "0"  # "L:0"


def test_esc02_percent_that_is_no_escape() -> None:
    m = req("esc02")
    assert m.method == "RE%47IST%45R"  # not REGISTER
    assert m.to.display == "%Z%45" and m.from_.display == "%Z%45"
    assert [str(c.uri) for c in m.name_addrs("contact")] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert m.get("c%6fntact") == "<sip:alias2@host2.example.com>"
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"
    assert error("esc02").status == 501


def test_lwsdisp_no_space_before_angle_bracket() -> None:
    frm = req("lwsdisp").from_
    assert frm.display == "caller" and frm.tag == "323" and str(frm.uri) == "sip:caller@example.com"


def test_longreq_long_values() -> None:
    m = req("longreq")
    to = m.to
    assert to.display == "I have a user name of " + "extreme" * 10 + " proportion"
    assert isinstance(to.uri, SipUri) and to.uri.port == 6000
    assert to.uri.params == {
        "unknownparam1": "very" + "long" * 20 + "value",
        "longparam" + "name" * 25: "shortvalue",
        ("very" + "long" * 25 + "ParameterNameWithNoValue").lower(): None,
    }
    frm = m.from_
    assert isinstance(frm.uri, SipUri) and frm.uri.user == "amazinglylongcallername" * 5
    assert frm.tag == "12" + "982" * 50 + "424"
    assert frm.params["unknownheaderparam" + "name" * 20] == "unknowheaderparam" + "value" * 15
    assert ("unknownvalueless" + "paramname" * 10) in frm.params
    assert m.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert m.get("unknown-" + "long" * 20 + "-name") == (
        "unknown-" + "long" * 20 + "-value; unknown-" + "long" * 20 + "-parameter-name = unknown-"
        + "long" * 20 + "-parameter-value"
    )
    vias = m.vias
    assert len(vias) == 34  # 17 spellings of Via and v, with and without LWS
    assert [v.host for v in vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert vias[-1].host == "host.example.com" and vias[-1].params["received"] == "192.0.2.5"
    assert vias[-1].branch == "very" + "long" * 50 + "branchvalue"
    (contact,) = m.name_addrs("contact")
    assert isinstance(contact.uri, SipUri) and contact.uri.user == "amazinglylongcallername" * 5
    assert len(m.body) == 150


def test_dblreq_trailing_octets_of_a_datagram_are_ignored() -> None:
    m = req("dblreq")
    assert m.method == "REGISTER" and m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"  # "I:" compact form
    assert m.count("call-id") == 1 and "content-type" not in m
    # on a stream the same octets go on with an INVITE (whose 155 body octets
    # overrun its Content-Length of 150): a datagram-only message
    data = TORTURE_BY_NAME["dblreq"].data
    register = data[: data.index(b"\r\n\r\n") + 4]
    assert StreamFramer().feed(register) == [register]
    assert data[len(register) :].startswith(b"\r\nINVITE sip:joe@example.com SIP/2.0\r\n")
    # on a stream both are framed by their Content-Length; the INVITE's last
    # body octets then read as a head without Content-Length: the stream is
    # broken from there on, and the two messages before it are kept
    framer = StreamFramer()
    framed = framer.feed(data)
    assert framed[0] == register and framed[1].startswith(b"INVITE sip:joe@example.com SIP/2.0\r\n")
    assert len(framed) == 2 and isinstance(framer.broken, FramingError)


def test_semiuri_semicolons_in_the_user_part() -> None:
    m = req("semiuri")
    ruri = m.ruri
    assert isinstance(ruri, SipUri) and ruri.user == "user;par=u@example.net" and ruri.host == "example.com"
    assert ruri.params == {}
    assert m.get_all("accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports_varied_and_unknown() -> None:
    m = req("transports")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_binary_multipart_body() -> None:
    m = req("mpart01")
    assert m.method == "MESSAGE" and m.content_type == "multipart/mixed"
    body = m.body
    assert len(body) == 553 == int(m.get("content-length") or "")
    assert b"\x00" in body and b"\r\x01" in body  # NUL and bare CR octets are content
    assert body.startswith(b"--7a9cbec02ceef655\r\n") and body.endswith(b"\r\n--7a9cbec02ceef655--\r\n")
    via = m.top_via
    assert via.branch == "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-" and via.params["rport"] is None


def test_unreason_utf8_reason_phrase() -> None:
    r = resp("unreason")
    assert r.status == 200
    assert r.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert len(r.body) == 154


def test_noreason_empty_reason_phrase() -> None:
    r = resp("noreason")
    assert (r.status, r.reason) == (100, "")
    assert r.serialize().startswith(b"SIP/2.0 100 \r\n")


# -- 3.1.2 invalid messages, 3.2, 3.3: the answers -------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("badinv01", "Bad Via header"),
        ("scalar02", "CSeq number out of range"),
        ("quotbal", "Bad To header"),
        ("escruri", "Request-URI must not carry headers or a method parameter"),
        ("regbadct", "Bad Contact header"),
        ("badaspec", "Bad To header"),
        ("baddn", "Bad From header"),
        ("mismatch01", "CSeq method does not match Request-Line"),
        ("badbranch", "Via branch is the magic cookie alone"),
        ("insuf", "Missing From, To and Call-ID headers"),
        ("unksm2", "REGISTER To must be a SIP or SIPS URI"),
        ("multi01", "More than one Call-ID, CSeq, From, Max-Forwards and To header"),
    ],
)
def test_400_reason_names_the_fault(name: str, reason: str) -> None:
    err = error(name)
    assert (err.status, err.reason) == (400, reason)
    # the answer can be built from what was read
    assert isinstance(err.partial, Request) and err.status is not None
    answer = make_response(err.partial, err.status, err.reason, to_tag="t1")
    assert answer.serialize().startswith(b"SIP/2.0 400 " + reason.encode())
    assert answer.get("call-id") == err.partial.get("call-id")


@pytest.mark.parametrize("name", ["clerr", "ncl", "ltgtruri", "lwsruri", "lwsstart", "trws", "mcl01", "test"])
def test_parser_rejects_and_keeps_what_routes_the_answer(name: str) -> None:
    err = error(name)
    assert err.status == 400
    partial = err.partial
    assert isinstance(partial, Request)
    if name != "test":  # "test" has no Via: nothing to route a datagram answer by
        assert partial.get("via") and partial.get("call-id")


def test_badvers_505() -> None:
    err = error("badvers")
    assert err.status == 505


def test_mismatch02_unknown_method_beats_cseq_mismatch() -> None:
    err = error("mismatch02")
    assert err.status == 501 and err.headers[0][0] == "Allow"


def test_unknown_and_atypical_schemes_416() -> None:
    for name in ("unkscm", "novelsc"):
        m = req(name)
        assert not isinstance(m.ruri, SipUri)
        assert error(name).status == 416


def test_unksm2_schemes_in_header_fields_parse() -> None:
    m = req("unksm2")
    assert str(m.to.uri) == "isbn:2983792873"
    assert str(m.from_.uri) == "http://www.example.com" and m.from_.tag == "3234233"
    assert [str(c.uri) for c in m.name_addrs("contact")] == ["name:John_Smith"]


def test_bext01_420_lists_the_required_options() -> None:
    err = error("bext01")
    assert err.status == 420
    # a UAS answers for Require only; Proxy-Require is for proxies (§3.3.5 "depending on the role")
    assert err.headers == (("Unsupported", "nothingSupportsThis, nothingSupportsThisEither"),)


def test_invut_415_lists_what_is_accepted() -> None:
    err = error("invut")
    assert err.status == 415 and err.headers == (("Accept", ", ".join(sorted(ACCEPT))),)


def test_sdp01_406_with_warning_399() -> None:
    err = error("sdp01")
    assert err.status == 406
    ((name, value),) = err.headers
    assert name == "Warning" and value.startswith('399 b2bua "')


def test_regaut01_unknown_authorization_scheme_is_well_formed() -> None:
    m = req("regaut01")
    check_request(m)
    assert m.get("authorization") == "NoOneKnowsThisScheme opaque-data=here"


def test_zeromf_options_with_max_forwards_zero_is_processed() -> None:
    check_request(req("zeromf"))


def test_cparam01_header_parameter_and_cparam02_uri_parameter() -> None:
    (c1,) = req("cparam01").name_addrs("contact")
    assert isinstance(c1.uri, SipUri) and c1.uri.params == {} and c1.params == {"unknownparam": None}
    assert c1.uri.user == "+19725552222"
    (c2,) = req("cparam02").name_addrs("contact")
    assert isinstance(c2.uri, SipUri) and c2.uri.params == {"unknownparam": None} and c2.params == {}


def test_regescrt_escaped_header_in_a_bracketed_contact() -> None:
    (contact,) = req("regescrt").name_addrs("contact")  # "M:" compact form
    assert isinstance(contact.uri, SipUri) and contact.uri.headers == "Route=%3Csip:sip.example.com%3E"
    assert str(contact) == "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"


def test_baddate_is_accepted() -> None:
    m = req("baddate")
    check_request(m)
    assert m.get("date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_inv2543_rfc2543_syntax() -> None:
    m = req("inv2543")
    check_request(m)
    assert m.top_via.branch is None and m.from_.tag is None
    assert "max-forwards" not in m and "content-length" not in m
    assert len(m.body) == 105 and m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    with pytest.raises(ParseError):  # a stream needs Content-Length (RFC 3261 §18.3)
        parse_message(TORTURE_BY_NAME["inv2543"].data, stream=True)


def test_responses_dropped() -> None:
    assert error("bigcode").status is None  # 4294967301 is no status code
    err = error("scalarlg")
    assert err.status is None and err.reason == "Bad CSeq header"
    bcast = resp("bcast")
    assert [v.host for v in bcast.vias] == ["192.0.2.198", "255.255.255.255"]
    assert error("bcast").status is None


def test_valid_responses_pass() -> None:
    check_response(resp("unreason"))
    check_response(resp("noreason"))


# -- the validator beyond the RFC 4475 messages -------------------------------------

BASE = [
    "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKtest1",
    "Max-Forwards: 70",
    "From: <sip:alice@example.com>;tag=a1",
    "To: <sip:bob@example.com>",
    "Call-ID: c1@example.com",
]


def build(method: str = "INVITE", *headers: str, ruri: str = "sip:bob@example.com", body: bytes = b"", base: bool = True) -> Request:
    lines = [f"{method} {ruri} SIP/2.0"]
    if base:
        lines += BASE + [f"CSeq: 1 {method}"]
    lines += list(headers)
    lines.append(f"Content-Length: {len(body)}")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert isinstance(msg, Request)
    return msg


def status(request: Request, **kw: object) -> int | None | str:
    try:
        check_request(request, **kw)  # type: ignore[arg-type]
    except ParseError as err:
        return err.status
    return OK


def test_a_plain_request_passes() -> None:
    assert status(build()) == OK
    assert status(build("OPTIONS", ruri="tel:+12125551212")) == OK


def test_loop_detected_on_our_own_via() -> None:
    own = frozenset({("192.0.2.1", 5060)})
    looped = build("INVITE", "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK5f3a2c")
    assert status(looped, own_addresses=own) == 482
    assert status(looped) == OK  # without our addresses there is nothing to match
    assert status(build("INVITE", "Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKx"), own_addresses=own) == OK
    # an RFC 2543 branch is none we generate
    assert status(build("INVITE", "Via: SIP/2.0/UDP 192.0.2.1;branch=1a2b"), own_addresses=own) == OK
    v6 = frozenset({("2001:DB8::1", 5070)})
    assert status(build("INVITE", "Via: SIP/2.0/TCP [2001:db8:0::1]:5070;branch=z9hG4bKa"), own_addresses=v6) == 482
    tls = frozenset({("sbc.example.com", 5061)})
    assert status(build("INVITE", "Via: SIP/2.0/TLS SBC.example.com;branch=z9hG4bKb"), own_addresses=tls) == 482


def test_max_forwards_zero_on_what_we_would_relay() -> None:
    zero = [h for h in BASE if not h.startswith("Max-Forwards")] + ["Max-Forwards: 0"]

    def with_zero(method: str, *extra: str, to: str = "To: <sip:bob@example.com>") -> Request:
        headers = [h if not h.startswith("To:") else to for h in zero]
        return build(method, *headers, f"CSeq: 1 {method}", *extra, base=False)

    assert status(with_zero("INVITE")) == 483
    assert status(with_zero("MESSAGE")) == 483
    assert status(with_zero("INVITE", to="To: <sip:bob@example.com>;tag=b1")) == OK  # in a dialog
    for method in ("OPTIONS", "REGISTER", "CANCEL", "ACK"):
        assert status(with_zero(method)) == OK, method
    assert status(build("INVITE", "Max-Forwards: 256", base=False)) == 400


def test_errors_on_an_ack_are_drops() -> None:
    ack = build("ACK", "Require: foo")  # Require is not checked on ACK
    assert status(ack) == OK
    bad = parse_message(b"ACK sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(bad, Request)
    assert status(bad) is None


def test_contact_star() -> None:
    assert status(build("REGISTER", "Contact: *", "Expires: 0")) == OK
    assert status(build("REGISTER", "Contact: *", "Expires: 3600")) == 400
    assert status(build("REGISTER", "Contact: *, <sip:a@b>", "Expires: 0")) == 400
    assert status(build("INVITE", "Contact: *")) == 400


def test_scalar_ranges() -> None:
    assert status(build("REGISTER", "Expires: 4294967295")) == OK
    assert status(build("REGISTER", "Expires: 4294967296")) == 400
    assert status(build("REGISTER", "Contact: <sip:a@b>;expires=4294967296")) == 400
    assert status(build("REGISTER", "Contact: <sip:a@b>;q=0.5")) == OK
    assert status(build("REGISTER", "Contact: <sip:a@b>;q=1.5")) == 400


def test_content_checks() -> None:
    sdp = b"v=0\r\n"
    assert status(build("INVITE", "Content-Type: application/sdp", body=sdp)) == OK
    assert status(build("INVITE", body=sdp)) == 400  # a body needs a Content-Type
    gz = build("INVITE", "Content-Type: application/sdp", "Content-Encoding: gzip", body=sdp)
    with pytest.raises(ParseError) as info:
        check_request(gz)
    assert info.value.status == 415 and info.value.headers == (("Accept-Encoding", "identity"),)
    assert status(build("INFO", "Content-Type: application/dtmf-relay", body=b"Signal=1\r\n")) == OK
    # bodies the B2BUA relays without reading them are not checked
    assert status(build("MESSAGE", "Content-Type: text/x-anything", body=b"hi")) == OK
    assert status(build("INVITE", "Accept: application/*")) == OK
    assert status(build("INVITE", "Accept:")) == 406  # "no formats are acceptable", §20.1


def test_require() -> None:
    assert status(build("INVITE", "Require: TIMER")) == OK  # tokens compare case-insensitively
    assert status(build("CANCEL", "Require: nothing")) == OK
    assert status(build("INVITE", "Proxy-Require: nothing")) == OK


def test_empty_via() -> None:
    headers = [h for h in BASE if not h.startswith("Via")]
    assert status(build("INVITE", "Via: ,", *headers, "CSeq: 1 INVITE", base=False)) == 400


def test_bad_call_id_and_max_forwards() -> None:
    headers = [h for h in BASE if not h.startswith("Call-ID")]
    assert status(build("INVITE", *headers, "Call-ID: a b", "CSeq: 1 INVITE", base=False)) == 400
    assert status(build("INVITE", *headers, "Call-ID: a@b@c", "CSeq: 1 INVITE", base=False)) == 400


def test_check_response() -> None:
    def response(*headers: str) -> Response:
        lines = ["SIP/2.0 503 Service Unavailable", "Via: SIP/2.0/UDP h;branch=z9hG4bKr"]
        lines += [h for h in BASE[2:]] + ["CSeq: 1 INVITE", *headers, "Content-Length: 0"]
        msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert isinstance(msg, Response)
        return msg

    check_response(response("Retry-After: 120 (rebooting);duration=60", 'Warning: 399 h "busy"'))
    for bad in ("Via: SIP/2.0/UDP h2;branch=z9hG4bKs", "Retry-After: 4294967296", 'Warning: 3999 h "x"'):
        with pytest.raises(ParseError) as info:
            check_response(response(bad))
        assert info.value.status is None
