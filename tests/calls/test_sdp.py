"""The SDP model (RFC 4566) and offer/answer helpers (RFC 3264): real bodies from
common phones, hold offers, IPv6, malformed input, and round-trip properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.calls import sdp
from b2bua.calls.sdp import (
    MAX_LINE, MAX_LINES, Attribute, Bandwidth, Codec, Connection, Direction, Line, Media, Origin, Payload, RtpMap,
    SdpError, SessionDescription, Timing, answer, build, hold, looks_valid, offer, parse, reoffer, resume,
    telephone_event, with_direction,
)


def crlf(text: str) -> bytes:
    return "".join(ln.strip() + "\r\n" for ln in text.strip().splitlines()).encode()


POLYCOM = crlf("""
    v=0
    o=- 1617285426 1617285426 IN IP4 192.168.1.50
    s=Polycom IP Phone
    c=IN IP4 192.168.1.50
    t=0 0
    a=sendrecv
    m=audio 2222 RTP/AVP 9 102 0 8 18 127
    a=rtpmap:9 G722/8000
    a=rtpmap:102 G7221/16000
    a=fmtp:102 bitrate=32000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:127 telephone-event/8000
""")

YEALINK = crlf("""
    v=0
    o=- 20021 20021 IN IP4 10.0.0.21
    s=SDP data
    c=IN IP4 10.0.0.21
    t=0 0
    m=audio 11790 RTP/AVP 0 8 18 9 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:9 G722/8000
    a=fmtp:101 0-15
    a=rtpmap:101 telephone-event/8000
    a=ptime:20
    a=sendrecv
""")

CISCO = crlf("""
    v=0
    o=CiscoSystemsSIP-GW-UserAgent 4521 1937 IN IP4 10.1.1.1
    s=SIP Call
    c=IN IP4 10.1.1.1
    t=0 0
    m=audio 16384 RTP/AVP 18 0 101 19
    c=IN IP4 10.1.1.2
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=rtpmap:19 CN/8000
    a=ptime:20
""")

LINPHONE_V6 = crlf("""
    v=0
    o=linphone 2941 1372 IN IP6 2001:db8::10
    s=Talk
    c=IN IP6 2001:db8::10
    t=0 0
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    m=audio 7078 RTP/AVP 96 97 98 0 8 101 99 100
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 useinbandfec=1
    a=rtpmap:97 speex/16000
    a=fmtp:97 vbr=on
    a=rtpmap:98 speex/8000
    a=fmtp:98 vbr=on
    a=rtpmap:101 telephone-event/48000
    a=rtpmap:99 telephone-event/16000
    a=rtpmap:100 telephone-event/8000
    a=rtcp-fb:* trr-int 1000
    a=rtcp-fb:* ccm tmmbr
""")

BARESIP = crlf("""
    v=0
    o=- 1779345806 2078414424 IN IP4 192.168.1.20
    s=-
    c=IN IP4 192.168.1.20
    t=0 0
    m=video 10002 RTP/AVP 96
    b=AS:1000
    a=rtpmap:96 H264/90000
    a=fmtp:96 packetization-mode=0;profile-level-id=42e01f
    a=sendrecv
    m=audio 10000 RTP/AVP 0 8 101
    b=AS:64
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    a=label:1
    a=rtcp-rsize
    a=ssrc:1192372620 cname:a5f6c3b8
""")


def pyvoip_offer() -> bytes:
    """The body of an INVITE exactly as pyVoIP 1.6.8 builds it."""
    from pyVoIP.VoIP import VoIP  # noqa: F401  (pyVoIP.SIP must be imported after it)
    from pyVoIP import RTP, SIP

    client = SIP.SIPClient("192.0.2.1", 5060, "1001", "pw", None, myIP="192.0.2.50", myPort=5062)  # type: ignore[arg-type]
    ms = {40000: {"0": RTP.PayloadType.PCMU, "8": RTP.PayloadType.PCMA, "101": RTP.PayloadType.EVENT}}
    invite = client.gen_invite("1002", "7", ms, RTP.TransmitType.SENDRECV, "z9hG4bKx", "cid")
    return invite.split("\r\n\r\n", 1)[1].encode()


PHONES = {"polycom": POLYCOM, "yealink": YEALINK, "cisco": CISCO, "linphone": LINPHONE_V6, "baresip": BARESIP}


@pytest.mark.parametrize("name", PHONES)
def test_real_offers_parse_and_build_back_unchanged(name: str) -> None:
    body = PHONES[name]
    sd = parse(body)
    assert looks_valid(body)
    assert parse(build(sd)) == sd
    # Yealink writes an fmtp before its rtpmap, baresip the direction before other attributes;
    # we write each payload's pair together and the direction last
    if name not in ("yealink", "baresip"):
        assert build(sd) == body


def test_polycom_session_level_direction_and_payloads() -> None:
    sd = parse(POLYCOM)
    assert sd.origin == Origin(username="-", session_id="1617285426", version=1617285426, address="192.168.1.50")
    assert sd.session_name == "Polycom IP Phone" and sd.timing == (Timing(start=0, stop=0),)
    assert sd.direction is Direction.SENDRECV and sd.media[0].direction is None
    assert sd.direction_of(0) is Direction.SENDRECV
    m = sd.media[0]
    assert m.formats == ("9", "102", "0", "8", "18", "127") and m.port == 2222 and m.proto == "RTP/AVP"
    assert m.payload(102) == Payload(pt="102", rtpmap=RtpMap(encoding="G7221", clock_rate=16000), fmtp="bitrate=32000")
    assert m.payload("18").fmtp == "annexb=no"  # type: ignore[union-attr]
    assert telephone_event(m) == 127


def test_yealink_fmtp_before_rtpmap_is_one_payload() -> None:
    m = parse(YEALINK).media[0]
    assert m.payload(101) == Payload(pt="101", rtpmap=RtpMap(encoding="telephone-event", clock_rate=8000), fmtp="0-15")
    assert m.attributes == (Attribute(name="ptime", value="20"),) and m.direction is Direction.SENDRECV


def test_cisco_media_connection_wins() -> None:
    sd = parse(CISCO)
    assert sd.connection_of(0) == Connection(address="10.1.1.2")
    assert sd.origin.username == "CiscoSystemsSIP-GW-UserAgent" and sd.origin.version == 1937
    assert telephone_event(sd.media[0]) == 101


def test_linphone_ipv6_and_telephone_event_at_8000_hz() -> None:
    sd = parse(LINPHONE_V6)
    assert sd.connection == Connection(addr_type="IP6", address="2001:db8::10")
    assert sd.origin.addr_type == "IP6" and sd.origin.address == "2001:db8::10"
    assert sd.attributes[0].name == "rtcp-xr"
    m = sd.media[0]
    assert m.payload(96).rtpmap == RtpMap(encoding="opus", clock_rate=48000, parameters="2")  # type: ignore[union-attr]
    assert telephone_event(m) == 100  # 101 and 99 are telephone-event at other clock rates
    assert [a.value for a in m.attributes] == ["* trr-int 1000", "* ccm tmmbr"]


def test_baresip_bandwidth_and_attribute_order() -> None:
    sd = parse(BARESIP)
    video, audio = sd.media
    assert video.bandwidths == (Bandwidth(type="AS", value=1000),) and audio.bandwidths == (Bandwidth(type="AS", value=64),)
    assert [a.name for a in audio.attributes] == ["label", "rtcp-rsize", "ssrc"]
    assert audio.attributes[2] == Attribute(name="ssrc", value="1192372620 cname:a5f6c3b8")
    assert telephone_event(video) is None


def test_pyvoip_offer() -> None:
    body = pyvoip_offer()
    sd = parse(body)
    assert build(sd) == body
    assert sd.origin.username == "pyVoIP" and sd.origin.version == 9
    m = sd.media[0]
    assert m.formats == ("0", "8", "101") and m.port == 40000 and telephone_event(m) == 101
    assert [(a.name, a.value) for a in m.attributes] == [("ptime", "20"), ("maxptime", "150")]
    assert sd.direction_of(0) is Direction.SENDRECV


def test_pyvoip_reads_our_offer_and_answer() -> None:
    """A real phone's parser understands what the server writes."""
    from pyVoIP.VoIP import VoIP  # noqa: F401
    from pyVoIP import SIP

    ours = build(answer(parse(pyvoip_offer()), address="192.0.2.9", port=30000, session_id=5))
    msg = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bKx\r\nFrom: <sip:1001@h>;tag=a\r\n"
           b"To: <sip:1002@h>;tag=b\r\nCall-ID: cid\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
           b"Content-Length: " + str(len(ours)).encode() + b"\r\n\r\n" + ours)
    seen = SIP.SIPMessage(msg).body
    assert seen["c"][0]["address"] == "192.0.2.9" and seen["m"][0]["port"] == 30000
    assert seen["m"][0]["methods"] == ["0", "8", "101"]
    assert seen["m"][0]["attributes"]["101"]["fmtp"]["settings"] == ["0-16"]


def test_sipp_style_lf_lines_and_trailing_blanks() -> None:
    body = b"v=0\no=user1 53655765 2353687637 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n" \
           b"m=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendonly \n\n"
    sd = parse(body)
    assert sd.media[0].direction is Direction.SENDONLY and sd.origin.version == 2353687637


def test_rfc4475_lpc_rtpmap_without_clock_rate() -> None:
    body = crlf("""
        v=0
        o=mhandley 29739 7272939 IN IP4 192.0.2.3
        s=-
        c=IN IP4 192.0.2.4
        t=0 0
        m=audio 49217 RTP/AVP 0 12
        m=video 3227 RTP/AVP 31
        a=rtpmap:31 LPC
    """)
    sd = parse(body)
    assert sd.media[1].payload(31) == Payload(pt="31", rtpmap=RtpMap(encoding="LPC"))
    assert build(sd) == body and sd.media[0].encoding(0) == ("PCMU", 8000)


def test_rare_lines_are_kept_in_rfc_order() -> None:
    body = crlf("""
        v=0
        o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
        s=SDP Seminar
        i=A Seminar on the session description protocol
        u=http://www.example.com/seminars/sdp.pdf
        e=j.doe@example.com (Jane Doe)
        c=IN IP4 224.2.17.12/127
        t=2873397496 2873404696
        r=7d 1h 0 25h
        a=recvonly
        m=audio 49170 RTP/AVP 0
        m=video 51372/2 RTP/AVP 99
        i=the slides
        a=rtpmap:99 h263-1998/90000
    """)
    sd = parse(body)
    assert [ln.type for ln in sd.lines] == ["i", "u", "e"] and sd.timing[0].repeats == ("7d 1h 0 25h",)
    assert sd.connection == Connection(address="224.2.17.12/127")
    assert sd.media[1].port_count == 2 and sd.media[1].lines == (Line(type="i", value="the slides"),)
    assert sd.direction_of(1) is Direction.RECVONLY
    assert build(sd) == body
    # c= after t= (some phones): accepted, written back where RFC 4566 puts it
    swapped = body.replace(b"c=IN IP4 224.2.17.12/127\r\n", b"").replace(b"a=recvonly", b"c=IN IP4 224.2.17.12/127\r\na=recvonly")
    assert parse(swapped) == sd


# -- hold and direction ----------------------------------------------------------------


def test_hold_offers_from_phones() -> None:
    held = parse(YEALINK.replace(b"a=sendrecv", b"a=sendonly"))
    assert held.direction_of(0) is Direction.SENDONLY
    old_style = parse(CISCO.replace(b"c=IN IP4 10.1.1.2", b"c=IN IP4 0.0.0.0"))  # RFC 2543 hold
    assert old_style.connection_of(0) == Connection(address="0.0.0.0")
    inactive = parse(POLYCOM.replace(b"a=sendrecv", b"a=inactive"))
    assert inactive.direction_of(0) is Direction.INACTIVE


def test_media_level_direction_wins_over_session_level() -> None:
    body = POLYCOM + b"a=recvonly\r\n"
    sd = parse(body)
    assert sd.direction is Direction.SENDRECV and sd.direction_of(0) is Direction.RECVONLY


def test_direction_algebra() -> None:
    assert [d.reverse() for d in Direction] == [Direction.SENDRECV, Direction.RECVONLY, Direction.SENDONLY, Direction.INACTIVE]
    assert Direction.SENDRECV.limit(Direction.SENDONLY) is Direction.SENDONLY
    assert Direction.RECVONLY.limit(Direction.SENDONLY) is Direction.INACTIVE


def test_hold_and_resume() -> None:
    ours = offer(address="192.0.2.9", port=30000, session_id=1)
    held = hold(ours)
    assert held.direction_of(0) is Direction.SENDONLY and parse(build(held)) == held
    assert hold(with_direction(ours, Direction.RECVONLY)).direction_of(0) is Direction.INACTIVE
    assert resume(held).direction_of(0) is Direction.SENDRECV
    assert resume(hold(with_direction(ours, Direction.RECVONLY))).direction_of(0) is Direction.RECVONLY
    polycom = parse(POLYCOM)  # session-level direction: the media level takes over
    held = hold(polycom)
    assert held.direction is None and held.media[0].direction is Direction.SENDONLY
    with pytest.raises(ValueError):
        with_direction(polycom, [Direction.SENDONLY, Direction.SENDONLY])


# -- offer / answer --------------------------------------------------------------------


def test_offer_with_default_codecs() -> None:
    sd = offer(address="192.0.2.9", port=30000, session_id=42)
    assert build(sd) == crlf("""
        v=0
        o=- 42 1 IN IP4 192.0.2.9
        s=-
        c=IN IP4 192.0.2.9
        t=0 0
        m=audio 30000 RTP/AVP 0 8 101
        a=rtpmap:0 PCMU/8000
        a=rtpmap:8 PCMA/8000
        a=rtpmap:101 telephone-event/8000
        a=fmtp:101 0-16
        a=ptime:20
        a=sendrecv
    """)


def test_offer_ipv6() -> None:
    sd = offer(address="2001:db8::9", port=30000, session_id=42, codecs=(sdp.PCMA,), ptime=None)
    text = build(sd)
    assert b"o=- 42 1 IN IP6 2001:db8::9\r\n" in text and b"c=IN IP6 2001:db8::9\r\n" in text
    assert b"m=audio 30000 RTP/AVP 8\r\n" in text and b"ptime" not in text


@pytest.mark.parametrize("name", PHONES)
def test_answer_real_offers(name: str) -> None:
    offered = parse(PHONES[name])
    ans = answer(offered, address="192.0.2.9", port=30000, session_id=7)
    assert parse(build(ans)) == ans
    assert len(ans.media) == len(offered.media)
    assert [m.media for m in ans.media] == [m.media for m in offered.media]
    accepted = [m for m in ans.media if m.port]
    assert len(accepted) == 1 and accepted[0].port == 30000
    expected = {"polycom": ("0", "8", "127"), "yealink": ("0", "8", "101"), "cisco": ("0", "101"),
                "linphone": ("0", "8", "100"), "baresip": ("0", "8", "101")}[name]
    assert accepted[0].formats == expected  # the offer's order and numbers
    assert telephone_event(accepted[0]) == int(expected[-1])
    assert accepted[0].payload(expected[-1]).fmtp == "0-16"  # type: ignore[union-attr]
    assert ans.connection == Connection(address="192.0.2.9")


def test_answer_keeps_media_order_and_rejects_the_rest() -> None:
    ans = answer(parse(BARESIP), address="192.0.2.9", port=30000, session_id=7)
    video, audio = ans.media
    assert (video.media, video.port, video.formats) == ("video", 0, ("96",))
    assert audio.port == 30000 and audio.direction is Direction.SENDRECV
    assert b"m=video 0 RTP/AVP 96\r\n" in build(ans)


def test_answer_rejects_a_media_line_with_port_zero() -> None:
    offered = parse(BARESIP.replace(b"m=audio 10000", b"m=audio 0"))
    ans = answer(offered, address="192.0.2.9", port=30000, session_id=7)
    assert [m.port for m in ans.media] == [0, 0]


def test_answer_only_the_first_audio_stream() -> None:
    two = YEALINK + b"m=audio 11792 RTP/AVP 0\r\n"
    ans = answer(parse(two), address="192.0.2.9", port=30000, session_id=7)
    assert [m.port for m in ans.media] == [30000, 0]


def test_answer_without_a_common_audio_codec_rejects() -> None:
    g729_only = parse(CISCO.replace(b"RTP/AVP 18 0 101 19", b"RTP/AVP 18 101"))
    ans = answer(g729_only, address="192.0.2.9", port=30000, session_id=7)
    assert ans.media[0].port == 0  # telephone-event alone is no audio
    srtp = parse(YEALINK.replace(b"RTP/AVP", b"RTP/SAVP"))
    assert answer(srtp, address="192.0.2.9", port=30000, session_id=7).media[0].port == 0


def test_answer_static_payload_without_rtpmap_and_case() -> None:
    body = crlf("""
        v=0
        o=- 1 1 IN IP4 10.0.0.1
        s=-
        c=IN IP4 10.0.0.1
        t=0 0
        m=audio 4000 RTP/AVP 8 0 96
        a=rtpmap:96 TELEPHONE-EVENT/8000
    """)
    ans = answer(parse(body), address="192.0.2.9", port=30000, session_id=7)
    assert ans.media[0].formats == ("8", "0", "96") and telephone_event(ans.media[0]) == 96


@pytest.mark.parametrize(("offered", "local", "answered"), [
    (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
    (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
    (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
    (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
    (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),  # we hold while answering
    (Direction.SENDONLY, Direction.SENDONLY, Direction.INACTIVE),
])
def test_answer_reverses_direction(offered: Direction, local: Direction, answered: Direction) -> None:
    sd = with_direction(parse(YEALINK), offered)
    ans = answer(sd, address="192.0.2.9", port=30000, session_id=7, direction=local)
    assert ans.direction_of(0) is answered


def test_reoffer_bumps_the_version_only() -> None:
    first = offer(address="192.0.2.9", port=30000, session_id=42, version=3)
    again = reoffer(first)
    assert again.origin == Origin(session_id="42", version=4, address="192.0.2.9")
    assert msg_without_origin(again) == msg_without_origin(first)
    moved = offer(address="192.0.2.10", port=31000, session_id=99, version=1)
    held = reoffer(again, hold(moved))
    assert held.origin.version == 5 and held.origin.session_id == "42" and held.origin.address == "192.0.2.9"
    assert held.media[0].port == 31000 and held.direction_of(0) is Direction.SENDONLY
    phone = parse(POLYCOM)
    assert reoffer(phone).origin.version == 1617285427


def msg_without_origin(sd: SessionDescription) -> bytes:
    return build(sd).split(b"\r\n", 2)[2]


def test_telephone_event_absent() -> None:
    assert telephone_event(offer(address="192.0.2.9", port=1, session_id=1, codecs=(sdp.PCMU,)).media[0]) is None


def test_custom_codec_list() -> None:
    g722 = Codec(pt=9, encoding="G722")
    ans = answer(parse(POLYCOM), address="192.0.2.9", port=1, session_id=1, codecs=(g722, sdp.TELEPHONE_EVENT))
    assert ans.media[0].formats == ("9", "127")


# -- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(("body", "where"), [
    (b"", "empty"),
    (b"o=- 1 1 IN IP4 h\r\n", "line 1"),
    (b"v=1\r\n", "line 1"),
    (b"v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", "line 2"),
    (b"v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "line 2"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio port RTP/AVP 0\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0\r\n", "line 4"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nx\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm =video 3227 RTP/AVP 31\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nq=what\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nb=AS\r\n", "line 5"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "line 6"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0\r\n", "line 6"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/x\r\n", "line 6"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:0 PCMA/8000\r\n",
     "line 7"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nc=IN IP4\r\n", "line 5"),
    (b"v=0\r\ns=-\r\nt=0 0\r\n", "lacks o="),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", "lacks s="),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", "lacks t="),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "line 3"),
    (b"v=0\r\no=- 1 1 IN IP4 h\r\ns=\xff\r\nt=0 0\r\n", "UTF-8"),
    (b"not sdp at all", "line 1"),
])
def test_malformed_raises_one_error_naming_the_line(body: bytes, where: str) -> None:
    with pytest.raises(SdpError, match=where):
        parse(body)
    assert not looks_valid(body)


def test_limits() -> None:
    head = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
    assert looks_valid(head + b"a=x\r\n" * (MAX_LINES - 4))
    with pytest.raises(SdpError, match="more than"):
        parse(head + b"a=x\r\n" * MAX_LINES)
    assert looks_valid(head + b"a=" + b"x" * (MAX_LINE - 2) + b"\r\n")
    with pytest.raises(SdpError, match="line 5.*longer than"):
        parse(head + b"a=" + b"x" * (MAX_LINE - 1) + b"\r\n")


@given(st.binary(max_size=300))
def test_parse_raises_only_sdp_error(data: bytes) -> None:
    try:
        sd = parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n" + data)
    except SdpError:
        return
    assert parse(build(sd)) == sd


# -- round trip ------------------------------------------------------------------------

_token = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
_word = _token.filter(lambda s: ":" not in s and s not in {d.value for d in Direction} and s not in ("rtpmap", "fmtp"))
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)  # anything but CR/LF
_value = _text.map(str.strip).filter(lambda s: s.rstrip() == s)
_digits = st.integers(0, 2**63).map(str)
_direction = st.none() | st.sampled_from(Direction)
_connection = st.builds(Connection, net_type=_token, addr_type=_token, address=_token)
_bandwidth = st.builds(Bandwidth, type=_token.filter(lambda s: ":" not in s), value=st.integers(0, 10**9))
_attribute = st.builds(Attribute, name=_word, value=st.none() | _value)
_rtpmap = st.builds(RtpMap, encoding=_token.filter(lambda s: "/" not in s), clock_rate=st.none() | st.integers(0, 10**6),
                    parameters=st.none() | _token)
_rtpmap = _rtpmap.filter(lambda r: r.clock_rate is not None or r.parameters is None)
_payload = st.builds(Payload, pt=_token, rtpmap=st.none() | _rtpmap, fmtp=st.none() | _value.filter(bool))
_payload = _payload.filter(lambda p: p.rtpmap is not None or p.fmtp is not None)


def _lines(kinds: str) -> st.SearchStrategy[tuple[Line, ...]]:
    one = st.builds(Line, type=st.sampled_from(kinds), value=_value)
    return st.lists(one, max_size=3).map(lambda ls: tuple(sorted(ls, key=lambda ln: kinds.index(ln.type))))


_media = st.builds(
    Media, media=_token, port=st.integers(0, 65535), port_count=st.none() | st.integers(1, 8), proto=_token,
    formats=st.lists(_token, min_size=1, max_size=5).map(tuple), connection=st.none() | _connection,
    bandwidths=st.lists(_bandwidth, max_size=2).map(tuple),
    payloads=st.lists(_payload, max_size=4, unique_by=lambda p: p.pt).map(tuple),
    direction=_direction, attributes=st.lists(_attribute, max_size=4).map(tuple), lines=_lines("ik"),
)
_sd = st.builds(
    SessionDescription,
    origin=st.builds(Origin, username=_token, session_id=_digits, version=st.integers(0, 2**64),
                     net_type=_token, addr_type=_token, address=_token),
    session_name=_text.filter(lambda s: "\r" not in s), connection=st.none() | _connection,
    bandwidths=st.lists(_bandwidth, max_size=2).map(tuple),
    timing=st.lists(st.builds(Timing, start=st.integers(0, 2**40), stop=st.integers(0, 2**40),
                              repeats=st.lists(_value.filter(bool), max_size=2).map(tuple)), min_size=1, max_size=2).map(tuple),
    direction=_direction, attributes=st.lists(_attribute, max_size=4).map(tuple), lines=_lines("iuepzk"),
    media=st.lists(_media, max_size=3).map(tuple),
)


@settings(max_examples=300)
@given(_sd)
def test_parse_build_round_trip(sd: SessionDescription) -> None:
    assert parse(build(sd)) == sd


@given(_sd)
def test_hold_resume_and_reoffer_build_valid_sdp(sd: SessionDescription) -> None:
    for derived in (hold(sd), resume(sd), reoffer(sd), reoffer(sd, hold(sd))):
        assert parse(build(derived)) == derived
    assert reoffer(sd).origin.version == sd.origin.version + 1
