"""Sample messages for the parser micro-benchmark: one basic call as it looks on
the wire between a SIP phone and the B2BUA (RFC 3261 §24.2 flow, RFC 3581 rport).

Content-Length is computed here so the samples stay valid when edited.  Every
sample is written the way all three parsers under test accept it: CRLF line
ends, headers in long form with the usual capitalisation (pyVoIP matches
header names case-sensitively and only splits at ": ").
"""

from __future__ import annotations

_SDP_OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

_SDP_ANSWER = (
    "v=0\r\n"
    "o=b2bua 1727353 1727353 IN IP4 198.51.100.1\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 8 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def _message(start: str, headers: list[str], body: str = "") -> bytes:
    lines = [start, *headers, f"Content-Length: {len(body.encode())}", "", ""]
    return ("\r\n".join(lines) + body).encode()


INVITE = _message(
    "INVITE sip:+493012345678@gw.example.net SIP/2.0",
    [
        "Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---a3f1c6e2b9d04f71",
        "Max-Forwards: 70",
        "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
        "To: <sip:+493012345678@gw.example.net>",
        "Call-ID: 3848276298220188511@192.0.2.10",
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@192.0.2.10:5060;transport=udp>",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY",
        "Supported: replaces, timer, 100rel",
        "User-Agent: ExamplePhone/4.2",
        "Content-Type: application/sdp",
    ],
    _SDP_OFFER,
)

RINGING = _message(
    "SIP/2.0 180 Ringing",
    [
        "Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10"
        ";branch=z9hG4bK-524287-1---a3f1c6e2b9d04f71",
        "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
        "To: <sip:+493012345678@gw.example.net>;tag=8321234356",
        "Call-ID: 3848276298220188511@192.0.2.10",
        "CSeq: 314159 INVITE",
        "Contact: <sip:+493012345678@198.51.100.1:5060>",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY",
        "Server: b2bua/0.1",
    ],
)

OK = _message(
    "SIP/2.0 200 OK",
    [
        "Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10"
        ";branch=z9hG4bK-524287-1---a3f1c6e2b9d04f71",
        "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
        "To: <sip:+493012345678@gw.example.net>;tag=8321234356",
        "Call-ID: 3848276298220188511@192.0.2.10",
        "CSeq: 314159 INVITE",
        "Contact: <sip:+493012345678@198.51.100.1:5060>",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY",
        "Supported: replaces, timer",
        "Server: b2bua/0.1",
        "Content-Type: application/sdp",
    ],
    _SDP_ANSWER,
)

ACK = _message(
    "ACK sip:+493012345678@198.51.100.1:5060 SIP/2.0",
    [
        "Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---7c1d0e8a44b2f905",
        "Max-Forwards: 70",
        "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
        "To: <sip:+493012345678@gw.example.net>;tag=8321234356",
        "Call-ID: 3848276298220188511@192.0.2.10",
        "CSeq: 314159 ACK",
        "User-Agent: ExamplePhone/4.2",
    ],
)

BYE = _message(
    "BYE sip:alice@192.0.2.10:5060;transport=udp SIP/2.0",
    [
        "Via: SIP/2.0/UDP 198.51.100.1:5060;rport;branch=z9hG4bK-b2b-5be0c3d1a9e24b6f",
        "Max-Forwards: 70",
        "From: <sip:+493012345678@gw.example.net>;tag=8321234356",
        "To: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl",
        "Call-ID: 3848276298220188511@192.0.2.10",
        "CSeq: 1 BYE",
        "User-Agent: b2bua/0.1",
    ],
)

MESSAGES: dict[str, bytes] = {
    "INVITE": INVITE,
    "180 Ringing": RINGING,
    "200 OK": OK,
    "ACK": ACK,
    "BYE": BYE,
}
