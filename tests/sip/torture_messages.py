"""The torture messages of RFC 4475 and RFC 5118, byte-exact, and the outcome
this server owes each one.  Importing this module has no side effects.

``TORTURE`` is the table: one :class:`Torture` per message, with

* ``expect``: the status code the server answers with, ``None`` when it must
  drop the message silently, or ``OK`` (the string ``"ok"``) when the message
  passes :func:`~b2bua.sip.message.parse_message` and
  :func:`~b2bua.sip.validate.check_request` (or ``check_response``) and goes on
  to the application, which decides the answer (OPTIONS gets 200, REGISTER
  the registrar's answer, an INVITE whatever the dial plan says).  A response
  is never answered: ``OK`` and ``None`` both mean silence on the wire, ``OK``
  only says that it was handed to the transaction layer, which drops it as
  stray;
* ``datagram_only``: the RFC describes the message as one UDP datagram and its
  framing on a stream is different (``note`` says how).  Replay it over UDP
  only; every other entry may go over UDP or TCP with the same outcome;
* ``note``: why a message is ``datagram_only``.

``ARCHIVE_SHA256`` maps each name to the SHA-256 of the file of the RFC's
Appendix A archive that the bytes reproduce (the ``+crlf`` variants are not
in it).

Where the bytes come from.  Both RFCs end with a base64, gzip-compressed tar
archive of the messages, which they call the bit-exact form (RFC 4475
Appendix A, RFC 5118 Appendix A); the message text in the body of the RFCs
uses markup for what a page cannot show (``<allOneLine>``, ``<hex>``,
``<repeat count=N>``, RFC 4475 §2).  The literals below are the archive
files, written one SIP line per Python line; LONGREQ and SCALAR02 keep the
RFC's ``<repeat>`` notation as ``b"..." * N``.  ``test_rfc4475`` checks every
literal against the recorded digest.

Two things about the archives a reader of the RFC text would not expect:

* the RFC 4475 archive holds one more file than §3 describes, ``test.dat``
  (a Request-Line without SIP-Version); it is in the table too;
* every RFC 5118 file ends its lines with a bare LF, not CRLF; the two §4.10
  files have no empty line after the head; and the Content-Length of §4.6
  (268) and §4.8 (181) matches neither the LF body (242, 180) nor the CRLF one
  (251, 189).  The archive bytes are in the table as they are, with the
  outcome they get (400 for the two whose Content-Length overruns the
  datagram, RFC 3261 §18.3), and each RFC 5118 message is there a second
  time, named ``<name>+crlf``, in the wire form the RFC's text means: CRLF
  line ends, an empty line after the head, Content-Length counting the body
  (:func:`wire_form`).  Those carry the outcome RFC 5118 states.

:func:`outcome` runs bytes through the same steps as the server's endpoint
(parse, then check) and says what the table would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Union

OK: Final = "ok"
Expect = Union[int, None, Literal["ok"]]


@dataclass(frozen=True)
class Torture:
    name: str  # the RFC's name for the message (file name in its archive)
    data: bytes
    expect: Expect  # status answered, None for a silent drop, OK for "goes on to the application"
    section: str  # where the RFC describes it
    datagram_only: bool = False
    note: str = ""
    framing_fault: bool = False  # a stream cannot frame it: 400 naming the fault, then the connection closes

    @property
    def expect_on_stream(self) -> Expect:
        return 400 if self.framing_fault else self.expect


def wire_form(data: bytes) -> bytes:
    """An RFC 5118 archive message as it goes on the wire: CRLF line ends, an
    empty line after the head, and a Content-Length that counts the body."""
    head, _, body = data.partition(b"\n\n")
    body = body.replace(b"\n", b"\r\n")
    lines = [line for line in head.split(b"\n") if line]
    lines = [
        b"Content-Length: %d" % len(body) if line.lower().startswith(b"content-length:") else line
        for line in lines
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# -- RFC 4475 (CRLF, as its archive has them) ------------------------------------

WSINV = (
    b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    b"TO :\r\n"
    b" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    b"from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n"
    b"  ;\r\n"
    b"  tag = 98asjd8\r\n"
    b"MaX-fOrWaRdS: 0068\r\n"
    b"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
    b"Content-Length   : 150\r\n"
    b"cseq: 0009\r\n"
    b"  INVITE\r\n"
    b"Via  : SIP  /   2.0\r\n"
    b" /UDP\r\n"
    b"    192.0.2.2;branch=390skdjuw\r\n"
    b"s :\r\n"
    b"NewFangledHeader:   newfangled value\r\n"
    b" continued newfangled value\r\n"
    b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Route:\r\n"
    b" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n"
    b"v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
    b"  branch  =   z9hG4bK9ikj8  ,\r\n"
    b" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
    b" z9hG4bK30239\r\n"
    b"m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n"
    b"      newvalue ;\r\n"
    b"  secondparam ; q = 0.33\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.4\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


INTMETH = (
    b"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/"
    b";;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
    b"To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;"
    b"*@example.com>\r\n"
    b"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xd1\x80"
    b"\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!"
    b"-.\r\n"
    b"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
    b"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
    b"Max-Forwards: 255\r\n"
    b"extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


ESC01 = (
    b"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n"
    b"To: sip:%75se%72@example.com\r\n"
    b"From: <sip:I%20have%20spaces@example.net>;tag=938\r\n"
    b"Max-Forwards: 87\r\n"
    b"i: esc01.239409asdfakjkn23onasd0-3234\r\n"
    b"CSeq: 234234 INVITE\r\n"
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n"
    b"C: application/sdp\r\n"
    b"Contact:\r\n"
    b"  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


ESCNULL = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:null-%00-null@example.com\r\n"
    b"From: sip:null-%00-null@example.com;tag=839923423\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n"
    b"CSeq: 14398234 REGISTER\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <sip:%00@host5.example.com>\r\n"
    b"Contact: <sip:%00%00@host5.example.com>\r\n"
    b"L:0\r\n"
    b"\r\n"
)


ESC02 = (
    b"RE%47IST%45R sip:registrar.example.com SIP/2.0\r\n"
    b"To: \"%Z%45\" <sip:resource@example.com>\r\n"
    b"From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\r\n"
    b"Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\r\n"
    b"Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\r\n"
    b"CSeq: 29344 RE%47IST%45R\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:alias1@host1.example.com>\r\n"
    b"C%6Fntact: <sip:alias2@host2.example.com>\r\n"
    b"Contact: <sip:alias3@host3.example.com>\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


LWSDISP = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: caller<sip:caller@example.com>;tag=323\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: lwsdisp.1234abcd@funky.example.com\r\n"
    b"CSeq: 60 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


LONGREQ = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    # <allOneLine> ... </allOneLine> and <repeat count=N>...</repeat> of RFC 4475 §2.1, §2.3
    b'To: "I have a user name of ' + b"extreme" * 10 + b' proportion"'
    b"<sip:user@example.com:6000;unknownparam1=very" + b"long" * 20 + b"value;"
    b"longparam" + b"name" * 25 + b"=shortvalue;very" + b"long" * 25 + b"ParameterNameWithNoValue>\r\n"
    b"F: sip:" + b"amazinglylongcallername" * 5 + b"@example.net;tag=12" + b"982" * 50 + b"424"
    b";unknownheaderparam" + b"name" * 20 + b"=unknowheaderparam" + b"value" * 15
    + b";unknownValueless" + b"paramname" * 10 + b"\r\n"
    b"Call-ID: longreq.one" + b"really" * 20 + b"longcallid\r\n"
    b"CSeq: 3882340 INVITE\r\n"
    b"Unknown-" + b"Long" * 20 + b"-Name: unknown-" + b"long" * 20 + b"-value; unknown-"
    + b"long" * 20 + b"-parameter-name = unknown-" + b"long" * 20 + b"-parameter-value\r\n"
    b"Via: SIP/2.0/TCP sip33.example.com\r\n"
    b"v: SIP/2.0/TCP sip32.example.com\r\n"
    b"V: SIP/2.0/TCP sip31.example.com\r\n"
    b"Via: SIP/2.0/TCP sip30.example.com\r\n"
    b"ViA: SIP/2.0/TCP sip29.example.com\r\n"
    b"VIa: SIP/2.0/TCP sip28.example.com\r\n"
    b"VIA: SIP/2.0/TCP sip27.example.com\r\n"
    b"via: SIP/2.0/TCP sip26.example.com\r\n"
    b"viA: SIP/2.0/TCP sip25.example.com\r\n"
    b"vIa: SIP/2.0/TCP sip24.example.com\r\n"
    b"vIA: SIP/2.0/TCP sip23.example.com\r\n"
    b"V :  SIP/2.0/TCP sip22.example.com\r\n"
    b"v :  SIP/2.0/TCP sip21.example.com\r\n"
    b"V  : SIP/2.0/TCP sip20.example.com\r\n"
    b"v  : SIP/2.0/TCP sip19.example.com\r\n"
    b"Via : SIP/2.0/TCP sip18.example.com\r\n"
    b"Via  : SIP/2.0/TCP sip17.example.com\r\n"
    + b"".join(b"Via: SIP/2.0/TCP sip%d.example.com\r\n" % n for n in range(16, 0, -1))
    + b"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very" + b"long" * 50 + b"branchvalue\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:" + b"amazinglylongcallername" * 5 + b"@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


DBLREQ = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:j.user@example.com;tag=43251j3j324\r\n"
    b"Max-Forwards: 8\r\n"
    b"I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n"
    b"Contact: sip:j.user@host.example.com\r\n"
    b"CSeq: 8 REGISTER\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
    b"\r\n"
    b"INVITE sip:joe@example.com SIP/2.0\r\n"
    b"t: sip:joe@example.com\r\n"
    b"From: sip:caller@example.net;tag=141334\r\n"
    b"Max-Forwards: 8\r\n"
    b"Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.15\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m =video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
    b"\r\n"
)


SEMIURI = (
    b"OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"From: sip:caller@example.org;tag=33242\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: semiuri.0ha0isndaksdj\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"Accept: application/sdp, application/pkcs7-mime,\r\n"
    b"        multipart/mixed, multipart/signed,\r\n"
    b"        message/sip, message/sipfrag\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


TRANSPORTS = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: <sip:caller@example.com>;tag=323\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID:  transports.kijh4akdnaqjkwendsasfdj\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 60 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\n"
    b"Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\n"
    b"Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\n"
    b"Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


MPART01 = (
    b"MESSAGE sip:kumiko@example.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Route: <sip:127.0.0.1:5080>\r\n"
    b"Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvY"
    b"jcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\r\n"
    b"Contact: <sip:fluffy@127.0.0.1:5070>\r\n"
    b"To: <sip:kumiko@example.org>\r\n"
    b"From: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n"
    b"Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\n"
    b"CSeq: 1 MESSAGE\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\n"
    b"Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n"
    b"User-Agent: SIPimp.org/0.2.5 (curses)\r\n"
    b"Content-Length: 553\r\n"
    b"\r\n"
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"Hello\r\n"
    b"--7a9cbec02ceef655\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"0\x82\x01R\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x01C0\x82\x01?\x02\x01\x011\t0\x07\x06"
    b"\x05+\x0e\x03\x02\x1a0\x0b\x06\t*\x86H\x86\xf7\r\x01\x07\x011\x82\x01 0\x82\x01\x1c\x02\x01"
    b"\x010|0p1\x0b0\t\x06\x03U\x04\x06\x13\x02US1\x130\x11\x06\x03U\x04\x08\x13\n"
    b"California1\x110\x0f\x06\x03U\x04\x07\x13\x08San Jose1\x0e0\x0c\x06\x03U\x04\n"
    b"\x13\x05sipit1)0'\x06\x03U\x04\x0b\x13 Sipit Test Certificate Authority\x02\x08\x01\x95\x00q"
    b"\x023\x01\x130\x07\x06\x05+\x0e\x03\x02\x1a0\r\x06\t*\x86H\x86\xf7\r\x01\x01\x01\x05\x00\x04"
    b"\x81\x80\x8e\xf4f\xf9H\xf0R-\xd2\xe5\x97\x8e\x9d\x95\xaa\xe9\xf2\xfe\x15\xa0fYqb\x92\xe8\xda*"
    b"\xa8\xd85\n"
    b"h\xce\xff\xae<\xbd+\xff\x16u\xdd\xd5d\x8eY=\xd6G(\xf2b \xf7\xe9At\x9e3\r\x9a\x15\xed\xab\xdb"
    b"\x93\xd1\x0cB\x10.{r\x89\xd2\x9c\xc0\xc9\xae.\xfb\xc7\xc0\xcf\xf9\x17/;\x02~O\xc0'\xe1Tm\xe4"
    b"\xb6\xaa:\xbb>f\xcc\xcb]\xd6\xc6K\x83\x83\x14\x9c\xb8\xe6\xff\x18-\x94O\xe5{e\xbc\x99\xd0\x05"
    b"\r\n"
    b"--7a9cbec02ceef655--\r\n"
)


UNREASON = (
    b"SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2"
    b"\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1"
    b"\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\xd0\xb5\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
    b"Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: sip:user@example.com;tag=11141343\r\n"
    b"To: sip:user@example.edu;tag=2229\r\n"
    b"Content-Length: 154\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Contact: <sip:user@host198.example.com>\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.198\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.198\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


NOREASON = (
    b"SIP/2.0 100 \r\n"
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n"
    b"Call-ID: noreason.asndj203insdf99223ndf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: <sip:user@example.com>;tag=39ansfi3\r\n"
    b"To: <sip:user@example.edu>;tag=902jndnke3\r\n"
    b"Content-Length: 0\r\n"
    b"Contact: <sip:user@host105.example.com>\r\n"
    b"\r\n"
)


BADINV01 = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=134161461246\r\n"
    b"Max-Forwards: 7\r\n"
    b"Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"
    b"Contact: \"Joe\" <sip:joe@example.org>;;;;\r\n"
    b"Content-Length: 152\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.15\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


CLERR = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Max-Forwards: 80\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=93942939o2\r\n"
    b"Contact: <sip:caller@hungry.example.net>\r\n"
    b"Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 9999\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.155\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.155\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


NCL = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Max-Forwards: 254\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=32394234\r\n"
    b"Call-ID: ncl.0ha0isndaksdj2193423r542w35\r\n"
    b"CSeq: 0 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <sip:caller@example53.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: -999\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.53\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.53\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


SCALAR02 = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n"
    b"To: <sip:user@example.com>\r\n"
    b"From: <sip:user@example.com>;tag=239232jh3\r\n"
    b"CSeq: 36893488147419103232 REGISTER\r\n"
    b"Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n"
    b"Max-Forwards: 300\r\n"
    b"Expires: 1" + b"0" * 100 + b"\r\n"  # Expires: 1<repeat count=100>0</repeat>
    b"Contact: <sip:user@host129.example.com>\r\n"
    b"  ;expires=280297596632815\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


SCALARLG = (
    b"SIP/2.0 503 Service Unavailable\r\n"
    b"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\r\n"
    b"To: <sip:user@example.com>\r\n"
    b"From: <sip:other@example.net>;tag=2easdjfejw\r\n"
    b"CSeq: 9292394834772304023312 OPTIONS\r\n"
    b"Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\r\n"
    b"Retry-After: 949302838503028349304023988\r\n"
    b"Warning: 1812 overture \"In Progress\"\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


QUOTBAL = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: \"Mr. J. User <sip:j.user@example.com>\r\n"
    b"From: sip:caller@example.net;tag=93334\r\n"
    b"Max-Forwards: 10\r\n"
    b"Call-ID: quotbal.aksdj\r\n"
    b"Contact: <sip:caller@host59.example.net>\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 152\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.15\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.15\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


LTGTRURI = (
    b"INVITE <sip:user@example.com> SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=39291\r\n"
    b"Max-Forwards: 23\r\n"
    b"Call-ID: ltgtruri.1@192.0.2.5\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.5\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 159\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=3149328700 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


LWSRURI = (
    b"INVITE sip:user@example.com; lr SIP/2.0\r\n"
    b"To: sip:user@example.com;tag=3xfe-9921883-z9f\r\n"
    b"From: sip:caller@example.net;tag=231413434\r\n"
    b"Max-Forwards: 5\r\n"
    b"Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r\n"
    b"CSeq: 2130706432 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r\n"
    b"Contact: <sip:caller@host1.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 159\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"t=3149328700 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


LWSSTART = (
    b"INVITE  sip:user@example.com  SIP/2.0\r\n"
    b"Max-Forwards: 8\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=8814\r\n"
    b"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\r\n"
    b"CSeq: 1893884 INVITE\r\n"
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\r\n"
    b"Contact: <sip:caller@host1.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


TRWS = (
    b"OPTIONS sip:remote-target@example.com SIP/2.0  \r\n"
    b"Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093\r\n"
    b"To: <sip:remote-target@example.com>\r\n"
    b"From: <sip:local-resource@example.com>;tag=329429089\r\n"
    b"Call-ID: trws.oicu34958239neffasdhr2345r\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 238923 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


ESCRURI = (
    b"INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=341518\r\n"
    b"Max-Forwards: 7\r\n"
    b"Contact: <sip:caller@host39923.example.net>\r\n"
    b"Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\r\n"
    b"CSeq: 149209342 INVITE\r\n"
    b"Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


BADDATE = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=2234923\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234\r\n"
    b"CSeq: 1392934 INVITE\r\n"
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Date: Fri, 01 Jan 2010 16:00:00 EST\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 150\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


REGBADCT = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:user@example.com;tag=998332\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: regbadct.k345asrl3fdbv@10.0.0.1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\r\n"
    b"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


BADASPEC = (
    b"OPTIONS sip:user@example.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\r\n"
    b"To: \"Watson, Thomas\" < sip:t.watson@example.org >\r\n"
    b"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq: 3923239 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


BADDN = (
    b"OPTIONS sip:t.watson@example.org SIP/2.0\r\n"
    b"Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards:      70\r\n"
    b"From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\n"
    b"To:      Watson, Thomas <sip:t.watson@example.org>\r\n"
    b"Call-ID: baddn.31415@c.example.com\r\n"
    b"Accept: application/sdp\r\n"
    b"CSeq:    3923239 OPTIONS\r\n"
    b"l: 0\r\n"
)


BADVERS = (
    b"OPTIONS sip:t.watson@example.org SIP/7.0\r\n"
    b"Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards:     70\r\n"
    b"From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n"
    b"To:      T. Watson <sip:t.watson@example.org>\r\n"
    b"Call-ID: badvers.31417@c.example.com\r\n"
    b"CSeq:    1 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


MISMATCH01 = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=34525\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: mismatch01.dj0234sxdfl3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


MISMATCH02 = (
    b"NEWMETHOD sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=34525\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: mismatch02.dj0234sxdfl3\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Contact: <sip:caller@host.example.net>\r\n"
    b"Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 138\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    b"c=IN IP4 192.0.2.1\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


BIGCODE = (
    b"SIP/2.0 4294967301 better not break the receiver\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n"
    b"Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\r\n"
    b"CSeq: 353494 INVITE\r\n"
    b"From: <sip:user@example.com>;tag=39ansfi3\r\n"
    b"To: <sip:user@example.edu>;tag=902jndnke3\r\n"
    b"Content-Length: 0\r\n"
    b"Contact: <sip:user@host105.example.com>\r\n"
    b"\r\n"
)


BADBRANCH = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.org;tag=33242\r\n"
    b"Max-Forwards: 3\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n"
    b"Accept: application/sdp\r\n"
    b"Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


INSUF = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"CSeq: 193942 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 152\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.95\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.95\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


UNKSCM = (
    b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=384\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r\n"
    b"CSeq: 3923423 OPTIONS\r\n"
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


NOVELSC = (
    b"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=384\r\n"
    b"Max-Forwards: 3\r\n"
    b"Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\r\n"
    b"CSeq: 3923423 OPTIONS\r\n"
    b"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


UNKSM2 = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: isbn:2983792873\r\n"
    b"From: <http://www.example.com>;tag=3234233\r\n"
    b"Call-ID: unksm2.daksdj@hyphenated-host.example.com\r\n"
    b"CSeq: 234902 REGISTER\r\n"
    b"Max-Forwards: 70\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\r\n"
    b"Contact: <name:John_Smith>\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


BEXT01 = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"From: sip:caller@example.net;tag=242etr\r\n"
    b"Max-Forwards: 6\r\n"
    b"Call-ID: bext01.0ha0isndaksdj\r\n"
    b"Require: nothingSupportsThis, nothingSupportsThisEither\r\n"
    b"Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\n"
    b"CSeq: 8 OPTIONS\r\n"
    b"Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


INVUT = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"Contact: <sip:caller@host5.example.net>\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:caller@example.net;tag=8392034\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: invut.0ha0isndaksdjadsfij34n23d\r\n"
    b"CSeq: 235448 INVITE\r\n"
    b"Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Content-Type: application/unknownformat\r\n"
    b"Content-Length: 40\r\n"
    b"\r\n"
    b"<audio>\r\n"
    b" <pcmu port=\"443\"/>\r\n"
    b"</audio>\r\n"
)


REGAUT01 = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:j.user@example.com\r\n"
    b"From: sip:j.user@example.com;tag=87321hj23128\r\n"
    b"Max-Forwards: 8\r\n"
    b"Call-ID: regaut01.0ha0isndaksdj\r\n"
    b"CSeq: 9338 REGISTER\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n"
    b"Authorization: NoOneKnowsThisScheme opaque-data=here\r\n"
    b"Content-Length:0\r\n"
    b"\r\n"
)


MULTI01 = (
    b"INVITE sip:user@company.com SIP/2.0\r\n"
    b"Contact: <sip:caller@host25.example.net>\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"CSeq: 5 INVITE\r\n"
    b"Call-ID: multi01.98asdh@192.0.2.1\r\n"
    b"CSeq: 59 INVITE\r\n"
    b"Call-ID: multi01.98asdh@192.0.2.2\r\n"
    b"From: sip:caller@example.com;tag=3413415\r\n"
    b"To: sip:user@example.com\r\n"
    b"To: sip:other@example.net\r\n"
    b"From: sip:caller@example.net;tag=2923420123\r\n"
    b"Content-Type: application/sdp\r\n"
    b"l: 154\r\n"
    b"Contact: <sip:caller@host36.example.net>\r\n"
    b"Max-Forwards: 5\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.25\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.25\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
    b"\r\n"
)


MCL01 = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:other@example.net;tag=3923942\r\n"
    b"Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n"
    b"CSeq: 15932 OPTIONS\r\n"
    b"Content-Length: 13\r\n"
    b"Max-Forwards: 60\r\n"
    b"Content-Length: 5\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"There's no way to know how many octets are supposed to be here.\r\n"
    b"\r\n"
)


BCAST = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
    b"Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n"
    b"Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r\n"
    b"CSeq: 35 INVITE\r\n"
    b"From: sip:user@example.com;tag=11141343\r\n"
    b"To: sip:user@example.edu;tag=2229\r\n"
    b"Content-Length: 154\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Contact: <sip:user@host28.example.com>\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.198\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.198\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


ZEROMF = (
    b"OPTIONS sip:user@example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:caller@example.net;tag=3ghsd41\r\n"
    b"Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\r\n"
    b"CSeq: 39234321 OPTIONS\r\n"
    b"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\r\n"
    b"Max-Forwards: 0\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


CPARAM01 = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\r\n"
    b"To: sip:watson@example.com\r\n"
    b"Call-ID: cparam01.70710@saturn.example.com\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: sip:+19725552222@gw1.example.net;unknownparam\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


CPARAM02 = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: sip:watson@example.com;tag=838293\r\n"
    b"To: sip:watson@example.com\r\n"
    b"Call-ID: cparam02.70710@saturn.example.com\r\n"
    b"CSeq: 3 REGISTER\r\n"
    b"Contact: <sip:+19725552222@gw1.example.net;unknownparam>\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


REGESCRT = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"To: sip:user@example.com\r\n"
    b"From: sip:user@example.com;tag=8\r\n"
    b"Max-Forwards: 70\r\n"
    b"Call-ID: regescrt.k345asrl3fdbv@192.0.2.1\r\n"
    b"CSeq: 14398234 REGISTER\r\n"
    b"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
    b"M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\n"
    b"L:0\r\n"
    b"\r\n"
)


SDP01 = (
    b"INVITE sip:user@example.com SIP/2.0\r\n"
    b"To: sip:j_user@example.com\r\n"
    b"Contact: <sip:caller@host15.example.net>\r\n"
    b"From: sip:caller@example.net;tag=234\r\n"
    b"Max-Forwards: 5\r\n"
    b"Call-ID: sdp01.ndaksdj9342dasdd\r\n"
    b"Accept: text/nobodyKnowsThis\r\n"
    b"CSeq: 8 INVITE\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n"
    b"Content-Length: 150\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)


INV2543 = (
    b"INVITE sip:UserB@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP iftgw.example.com\r\n"
    b"From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
    b"Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\r\n"
    b"To: sip:+16505552222@ss1.example.net;user=phone\r\n"
    b"Call-ID: inv2543.1717@ift.client.example.com\r\n"
    b"CSeq: 56 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0\r\n"
)


TEST = (
    b"INVITE sip:alan@jasomi.com\r\n"
    b"TO : alan@jasomi.com\r\n"
    b"From: ralph@example.com\r\n"
    b"MaX-fOrWaRdS: 0068\r\n"
    b"Call-ID: test.0ha0isndaksdj@192.0.2.1\r\n"
    b"Xyzzy-2: this is the number ten : 10\r\n"
    b"Xyzzy-3: INVITE\r\n"
    b"Xyzzy: 10000000000\r\n"
    b"Meaning: foo bar spam\r\n"
    b"Foobar roobar\r\n"
    b"Content-Length: 18\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"testing=123\r\n"
)


# -- RFC 5118 (bare LF, as its archive has them) ---------------------------------

IPV6_GOOD = (
    b"REGISTER sip:[2001:db8::10] SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Max-Forwards: 70\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::1]>\n"
    b"CSeq: 98176 REGISTER\n"
    b"Content-Length: 0\n"
    b"\n"
)


IPV6_BAD = (
    b"REGISTER sip:2001:db8::10 SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Max-Forwards: 70\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::1]>\n"
    b"CSeq: 98176 REGISTER\n"
    b"Content-Length: 0\n"
    b"\n"
)


PORT_AMBIGUOUS = (
    b"REGISTER sip:[2001:db8::10:5070] SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::1]>\n"
    b"Max-Forwards: 70\n"
    b"CSeq: 98176 REGISTER\n"
    b"Content-Length: 0\n"
    b"\n"
)


PORT_UNAMBIGUOUS = (
    b"REGISTER sip:[2001:db8::10]:5070 SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::1]>\n"
    b"Max-Forwards: 70\n"
    b"CSeq: 98176 REGISTER\n"
    b"Content-Length: 0\n"
    b"\n"
)


VIA_RECEIVED_PARAM_WITH_DELIM = (
    b"BYE sip:[2001:db8::10] SIP/2.0\n"
    b"To: sip:user@example.com;tag=bd76ya\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Max-Forwards: 70\n"
    b"CSeq: 321 BYE\n"
    b"Content-Length: 0\n"
    b"\n"
)


VIA_RECEIVED_PARAM_NO_DELIM = (
    b"OPTIONS sip:[2001:db8::10] SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3\n"
    b"Call-ID: SSG95523997077@hlau_4100\n"
    b"Max-Forwards: 70\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    b"CSeq: 921 OPTIONS\n"
    b"Content-Length: 0\n"
    b"\n"
)


IPV6_IN_SDP = (
    b"INVITE sip:user@[2001:db8::10] SIP/2.0\n"
    b"To: sip:user@[2001:db8::10]\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::20]>\n"
    b"CSeq: 8612 INVITE\n"
    b"Max-Forwards: 70\n"
    b"Content-Type: application/sdp\n"
    b"Content-Length: 268\n"
    b"\n"
    b"v=0\n"
    b"o=assistant 971731711378798081 0 IN IP6 2001:db8::20\n"
    b"s=Live video feed for today's meeting\n"
    b"c=IN IP6 2001:db8::20\n"
    b"t=3338481189 3370017201\n"
    b"m=audio 6000 RTP/AVP 2\n"
    b"a=rtpmap:2 G726-32/8000\n"
    b"m=video 6024 RTP/AVP 107\n"
    b"a=rtpmap:107 H263-1998/90000\n"
)


MULT_IP_IN_HEADER = (
    b"BYE sip:user@host.example.net SIP/2.0\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144\n"
    b"Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200\n"
    b"Call-ID: 997077@lau_4100\n"
    b"Max-Forwards: 70\n"
    b"CSeq: 89187 BYE\n"
    b"To: sip:user@example.net;tag=9817--94\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Content-Length: 0\n"
    b"\n"
)


MULT_IP_IN_SDP = (
    b"INVITE sip:user@[2001:db8::10] SIP/2.0\n"
    b"To: sip:user@[2001:db8::10]\n"
    b"From: sip:user@example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>\n"
    b"Max-Forwards: 70\n"
    b"CSeq: 8912 INVITE\n"
    b"Content-Type: application/sdp\n"
    b"Content-Length: 181\n"
    b"\n"
    b"v=0\n"
    b"o=bob 280744730 28977631 IN IP4 host.example.com\n"
    b"s=\n"
    b"t=0 0\n"
    b"m=audio 22334 RTP/AVP 0\n"
    b"c=IN IP4 192.0.2.1\n"
    b"m=video 6024 RTP/AVP 107\n"
    b"c=IN IP6 2001:db8::1\n"
    b"a=rtpmap:107 H263-1998/90000\n"
)


IPV4_MAPPED_IPV6 = (
    b"INVITE sip:user@example.com SIP/2.0\n"
    b"To: sip:user@example.com\n"
    b"From: sip:user@east.example.com;tag=81x2\n"
    b"Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19\n"
    b"Via: SIP/2.0/UDP [::ffff:192.0.2.2];branch=z9hG4bKas3-111\n"
    b"Call-ID: SSG9559905523997077@hlau_4100\n"
    b"Contact: \"T. desk phone\" <sip:ted@[::ffff:192.0.2.2]>\n"
    b"CSeq: 612 INVITE\n"
    b"Max-Forwards: 70\n"
    b"Content-Type: application/sdp\n"
    b"Content-Length: 236\n"
    b"\n"
    b"v=0\n"
    b"o=assistant 971731711378798081 0 IN IP6 ::ffff:192.0.2.2\n"
    b"s=Call me soon, please!\n"
    b"c=IN IP6 ::ffff:192.0.2.2\n"
    b"t=3338481189 3370017201\n"
    b"m=audio 6000 RTP/AVP 2\n"
    b"a=rtpmap:2 G726-32/8000\n"
    b"m=video 6024 RTP/AVP 107\n"
    b"a=rtpmap:107 H263-1998/90000\n"
)


IPV6_BUG_ABNF_3_COLONS = (
    b"OPTIONS sip:user@[2001:db8:::192.0.2.1] SIP/2.0\n"
    b"To: sip:user@[2001:db8:::192.0.2.1]\n"
    b"From: sip:user@example.com;tag=810x2\n"
    b"Via: SIP/2.0/UDP lab1.east.example.com;branch=z9hG4bKas3-111\n"
    b"Call-ID: G9559905523997077@hlau_4100\n"
    b"CSeq: 689 OPTIONS\n"
    b"Max-Forwards: 70\n"
    b"Content-Length: 0\n"
)


IPV6_CORRECT_ABNF_2_COLONS = (
    b"OPTIONS sip:user@[2001:db8::192.0.2.1] SIP/2.0\n"
    b"To: sip:user@[2001:db8::192.0.2.1]\n"
    b"From: sip:user@example.com;tag=810x2\n"
    b"Via: SIP/2.0/UDP lab1.east.example.com;branch=z9hG4bKas3-111\n"
    b"Call-ID: G9559905523997077@hlau_4100\n"
    b"CSeq: 689 OPTIONS\n"
    b"Max-Forwards: 70\n"
    b"Content-Length: 0\n"
)


# -- the table ---------------------------------------------------------------------

LF_ONLY = "bare LF line ends: a stream never frames it (the +crlf entry can go over TCP)"

TORTURE: list[Torture] = [
    # RFC 4475 §3.1.1.1 wsinv: folding, LWS around ':' ';' '=' and '/', compact forms, escaped quotes: valid
    Torture("wsinv", WSINV, OK, "RFC 4475 §3.1.1.1"),
    # RFC 4475 §3.1.1.2 intmeth: token characters everywhere; an unknown method: 501 with Allow
    Torture("intmeth", INTMETH, 501, "RFC 4475 §3.1.1.2"),
    # RFC 4475 §3.1.1.3 esc01: %HH escapes in user parts and URI parameters: valid
    Torture("esc01", ESC01, OK, "RFC 4475 §3.1.1.3"),
    # RFC 4475 §3.1.1.4 escnull: escaped NULs (%00) in user parts: valid, two distinct Contacts
    Torture("escnull", ESCNULL, OK, "RFC 4475 §3.1.1.4"),
    # RFC 4475 §3.1.1.5 esc02: % is no escape in a method (RE%47IST%45R is not REGISTER): 501
    Torture("esc02", ESC02, 501, "RFC 4475 §3.1.1.5"),
    # RFC 4475 §3.1.1.6 lwsdisp: no LWS between display name and '<': accepted as well formed
    Torture("lwsdisp", LWSDISP, OK, "RFC 4475 §3.1.1.6"),
    # RFC 4475 §3.1.1.7 longreq: very long values and 34 Vias in 17 spellings: valid
    Torture("longreq", LONGREQ, OK, "RFC 4475 §3.1.1.7"),
    # RFC 4475 §3.1.1.8 dblreq: octets after the body of a datagram are ignored: only the REGISTER counts
    Torture(
        "dblreq",
        DBLREQ,
        OK,
        "RFC 4475 §3.1.1.8",
        datagram_only=True,
        note="on a stream the trailing INVITE is a second message, and its body overruns its Content-Length",
    ),
    # RFC 4475 §3.1.1.9 semiuri: ';' in the user part of the Request-URI: valid
    Torture("semiuri", SEMIURI, OK, "RFC 4475 §3.1.1.9"),
    # RFC 4475 §3.1.1.10 transports: Vias with UDP, SCTP, TLS, UNKNOWN and TCP: valid
    Torture("transports", TRANSPORTS, OK, "RFC 4475 §3.1.1.10"),
    # RFC 4475 §3.1.1.11 mpart01: multipart/mixed MESSAGE with a binary part (NUL and bare CR octets): valid
    Torture("mpart01", MPART01, OK, "RFC 4475 §3.1.1.11"),
    # RFC 4475 §3.1.1.12 unreason: response: UTF-8 reason phrase, valid
    Torture("unreason", UNREASON, OK, "RFC 4475 §3.1.1.12"),
    # RFC 4475 §3.1.1.13 noreason: response: empty reason phrase after the SP, valid
    Torture("noreason", NOREASON, OK, "RFC 4475 §3.1.1.13"),
    # RFC 4475 §3.1.2.1 badinv01: empty parameters ';;,;,,' in Via and Contact: 400
    Torture("badinv01", BADINV01, 400, "RFC 4475 §3.1.2.1"),
    # RFC 4475 §3.1.2.2 clerr: Content-Length larger than the datagram: 400 (a stream would wait for more)
    Torture(
        "clerr",
        CLERR,
        400,
        "RFC 4475 §3.1.2.2",
        datagram_only=True,
        note="on a stream the server waits for the 9999 octets, then closes (RFC 4475 §3.1.2.2)",
    ),
    # RFC 4475 §3.1.2.3 ncl: negative Content-Length: 400 (a stream closes the connection)
    Torture(
        "ncl",
        NCL,
        400,
        "RFC 4475 §3.1.2.3",
        framing_fault=True,
        note="on a stream the framing error is answered 400, then the connection closes",
    ),
    # RFC 4475 §3.1.2.4 scalar02: CSeq >2**32-1, Max-Forwards 300, Expires and Contact expires overlarge: 400
    Torture("scalar02", SCALAR02, 400, "RFC 4475 §3.1.2.4"),
    # RFC 4475 §3.1.2.5 scalarlg: response with overlarge CSeq, Retry-After and Warning code: drop
    Torture("scalarlg", SCALARLG, None, "RFC 4475 §3.1.2.5"),
    # RFC 4475 §3.1.2.6 quotbal: unterminated quoted display name in To: 400
    Torture("quotbal", QUOTBAL, 400, "RFC 4475 §3.1.2.6"),
    # RFC 4475 §3.1.2.7 ltgtruri: Request-URI enclosed in <>: 400
    Torture("ltgtruri", LTGTRURI, 400, "RFC 4475 §3.1.2.7"),
    # RFC 4475 §3.1.2.8 lwsruri: LWS inside the Request-URI: 400
    Torture("lwsruri", LWSRURI, 400, "RFC 4475 §3.1.2.8"),
    # RFC 4475 §3.1.2.9 lwsstart: several SP between Request-Line elements: 400 (stricter of the two allowed)
    Torture("lwsstart", LWSSTART, 400, "RFC 4475 §3.1.2.9"),
    # RFC 4475 §3.1.2.10 trws: SP at the end of the Request-Line: 400 (stricter of the two allowed)
    Torture("trws", TRWS, 400, "RFC 4475 §3.1.2.10"),
    # RFC 4475 §3.1.2.11 escruri: URI headers in the Request-URI: 400 (stricter of the two allowed)
    Torture("escruri", ESCRURI, 400, "RFC 4475 §3.1.2.11"),
    # RFC 4475 §3.1.2.12 baddate: non-GMT Date: accepted; we never read Date, so the RFC advises not to reject
    Torture("baddate", BADDATE, OK, "RFC 4475 §3.1.2.12"),
    # RFC 4475 §3.1.2.13 regbadct: Contact URI with headers not enclosed in <>: 400
    Torture("regbadct", REGBADCT, 400, "RFC 4475 §3.1.2.13"),
    # RFC 4475 §3.1.2.14 badaspec: spaces inside <> around the To URI: 400 (stricter of the two allowed)
    Torture("badaspec", BADASPEC, 400, "RFC 4475 §3.1.2.14"),
    # RFC 4475 §3.1.2.15 baddn: unquoted display names with ',': 400 (no empty line ends the head)
    Torture(
        "baddn",
        BADDN,
        400,
        "RFC 4475 §3.1.2.15",
        datagram_only=True,
        note="the archive file has no empty line after the head: a stream never frames it",
    ),
    # RFC 4475 §3.1.2.16 badvers: SIP/7.0: 505 Version Not Supported
    Torture("badvers", BADVERS, 505, "RFC 4475 §3.1.2.16"),
    # RFC 4475 §3.1.2.17 mismatch01: CSeq method INVITE on an OPTIONS: 400
    Torture("mismatch01", MISMATCH01, 400, "RFC 4475 §3.1.2.17"),
    # RFC 4475 §3.1.2.18 mismatch02: unknown method and a CSeq mismatch: 501, which the RFC prefers to 400
    Torture("mismatch02", MISMATCH02, 501, "RFC 4475 §3.1.2.18"),
    # RFC 4475 §3.1.2.19 bigcode: response code 4294967301: drop
    Torture("bigcode", BIGCODE, None, "RFC 4475 §3.1.2.19"),
    # RFC 4475 §3.2.1 badbranch: branch is the bare magic cookie z9hG4bK: 400 (stricter of the two allowed)
    Torture("badbranch", BADBRANCH, 400, "RFC 4475 §3.2.1"),
    # RFC 4475 §3.3.1 insuf: no Call-ID, From or To: 400
    Torture("insuf", INSUF, 400, "RFC 4475 §3.3.1"),
    # RFC 4475 §3.3.2 unkscm: Request-URI scheme nobodyKnowsThisScheme: 416
    Torture("unkscm", UNKSCM, 416, "RFC 4475 §3.3.2"),
    # RFC 4475 §3.3.3 novelsc: Request-URI scheme soap.beep, never ours: 416
    Torture("novelsc", NOVELSC, 416, "RFC 4475 §3.3.3"),
    # RFC 4475 §3.3.4 unksm2: REGISTER whose To is isbn:: a registrar answers 400
    Torture("unksm2", UNKSM2, 400, "RFC 4475 §3.3.4"),
    # RFC 4475 §3.3.5 bext01: Require with unknown options: 420 with Unsupported (UAS role: Require only)
    Torture("bext01", BEXT01, 420, "RFC 4475 §3.3.5"),
    # RFC 4475 §3.3.6 invut: INVITE with application/unknownformat body: 415 with Accept
    Torture("invut", INVUT, 415, "RFC 4475 §3.3.6"),
    # RFC 4475 §3.3.7 regaut01: unknown Authorization scheme: well formed (the registrar challenges)
    Torture("regaut01", REGAUT01, OK, "RFC 4475 §3.3.7"),
    # RFC 4475 §3.3.8 multi01: two Call-ID, CSeq, From, To and Max-Forwards: 400
    Torture("multi01", MULTI01, 400, "RFC 4475 §3.3.8"),
    # RFC 4475 §3.3.9 mcl01: two different Content-Length values: 400 (a stream closes the connection)
    Torture(
        "mcl01",
        MCL01,
        400,
        "RFC 4475 §3.3.9",
        framing_fault=True,
        note="on a stream the framing error is answered 400, then the connection closes",
    ),
    # RFC 4475 §3.3.10 bcast: 200 OK with a second Via to 255.255.255.255: a UA drops it
    Torture("bcast", BCAST, None, "RFC 4475 §3.3.10"),
    # RFC 4475 §3.3.11 zeromf: OPTIONS with Max-Forwards 0: an endpoint processes it
    Torture("zeromf", ZEROMF, OK, "RFC 4475 §3.3.11"),
    # RFC 4475 §3.3.12 cparam01: unbracketed Contact: ';unknownparam' is a header parameter: valid
    Torture("cparam01", CPARAM01, OK, "RFC 4475 §3.3.12"),
    # RFC 4475 §3.3.13 cparam02: bracketed Contact: ';unknownparam' is a URI parameter: valid
    Torture("cparam02", CPARAM02, OK, "RFC 4475 §3.3.13"),
    # RFC 4475 §3.3.14 regescrt: Contact URI with an escaped Route header inside <>: valid
    Torture("regescrt", REGESCRT, OK, "RFC 4475 §3.3.14"),
    # RFC 4475 §3.3.15 sdp01: INVITE whose Accept excludes SDP: 406 with Warning 399 (400 also allowed)
    Torture("sdp01", SDP01, 406, "RFC 4475 §3.3.15"),
    # RFC 4475 §3.4.1 inv2543: RFC 2543 syntax: no branch, no From tag, no Content-Length, no Max-Forwards
    Torture(
        "inv2543",
        INV2543,
        OK,
        "RFC 4475 §3.4.1",
        framing_fault=True,
        note="no Content-Length: a stream cannot frame it (RFC 3261 §18.3): 400, then the connection closes",
    ),
    # RFC 4475 Appendix A test: archive-only file (no §3 text): Request-Line without SIP-Version: 400
    Torture("test", TEST, 400, "RFC 4475 Appendix A"),
    # -- RFC 5118, the archive bytes (bare LF: datagrams only) --
    # RFC 5118 §4.1 ipv6-good: IPv6 references in Request-URI, Via and Contact: valid
    Torture("ipv6-good", IPV6_GOOD, OK, "RFC 5118 §4.1", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.2 ipv6-bad: Request-URI IPv6 address without '[' ']': 400
    Torture("ipv6-bad", IPV6_BAD, 400, "RFC 5118 §4.2", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.3 port-ambiguous: port inside the brackets is part of the address: parses, no port
    Torture("port-ambiguous", PORT_AMBIGUOUS, OK, "RFC 5118 §4.3", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.4 port-unambiguous: port after ']': valid
    Torture("port-unambiguous", PORT_UNAMBIGUOUS, OK, "RFC 5118 §4.4", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.5 via-received-param-with-delim: received=[IPv6]: must be accepted (robustness)
    Torture(
        "via-received-param-with-delim",
        VIA_RECEIVED_PARAM_WITH_DELIM,
        OK,
        "RFC 5118 §4.5",
        datagram_only=True,
        note=LF_ONLY,
    ),
    # RFC 5118 §4.5 via-received-param-no-delim: received=IPv6 without brackets: valid
    Torture(
        "via-received-param-no-delim",
        VIA_RECEIVED_PARAM_NO_DELIM,
        OK,
        "RFC 5118 §4.5",
        datagram_only=True,
        note=LF_ONLY,
    ),
    # RFC 5118 §4.6 ipv6-in-sdp: archive bytes: Content-Length overruns the datagram: 400 (RFC 3261 §18.3)
    Torture("ipv6-in-sdp", IPV6_IN_SDP, 400, "RFC 5118 §4.6", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.7 mult-ip-in-header: Vias mixing IPv4 and IPv6: valid
    Torture("mult-ip-in-header", MULT_IP_IN_HEADER, OK, "RFC 5118 §4.7", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.8 mult-ip-in-sdp: archive bytes: Content-Length overruns the datagram: 400 (RFC 3261 §18.3)
    Torture("mult-ip-in-sdp", MULT_IP_IN_SDP, 400, "RFC 5118 §4.8", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.9 ipv4-mapped-ipv6: IPv4-mapped IPv6 in Via, Contact, SDP: valid
    Torture("ipv4-mapped-ipv6", IPV4_MAPPED_IPV6, OK, "RFC 5118 §4.9", datagram_only=True, note=LF_ONLY),
    # RFC 5118 §4.10 ipv6-bug-abnf-3-colons: [2001:db8:::192.0.2.1]: must be tolerated
    Torture(
        "ipv6-bug-abnf-3-colons",
        IPV6_BUG_ABNF_3_COLONS,
        OK,
        "RFC 5118 §4.10",
        datagram_only=True,
        note=LF_ONLY,
    ),
    # RFC 5118 §4.10 ipv6-correct-abnf-2-colons: [2001:db8::192.0.2.1]: valid
    Torture(
        "ipv6-correct-abnf-2-colons",
        IPV6_CORRECT_ABNF_2_COLONS,
        OK,
        "RFC 5118 §4.10",
        datagram_only=True,
        note=LF_ONLY,
    ),
    # -- RFC 5118 in wire form (CRLF, Content-Length of the body): the RFC's outcomes --
    # RFC 5118 §4.1 ipv6-good+crlf: IPv6 references in Request-URI, Via and Contact: valid
    Torture("ipv6-good+crlf", wire_form(IPV6_GOOD), OK, "RFC 5118 §4.1"),
    # RFC 5118 §4.2 ipv6-bad+crlf: Request-URI IPv6 address without '[' ']': 400
    Torture("ipv6-bad+crlf", wire_form(IPV6_BAD), 400, "RFC 5118 §4.2"),
    # RFC 5118 §4.3 port-ambiguous+crlf: port inside the brackets is part of the address: parses, no port
    Torture("port-ambiguous+crlf", wire_form(PORT_AMBIGUOUS), OK, "RFC 5118 §4.3"),
    # RFC 5118 §4.4 port-unambiguous+crlf: port after ']': valid
    Torture("port-unambiguous+crlf", wire_form(PORT_UNAMBIGUOUS), OK, "RFC 5118 §4.4"),
    # RFC 5118 §4.5 via-received-param-with-delim+crlf: received=[IPv6]: must be accepted (robustness)
    Torture(
        "via-received-param-with-delim+crlf",
        wire_form(VIA_RECEIVED_PARAM_WITH_DELIM),
        OK,
        "RFC 5118 §4.5",
    ),
    # RFC 5118 §4.5 via-received-param-no-delim+crlf: received=IPv6 without brackets: valid
    Torture(
        "via-received-param-no-delim+crlf",
        wire_form(VIA_RECEIVED_PARAM_NO_DELIM),
        OK,
        "RFC 5118 §4.5",
    ),
    # RFC 5118 §4.6 ipv6-in-sdp+crlf: IPv6 in SDP (the archive's Content-Length is wrong, see note)
    Torture("ipv6-in-sdp+crlf", wire_form(IPV6_IN_SDP), OK, "RFC 5118 §4.6"),
    # RFC 5118 §4.7 mult-ip-in-header+crlf: Vias mixing IPv4 and IPv6: valid
    Torture("mult-ip-in-header+crlf", wire_form(MULT_IP_IN_HEADER), OK, "RFC 5118 §4.7"),
    # RFC 5118 §4.8 mult-ip-in-sdp+crlf: IPv4 and IPv6 c= lines (the archive's Content-Length is wrong)
    Torture("mult-ip-in-sdp+crlf", wire_form(MULT_IP_IN_SDP), OK, "RFC 5118 §4.8"),
    # RFC 5118 §4.9 ipv4-mapped-ipv6+crlf: IPv4-mapped IPv6 in Via, Contact, SDP: valid
    Torture("ipv4-mapped-ipv6+crlf", wire_form(IPV4_MAPPED_IPV6), OK, "RFC 5118 §4.9"),
    # RFC 5118 §4.10 ipv6-bug-abnf-3-colons+crlf: [2001:db8:::192.0.2.1]: must be tolerated
    Torture("ipv6-bug-abnf-3-colons+crlf", wire_form(IPV6_BUG_ABNF_3_COLONS), OK, "RFC 5118 §4.10"),
    # RFC 5118 §4.10 ipv6-correct-abnf-2-colons+crlf: [2001:db8::192.0.2.1]: valid
    Torture("ipv6-correct-abnf-2-colons+crlf", wire_form(IPV6_CORRECT_ABNF_2_COLONS), OK, "RFC 5118 §4.10"),
]

TORTURE_BY_NAME: dict[str, Torture] = {t.name: t for t in TORTURE}

# SHA-256 of each file of the RFCs' Appendix A archives, which the literals above reproduce.
ARCHIVE_SHA256: dict[str, str] = {
    "wsinv": "d6f6cdee99cd0a1f8e3d9a0fdd67c877700e19ab86d8186dada06f61260e3e61",
    "intmeth": "b957a8292c1c0a9851fe94705b90f94320738f43aacde64998e401f742ef688d",
    "esc01": "be3a316d4ce5f69cad474646191e390dd4b50fc8371e44b5197fe1237781973e",
    "escnull": "263fe2ecd12a5ccbb6c67b3174e9211d11da9b600e7d69666a86d2ee42873e90",
    "esc02": "9a9c59449f00327b02071feafc8e5c2a261c98c818044167894cc17809a12199",
    "lwsdisp": "d1b36b6316c12824f6f04bf6b1fd1f021cade9b74871693b9c3474cd9fa7f4e6",
    "longreq": "185739292bc676760e5b1cca77c87705aa570240171c506ad76f8c35af0ecdaa",
    "dblreq": "a6be48426565c2a705389c4ce2ea17e57b891cb13f80490a2cb9392c797b46ef",
    "semiuri": "87bbaed6b4b354dbd3c5c7a20e66686303c63e43a0aa19b89de1ac75231611a2",
    "transports": "33b4553a3b9418121b099ff07882535151edd6a1e81898c63a916aad2cbf90bc",
    "mpart01": "92147c8e24997bac59629e1b163767697d0d6d499af87f89e325d69968bec3ba",
    "unreason": "4f939d6ebf4817eea70f011d3209e83732872ffc20ffd304b244084dc392f4d7",
    "noreason": "07e11e470a69fffa3674de805e5165d1351a9439a91045ee70c9570ea24ab4fe",
    "badinv01": "9ee2b88f2e0b5a9eeb9bf729b6177f0a0c7d0b5e6c84be593e0480d7962f3ab8",
    "clerr": "d9da629086a38df433438fb0fb19a8730f34516f049a5520dd0cac3285485290",
    "ncl": "7ea6538edc1f054fdb6cd1c821040460cffca3cb682fa2e8e2a502d92170b4c2",
    "scalar02": "53158177326568e9964bce5dcfac27a2bf8a90953bbc03f6c5e2775864a97e4b",
    "scalarlg": "0957eca31737e3592eb1418bb41e9f5219278a78ff420111620d7fb60175b551",
    "quotbal": "e61978a2ea359fc666f0336fe4dbc623447532280e3273ea98119b3d3f788c84",
    "ltgtruri": "bcacb2dc17610e8cc8f9b8b0e3d6ee65ab473f93787a03bbd33579e1cea473df",
    "lwsruri": "3e22ceeca585ad23cc180208e2dad94e0a5aa4bb877a61cac443aa927f758b9e",
    "lwsstart": "f884e5626c6c5b1210cfc4a3540b8a28bd52939cff092f3f0c5c971e032adb0e",
    "trws": "64ae20694026e28c10746b57386b7fd1276de02b6f8d42d418070e87d6f4499f",
    "escruri": "c3cf30af13a9d107829cc105effd79355f1139c6ecc683a048b4c27951f8f416",
    "baddate": "1208a6e3e0c8a8c33a06a1f3733d158413cb72e58c379d094c4ecea11e9d4c28",
    "regbadct": "575d27530275814c1c98be164808fac89a0e2b4fc899dadcd97e6ba499437bda",
    "badaspec": "f8f6e2f4247287b0be6adb5ac222a6db4759395e44d27d2ddb9b39393e94867e",
    "baddn": "9d9428e8017092f194ec11077ba6865c251308cdfd7fd9db6a993b28e5748951",
    "badvers": "037d702d19e934bfeebbd2609050d7d54928d590cf90c78f3914522771dd8e03",
    "mismatch01": "a2c285636e451e75420da0cc62ee55ca3e398827008418befbfb078726bf0793",
    "mismatch02": "01b287f9a9c492f7f57405c36c8a2af0e2393896ed2d25fb92b502f2a6722bc4",
    "bigcode": "f79450070975da54c3525c9a5cbe75bae3c9d8cb92eba609772c26f66f225c2e",
    "badbranch": "cb049c727f16b5ec49e822f9e8b7d0ee20ca2d20ffb50baecd0b411a5e64fa7d",
    "insuf": "1e3efd9f3b238c6351ba12bc7eb46d843f2761b5d4a6b82b63bffdf07f2c5aee",
    "unkscm": "81be1a6a566c7ab52fe1c58c4a75440dfd697ad04c5e09fa71340de7da7b8bbb",
    "novelsc": "9a50a7343fcf685e77c4d0f477138a28f32a41c75aa566d200f3df210b01e648",
    "unksm2": "f6914409ced613ef5eb56e264d2f096dac26ab9e397d6a638934d2027f1f6acb",
    "bext01": "57181987c02c4f5752b7aa8c2847311f6184216ce7621e40303015949e70761c",
    "invut": "9b39e824947df46f90f824cd308fb3c118f548d94637f581101e355b381a0d92",
    "regaut01": "885ba0488872cfc04a3c7622854b8381955a5ee890745d6010834e3731a73faa",
    "multi01": "d156ab12105b4bfd8a6498de6f7195087058162b8cda1606169855b722411791",
    "mcl01": "887191619bf003b7e87399200b5cf4c3b5397344dbf70288ad5e23bd157b7fe4",
    "bcast": "073637c63597199179cf5fc91b980b2d530c066a0048ea3b908772def57b4c36",
    "zeromf": "50954ef47acca4f9f5263ded06246d06dee4e2ee508a8d284191795d7fddf365",
    "cparam01": "dfa6b5cdb289adc694b9b7e103ebfa7a2167335c46e5dc9de67055021910ae1c",
    "cparam02": "e93574215bd1d804bb46cc15ca6176b567def7ea1b15f72ab2c2dcf598af465a",
    "regescrt": "dab4087c133348b06fd7b3c4c7ef15094f8754e265e4e8c2137bb3ecda2ef477",
    "sdp01": "497c5f1ced6c7b579b48075e2dca919ce9b819a735964128a6e744a3a0b9e57f",
    "inv2543": "76fac8afe22dee49ea696b511621946694897ac7030fc5d07f57c8b487ce0521",
    "test": "fe1cb604956316c0831e28bdc2ebda829a999e187ee801b08251bdb6e74014c7",
    "ipv6-good": "80654d05559d5bda7d584b39e0f4dbf69b23189cb140754ef889a4996a3505ed",
    "ipv6-bad": "f6ffa0b2e664d05dbecde6bd7eb6fd71a9f01d43a3a0d3e084766c6240be4972",
    "port-ambiguous": "e1925cfd89436c36025fd21d144b7788cb988bfd752498cf767e3303426f2e7d",
    "port-unambiguous": "be3a4dbac87b1cdabde97595d117773e3864ffd2ff7ab645bfd5773e280bcd4e",
    "via-received-param-with-delim": "568255f70f186f7d09fe437a662bb32a7b14285c5243222a1a401004b7e6ba80",
    "via-received-param-no-delim": "45f233fd536e7d4d9f47be5098992cd912394a80460dd6b16979f61a713b9dd9",
    "ipv6-in-sdp": "c09ab30a92e790ecd261aadbb3876f8043307bffec3103f5add052d64a125532",
    "mult-ip-in-header": "ace698f6827e940812cfe26c48960f9069b02291b0022b0777cf00f37405f83a",
    "mult-ip-in-sdp": "c50fb1a29fdf4f0c3c12cf9cf5b490df1bb86d6dfacf7bc807e2c3e7e8660013",
    "ipv4-mapped-ipv6": "b3d7df025b6465461741c3788fa3b48af25b08d6a2fdb59ded815cc0afc04a68",
    "ipv6-bug-abnf-3-colons": "e542604dca3aed5c346a549c1f692aecf98a12353b38283be3e199664abeb43e",
    "ipv6-correct-abnf-2-colons": "6a8c09976009aab0159cf1b8cc3e2964b3853557102b5b86bf2b6b2c48c0779e",
}


def outcome(data: bytes, *, stream: bool = False) -> Expect:
    """What the server does with ``data``: the status it answers with, None for
    a silent drop, OK when the message goes on to the application."""
    from b2bua.sip.errors import ParseError
    from b2bua.sip.message import Request, parse_message
    from b2bua.sip.validate import check_request, check_response

    try:
        msg = parse_message(data, stream=stream)
        if isinstance(msg, Request):
            check_request(msg)
        else:
            check_response(msg)
    except ParseError as err:
        return err.status
    return OK
