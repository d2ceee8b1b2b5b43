"""RFC 5118 IPv6 torture messages through the parser and the validator.

The archive bytes (bare LF line ends, see ``torture_messages``) and their wire
form (CRLF, Content-Length of the body) both go through; the wire forms get
the outcome RFC 5118 states, the archive bytes the one their framing gives.
"""

from __future__ import annotations

import pytest

from b2bua.sip.errors import ParseError
from b2bua.sip.framing import StreamFramer
from b2bua.sip.message import Request, parse_message
from b2bua.sip.uri import SipUri, parse_uri, uri_equal
from b2bua.sip.validate import check_request
from tests.sip.torture_messages import OK, TORTURE, TORTURE_BY_NAME, Torture, outcome, wire_form

RFC5118 = [t for t in TORTURE if t.section.startswith("RFC 5118")]
ARCHIVE = [t for t in RFC5118 if not t.name.endswith("+crlf")]
WIRE = [t for t in RFC5118 if t.name.endswith("+crlf")]


def _ids(entries: list[Torture]) -> list[str]:
    return [t.name for t in entries]


def req(name: str) -> Request:
    """The wire form of an RFC 5118 message, parsed and checked."""
    msg = parse_message(TORTURE_BY_NAME[name + "+crlf"].data)
    assert isinstance(msg, Request)
    return msg


def test_all_ten_sections_are_in_the_table() -> None:
    assert _ids(ARCHIVE) == [
        "ipv6-good",
        "ipv6-bad",
        "port-ambiguous",
        "port-unambiguous",
        "via-received-param-with-delim",
        "via-received-param-no-delim",
        "ipv6-in-sdp",
        "mult-ip-in-header",
        "mult-ip-in-sdp",
        "ipv4-mapped-ipv6",
        "ipv6-bug-abnf-3-colons",
        "ipv6-correct-abnf-2-colons",
    ]
    assert _ids(WIRE) == [t.name + "+crlf" for t in ARCHIVE]
    assert all(t.datagram_only for t in ARCHIVE) and not any(t.datagram_only for t in WIRE)


@pytest.mark.parametrize("entry", RFC5118, ids=_ids(RFC5118))
def test_outcome_over_a_datagram(entry: Torture) -> None:
    assert outcome(entry.data) == entry.expect


@pytest.mark.parametrize("entry", WIRE, ids=_ids(WIRE))
def test_wire_form_over_a_stream(entry: Torture) -> None:
    framer = StreamFramer()
    assert framer.feed(entry.data) == [entry.data]
    assert outcome(entry.data, stream=True) == entry.expect


@pytest.mark.parametrize("entry", WIRE, ids=_ids(WIRE))
def test_wire_form_is_crlf_with_a_true_content_length(entry: Torture) -> None:
    data = entry.data
    assert b"\n" not in data.replace(b"\r\n", b"")
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.endswith(b"Content-Length: %d" % len(body))


@pytest.mark.parametrize("entry", [t for t in ARCHIVE if t.expect == OK], ids=lambda t: t.name)
def test_bare_lf_archive_parses_like_the_wire_form(entry: Torture) -> None:
    archive = parse_message(entry.data)
    wire = parse_message(wire_form(entry.data))
    assert archive.start_line() == wire.start_line()

    def without_length(headers: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        return [h for h in headers if h[1] != "content-length"]

    assert without_length(archive.headers) == without_length(wire.headers)
    assert archive.body.replace(b"\n", b"\r\n") == wire.body


def test_archive_content_lengths_that_overrun_the_datagram() -> None:
    # RFC 5118 §4.6 and §4.8 declare 268 and 181 octets; the archive holds 242 and 180
    for name, declared, held in (("ipv6-in-sdp", 268, 242), ("mult-ip-in-sdp", 181, 180)):
        data = TORTURE_BY_NAME[name].data
        assert data.split(b"\n\n", 1)[1].__len__() == held
        assert b"Content-Length: %d\n" % declared in data
        with pytest.raises(ParseError) as info:
            parse_message(data)
        assert (info.value.status, info.value.reason) == (400, "Content-Length larger than message")


def test_4_1_ipv6_good() -> None:
    m = req("ipv6-good")
    ruri = m.ruri
    assert isinstance(ruri, SipUri) and (ruri.host, ruri.port) == ("2001:db8::10", None)
    assert str(ruri) == "sip:[2001:db8::10]"
    via = m.top_via
    assert (via.host, via.port, via.branch) == ("2001:db8::9:1", None, "z9hG4bKas3-111")
    assert str(via) == "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111"
    (contact,) = m.name_addrs("contact")
    assert contact.display == "Caller" and isinstance(contact.uri, SipUri) and contact.uri.host == "2001:db8::1"
    check_request(m)


def test_4_2_ipv6_bad() -> None:
    m = req("ipv6-bad")
    with pytest.raises(ParseError):
        m.ruri  # "sip:2001:db8::10": the colons read as a port
    with pytest.raises(ParseError) as info:
        check_request(m)
    assert (info.value.status, info.value.reason) == (400, "Bad Request-URI")


def test_4_3_port_inside_the_brackets_is_address() -> None:
    ruri = req("port-ambiguous").ruri
    assert isinstance(ruri, SipUri) and (ruri.host, ruri.port) == ("2001:db8::10:5070", None)


def test_4_4_port_after_the_brackets() -> None:
    ruri = req("port-unambiguous").ruri
    assert isinstance(ruri, SipUri) and (ruri.host, ruri.port) == ("2001:db8::10", 5070)
    assert str(ruri) == "sip:[2001:db8::10]:5070"
    assert not uri_equal(ruri, req("port-ambiguous").ruri)


def test_4_5_via_received_with_and_without_brackets() -> None:
    with_delim = req("via-received-param-with-delim").top_via
    assert with_delim.host == "2001:db8::9:1"
    assert with_delim.params["received"] == "[2001:db8::9:255]"  # accepted (robustness)
    assert with_delim.branch == "z9hG4bKas3-111"
    no_delim = req("via-received-param-no-delim").top_via
    assert no_delim.params["received"] == "2001:db8::9:255"
    assert no_delim.branch == "z9hG4bKas3"


def test_4_6_ipv6_in_sdp() -> None:
    m = req("ipv6-in-sdp")
    assert isinstance(m.to.uri, SipUri) and m.to.uri.host == "2001:db8::10"
    assert m.content_type == "application/sdp"
    assert len(m.body) == 251
    assert b"c=IN IP6 2001:db8::20\r\n" in m.body
    check_request(m)


def test_4_7_mixed_ip_versions_in_vias() -> None:
    vias = req("mult-ip-in-header").vias
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("UDP", "2001:db8::9:1", 6050),
        ("UDP", "192.0.2.1", None),
        ("TCP", "2001:db8::9:255", None),
    ]
    assert vias[2].params == {"branch": "z9hG4bK451jj", "received": "192.0.2.200"}


def test_4_8_mixed_ip_versions_in_sdp() -> None:
    m = req("mult-ip-in-sdp")
    assert b"c=IN IP4 192.0.2.1\r\n" in m.body and b"c=IN IP6 2001:db8::1\r\n" in m.body
    assert len(m.body) == 189


def test_4_9_ipv4_mapped_ipv6() -> None:
    archive = parse_message(TORTURE_BY_NAME["ipv4-mapped-ipv6"].data)  # its Content-Length fits the LF body
    assert isinstance(archive, Request) and len(archive.body) == 236
    m = req("ipv4-mapped-ipv6")
    assert [(v.host, v.port) for v in m.vias] == [("::ffff:192.0.2.10", 19823), ("::ffff:192.0.2.2", None)]
    (contact,) = m.name_addrs("contact")
    assert contact.display == "T. desk phone"
    assert isinstance(contact.uri, SipUri) and contact.uri.host == "::ffff:192.0.2.2"
    assert str(contact.uri) == "sip:ted@[::ffff:192.0.2.2]"


def test_4_10_extra_colon_of_the_rfc3261_abnf_is_tolerated() -> None:
    three = req("ipv6-bug-abnf-3-colons")
    two = req("ipv6-correct-abnf-2-colons")
    ruri3, ruri2 = three.ruri, two.ruri
    assert isinstance(ruri3, SipUri) and ruri3.host == "2001:db8::192.0.2.1"  # kept in the corrected form
    assert uri_equal(ruri3, ruri2) and uri_equal(three.to.uri, two.to.uri)
    assert str(ruri3) == "sip:user@[2001:db8::192.0.2.1]"
    # the archive files have no empty line after the head
    assert not TORTURE_BY_NAME["ipv6-bug-abnf-3-colons"].data.endswith(b"\n\n")


@pytest.mark.parametrize(
    "text",
    ["sip:[2001:db8::1", "sip:[2001:db8::1]x", "sip:[2001:db8:::1]", "sip:[::ffff:192.0.2.256]", "sip:[gg::1]"],
)
def test_bad_ipv6_references(text: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(text)
