"""The four transaction state machines on virtual time (RFC 3261 §17, RFC 6026).

Each test drives one transaction with a recording sink: what it transmits and
when, the deadlines it asks for, and when it terminates.  ``run`` fires the
timers exactly at their deadlines, as the endpoint's heap does.
"""

from __future__ import annotations

from typing import Any

import pytest

from b2bua.sip.build import make_response
from b2bua.sip.message import Request, Response, header, parse_message
from b2bua.sip.transaction import (
    Address,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    TimerDurations,
    Transaction,
)

UDP = Address("udp", "192.0.2.20", 5060)
TCP = Address("tcp", "192.0.2.20", 5060)
OUR_VIA = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c1;rport"


class Sink:
    """Records what a transaction does; times come from the test's clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sent: list[tuple[float, bytes, Address]] = []
        self.forgotten: list[Transaction] = []

    def _transmit(self, data: bytes, dest: Address) -> None:
        self.sent.append((self.now, data, dest))

    def _schedule(self, txn: Transaction, deadline: float) -> None:
        txn.queued = deadline

    def _forget(self, txn: Transaction) -> None:
        self.forgotten.append(txn)

    def times(self) -> list[float]:
        return [t for t, _, _ in self.sent]


def run(sink: Sink, txn: Transaction, until: float) -> list[tuple[float, str]]:
    """Fire ``txn``'s timers at their exact deadlines up to ``until``."""
    timeouts = []
    while txn.state is not State.TERMINATED:
        d = txn.deadline
        if d is None or d > until:
            break
        sink.now = d
        txn.queued = None
        letter = txn.on_timer(d)
        if letter:
            timeouts.append((d, letter))
    sink.now = until
    return timeouts


def request(method: str = "OPTIONS", via: str = OUR_VIA, route: bool = False) -> Request:
    headers = [header("Via", via), header("Max-Forwards", "70")]
    if route:
        headers += [header("Route", "<sip:p1.example.com;lr>"), header("Route", "<sip:p2.example.com;lr>")]
    headers += [
        header("From", "Alice <sip:alice@example.com>;tag=f1"),
        header("To", "<sip:bob@example.com>"),
        header("Call-ID", "call-1@example.com"),
        header("CSeq", f"7 {method}"),
        header("Contact", "<sip:alice@192.0.2.1>"),
    ]
    return Request(method, "sip:bob@example.com", headers)


def response(req: Request, status: int, tag: str | None = "r1") -> Response:
    return make_response(req, status, to_tag=tag)


def client(cls: type, method: str, dest: Address = UDP, route: bool = False) -> tuple[Sink, Any]:
    sink = Sink()
    txn = cls(f"z9hG4bK-c1 {method}", request(method, route=route), dest, sink, TimerDurations(),
              OUR_VIA, ("192.0.2.1", 5060))
    txn.start(0.0)
    return sink, txn


def server(cls: type, method: str, dest: Address = UDP) -> tuple[Sink, Any]:
    sink = Sink()
    req = request(method, via="SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-s1")
    txn = cls(f"z9hG4bK-s1 192.0.2.20:None {method}", req, dest, dest, sink, TimerDurations())
    txn.start(0.0)
    return sink, txn


def test_timer_values_follow_rfc_3261_table_4() -> None:
    t = TimerDurations()
    assert (t.t1, t.t2, t.t4) == (0.5, 4.0, 5.0)
    assert (t.a, t.b, t.d) == (0.5, 32.0, 32.0)
    assert (t.e, t.f, t.g, t.h) == (0.5, 32.0, 0.5, 32.0)
    assert (t.i, t.j, t.k) == (5.0, 32.0, 5.0)
    assert (t.l, t.m) == (32.0, 32.0)  # RFC 6026: 64*T1
    slow = TimerDurations(t1=1.0, t2=8.0, t4=10.0)
    assert (slow.b, slow.d, slow.k, slow.l) == (64.0, 64.0, 10.0, 64.0)
    short_d = TimerDurations(t1=1.0, t2=8.0, d=2.0)  # Timer D configured: taken as given
    assert (short_d.b, short_d.d) == (64.0, 2.0)
    with pytest.raises(ValueError):
        TimerDurations(d=0)
    with pytest.raises(ValueError):
        TimerDurations(t1=0)
    with pytest.raises(ValueError):
        TimerDurations(t1=5.0, t2=4.0)


# -- NICT ----------------------------------------------------------------------


def test_nict_timer_e_doubles_to_t2_until_timer_f() -> None:
    sink, txn = client(NonInviteClientTransaction, "OPTIONS")
    assert txn.state is State.TRYING
    timeouts = run(sink, txn, 100.0)
    assert sink.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(data == sink.sent[0][1] and dest == UDP for _, data, dest in sink.sent)
    assert timeouts == [(32.0, "F")]
    assert txn.state is State.TERMINATED and sink.forgotten == [txn]


def test_nict_proceeding_retransmits_every_t2() -> None:
    sink, txn = client(NonInviteClientTransaction, "OPTIONS")
    run(sink, txn, 1.0)
    assert txn.receive_response(response(txn.request, 100), 1.0) is True
    assert txn.state is State.PROCEEDING
    timeouts = run(sink, txn, 40.0)
    # Timer E keeps its pending 1.5 s firing, then restarts with T2 each time
    assert sink.times() == [0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert timeouts == [(32.0, "F")]


def test_nict_final_response_then_timer_k() -> None:
    sink, txn = client(NonInviteClientTransaction, "OPTIONS")
    run(sink, txn, 0.7)
    ok = response(txn.request, 200)
    assert txn.receive_response(ok, 0.7) is True
    assert txn.state is State.COMPLETED
    assert txn.receive_response(ok, 1.0) is False  # retransmission absorbed
    assert txn.receive_response(response(txn.request, 180), 1.1) is False
    assert run(sink, txn, 100.0) == []
    assert sink.times() == [0, 0.5]  # no retransmission after the final response
    assert sink.now == 100.0 and txn.state is State.TERMINATED
    assert sink.forgotten == [txn]


def test_nict_timer_k_is_t4() -> None:
    sink, txn = client(NonInviteClientTransaction, "OPTIONS")
    txn.receive_response(response(txn.request, 404), 0.2)
    assert txn.deadline == pytest.approx(5.2)
    run(sink, txn, 5.1)
    assert txn.state is State.COMPLETED
    run(sink, txn, 5.2)
    assert txn.state is State.TERMINATED


def test_nict_on_tcp_never_retransmits_and_k_is_zero() -> None:
    sink, txn = client(NonInviteClientTransaction, "OPTIONS", dest=TCP)
    assert txn.deadline == 32.0  # Timer F only
    assert txn.receive_response(response(txn.request, 200), 3.0) is True
    assert txn.state is State.TERMINATED  # Timer K = 0
    assert sink.times() == [0]
    sink, txn = client(NonInviteClientTransaction, "OPTIONS", dest=TCP)
    assert run(sink, txn, 100.0) == [(32.0, "F")]
    assert sink.times() == [0]


# -- ICT -----------------------------------------------------------------------


def test_ict_timer_a_doubles_without_cap_until_timer_b() -> None:
    sink, txn = client(InviteClientTransaction, "INVITE")
    assert txn.state is State.CALLING
    timeouts = run(sink, txn, 100.0)
    assert sink.times() == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # intervals 0.5 1 2 4 8 16
    assert timeouts == [(32.0, "B")]
    assert sink.forgotten == [txn]


def test_ict_on_tcp_sends_once_and_times_out_by_b() -> None:
    sink, txn = client(InviteClientTransaction, "INVITE", dest=TCP)
    assert run(sink, txn, 100.0) == [(32.0, "B")]
    assert sink.times() == [0]


def test_ict_provisional_stops_timer_a_and_proceeding_has_no_timeout() -> None:
    """Timer B only times out the Calling state (§17.1.1.2): a call rings for minutes."""
    sink, txn = client(InviteClientTransaction, "INVITE")
    run(sink, txn, 1.0)
    assert txn.receive_response(response(txn.request, 100, tag=None), 1.0) is True
    assert txn.state is State.PROCEEDING
    assert txn.deadline is None
    assert run(sink, txn, 600.0) == []
    assert sink.times() == [0, 0.5]
    assert txn.receive_response(response(txn.request, 180), 90.0) is True
    assert txn.receive_response(response(txn.request, 200), 120.0) is True
    assert txn.state is State.ACCEPTED


def test_ict_non_2xx_builds_the_ack_of_rfc_3261_17_1_1_3() -> None:
    sink, txn = client(InviteClientTransaction, "INVITE", route=True)
    run(sink, txn, 0.6)
    busy = response(txn.request, 486, tag="callee-tag")
    assert txn.receive_response(busy, 0.6) is True
    assert txn.state is State.COMPLETED
    _, data, dest = sink.sent[-1]
    assert dest == UDP
    ack = parse_message(data)
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == txn.request.uri  # same Request-URI
    assert ack.get_all("via") == [OUR_VIA]  # only the top Via of the INVITE
    assert ack.get_all("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert ack.get("from") == txn.request.get("from")
    assert ack.get("to") == busy.get("to") == "<sip:bob@example.com>;tag=callee-tag"
    assert ack.get("call-id") == txn.request.get("call-id")
    assert ack.get("cseq") == "7 ACK"
    assert ack.get("max-forwards") == "70"
    assert ack.get("contact") is None and ack.body == b""
    assert [k for _, k, _ in ack.headers] == [
        "via", "route", "route", "max-forwards", "from", "to", "call-id", "cseq", "content-length",
    ]
    # the retransmitted final response gets the same ACK again, and is not passed up
    assert txn.receive_response(busy, 2.0) is False
    assert sink.sent[-1][1] == data
    assert len(sink.sent) == 4  # INVITE x2, ACK x2
    assert run(sink, txn, 100.0) == []
    assert txn.state is State.TERMINATED
    assert sink.forgotten == [txn]


def test_ict_timer_d_is_32s_on_udp_and_zero_on_tcp() -> None:
    sink, txn = client(InviteClientTransaction, "INVITE")
    txn.receive_response(response(txn.request, 603), 1.0)
    assert txn.deadline == 33.0
    run(sink, txn, 32.9)
    assert txn.state is State.COMPLETED
    run(sink, txn, 33.0)
    assert txn.state is State.TERMINATED

    sink, txn = client(InviteClientTransaction, "INVITE", dest=TCP)
    assert txn.receive_response(response(txn.request, 603), 1.0) is True
    assert txn.state is State.TERMINATED
    assert parse_message(sink.sent[-1][1]).method == "ACK"


@pytest.mark.parametrize("dest", [UDP, TCP])
def test_ict_accepted_passes_2xx_retransmissions_until_timer_m(dest: Address) -> None:
    sink, txn = client(InviteClientTransaction, "INVITE", dest=dest)
    ok = response(txn.request, 200)
    assert txn.receive_response(ok, 2.0) is True
    assert txn.state is State.ACCEPTED
    assert txn.deadline == 34.0  # Timer M = 64*T1 on any transport
    assert txn.receive_response(ok, 2.5) is True  # RFC 6026: 2xx retransmissions to the TU
    assert txn.receive_response(response(txn.request, 200, tag="other-fork"), 3.0) is True
    assert txn.receive_response(response(txn.request, 486), 3.0) is False
    assert txn.receive_response(response(txn.request, 180), 3.0) is False
    sent = len(sink.sent)
    run(sink, txn, 33.9)
    assert txn.state is State.ACCEPTED and len(sink.sent) == sent  # the ACK is the TU's
    run(sink, txn, 34.0)
    assert txn.state is State.TERMINATED


def test_ict_cancel_limits_proceeding_to_64_t1() -> None:
    """§9.1: no final response 64*T1 after the CANCEL: the INVITE is over."""
    sink, txn = client(InviteClientTransaction, "INVITE")
    txn.receive_response(response(txn.request, 180), 1.0)
    txn.cancel_sent(10.0)
    assert txn.deadline == 42.0
    assert run(sink, txn, 100.0) == [(42.0, "B")]


# -- IST -----------------------------------------------------------------------


def test_ist_sends_100_trying_after_200_ms_unless_the_tu_answers() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    assert txn.state is State.PROCEEDING
    assert txn.deadline == pytest.approx(0.2)
    run(sink, txn, 1.0)
    assert len(sink.sent) == 1
    trying = parse_message(sink.sent[0][1])
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.get("to") == "<sip:bob@example.com>"
    assert txn.deadline is None

    sink, txn = server(InviteServerTransaction, "INVITE")
    assert txn.send_response(response(txn.request, 180), 0.1) is True
    run(sink, txn, 1.0)
    assert [parse_message(d).status for _, d, _ in sink.sent] == [180]  # type: ignore[union-attr]


def test_ist_absorbs_retransmissions_in_proceeding() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    txn.receive_request(0.1)  # nothing sent yet: an impatient peer gets 100 now
    assert [parse_message(d).status for _, d, _ in sink.sent] == [100]  # type: ignore[union-attr]
    assert txn.deadline is None
    txn.send_response(response(txn.request, 180), 0.3)
    txn.receive_request(0.5)
    assert [parse_message(d).status for _, d, _ in sink.sent] == [100, 180, 180]  # type: ignore[union-attr]


def test_ist_timer_g_until_timer_h() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    assert txn.send_response(response(txn.request, 486), 0.0) is True
    assert txn.state is State.COMPLETED
    timeouts = run(sink, txn, 100.0)
    # Timer G: 0.5, 1, 2, 4, 4, ... (capped at T2)
    assert sink.times() == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert len({d for _, d, _ in sink.sent}) == 1
    assert timeouts == [(32.0, "H")]
    assert sink.forgotten == [txn]


def test_ist_ack_stops_g_then_timer_i() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    txn.send_response(response(txn.request, 404), 0.0)
    run(sink, txn, 1.0)
    txn.receive_request(1.0)  # INVITE retransmission: the final response again
    assert len(sink.sent) == 3
    assert txn.receive_ack(1.2) is False
    assert txn.state is State.CONFIRMED
    assert txn.deadline == pytest.approx(6.2)  # Timer I = T4
    assert txn.receive_ack(2.0) is False  # ACK retransmission absorbed
    txn.receive_request(2.0)  # absorbed, nothing resent
    assert run(sink, txn, 100.0) == []
    assert len(sink.sent) == 3
    assert txn.state is State.TERMINATED


def test_ist_on_tcp_no_timer_g_and_timer_i_zero() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE", dest=TCP)
    txn.send_response(response(txn.request, 486), 0.0)
    assert txn.deadline == 32.0  # Timer H only
    assert txn.receive_ack(0.1) is False
    assert txn.state is State.TERMINATED
    assert len(sink.sent) == 1

    sink, txn = server(InviteServerTransaction, "INVITE", dest=TCP)
    txn.send_response(response(txn.request, 486), 0.0)
    assert run(sink, txn, 100.0) == [(32.0, "H")]
    assert len(sink.sent) == 1


def test_ist_accepted_sends_tu_2xx_absorbs_invites_passes_ack() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    ok = response(txn.request, 200)
    assert txn.send_response(ok, 0.1) is True
    assert txn.state is State.ACCEPTED
    assert txn.deadline == pytest.approx(32.1)  # Timer L
    txn.receive_request(0.5)  # INVITE retransmission: absorbed (the TU retransmits 2xx)
    assert len(sink.sent) == 1
    assert txn.send_response(ok, 0.6) is True  # the TU's 2xx retransmission
    assert len(sink.sent) == 2
    assert txn.send_response(response(txn.request, 486), 0.7) is False
    assert txn.receive_ack(1.0) is True  # to the TU
    assert txn.state is State.ACCEPTED
    run(sink, txn, 100.0)
    assert txn.state is State.TERMINATED
    assert len(sink.sent) == 2


def test_ist_refuses_responses_after_the_final_one() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    txn.send_response(response(txn.request, 486), 0.0)
    assert txn.send_response(response(txn.request, 180), 0.1) is False
    assert txn.send_response(response(txn.request, 200), 0.1) is False
    assert len(sink.sent) == 1


def test_ist_to_tag_of_last_response() -> None:
    sink, txn = server(InviteServerTransaction, "INVITE")
    assert txn.to_tag() is None
    txn.send_response(response(txn.request, 180, tag="xyz"), 0.0)
    assert txn.to_tag() == "xyz"


# -- NIST ----------------------------------------------------------------------


def test_nist_trying_proceeding_completed_timer_j() -> None:
    sink, txn = server(NonInviteServerTransaction, "OPTIONS")
    assert txn.state is State.TRYING and txn.deadline is None
    txn.receive_request(0.1)  # Trying: nothing to resend
    assert sink.sent == []
    txn.send_response(response(txn.request, 100), 0.2)
    assert txn.state is State.PROCEEDING
    txn.receive_request(0.3)
    assert [parse_message(d).status for _, d, _ in sink.sent] == [100, 100]
    assert txn.send_response(response(txn.request, 200), 1.0) is True
    assert txn.state is State.COMPLETED
    assert txn.deadline == 33.0  # Timer J = 64*T1
    txn.receive_request(2.0)
    assert [parse_message(d).status for _, d, _ in sink.sent] == [100, 100, 200, 200]
    assert txn.send_response(response(txn.request, 500), 2.0) is False
    run(sink, txn, 32.9)
    assert txn.state is State.COMPLETED
    run(sink, txn, 33.0)
    assert txn.state is State.TERMINATED and sink.forgotten == [txn]


def test_nist_on_tcp_timer_j_zero() -> None:
    sink, txn = server(NonInviteServerTransaction, "BYE", dest=TCP)
    txn.send_response(response(txn.request, 200), 1.0)
    assert txn.state is State.TERMINATED
    assert sink.forgotten == [txn]


def test_terminated_transaction_lets_go_of_messages() -> None:
    sink, txn = server(NonInviteServerTransaction, "BYE", dest=TCP)
    txn.send_response(response(txn.request, 200), 1.0)
    assert txn.data == b"" and txn.response is None and txn.request.headers == []
