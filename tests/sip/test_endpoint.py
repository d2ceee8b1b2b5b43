"""The sans-IO endpoint on virtual time: bytes in, bytes and events out.

No sockets and no sleeps: ``receive`` takes datagrams, ``handle_timer`` is
called at exactly ``next_deadline()``, and the outbox is read back.
"""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.sip.build import CountingIds, make_response
from b2bua.sip.endpoint import (
    Address,
    CancelReceived,
    Endpoint,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTimedOut,
)
from b2bua.sip.message import Request, Response, header, parse_message
from b2bua.sip.transaction import State

LOCAL = {"udp": Address("udp", "10.0.0.1", 5060), "tcp": Address("tcp", "10.0.0.1", 5060)}
PHONE = Address("udp", "192.0.2.10", 5062)
PHONE_TCP = Address("tcp", "192.0.2.10", 40001)
GATEWAY = Address("udp", "198.51.100.7", 5060)
GATEWAY_TCP = Address("tcp", "198.51.100.7", 5060)

def make_endpoint(prefix: str = "", local: dict[str, Address] = LOCAL) -> Endpoint:
    return Endpoint(CountingIds(prefix), local=local)


def take(ep: Endpoint) -> tuple[list[tuple[bytes, Address]], list[Event]]:
    out, events = ep.outbox, ep.events
    ep.outbox, ep.events = [], []
    return out, events


def run_timers(ep: Endpoint, until: float) -> list[tuple[float, bytes, Address]]:
    """Fire the endpoint's timers exactly at its deadlines up to ``until``;
    returns what was sent, with the time (events stay in ``ep.events``)."""
    sent: list[tuple[float, bytes, Address]] = []
    while True:
        d = ep.next_deadline()
        if d is None or d > until:
            return sent
        ep.handle_timer(d)
        sent.extend((d, data, dest) for data, dest in ep.outbox)
        ep.outbox = []


def request_bytes(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bK-abc",
    sent_by: str = "192.0.2.10:5062",
    transport: str = "UDP",
    rport: bool = True,
    cseq: int = 1,
    cseq_method: str | None = None,
    to_tag: str | None = None,
    call_id: str = "call-1@192.0.2.10",
    uri: str = "sip:bob@10.0.0.1",
    extra: str = "",
) -> bytes:
    params = (f";branch={branch}" if branch else "") + (";rport" if rport else "")
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {sent_by}{params}\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@example.com>;tag=a1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method or method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5062>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def status_of(data: bytes) -> int:
    msg = parse_message(data)
    assert isinstance(msg, Response)
    return msg.status


def answer(ep: Endpoint, event: RequestReceived, status: int, now: float, tag: str = "b1") -> Response:
    resp = make_response(event.request, status, to_tag=tag)
    assert event.transaction_id is not None
    assert ep.send_response(event.transaction_id, resp, now) is True
    return resp


def new_request(method: str = "INVITE", cseq: int = 1) -> Request:
    return Request(
        method,
        "sip:+15551234@198.51.100.7",
        [
            header("From", "<sip:b2bua@10.0.0.1>;tag=ours"),
            header("To", "<sip:+15551234@198.51.100.7>"),
            header("Call-ID", "out-1@10.0.0.1"),
            header("CSeq", f"{cseq} {method}"),
            header("Contact", "<sip:b2bua@10.0.0.1:5060>"),
        ],
    )


def reply_to(data: bytes, status: int, tag: str | None = "gw1") -> bytes:
    """What the gateway answers to the request ``data`` we sent."""
    req = parse_message(data)
    assert isinstance(req, Request)
    return make_response(req, status, to_tag=tag).serialize()


# -- server side -----------------------------------------------------------------


def test_invite_in_stamps_via_and_answers_to_received_rport() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(sent_by="phone.example.com:5062"), PHONE, 0.0)
    out, events = take(ep)
    assert out == []
    [ev] = events
    assert isinstance(ev, RequestReceived)
    assert ev.source == PHONE and ev.transaction_id is not None
    assert ev.request.get("via") == (
        "SIP/2.0/UDP phone.example.com:5062;branch=z9hG4bK-abc;rport=5062;received=192.0.2.10"
    )
    answer(ep, ev, 180, 0.05)
    out, _ = take(ep)
    [(data, dest)] = out
    assert dest == PHONE
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 180
    assert resp.get("via") == ev.request.get("via")  # the stamped Via goes back
    assert ep.transaction_count == 1


def test_rport_forces_received_even_when_host_matches() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes("OPTIONS"), PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    assert ev.request.top_via.params == {"branch": "z9hG4bK-abc", "rport": "5062", "received": "192.0.2.10"}


def test_via_untouched_when_sent_by_is_the_source_and_no_rport() -> None:
    ep = make_endpoint()
    raw = request_bytes("OPTIONS", rport=False)
    ep.receive(raw, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    assert ev.request.get("via") == "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc"


def test_response_routing_without_rport_uses_sent_by_port() -> None:
    """§18.2.2: no rport: to the received address (the source) at the sent-by port."""
    ep = make_endpoint()
    nat = Address("udp", "203.0.113.9", 61000)
    ep.receive(request_bytes("OPTIONS", sent_by="192.168.1.20:5070", rport=False), nat, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    assert ev.request.top_via.params["received"] == "203.0.113.9"
    answer(ep, ev, 200, 0.0)
    assert [dest for _, dest in take(ep)[0]] == [Address("udp", "203.0.113.9", 5070)]

    ep.receive(request_bytes("OPTIONS", sent_by="192.168.1.20", rport=False, branch="z9hG4bK-2"), nat, 0.0)
    [ev] = take(ep)[1]
    answer(ep, ev, 200, 0.0)  # type: ignore[arg-type]
    assert [dest for _, dest in take(ep)[0]] == [Address("udp", "203.0.113.9", 5060)]


def test_response_routing_with_rport_goes_to_the_source() -> None:
    ep = make_endpoint()
    nat = Address("udp", "203.0.113.9", 61000)
    ep.receive(request_bytes("OPTIONS", sent_by="192.168.1.20:5070"), nat, 0.0)
    [ev] = take(ep)[1]
    answer(ep, ev, 200, 0.0)  # type: ignore[arg-type]
    assert [dest for _, dest in take(ep)[0]] == [nat]


def test_response_over_tcp_goes_back_to_the_connection() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes("OPTIONS", transport="TCP", sent_by="192.168.1.20:5070", rport=False), PHONE_TCP, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    answer(ep, ev, 200, 0.0)
    assert [dest for _, dest in take(ep)[0]] == [PHONE_TCP]
    assert ep.transaction_count == 0  # Timer J = 0 on TCP


def test_only_the_top_via_is_stamped() -> None:
    ep = make_endpoint()
    raw = request_bytes("OPTIONS", sent_by="proxy.example.com").replace(
        b"Max-Forwards", b"Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down\r\nMax-Forwards"
    )
    ep.receive(raw, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    vias = ev.request.get_all("via")
    assert vias[0].endswith(";rport=5062;received=192.0.2.10")
    assert vias[1] == "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down"
    # a combined Via header line
    raw = request_bytes("OPTIONS", sent_by="proxy.example.com", branch="z9hG4bK-x").replace(
        b";rport\r\n", b";rport, SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down\r\n"
    )
    ep.receive(raw, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    assert ev.request.get("via") == (
        "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-x;rport=5062;received=192.0.2.10, "
        "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK-down"
    )


def test_invite_rejected_with_timer_g_then_ack_and_timer_i() -> None:
    ep = make_endpoint()
    invite = request_bytes()
    ep.receive(invite, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    tid = ev.transaction_id
    assert tid is not None
    answer(ep, ev, 486, 0.1)
    [(busy, dest)] = take(ep)[0]
    assert dest == PHONE and status_of(busy) == 486
    sent = run_timers(ep, 3.0)
    assert [(round(t, 3), d) for t, d, _ in sent] == [(0.6, busy), (1.6, busy)]
    # retransmitted INVITE: the 486 again, no new event
    ep.receive(invite, PHONE, 2.0)
    assert take(ep) == ([(busy, PHONE)], [])
    ack = request_bytes("ACK", cseq_method="ACK", to_tag="b1")
    ep.receive(ack, PHONE, 2.5)
    assert take(ep) == ([], [])  # absorbed by the transaction
    assert ep.transaction(tid).state is State.CONFIRMED  # type: ignore[union-attr]
    ep.receive(ack, PHONE, 3.0)  # duplicate ACK absorbed too
    ep.receive(invite, PHONE, 3.0)  # late INVITE copy absorbed in Confirmed
    assert take(ep) == ([], [])
    assert run_timers(ep, 7.4) == []
    assert ep.transaction_count == 1
    run_timers(ep, 7.5)  # Timer I = T4 after the ACK
    assert ep.transaction_count == 0
    assert ep.next_deadline() is None
    assert take(ep) == ([], [])


def test_invite_without_ack_times_out_by_timer_h() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(), PHONE, 0.0)
    [ev] = take(ep)[1]
    answer(ep, ev, 404, 0.0)  # type: ignore[arg-type]
    take(ep)
    sent = run_timers(ep, 100.0)
    assert [t for t, _, _ in sent] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    [timeout] = take(ep)[1]
    assert isinstance(ev, RequestReceived) and ev.transaction_id is not None
    assert timeout == TransactionTimedOut(transaction_id=ev.transaction_id, timer="H")
    assert ep.transaction_count == 0


def test_100_trying_when_the_tu_is_slow() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(extra="Timestamp: 54\r\n"), PHONE, 10.0)
    [ev] = take(ep)[1]
    assert ep.next_deadline() == pytest.approx(10.2)
    [(t, data, dest)] = run_timers(ep, 11.0)
    assert t == pytest.approx(10.2) and dest == PHONE
    trying = parse_message(data)
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.get("timestamp") == "54"  # §8.2.6.1
    assert trying.to.tag is None


def test_invite_2xx_accepted_and_ack_for_2xx_goes_to_the_tu() -> None:
    ep = make_endpoint()
    invite = request_bytes()
    ep.receive(invite, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    ok = answer(ep, ev, 200, 0.1)
    [(data, _)] = take(ep)[0]
    ep.receive(invite, PHONE, 0.5)  # absorbed, not resent: 2xx retransmission is the TU's
    assert take(ep) == ([], [])
    assert ep.send_response(ev.transaction_id, ok, 0.6) is True  # type: ignore[arg-type]
    assert take(ep)[0] == [(data, PHONE)]
    # the ACK for a 2xx has its own branch: no transaction, straight to the TU
    ep.receive(request_bytes("ACK", branch="z9hG4bK-ack1", to_tag="b1"), PHONE, 0.7)
    [ack_ev] = take(ep)[1]
    assert isinstance(ack_ev, RequestReceived)
    assert ack_ev.request.method == "ACK" and ack_ev.transaction_id is None
    # an ACK reusing the INVITE's branch, while Accepted, goes to the TU too (RFC 6026)
    ep.receive(request_bytes("ACK", to_tag="b1"), PHONE, 0.8)
    [ack_ev] = take(ep)[1]
    assert isinstance(ack_ev, RequestReceived) and ack_ev.transaction_id is None
    run_timers(ep, 32.09)
    assert ep.transaction_count == 1
    run_timers(ep, 32.1)  # Timer L
    assert ep.transaction_count == 0
    assert ep.send_response(ev.transaction_id, ok, 33.0) is False  # type: ignore[arg-type]


def test_non_invite_retransmissions_absorbed_and_answered() -> None:
    ep = make_endpoint()
    bye = request_bytes("BYE", to_tag="b1")
    ep.receive(bye, PHONE, 0.0)
    [ev] = take(ep)[1]
    ep.receive(bye, PHONE, 0.3)  # Trying: absorbed, nothing to resend
    assert take(ep) == ([], [])
    answer(ep, ev, 200, 0.4)  # type: ignore[arg-type]
    [(ok, _)] = take(ep)[0]
    ep.receive(bye, PHONE, 0.9)
    ep.receive(bye, PHONE, 1.9)
    assert take(ep) == ([(ok, PHONE), (ok, PHONE)], [])
    assert isinstance(ev, RequestReceived) and ev.transaction_id is not None
    assert ep.send_response(ev.transaction_id, make_response(ev.request, 500), 2.0) is False
    run_timers(ep, 32.39)
    assert ep.transaction_count == 1
    run_timers(ep, 32.4)  # Timer J = 64*T1
    assert ep.transaction_count == 0
    assert take(ep) == ([], [])


def test_same_branch_different_method_or_sent_by_are_different_transactions() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes("OPTIONS"), PHONE, 0.0)
    ep.receive(request_bytes("INFO", to_tag="x"), PHONE, 0.0)
    ep.receive(request_bytes("OPTIONS", sent_by="192.0.2.11:5062"), PHONE, 0.0)
    assert len(take(ep)[1]) == 3
    assert ep.transaction_count == 3


def test_cancel_before_final_answers_200_and_tells_the_tu() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(), PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    answer(ep, ev, 180, 0.1, tag="b7")
    take(ep)
    cancel = request_bytes("CANCEL", extra="Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n")
    ep.receive(cancel, PHONE, 1.0)
    out, events = take(ep)
    [(data, dest)] = out
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 200 and dest == PHONE
    assert resp.get("cseq") == "1 CANCEL"
    assert resp.to.tag == "b7"  # §9.2: the To tag of the INVITE's response
    [cev] = events
    assert isinstance(cev, CancelReceived)
    assert cev.transaction_id == ev.transaction_id
    assert cev.request.method == "CANCEL" and "reason" in cev.request
    # the CANCEL retransmission is absorbed by its own transaction
    ep.receive(cancel, PHONE, 1.5)
    assert take(ep) == ([(data, PHONE)], [])
    answer(ep, ev, 487, 1.1, tag="b7")
    assert [status_of(d) for d, _ in take(ep)[0]] == [487]
    ep.receive(request_bytes("ACK", to_tag="b7"), PHONE, 1.2)
    assert take(ep) == ([], [])
    run_timers(ep, 100.0)
    assert take(ep) == ([], [])
    assert ep.transaction_count == 0


def test_cancel_without_transaction_gets_481() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes("CANCEL"), PHONE, 0.0)
    out, events = take(ep)
    assert events == []
    [(data, dest)] = out
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 481 and dest == PHONE
    assert resp.to.tag is not None
    assert ep.transaction_count == 1  # the CANCEL's NIST absorbs retransmissions
    run_timers(ep, 100.0)
    assert ep.transaction_count == 0


def test_cancel_after_final_response_has_no_effect_but_200() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(), PHONE, 0.0)
    [ev] = take(ep)[1]
    answer(ep, ev, 486, 0.1)  # type: ignore[arg-type]
    take(ep)
    ep.receive(request_bytes("CANCEL"), PHONE, 0.2)
    out, events = take(ep)
    assert [status_of(d) for d, _ in out] == [200]
    assert events == []


def test_cancel_with_another_branch_does_not_match() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(), PHONE, 0.0)
    take(ep)
    ep.receive(request_bytes("CANCEL", branch="z9hG4bK-other"), PHONE, 0.2)
    out, events = take(ep)
    assert [status_of(d) for d, _ in out] == [481] and events == []


def test_rfc_2543_fallback_matching() -> None:
    """A branch without z9hG4bK: Request-URI, tags, Call-ID, CSeq, top Via."""
    ep = make_endpoint()
    invite = request_bytes(branch="1234", rport=False)
    ep.receive(invite, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived)
    assert ev.transaction_id is not None
    answer(ep, ev, 180, 0.0, tag="old1")
    [(ringing, _)] = take(ep)[0]
    ep.receive(invite, PHONE, 0.5)
    assert take(ep) == ([(ringing, PHONE)], [])
    # same everything but the CSeq: a new transaction
    ep.receive(request_bytes(branch="1234", rport=False, cseq=2), PHONE, 0.5)
    [ev2] = take(ep)[1]
    answer(ep, ev2, 500, 0.5)  # type: ignore[arg-type]
    take(ep)
    # CANCEL matches the INVITE without a branch cookie too
    ep.receive(request_bytes("CANCEL", branch="1234", rport=False), PHONE, 0.6)
    out, events = take(ep)
    assert [status_of(d) for d, _ in out] == [200]
    assert [type(e) for e in events] == [CancelReceived]
    answer(ep, ev, 487, 0.7, tag="old1")
    take(ep)
    # the ACK carries the response's To tag and matches the INVITE
    ep.receive(request_bytes("ACK", branch="1234", rport=False, to_tag="old1"), PHONE, 0.8)
    assert take(ep) == ([], [])
    assert ep.transaction(ev.transaction_id).state is State.CONFIRMED  # type: ignore[union-attr]
    # an ACK with another To tag does not: the TU sees it
    ep.receive(request_bytes("ACK", branch="1234", rport=False, to_tag="zzz"), PHONE, 0.9)
    assert [type(e) for e in take(ep)[1]] == [RequestReceived]
    # no branch at all
    ep.receive(request_bytes("OPTIONS", branch=None, rport=False, call_id="c2"), PHONE, 1.0)
    [ev3] = take(ep)[1]
    answer(ep, ev3, 200, 1.0)  # type: ignore[arg-type]
    [(ok, _)] = take(ep)[0]
    ep.receive(request_bytes("OPTIONS", branch=None, rport=False, call_id="c2"), PHONE, 1.1)
    assert take(ep) == ([(ok, PHONE)], [])
    run_timers(ep, 200.0)
    assert ep.transaction_count == 0


# -- stateless answers to bad requests ---------------------------------------------


def _stateless(raw: bytes, source: Address = PHONE) -> list[tuple[bytes, Address]]:
    ep = make_endpoint()
    ep.receive(raw, source, 0.0)
    out, events = take(ep)
    assert events == []
    assert ep.transaction_count == 0
    assert ep.next_deadline() is None
    return out


def test_bad_content_length_gets_400_routed_by_via() -> None:
    raw = request_bytes("OPTIONS", sent_by="phone.example.com:5062").replace(
        b"Content-Length: 0", b"Content-Length: abc"
    )
    [(data, dest)] = _stateless(raw)
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 400
    assert dest == PHONE  # received/rport applied to the partial request too
    assert resp.get("call-id") == "call-1@192.0.2.10" and resp.get("cseq") == "1 OPTIONS"
    assert resp.top_via.params["received"] == "192.0.2.10"
    assert resp.to.tag is not None
    assert resp.get("server") == "b2bua"


@pytest.mark.parametrize("bad", [b"Alice\x00", b"Al\rice"])
def test_raw_nul_or_bare_cr_in_a_header_gets_400_without_echoing_it(bad: bytes) -> None:
    """Echoed in an answer, they would be header injection (the serializer
    refuses them): the request is refused 400 from its clean lines."""
    raw = request_bytes("OPTIONS").replace(b"From: Alice", b"X-Note: " + bad + b"\r\nFrom: Alice")
    [(data, dest)] = _stateless(raw)
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 400 and dest == PHONE
    assert b"\x00" not in data and data.count(b"\r") == data.count(b"\r\n")
    # a NUL as a quoted-pair is the grammar's (RFC 4475 intmeth): accepted and echoed
    quoted = request_bytes("OPTIONS").replace(b"From: Alice", b'From: "A\\\x00"')
    ep = make_endpoint()
    ep.receive(quoted, PHONE, 0.0)
    [event] = take(ep)[1]
    assert isinstance(event, RequestReceived)
    answer(ep, event, 200, 0.0)
    [(data, _)] = take(ep)[0]
    assert b'From: "A\\\x00"' in data


def test_bad_version_gets_505() -> None:
    raw = request_bytes("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    [(data, dest)] = _stateless(raw)
    assert status_of(data) == 505 and dest == PHONE


def test_malformed_ack_is_never_answered() -> None:
    raw = request_bytes("ACK").replace(b"Content-Length: 0", b"Content-Length: abc")
    assert _stateless(raw) == []


def test_bad_request_without_via_is_answered_where_it_came_from() -> None:
    # RFC 4475 badinv01/test want a 400; with no usable Via the only route is the source
    raw = request_bytes("OPTIONS").replace(b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-abc;rport\r\n", b"")
    raw = raw.replace(b"Content-Length: 0", b"Content-Length: x")
    [(data, dest)] = _stateless(raw)
    assert status_of(data) == 400 and dest == PHONE
    [(data, dest)] = _stateless(raw, PHONE_TCP)
    assert status_of(data) == 400 and dest == PHONE_TCP


def test_unparsable_via_is_answered_to_the_source() -> None:
    raw = request_bytes("OPTIONS").replace(b"Via: SIP/2.0/UDP", b"Via: garbage")
    [(data, dest)] = _stateless(raw)
    assert status_of(data) == 400 and dest == PHONE
    assert b"Via" in data.split(b"\r\n", 2)[1]  # the bad Via is copied back as it came


def test_garbage_and_malformed_responses_are_dropped() -> None:
    assert _stateless(b"\x00\x01garbage") == []
    assert _stateless(b"") == []
    assert _stateless(b"SIP/2.0 999 Bad\r\nContent-Length: 0\r\n\r\n") == []
    assert _stateless(b"SIP/2.0 200 OK\r\nVia: nonsense\r\nContent-Length: 0\r\n\r\n") == []


def test_unknown_method_gets_501_with_allow() -> None:
    [(data, dest)] = _stateless(request_bytes("FROBNICATE"))
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 501 and dest == PHONE
    assert resp.to.tag is not None


def test_missing_call_id_gets_400() -> None:
    raw = request_bytes("OPTIONS").replace(b"Call-ID: call-1@192.0.2.10\r\n", b"")
    [(data, dest)] = _stateless(raw)
    assert status_of(data) == 400 and dest == PHONE


def test_unsupported_uri_scheme_gets_416() -> None:
    [(data, _)] = _stateless(request_bytes("OPTIONS", uri="mailto:bob@example.com"))
    assert status_of(data) == 416


def test_invalid_ack_dropped_silently() -> None:
    raw = request_bytes("ACK").replace(b"Call-ID: call-1@192.0.2.10\r\n", b"")
    assert _stateless(raw) == []


# -- client side -----------------------------------------------------------------


def test_send_request_adds_via_and_max_forwards() -> None:
    ep = make_endpoint("x")
    req = new_request("OPTIONS")
    tid = ep.send_request(req, GATEWAY, 0.0)
    [(data, dest)] = take(ep)[0]
    assert dest == GATEWAY
    sent = parse_message(data)
    assert isinstance(sent, Request)
    assert sent.get_all("via") == ["SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-xb1;rport"]
    assert sent.get("max-forwards") == "70"
    assert tid == "z9hG4bK-xb1 OPTIONS"
    assert ep.transaction(tid).state is State.TRYING  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        ep.send_request(new_request("ACK"), GATEWAY, 0.0)
    with pytest.raises(ValueError):
        ep.send_request(new_request("CANCEL"), GATEWAY, 0.0)


def test_send_request_over_tcp_uses_the_tcp_address_and_ipv6_brackets() -> None:
    ep = make_endpoint(local={"udp": Address("udp", "2001:db8::1", 5080)})
    ep.send_request(new_request("OPTIONS"), Address("udp", "2001:db8::2", 5060), 0.0)
    ep.send_request(new_request("OPTIONS"), Address("tcp", "2001:db8::2", 5060), 0.0)
    vias = [parse_message(d).get("via") for d, _ in take(ep)[0]]
    assert vias == [
        "SIP/2.0/UDP [2001:db8::1]:5080;branch=z9hG4bK-b1;rport",
        "SIP/2.0/TCP [2001:db8::1]:5080;branch=z9hG4bK-b2;rport",
    ]
    with pytest.raises(ValueError):
        Endpoint(CountingIds()).send_request(new_request("OPTIONS"), GATEWAY, 0.0)


def test_nict_retransmits_then_times_out_by_timer_f() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request("OPTIONS"), GATEWAY, 0.0)
    take(ep)
    sent = run_timers(ep, 100.0)
    assert [t for t, _, _ in sent] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert take(ep)[1] == [TransactionTimedOut(transaction_id=tid, timer="F")]
    assert ep.transaction_count == 0 and ep.next_deadline() is None


def test_next_deadline_is_exact_after_timers_move() -> None:
    """A stale heap entry (Timer E after the final response) is not a wake-up."""
    ep = make_endpoint()
    tid = ep.send_request(new_request("OPTIONS"), GATEWAY, 0.0)
    [(data, _)] = take(ep)[0]
    assert ep.next_deadline() == 0.5
    ep.receive(reply_to(data, 200), GATEWAY, 0.2)
    assert ep.next_deadline() == pytest.approx(5.2)  # Timer K, not the old Timer E
    assert ep.transaction(tid) is not None
    ep.handle_timer(5.2)
    assert ep.next_deadline() is None and ep.transaction_count == 0


def test_ict_times_out_by_timer_b() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    take(ep)
    sent = run_timers(ep, 100.0)
    assert [t for t, _, _ in sent] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert take(ep)[1] == [TransactionTimedOut(transaction_id=tid, timer="B")]
    assert ep.transaction_count == 0


def test_responses_matched_by_branch_and_cseq_method() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ep.receive(reply_to(invite, 100, tag=None), GATEWAY, 0.1)
    ep.receive(reply_to(invite, 180), GATEWAY, 0.2)
    events = take(ep)[1]
    assert [(type(e), e.response.status, e.transaction_id) for e in events] == [  # type: ignore[union-attr]
        (ResponseReceived, 100, tid),
        (ResponseReceived, 180, tid),
    ]
    assert run_timers(ep, 60.0) == []  # no retransmission and no Timer B in Proceeding
    # a response with our branch but another CSeq method, or another branch: dropped
    ep.receive(reply_to(invite, 200).replace(b"1 INVITE", b"1 BYE"), GATEWAY, 60.0)
    ep.receive(reply_to(invite, 200).replace(b"z9hG4bK-b1", b"z9hG4bK-zz"), GATEWAY, 60.0)
    # our branch but another sent-by: not a response to us (§18.1.2)
    ep.receive(reply_to(invite, 200).replace(b"10.0.0.1:5060", b"10.0.0.9:5060"), GATEWAY, 60.0)
    assert take(ep) == ([], [])
    ep.receive(reply_to(invite, 486), GATEWAY, 61.0)
    out, events = take(ep)
    assert [e.response.status for e in events] == [486]  # type: ignore[union-attr]
    [(ack, dest)] = out
    assert dest == GATEWAY and parse_message(ack).method == "ACK"  # type: ignore[union-attr]
    ep.receive(reply_to(invite, 486), GATEWAY, 62.0)  # retransmission: ACK again, TU not told
    assert take(ep) == ([(ack, GATEWAY)], [])
    run_timers(ep, 200.0)
    assert ep.transaction_count == 0


def test_ict_2xx_retransmissions_reach_the_tu_and_ack_is_stateless() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ok = reply_to(invite, 200)
    ep.receive(ok, GATEWAY, 0.3)
    ep.receive(ok, GATEWAY, 0.8)
    out, events = take(ep)
    assert out == []  # the ACK for a 2xx is the TU's
    assert [e.transaction_id for e in events] == [tid, tid]
    ack = new_request("ACK")
    ep.send_stateless(ack, GATEWAY)
    ep.send_stateless(ack, GATEWAY)
    [(a1, d1), (a2, d2)] = take(ep)[0]
    assert a1 == a2 and d1 == d2 == GATEWAY
    assert parse_message(a1).get("via") == "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b2;rport"
    run_timers(ep, 32.29)
    assert ep.transaction_count == 1
    run_timers(ep, 32.3)  # Timer M
    assert ep.transaction_count == 0
    ep.receive(ok, GATEWAY, 40.0)  # stray 2xx after Timer M: discarded (RFC 6026)
    assert take(ep) == ([], [])


def _check_cancel(cancel: bytes, invite: bytes) -> None:
    c = parse_message(cancel)
    i = parse_message(invite)
    assert isinstance(c, Request) and isinstance(i, Request)
    assert c.method == "CANCEL" and c.uri == i.uri
    assert c.get_all("via") == i.get_all("via")[:1]
    assert c.get_all("route") == i.get_all("route")
    for key in ("from", "to", "call-id"):
        assert c.get(key) == i.get(key)
    assert c.get("cseq") == "1 CANCEL"
    assert c.get("max-forwards") == "70"


def test_cancel_waits_for_a_provisional_response() -> None:
    ep = make_endpoint()
    req = new_request()
    req.headers.append(header("Route", "<sip:edge.example.com;lr>"))
    tid = ep.send_request(req, GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    cancel_tid = ep.cancel(tid, 0.2, [header("Reason", "SIP;cause=480")])
    assert cancel_tid == "z9hG4bK-b1 CANCEL"
    assert take(ep) == ([], [])  # §9.1: not before a provisional response
    assert ep.cancel(tid, 0.3) == cancel_tid  # asking twice changes nothing
    assert [(d, dest) for _, d, dest in run_timers(ep, 0.5)] == [(invite, GATEWAY)]  # Timer A runs on
    ep.receive(reply_to(invite, 180), GATEWAY, 0.7)
    out, events = take(ep)
    [(cancel, dest)] = out
    assert dest == GATEWAY
    _check_cancel(cancel, invite)
    assert parse_message(cancel).get("reason") == "SIP;cause=480"
    assert [e.response.status for e in events] == [180]  # type: ignore[union-attr]
    ep.receive(reply_to(cancel, 200), GATEWAY, 0.8)
    ep.receive(reply_to(invite, 487), GATEWAY, 0.9)
    out, events = take(ep)
    assert [(e.transaction_id, e.response.status) for e in events] == [  # type: ignore[union-attr]
        (cancel_tid, 200),
        (tid, 487),
    ]
    assert [parse_message(d).method for d, _ in out] == ["ACK"]  # type: ignore[union-attr]
    run_timers(ep, 100.0)
    assert ep.transaction_count == 0


def test_cancel_after_provisional_goes_at_once() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ep.receive(reply_to(invite, 183), GATEWAY, 0.1)
    take(ep)
    assert ep.cancel(tid, 5.0) is not None
    [(cancel, _)] = take(ep)[0]
    _check_cancel(cancel, invite)
    # the CANCEL has its own NICT: Timer E from its own start
    assert [t for t, _, _ in run_timers(ep, 7.0)] == [5.5, 6.5]


def test_cancel_unanswered_ends_the_invite_after_64_t1() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ep.receive(reply_to(invite, 180), GATEWAY, 0.1)
    ep.cancel(tid, 10.0)
    [(cancel, _)] = take(ep)[0]
    ep.receive(reply_to(cancel, 200), GATEWAY, 10.1)
    take(ep)
    run_timers(ep, 100.0)
    assert [e for e in take(ep)[1]] == [TransactionTimedOut(transaction_id=tid, timer="B")]
    assert ep.transaction_count == 0


def test_cancel_after_final_response_is_refused() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ep.receive(reply_to(invite, 486), GATEWAY, 0.1)
    assert ep.cancel(tid, 0.2) is None
    assert ep.cancel("no such transaction", 0.2) is None
    opt = ep.send_request(new_request("OPTIONS"), GATEWAY, 0.0)
    assert ep.cancel(opt, 0.2) is None  # §9.1: non-INVITE requests are not cancelled


def test_pending_cancel_dropped_when_the_final_response_comes_first() -> None:
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    ep.cancel(tid, 0.1)
    ep.receive(reply_to(invite, 603), GATEWAY, 0.2)
    out, _ = take(ep)
    assert [parse_message(d).method for d, _ in out] == ["ACK"]  # type: ignore[union-attr]
    run_timers(ep, 100.0)
    assert ep.transaction_count == 0


def test_tcp_client_transactions() -> None:
    ep = make_endpoint()
    gw = Address("tcp", "198.51.100.7", 5060)
    tid = ep.send_request(new_request(), gw, 0.0)
    [(invite, dest)] = take(ep)[0]
    assert dest == gw and b"SIP/2.0/TCP 10.0.0.1:5060" in invite
    assert run_timers(ep, 31.0) == []  # no Timer A on TCP
    ep.receive(reply_to(invite, 486), gw, 1.0)
    assert ep.transaction_count == 0  # Timer D = 0
    out, events = take(ep)
    assert [parse_message(d).method for d, _ in out] == ["ACK"]  # type: ignore[union-attr]
    assert [e.transaction_id for e in events] == [tid]


def test_send_response_to_unknown_transaction() -> None:
    ep = make_endpoint()
    req = parse_message(request_bytes("OPTIONS"))
    assert ep.send_response("nope", make_response(req, 200), 0.0) is False  # type: ignore[arg-type]
    tid = ep.send_request(new_request("OPTIONS"), GATEWAY, 0.0)
    assert ep.send_response(tid, make_response(req, 200), 0.0) is False  # type: ignore[arg-type]


def test_send_stateless_response_unchanged() -> None:
    ep = make_endpoint()
    resp = make_response(parse_message(request_bytes("OPTIONS")), 200)  # type: ignore[arg-type]
    ep.send_stateless(resp, PHONE)
    assert take(ep)[0] == [(resp.serialize(), PHONE)]


# -- scale -------------------------------------------------------------------------


def test_ten_thousand_transactions_share_one_deadline() -> None:
    ep = make_endpoint()
    n = 10_000
    tids = []
    for i in range(n):
        ep.receive(request_bytes("OPTIONS", branch=f"z9hG4bK-{i}"), PHONE, i * 0.001)
    events = take(ep)[1]
    assert ep.transaction_count == n
    for ev in events:
        assert isinstance(ev, RequestReceived)
        answer(ep, ev, 200, 10.0)
        tids.append(ev.transaction_id)
    for i in range(n):
        tid = ep.send_request(new_request("OPTIONS", cseq=i + 1), GATEWAY, 10.0)
        tids.append(tid)
    take(ep)
    assert ep.transaction_count == 2 * n
    assert ep.next_deadline() == 10.5
    run_timers(ep, 200.0)
    assert ep.transaction_count == 0
    assert ep.next_deadline() is None
    timeouts = [e for e in take(ep)[1] if isinstance(e, TransactionTimedOut)]
    assert len(timeouts) == n
    assert len(ep._heap) == 0


# -- a lossy link between two endpoints --------------------------------------------

A_ADDR = Address("udp", "10.0.0.1", 5060)
B_ADDR = Address("udp", "10.0.0.2", 5060)


class Link:
    """Datagrams in flight between two endpoints; ``fate`` decides for each one
    how many copies arrive (0: dropped, 2: duplicated) and after what delay."""

    def __init__(self, fate: Callable[[], tuple[int, float, float]]) -> None:
        self.fate = fate
        self.flight: list[tuple[float, int, bytes, Address, Address]] = []
        self.seq = 0

    def carry(self, sender: Endpoint, src: Address, now: float) -> None:
        for data, dest in sender.outbox:
            copies, delay, extra = self.fate()
            for n in range(copies):
                self.seq += 1
                self.flight.append((now + delay + n * extra, self.seq, data, src, dest))
        sender.outbox = []
        self.flight.sort()


class Uas:
    """The far end's TU: answers at once with ``status``; retransmits a 2xx
    (§13.3.1.4: T1 doubling up to T2, for 64*T1) until the ACK comes."""

    def __init__(self, ep: Endpoint, status: int) -> None:
        self.ep = ep
        self.status = status
        self.ok: tuple[str, Response] | None = None
        self.next_at: float | None = None
        self.interval = 0.5
        self.give_up = 0.0

    def handle(self, now: float) -> None:
        events, self.ep.events = self.ep.events, []
        for ev in events:
            if isinstance(ev, RequestReceived):
                if ev.request.method == "ACK":
                    self.next_at = None
                elif ev.transaction_id is not None:
                    resp = make_response(ev.request, self.status, to_tag="uas")
                    self.ep.send_response(ev.transaction_id, resp, now)
                    if ev.request.method == "INVITE" and self.status < 300:
                        self.ok = (ev.transaction_id, resp)
                        self.next_at, self.give_up = now + 0.5, now + 32.0

    def on_timer(self, now: float) -> None:
        if self.next_at is not None and self.next_at <= now and self.ok is not None:
            if now >= self.give_up:
                self.next_at = None
                return
            self.ep.send_response(self.ok[0], self.ok[1], now)
            self.interval = min(2 * self.interval, 4.0)
            self.next_at = now + self.interval


NO_ANSWER = 40.0  # seconds: the UAC's TU gives up on a ringing INVITE (its "Timer C")


def exchange(method: str, status: int, fate: Callable[[], tuple[int, float, float]]) -> list[Event]:
    """Run one request from A to B over the link; return A's events about it.

    A's TU acknowledges every 2xx (§13.2.2.4) and, like any UAC, cancels an
    INVITE still unanswered NO_ANSWER seconds after a provisional response:
    the ICT has no timeout of its own in Proceeding (§17.1.1.2), §9.1 ends it
    64*T1 after the CANCEL.
    """
    a, b = Endpoint(CountingIds("a"), local={"udp": A_ADDR}), Endpoint(CountingIds("b"), local={"udp": B_ADDR})
    uas = Uas(b, status)
    link = Link(fate)
    seen: list[Event] = []
    ack: Request | None = None
    cancel_at: float | None = None
    cancel_tid: str | None = None
    now = 0.0
    tid = a.send_request(new_request(method), B_ADDR, now)
    link.carry(a, A_ADDR, now)
    while True:
        times = [t for t in (a.next_deadline(), b.next_deadline(), uas.next_at, cancel_at) if t is not None]
        if link.flight:
            times.append(link.flight[0][0])
        if not times:
            break
        now = min(times)
        assert now < 1000.0, "the exchange never settles"
        while link.flight and link.flight[0][0] <= now:
            _, _, data, src, dest = link.flight.pop(0)
            (a if dest == A_ADDR else b).receive(data, src, now)
        a.handle_timer(now)
        b.handle_timer(now)
        uas.on_timer(now)
        uas.handle(now)
        if cancel_at is not None and cancel_at <= now:
            cancel_at = None
            cancel_tid = a.cancel(tid, now)
            assert cancel_tid is not None
        for ev in a.events:
            if getattr(ev, "transaction_id", None) != tid:
                assert cancel_tid is not None and ev.transaction_id == cancel_tid
                continue
            seen.append(ev)
            if isinstance(ev, ResponseReceived) and method == "INVITE":
                code = ev.response.status
                if code < 200 and cancel_at is None and cancel_tid is None:
                    cancel_at = now + NO_ANSWER
                elif code >= 200:
                    cancel_at = None
                if code == 200:
                    if ack is None:
                        ack = new_request("ACK")
                    a.send_stateless(ack, B_ADDR)
        a.events = []
        link.carry(a, A_ADDR, now)
        link.carry(b, B_ADDR, now)
    assert a.transaction_count == 0 and b.transaction_count == 0
    assert a.next_deadline() is None and b.next_deadline() is None
    return seen


SCENARIOS = [("OPTIONS", 200), ("OPTIONS", 404), ("INVITE", 486), ("INVITE", 200)]


def check_outcome(method: str, status: int, seen: list[Event]) -> None:
    finals = [e for e in seen if isinstance(e, ResponseReceived) and e.response.status >= 200]
    timeouts = [e for e in seen if isinstance(e, TransactionTimedOut)]
    if finals:
        assert not timeouts
        assert {e.response.status for e in finals} == {status}
        if status >= 300 or method != "INVITE":
            assert len(finals) == 1  # retransmissions absorbed by the client transaction
    else:
        assert [e.timer for e in timeouts] == ["B" if method == "INVITE" else "F"]


@pytest.mark.parametrize("method,status", SCENARIOS)
def test_perfect_link_completes(method: str, status: int) -> None:
    seen = exchange(method, status, lambda: (1, 0.01, 0.0))
    check_outcome(method, status, seen)
    assert any(isinstance(e, ResponseReceived) for e in seen)


@pytest.mark.parametrize("method,status", SCENARIOS)
def test_dead_link_times_out(method: str, status: int) -> None:
    seen = exchange(method, status, lambda: (0, 0.0, 0.0))
    [timeout] = seen
    assert isinstance(timeout, TransactionTimedOut)
    assert timeout.timer == ("B" if method == "INVITE" else "F")


@pytest.mark.parametrize("method,status", SCENARIOS)
def test_duplicating_link_completes_once(method: str, status: int) -> None:
    seen = exchange(method, status, lambda: (2, 0.05, 0.3))
    check_outcome(method, status, seen)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.sampled_from(SCENARIOS), st.data())
def test_lossy_link_completes_or_times_out(scenario: tuple[str, int], data: st.DataObject) -> None:
    method, status = scenario
    loss = data.draw(st.sampled_from([0, 10, 30, 60, 90]), label="loss %")
    dup = data.draw(st.sampled_from([0, 10, 50]), label="duplicate %")
    delays = st.sampled_from([0.001, 0.05, 0.4, 2.0, 9.0])
    gaps = st.sampled_from([0.0, 0.2, 5.0])

    def fate() -> tuple[int, float, float]:
        x = data.draw(st.integers(0, 99))
        copies = 0 if x < loss else 2 if x >= 100 - dup else 1
        return copies, data.draw(delays), data.draw(gaps) if copies == 2 else 0.0

    seen = exchange(method, status, fate)
    check_outcome(method, status, seen)


@pytest.mark.parametrize("method", ["INVITE", "REGISTER"])
def test_a_challenge_is_sent_statelessly(method: str) -> None:
    """RFC 3261 §8.2.7, §26.3.2.4: a 401 leaves no transaction, is never
    retransmitted, sends no 100 Trying; its ACK is not absorbed by any
    transaction, and the request sent again is a new request."""
    ep = make_endpoint()
    req = request_bytes(method)
    ep.receive(req, PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived) and ev.transaction_id is not None
    challenge = make_response(ev.request, 401, to_tag="t9", headers=[header("WWW-Authenticate", 'Digest realm="x"')])
    assert ep.respond_statelessly(ev.transaction_id, challenge)
    [(data, dest)] = take(ep)[0]
    assert dest == PHONE and status_of(data) == 401
    assert ep.transaction_count == 0
    assert run_timers(ep, 60.0) == []  # no retransmission, no 100 Trying, no Timer H
    assert not ep.respond_statelessly(ev.transaction_id, challenge)  # gone
    if method == "INVITE":
        ep.receive(request_bytes("ACK", cseq_method="ACK", to_tag="t9"), PHONE, 1.0)
        out, events = take(ep)
        assert out == [] and ep.transaction_count == 0
        assert [type(e) for e in events] == [RequestReceived]  # the TU ignores an ACK it does not know
    ep.receive(req, PHONE, 2.0)  # the retransmission is answered afresh by the TU
    out, events = take(ep)
    assert out == [] and len(events) == 1 and ep.transaction_count == 1


def test_a_request_already_answered_is_not_answered_statelessly() -> None:
    ep = make_endpoint()
    ep.receive(request_bytes(), PHONE, 0.0)
    [ev] = take(ep)[1]
    assert isinstance(ev, RequestReceived) and ev.transaction_id is not None
    answer(ep, ev, 180, 0.0)
    take(ep)
    assert not ep.respond_statelessly(ev.transaction_id, make_response(ev.request, 401, to_tag="t"))
    assert take(ep)[0] == [] and ep.transaction_count == 1


def test_the_transaction_table_is_bounded() -> None:
    ep = Endpoint(CountingIds(), local=LOCAL, max_transactions=3)
    for n in range(5):
        ep.receive(request_bytes("OPTIONS", branch=f"z9hG4bK-cap{n}", call_id=f"cap-{n}"), PHONE, 0.0)
    out, events = take(ep)
    assert len(events) == 3 and ep.transaction_count == 3
    assert [status_of(d) for d, _ in out] == [503, 503]
    assert all(b"Retry-After: 5" in d for d, _ in out)
    run_timers(ep, 0.1)
    # a request of a transaction already in the table is still matched (absorbed)
    ep.receive(request_bytes("OPTIONS", branch="z9hG4bK-cap0", call_id="cap-0"), PHONE, 0.2)
    assert take(ep) == ([], [])


def test_stale_heap_entries_are_compacted() -> None:
    """Transactions that end before their queued deadline (a request over TCP
    answered long before its Timer F) leave no entry behind: the heap holds
    about the live transactions, and next_deadline stays exact."""
    ep = make_endpoint()
    keep = ep.send_request(new_request("OPTIONS"), GATEWAY, 0.0)  # live: Timer E at 0.5
    take(ep)
    for i in range(5_000):
        ep.send_request(new_request("OPTIONS"), GATEWAY_TCP, 0.1)
        [(options, _)] = take(ep)[0]
        ep.receive(reply_to(options, 200), GATEWAY_TCP, 0.1)  # Terminated at once (Timer K is 0)
        assert len(ep._heap) <= 72  # two live transactions at most, and a few stale
    take(ep)
    assert ep.transaction_count == 1 and ep.transaction(keep) is not None
    assert ep.next_deadline() == 0.5
    assert len(run_timers(ep, 0.5)) == 1  # Timer E: the OPTIONS resent, nothing else


def test_responses_only_from_where_the_request_went() -> None:
    """A response with the right branch from another host or port (UDP), or
    from another connection (TCP), is not the peer's: dropped."""
    ep = make_endpoint()
    tid = ep.send_request(new_request(), GATEWAY, 0.0)
    [(invite, _)] = take(ep)[0]
    for forger in (
        Address("udp", "203.0.113.66", 5060),
        Address("udp", GATEWAY.host, 5099),
        Address("tcp", GATEWAY.host, GATEWAY.port),
    ):
        ep.receive(reply_to(invite, 200), forger, 0.1)
        assert take(ep) == ([], [])
    ep.receive(reply_to(invite, 180), GATEWAY, 0.2)
    assert [e.transaction_id for e in take(ep)[1]] == [tid]  # type: ignore[union-attr]
    tcp = ep.send_request(new_request("OPTIONS"), GATEWAY_TCP, 0.3)
    [(options, _)] = take(ep)[0]
    ep.receive(reply_to(options, 200), Address("tcp", GATEWAY.host, 40000), 0.4)  # another connection
    assert take(ep) == ([], [])
    ep.receive(reply_to(options, 200), GATEWAY_TCP, 0.5)
    assert [e.transaction_id for e in take(ep)[1]] == [tcp]  # type: ignore[union-attr]
    # an IPv6 peer answering in another spelling of its address is the same peer
    v6 = Address("udp", "2001:db8::7", 5060)
    ep6 = make_endpoint(local={"udp": Address("udp", "2001:db8::1", 5060)})
    t6 = ep6.send_request(new_request("OPTIONS"), v6, 0.0)
    [(opt6, _)] = take(ep6)[0]
    ep6.receive(reply_to(opt6, 200), Address("udp", "2001:0db8:0:0::7", 5060), 0.1)
    assert [e.transaction_id for e in take(ep6)[1]] == [t6]  # type: ignore[union-attr]
