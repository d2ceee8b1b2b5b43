"""Call control (b2bua.calls) on virtual time: exact messages on each leg.

Each test scripts the caller A and the callee B byte for byte (tests/calls/
harness.py), feeds them to a real Endpoint and CallManager, and checks what
each side received, with its time, the call events, and that nothing of one
leg's identity leaks to the other.  Every test ends with ``settle()``: after
enough virtual time no call, transaction or timer may be left.
"""

from __future__ import annotations

import hashlib

import pytest

from b2bua.calls.manager import Settings
from b2bua.calls.events import CalleeAnswered, CallEnded, CallerConnected, CallRinging, CallStarted
from b2bua.calls.routing import Route, Trunk
from b2bua.sip.digest import authorization_for_challenges
from b2bua.sip.message import Request, Response, header

from .harness import (
    A_ADDR,
    B2_ADDR,
    B_ADDR,
    B_PROXY,
    GW_ADDR,
    LOCAL,
    SDP_A,
    SDP_B,
    SDP_B2,
    Harness,
    sdp,
)

OUR_CONTACT = "<sip:b2bua@192.0.2.1:5060>"
DTMF = b"Signal=5\r\nDuration=160\r\n"
A_RR = "<sip:192.0.2.10:5060;lr>"  # a Record-Route on A's side (its own address, so it is reachable)
B_RR = "<sip:192.0.2.30:5060;lr>"  # the proxy in front of B


def event_names(h: Harness) -> list[str]:
    return [type(e).__name__ for e in h.events]


def call_to_b(h: Harness, body: bytes = SDP_A, extra: tuple = ()) -> Request:
    """A sends the INVITE; returns the INVITE B received (A's 100 taken)."""
    h.a.invite(body, extra=list(extra))
    h.a.expect("100 INVITE")
    return h.b.expect_one("INVITE").request


def connect(h: Harness, *, a_extra: tuple = (), b_extra: tuple = ()) -> tuple[Request, Response]:
    """A full call set-up: A calls, B rings and answers, A ACKs.  Returns
    (the INVITE B received, the 200 A received); inboxes and events are emptied."""
    inv = call_to_b(h, extra=a_extra)
    h.b.respond(inv, 180)
    h.b.respond(inv, 200, SDP_B, extra=list(b_extra))
    h.b.expect("ACK")
    _, ok = h.a.expect("180 INVITE", "200 INVITE")
    h.a.ack(ok.response)
    assert h.a.inbox == [] and h.b.inbox == []
    h.events.clear()
    return inv, ok.response


# -- 1. basic call -------------------------------------------------------------------


def test_basic_call_caller_hangs_up() -> None:
    h = Harness()
    a_inv = h.a.invite(SDP_A, extra=[header("Record-Route", A_RR), header("Session-Expires", "1800"), header("Supported", "timer")])
    trying = h.a.expect_one("100 INVITE").response
    assert trying.to.tag is None
    assert trying.get("via") == f"SIP/2.0/UDP 192.0.2.10:5060;branch={a_inv.top_via.branch};rport=5060;received=192.0.2.10"

    got = h.b.expect_one("INVITE")
    inv = got.request
    assert got.dest == B_ADDR
    assert inv.uri == "sip:1002@192.0.2.20:5060"  # the registered contact
    assert inv.body == SDP_A and inv.get("content-type") == "application/sdp"
    assert inv.call_id != h.a.call_id
    assert inv.from_.tag and inv.from_.tag != h.a.tag and inv.to.tag is None
    assert str(inv.from_.uri) == "sip:1001@192.0.2.1" and inv.from_.display == "Alice"
    assert inv.cseq.number == 1 and inv.cseq.method == "INVITE"
    assert len(inv.vias) == 1 and inv.top_via.host == LOCAL.host and inv.top_via.branch != a_inv.top_via.branch
    assert inv.get("contact") == OUR_CONTACT
    assert inv.get("max-forwards") == "69"
    assert "record-route" not in inv and "route" not in inv
    assert [type(e) for e in h.events] == [CallStarted]
    started = h.events[0]
    assert isinstance(started, CallStarted)
    assert (started.caller, started.dialed, started.destination, started.route, started.a_call_id, started.source) == (
        "1001", "1002", "1002", "extension", h.a.call_id, "udp:192.0.2.10:5060"
    )

    h.b.respond(inv, 100)
    assert h.a.inbox == []  # B's 100 is hop by hop
    h.b.respond(inv, 180)
    ringing = h.a.expect_one("180 INVITE").response
    a_tag = ringing.to.tag
    assert a_tag and a_tag != h.b.tag
    assert ringing.get("contact") == OUR_CONTACT
    assert ringing.get_all("record-route") == [A_RR]  # §12.1.1: the UAS echoes Record-Route
    assert isinstance(h.events[-1], CallRinging) and h.events[-1].status == 180

    h.b.respond(inv, 200, SDP_B)
    ack = h.b.expect_one("ACK")
    assert ack.dest == B_ADDR
    assert ack.request.uri == "sip:1002@192.0.2.20:5060"  # B's Contact
    assert ack.request.cseq.number == 1 and ack.request.call_id == inv.call_id
    assert ack.request.to.tag == h.b.tag and ack.request.from_.tag == inv.from_.tag
    assert ack.request.top_via.branch != inv.top_via.branch  # a 2xx ACK is a new transaction
    ok = h.a.expect_one("200 INVITE").response
    assert ok.to.tag == a_tag  # the same tag as the 180: one dialog with A
    assert ok.body == SDP_B and ok.get("content-type") == "application/sdp"
    assert ok.get("contact") == OUR_CONTACT
    assert ok.get_all("record-route") == [A_RR]
    assert ok.get("session-expires") == "1800;refresher=uac"
    answered, connected = h.events[-2:]
    assert isinstance(answered, CalleeAnswered) and answered.b_call_id == inv.call_id
    assert isinstance(connected, CallerConnected) and not connected.by_server
    assert (answered.at, connected.ref) == (connected.at, answered.ref)

    h.a.ack(ok)
    h.advance(10)
    assert h.a.inbox == [] and h.b.inbox == []  # A's ACK stopped the 2xx retransmissions

    h.a.request("BYE")
    assert h.a.expect_one("200 BYE").response.to.tag == a_tag
    bye = h.b.expect_one("BYE").request
    assert bye.uri == "sip:1002@192.0.2.20:5060"
    assert bye.call_id == inv.call_id and bye.cseq.number == 2 and bye.cseq.method == "BYE"
    assert bye.from_.tag == inv.from_.tag and bye.to.tag == h.b.tag
    h.b.respond(bye, 200)
    assert event_names(h) == ["CallStarted", "CallRinging", "CalleeAnswered", "CallerConnected", "CallEnded"]
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup, ended.b_call_id) == (200, "caller hung up", "caller", inv.call_id)
    h.assert_isolated()
    h.settle()
    assert h.a.inbox == [] and h.b.inbox == []


def test_basic_call_callee_hangs_up_along_route_sets() -> None:
    h = Harness()
    inv = call_to_b(h, extra=(header("Record-Route", A_RR),))
    h.b.respond(inv, 180)
    h.b.respond(inv, 200, SDP_B, extra=[header("Record-Route", B_RR)])
    ack = h.b.expect_one("ACK")
    # §13.2.2.4 / §12.2.1.1: the ACK follows B's route set, to the proxy
    assert ack.dest == B_PROXY and ack.request.get_all("route") == [B_RR]
    assert ack.request.uri == "sip:1002@192.0.2.20:5060"
    _, ok = h.a.expect("180 INVITE", "200 INVITE")
    h.a.ack(ok.response)

    h.b.request("BYE")
    h.b.expect("200 BYE")
    bye = h.a.expect_one("BYE")
    assert bye.dest == A_ADDR
    req = bye.request
    assert req.uri == "sip:1001@192.0.2.10:5060"  # A's Contact
    assert req.get_all("route") == [A_RR]
    assert req.call_id == h.a.call_id
    assert req.from_.tag == ok.response.to.tag and req.to.tag == h.a.tag
    assert req.cseq.method == "BYE"
    h.a.respond(req, 200)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (200, "callee hung up", "callee")
    h.assert_isolated()
    h.settle()


def test_caller_bye_goes_to_b_via_its_proxy() -> None:
    h = Harness()
    connect(h, b_extra=(header("Record-Route", B_RR),))
    h.a.request("BYE")
    h.a.expect("200 BYE")
    bye = h.b.expect_one("BYE")
    assert bye.dest == B_PROXY and bye.request.get_all("route") == [B_RR]
    h.b.respond(bye.request, 200)
    h.settle()


def test_byes_crossing() -> None:
    h = Harness()
    connect(h)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    ours = h.b.expect_one("BYE").request
    h.b.request("BYE")  # B hung up at the same moment
    h.b.expect("200 BYE")
    h.b.respond(ours, 200)
    assert h.a.inbox == []
    ended = h.ended()
    assert (ended.cause, ended.hangup) == ("caller hung up", "caller")
    h.b.request("INFO", DTMF, content_type="application/dtmf-relay")
    h.b.expect("481 INFO")  # anything else on the ended dialog
    h.settle()


def test_invite_retransmission_is_absorbed_and_merged_invite_refused() -> None:
    h = Harness()
    a_inv = call_to_b(h)
    h.a.send(h.a.invite_sent)  # the same INVITE again (same branch)
    h.a.expect("100 INVITE")
    assert h.b.inbox == []
    # the same INVITE forked back to us along another path (new branch): §8.2.2.2 merged request
    again = Request(
        "INVITE",
        h.a.invite_sent.uri,
        [h.a.via() if k == "via" else (n, k, v) for n, k, v in h.a.invite_sent.headers],
        SDP_A,
    )
    h.a.send(again)
    merged = h.a.expect_one("482 INVITE").response
    assert merged.top_via.branch == again.top_via.branch
    assert h.b.inbox == [] and len(h.manager) == 1
    assert event_names(h) == ["CallStarted"]
    h.a.ack_failure(merged, again)
    # a new INVITE (next CSeq) of the same Call-ID and From tag while the call is up
    h.a.cseq += 1
    other = Request(
        "INVITE",
        h.a.invite_sent.uri,
        [
            h.a.via() if k == "via" else header("CSeq", f"{h.a.cseq} INVITE") if k == "cseq" else (n, k, v)
            for n, k, v in h.a.invite_sent.headers
        ],
        SDP_A,
    )
    h.a.send(other)
    refused = h.a.expect_one("500 INVITE").response
    assert refused.get("retry-after") is not None
    h.a.ack_failure(refused, other)
    assert h.b.inbox == [] and len(h.manager) == 1
    # the real call goes on
    h.b.respond(a_inv, 486)
    h.b.expect("ACK")
    h.a.ack_failure(h.a.expect_one("486 INVITE").response)
    h.settle()


# -- 2. early media, 2xx retransmissions -----------------------------------------------


def test_early_media_and_b_2xx_retransmission_is_acked_again() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 183, SDP_B)
    early = h.a.expect_one("183 INVITE").response
    assert early.body == SDP_B and early.get("content-type") == "application/sdp"
    assert early.to.tag
    assert [(type(e).__name__, getattr(e, "status", None)) for e in h.events[1:]] == [("CallRinging", 183)]
    h.b.respond(inv, 180)  # ringing after early media: relayed, but reported once
    h.a.expect("180 INVITE")
    assert event_names(h) == ["CallStarted", "CallRinging"]

    ok_b = h.b.respond(inv, 200, SDP_B)
    first_ack = h.b.expect_one("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == SDP_B
    h.advance(0.3)
    h.b.send(ok_b)  # our ACK was lost: B resends its 2xx
    again = h.b.expect_one("ACK")
    assert again.data == first_ack.data  # the same ACK (§13.2.2.4)
    assert h.a.inbox == []  # not relayed to A
    h.a.ack(ok)
    h.hang_up()


def test_2xx_to_a_retransmitted_until_ack() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    h.advance(9.0)
    oks = h.a.expect(*["200 INVITE"] * 5)
    assert [r.at for r in oks] == [0.0, 0.5, 1.5, 3.5, 7.5]  # T1, 2T1, 4T1, 8T1 ...
    assert len({r.data for r in oks}) == 1
    h.a.ack(oks[0].response)
    h.advance(60)
    assert h.a.inbox == [] and h.b.inbox == []
    assert len(h.manager) == 1  # the call goes on
    h.hang_up()


def test_no_ack_from_a_tears_the_call_down_after_64_t1() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    h.advance(31.9)
    oks = h.a.expect(*["200 INVITE"] * 11)
    # T1 doubling, capped at T2 (4 s), for 64*T1 = 32 s
    assert [r.at for r in oks] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert h.b.inbox == [] and h.events[-1].__class__ is CallerConnected
    h.advance(0.1)
    byes = h.a.expect("BYE")
    assert byes[0].at == 32.0
    b_got = h.b.expect("BYE")
    assert b_got[0].at == 32.0
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup, ended.at) == (200, "no ACK for 2xx", "server", 32.0)
    h.a.respond(byes[0].request, 200)
    h.b.respond(b_got[0].request, 200)
    h.settle()


# -- 3. CANCEL ----------------------------------------------------------------------


def test_cancel_while_ringing() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.advance(3)
    h.a.cancel()
    ok_cancel, terminated = h.a.expect("200 CANCEL", "487 INVITE")
    cancel = h.b.expect_one("CANCEL").request
    # §9.1: the CANCEL of our INVITE: same branch, Call-ID, From, To, CSeq number
    assert cancel.top_via.branch == inv.top_via.branch
    assert cancel.call_id == inv.call_id and cancel.cseq.number == 1 and cancel.cseq.method == "CANCEL"
    assert cancel.get("from") == inv.get("from") and cancel.get("to") == inv.get("to")
    assert cancel.uri == inv.uri
    h.b.respond(cancel, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")  # the ACK of the 487, sent by our INVITE transaction
    assert h.a.inbox == []
    h.a.ack_failure(terminated.response)
    assert event_names(h) == ["CallStarted", "CallRinging", "CallEnded"]
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup, ended.at) == (487, "cancelled by caller", "caller", 3.0)
    h.assert_isolated()
    h.settle()
    assert h.a.inbox == [] and h.b.inbox == []


def test_cancel_200_race_acks_and_byes_b() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.a.cancel()
    h.a.expect("200 CANCEL", "487 INVITE")
    cancel = h.b.expect_one("CANCEL").request
    h.b.respond(inv, 200, SDP_B)  # B answered before it saw the CANCEL
    h.b.respond(cancel, 200)
    ack, bye = h.b.expect("ACK", "BYE")
    assert ack.request.cseq.number == 1 and ack.request.to.tag == h.b.tag
    assert bye.request.call_id == inv.call_id and bye.request.cseq.number == 2 and bye.request.to.tag == h.b.tag
    h.b.respond(bye.request, 200)
    assert h.a.inbox == []  # A saw the 487 only
    assert event_names(h) == ["CallStarted", "CallRinging", "CallEnded"]
    assert h.ended().cause == "cancelled by caller"
    h.settle()


def test_cancel_before_any_provisional_waits_for_one() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.a.cancel()
    h.a.expect("200 CANCEL", "487 INVITE")
    assert h.b.inbox == []  # §9.1: no CANCEL before a provisional response
    h.advance(0.2)
    h.b.respond(inv, 100)
    cancel = h.b.expect_one("CANCEL").request
    h.b.respond(cancel, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.settle(200)


def test_bye_on_early_dialog_from_caller() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    ringing = h.a.expect_one("180 INVITE").response
    h.a.confirm(ringing)
    h.a.request("BYE")
    ok_bye, terminated = h.a.expect("200 BYE", "487 INVITE")
    cancel = h.b.expect_one("CANCEL").request
    h.b.respond(cancel, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.a.ack_failure(terminated.response)
    ended = h.ended()
    assert (ended.status, ended.hangup) == (487, "caller")
    h.settle()


# -- 4. forking ------------------------------------------------------------------------


def two_contacts() -> Harness:
    return Harness(contacts=[("sip:1002@192.0.2.20:5060", B_ADDR), ("sip:1002@192.0.2.21:5060", B2_ADDR)])


def test_forking_second_fork_answers_first_is_cancelled_late_200_gets_ack_and_bye() -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv1 = h.b.expect_one("INVITE").request
    inv2 = h.b2.expect_one("INVITE").request
    # every fork is a dialog of its own
    assert inv1.call_id != inv2.call_id
    assert inv1.from_.tag != inv2.from_.tag
    assert inv1.top_via.branch != inv2.top_via.branch
    assert inv2.uri == "sip:1002@192.0.2.21:5060"

    h.b.respond(inv1, 180)
    h.a.expect("180 INVITE")
    h.b2.respond(inv2, 200, SDP_B2)
    h.b2.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == SDP_B2
    cancel = h.b.expect_one("CANCEL").request
    assert cancel.top_via.branch == inv1.top_via.branch
    answered = [e for e in h.events if isinstance(e, CalleeAnswered)]
    assert [e.b_call_id for e in answered] == [inv2.call_id]

    h.b.respond(inv1, 200, SDP_B)  # fork 1 answered too, before it saw the CANCEL
    h.b.respond(cancel, 200)
    ack, bye = h.b.expect("ACK", "BYE")
    assert ack.request.call_id == bye.request.call_id == inv1.call_id
    h.b.respond(bye.request, 200)
    h.a.ack(ok)
    h.advance(5)
    assert h.a.inbox == []  # exactly one 200 for A

    h.a.request("BYE")
    h.a.expect("200 BYE")
    assert h.b.inbox == []
    h.b2.respond(h.b2.expect_one("BYE").request, 200)
    assert event_names(h) == ["CallStarted", "CallRinging", "CalleeAnswered", "CallerConnected", "CallEnded"]
    assert h.ended().b_call_id == inv2.call_id
    h.assert_isolated()
    h.settle()


def test_forking_cancelled_fork_answers_487() -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    inv1 = h.b.expect_one("INVITE").request
    inv2 = h.b2.expect_one("INVITE").request
    h.b.respond(inv1, 180)
    h.b2.respond(inv2, 200, SDP_B2)
    h.b2.expect("ACK")
    cancel = h.b.expect_one("CANCEL").request
    h.b.respond(cancel, 200)
    h.b.respond(inv1, 487)
    h.b.expect("ACK")
    ok = h.a.expect("100 INVITE", "180 INVITE", "200 INVITE")[-1].response
    h.a.ack(ok)
    assert len(h.manager) == 1 and not any(isinstance(e, CallEnded) for e in h.events)
    h.b2.request("BYE")
    h.b2.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    assert h.ended().cause == "callee hung up"
    h.settle()


def test_forking_silent_fork_is_cancelled_once_it_speaks() -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    inv1 = h.b.expect_one("INVITE").request
    inv2 = h.b2.expect_one("INVITE").request
    h.b2.respond(inv2, 200, SDP_B2)
    h.b2.expect("ACK")
    ok = h.a.expect("100 INVITE", "200 INVITE")[-1].response
    h.a.ack(ok)
    assert h.b.inbox == []  # nothing to cancel until fork 1 answers provisionally
    h.advance(0.5)
    assert h.b.expect_one("INVITE").at == 0.5  # Timer A retransmission
    h.b.respond(inv1, 100)
    cancel = h.b.expect_one("CANCEL").request
    h.b.respond(cancel, 200)
    h.b.respond(inv1, 487)
    h.b.expect("ACK")
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b2.respond(h.b2.expect_one("BYE").request, 200)
    h.settle()


# -- 5. failures --------------------------------------------------------------------------


def test_busy() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    busy = h.a.expect_one("486 INVITE").response
    assert busy.reason == "Busy Here" and busy.to.tag
    h.a.ack_failure(busy)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (486, "callee answered 486 Busy Here", "")
    assert event_names(h) == ["CallStarted", "CallEnded"]
    h.assert_isolated()
    h.settle()
    assert h.a.inbox == []  # the ACK stopped Timer G


def test_failure_not_acked_by_a_is_retransmitted_then_dropped() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    h.settle(40)
    got = h.a.take()
    assert [r.kind for r in got] == ["486 INVITE"] * 11
    assert [r.at for r in got] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]  # Timer G until H


@pytest.mark.parametrize(
    ("first", "second", "relayed"),
    [
        (404, 486, 486),  # 486 is preferred to 404
        (486, 404, 486),
        (480, 404, 404),  # 480 and 408 come last among 4xx
        (408, 404, 404),
        (480, 503, 480),  # the lowest class: 4xx before 5xx
        (486, 600, 600),  # 6xx beats 4xx
        (503, 500, 502),  # a 503 is not relayed as such: 502
    ],
)
def test_all_forks_fail_best_response_wins(first: int, second: int, relayed: int) -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv1 = h.b.expect_one("INVITE").request
    inv2 = h.b2.expect_one("INVITE").request
    h.b.respond(inv1, first)
    h.b.expect("ACK")
    assert h.a.inbox == []  # one fork is still trying
    h.b2.respond(inv2, second)
    h.b2.expect("ACK")
    final = h.a.expect_one(f"{relayed} INVITE").response
    h.a.ack_failure(final)
    assert h.ended().status == relayed
    h.settle()


def test_global_failure_from_one_fork_cancels_the_others() -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    inv1 = h.b.expect_one("INVITE").request
    inv2 = h.b2.expect_one("INVITE").request
    h.b2.respond(inv2, 180)
    h.b.respond(inv1, 603)
    h.b.expect("ACK")
    decline = h.a.expect("100 INVITE", "180 INVITE", "603 INVITE")[-1].response
    cancel = h.b2.expect_one("CANCEL").request
    h.b2.respond(cancel, 200)
    h.b2.respond(inv2, 487)
    h.b2.expect("ACK")
    assert h.a.inbox == []
    h.a.ack_failure(decline)
    ended = h.ended()
    assert (ended.status, ended.cause) == (603, "callee answered 603 Decline")
    h.settle()


def test_503_from_b_is_502_to_a() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 503)
    h.b.expect("ACK")
    bad = h.a.expect_one("502 INVITE").response
    assert bad.reason == "Bad Gateway"
    h.a.ack_failure(bad)
    assert (h.ended().status, h.ended().cause) == (502, "callee answered 503 Service Unavailable")
    h.settle()


def test_b_never_answers_timer_b_gives_408() -> None:
    h = Harness()
    call_to_b(h)
    h.advance(32)
    resent = h.b.expect(*["INVITE"] * 6)
    assert [r.at for r in resent] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # Timer A doubling
    timeout = h.a.expect_one("408 INVITE")
    assert timeout.at == 32.0  # Timer B = 64*T1
    h.a.ack_failure(timeout.response)
    ended = h.ended()
    assert (ended.status, ended.at, ended.hangup) == (408, 32.0, "")
    h.settle()


def test_no_answer_timeout_cancels_b_and_gives_480() -> None:
    h = Harness(Settings(no_answer_timeout=20))
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.advance(19.9)
    assert h.a.inbox == [] and h.b.inbox == []
    h.advance(0.1)
    cancel = h.b.expect_one("CANCEL")
    assert cancel.at == 20.0
    unavailable = h.a.expect_one("480 INVITE")
    assert unavailable.at == 20.0
    h.b.respond(cancel.request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.a.ack_failure(unavailable.response)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (480, "no answer", "")
    h.settle()


def test_not_registered_and_no_route() -> None:
    h = Harness(contacts=[])
    h.a.invite(SDP_A)
    _, unavailable = h.a.expect("100 INVITE", "480 INVITE")
    h.a.ack_failure(unavailable.response)
    assert h.ended().cause == "1002 not registered"
    h.settle()
    h = Harness(route=Route(kind="none", destination="555", reason="no route for 555"))
    h.a.invite(SDP_A)
    nf = h.a.expect_one("404 INVITE").response
    assert nf.reason == "no route for 555"
    h.a.ack_failure(nf)
    h.settle()


# -- 6. mid-call requests ------------------------------------------------------------------


def test_hold_and_resume_from_a() -> None:
    h = Harness()
    inv, _ = connect(h)
    for version, a_dir, b_dir in ((2, "sendonly", "recvonly"), (3, "sendrecv", "sendrecv")):
        offer = sdp("198.51.100.10", 4000, a_dir, version)
        reinv_a = h.a.request("INVITE", offer)
        h.a.expect("100 INVITE")
        got = h.b.expect_one("INVITE").request
        assert got.body == offer and got.get("content-type") == "application/sdp"
        assert got.call_id == inv.call_id and got.from_.tag == inv.from_.tag and got.to.tag == h.b.tag
        assert got.uri == "sip:1002@192.0.2.20:5060" and got.get("contact") == OUR_CONTACT
        assert got.cseq.number == version  # B's leg counts its own CSeq: INVITE 1, then 2, 3
        answer = sdp("198.51.100.20", 5000, b_dir, version)
        h.b.respond(got, 200, answer)
        ack = h.b.expect_one("ACK").request
        assert ack.cseq.number == version and ack.body == b""
        ok = h.a.expect_one("200 INVITE").response
        assert ok.body == answer and ok.cseq.number == reinv_a.cseq.number and ok.get("contact") == OUR_CONTACT
        h.a.ack(ok)
        h.advance(5)
        assert h.a.inbox == [] and h.b.inbox == []
    assert h.events == []
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


def test_reinvite_from_b_to_a() -> None:
    h = Harness()
    connect(h, a_extra=(header("Record-Route", A_RR),))
    offer = sdp("198.51.100.20", 5000, "sendonly", 2)
    h.b.request("INVITE", offer)
    h.b.expect("100 INVITE")
    got = h.a.expect_one("INVITE")
    req = got.request
    assert got.dest == A_ADDR and req.uri == "sip:1001@192.0.2.10:5060" and req.get_all("route") == [A_RR]
    assert req.call_id == h.a.call_id and req.to.tag == h.a.tag and req.body == offer
    assert req.cseq.number == 1  # the first request we send on A's dialog
    answer = sdp("198.51.100.10", 4000, "recvonly", 2)
    h.a.respond(req, 200, answer)
    assert h.a.expect_one("ACK").request.cseq.number == 1
    ok = h.b.expect_one("200 INVITE").response
    assert ok.body == answer and ok.get("contact") == OUR_CONTACT
    h.b.ack(ok)
    h.advance(5)
    assert h.a.inbox == [] and h.b.inbox == []
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


def test_reinvite_rejected_by_b_is_relayed() -> None:
    h = Harness()
    connect(h)
    reinv = h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendonly", 2))
    h.a.expect("100 INVITE")
    got = h.b.expect_one("INVITE").request
    h.b.respond(got, 488)
    h.b.expect("ACK")  # the ACK of the non-2xx, by our transaction
    nah = h.a.expect_one("488 INVITE").response
    h.a.ack_failure(nah, reinv)
    h.advance(40)
    assert h.a.inbox == [] and h.b.inbox == [] and len(h.manager) == 1
    h.hang_up()


def test_reinvite_with_malformed_sdp_is_refused_here() -> None:
    h = Harness()
    connect(h)
    reinv = h.a.request("INVITE", b"not sdp at all")
    nah = h.a.expect_one("488 INVITE").response
    assert h.b.inbox == []
    h.a.ack_failure(nah, reinv)
    h.hang_up()


def test_glare_reinvite_from_both_sides() -> None:
    h = Harness()
    connect(h)
    h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendonly", 2))
    h.a.expect("100 INVITE")
    to_b = h.b.expect_one("INVITE").request
    b_reinv = h.b.request("INVITE", sdp("198.51.100.20", 5000, "sendonly", 2))  # crossed on the wire
    pending = h.b.expect_one("491 INVITE").response
    assert h.a.inbox == []  # not relayed to A
    h.b.ack_failure(pending, b_reinv)
    h.b.respond(to_b, 200, sdp("198.51.100.20", 5000, "recvonly", 2))
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.a.ack(ok)
    # and the other way round: B's offer first, A's second
    h.b.request("INVITE", sdp("198.51.100.20", 5000, "sendrecv", 3))
    h.b.expect("100 INVITE")
    to_a = h.a.expect_one("INVITE").request
    a_reinv = h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendrecv", 3))
    h.a.ack_failure(h.a.expect_one("491 INVITE").response, a_reinv)
    assert h.b.inbox == []
    h.a.respond(to_a, 200, sdp("198.51.100.10", 4000, "sendrecv", 3))
    h.a.expect("ACK")
    h.b.ack(h.b.expect_one("200 INVITE").response)
    h.advance(5)
    assert h.a.inbox == [] and h.b.inbox == []
    h.hang_up()


def test_second_reinvite_from_the_same_side_gets_500() -> None:
    h = Harness()
    connect(h)
    h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendonly", 2))
    h.a.expect("100 INVITE")
    to_b = h.b.expect_one("INVITE").request
    second = h.a.request("INVITE", sdp("198.51.100.10", 4000, "inactive", 3))
    busy = h.a.expect_one("500 INVITE").response  # §14.2: the first is still pending
    assert busy.get("retry-after") is not None
    h.a.ack_failure(busy, second)
    assert h.b.inbox == []
    h.b.respond(to_b, 200, sdp("198.51.100.20", 5000, "recvonly", 2))
    h.b.expect("ACK")
    h.a.ack(h.a.expect_one("200 INVITE").response)
    h.hang_up()


def test_cancel_of_a_relayed_reinvite() -> None:
    h = Harness()
    connect(h)
    reinv = h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendonly", 2))
    h.a.expect("100 INVITE")
    to_b = h.b.expect_one("INVITE").request
    h.b.respond(to_b, 100)
    h.a.invite_sent = reinv
    h.a.cancel()
    h.a.expect("200 CANCEL")
    cancel = h.b.expect_one("CANCEL").request
    assert cancel.top_via.branch == to_b.top_via.branch and cancel.cseq.number == to_b.cseq.number
    h.b.respond(cancel, 200)
    h.b.respond(to_b, 487)
    h.b.expect("ACK")
    terminated = h.a.expect_one("487 INVITE").response
    h.a.ack_failure(terminated, reinv)
    assert len(h.manager) == 1 and not any(isinstance(e, CallEnded) for e in h.events)  # the call goes on
    h.hang_up()


def test_bye_while_a_reinvite_is_pending() -> None:
    h = Harness()
    connect(h)
    reinv = h.a.request("INVITE", sdp("198.51.100.10", 4000, "sendonly", 2))
    h.a.expect("100 INVITE")
    to_b = h.b.expect_one("INVITE").request
    h.b.respond(to_b, 100)  # B will never answer it: it hangs up instead
    h.b.request("BYE")
    _, cancel = h.b.expect("200 BYE", "CANCEL")  # our re-INVITE to B is withdrawn
    assert cancel.request.top_via.branch == to_b.top_via.branch
    bye, terminated = h.a.expect("BYE", "487 INVITE")  # §15.1.2: pending requests get 487
    h.a.respond(bye.request, 200)
    h.a.ack_failure(terminated.response, reinv)
    h.b.respond(cancel.request, 481)  # B never answers the re-INVITE: §9.1 ends it after 64*T1
    assert h.ended().cause == "callee hung up"
    h.settle()
    assert [r.kind for r in h.b.take()] == []


def test_bye_while_an_info_is_pending() -> None:
    h = Harness()
    connect(h)
    h.b.request("INFO", DTMF, content_type="application/dtmf-relay")
    info = h.a.expect_one("INFO").request
    h.a.request("BYE")  # A hangs up instead of answering the INFO
    h.a.expect("200 BYE")
    bye, terminated = h.b.expect("BYE", "487 INFO")
    h.b.respond(bye.request, 200)
    h.a.respond(info, 200)  # late: nowhere to go
    assert h.b.inbox == []
    h.settle()


def test_update_pass_through() -> None:
    h = Harness()
    connect(h)
    offer = sdp("198.51.100.10", 4002, "sendrecv", 2)
    upd = h.a.request("UPDATE", offer)
    got = h.b.expect_one("UPDATE").request
    assert got.body == offer and got.get("content-type") == "application/sdp" and got.to.tag == h.b.tag
    answer = sdp("198.51.100.20", 5002, "sendrecv", 2)
    h.b.respond(got, 200, answer)
    ok = h.a.expect_one("200 UPDATE").response
    assert ok.body == answer and ok.cseq.number == upd.cseq.number and ok.get("contact") == OUR_CONTACT
    assert h.b.inbox == []  # UPDATE has no ACK
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


def test_info_pass_through_both_ways() -> None:
    h = Harness()
    connect(h)
    info = h.a.request("INFO", DTMF, content_type="application/dtmf-relay")
    got = h.b.expect_one("INFO").request
    assert got.body == DTMF and got.get("content-type") == "application/dtmf-relay"
    h.b.respond(got, 200)
    ok = h.a.expect_one("200 INFO").response
    assert ok.cseq.number == info.cseq.number and ok.to.tag == h.a.remote_tag
    h.b.request("INFO", DTMF, content_type="application/dtmf-relay")
    got = h.a.expect_one("INFO").request
    assert got.body == DTMF and got.get("content-type") == "application/dtmf-relay"
    h.a.respond(got, 415)  # whatever the answer, it goes back
    assert h.b.expect_one("415 INFO").response.to.tag == h.b.remote_tag
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


def test_info_never_answered_by_b() -> None:
    h = Harness()
    connect(h)
    h.a.request("INFO", DTMF, content_type="application/dtmf-relay")
    h.advance(32)
    got = h.b.take()
    assert [r.kind for r in got] == ["INFO"] * 11  # Timer E retransmissions, and no BYE to B
    timeout = h.a.take()
    assert [r.kind for r in timeout] == ["408 INFO", "BYE"]
    assert timeout[0].at == timeout[1].at == 32.0  # Timer F
    ended = h.ended()
    assert (ended.cause, ended.hangup) == ("peer unreachable", "server")
    h.a.respond(timeout[1].request, 200)
    h.settle()


def test_reinvite_without_sdp_delayed_offer() -> None:
    h = Harness()
    inv, _ = connect(h)
    reinv = h.a.request("INVITE")
    h.a.expect("100 INVITE")
    got = h.b.expect_one("INVITE").request
    assert got.body == b"" and "content-type" not in got
    offer = sdp("198.51.100.20", 5000, "sendrecv", 2)
    ok_b = h.b.respond(got, 200, offer)
    assert h.b.inbox == []  # no ACK yet: A's ACK brings the answer
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == offer and ok.cseq.number == reinv.cseq.number
    answer = sdp("198.51.100.10", 4000, "sendrecv", 2)
    h.a.ack(ok, body=answer)
    ack = h.b.expect_one("ACK").request
    assert ack.body == answer and ack.get("content-type") == "application/sdp"
    assert ack.cseq.number == got.cseq.number and ack.call_id == inv.call_id
    h.b.send(ok_b)  # our ACK was lost
    assert h.b.expect_one("ACK").request.body == answer
    assert h.a.inbox == []

    # the same from B's side: A's 200 makes the offer, B's ACK brings the answer
    h.b.request("INVITE")
    h.b.expect("100 INVITE")
    to_a = h.a.expect_one("INVITE").request
    assert to_a.body == b""
    offer = sdp("198.51.100.10", 4000, "sendrecv", 3)
    ok_a = h.a.respond(to_a, 200, offer)
    assert h.a.inbox == []
    got = h.b.expect_one("200 INVITE")
    ok = got.response
    assert ok.body == offer
    h.advance(0.5)
    assert h.b.expect_one("200 INVITE").at == got.at + 0.5  # our 2xx to B, resent until B's ACK
    h.a.send(ok_a)  # A resends its 2xx while B has not answered yet: nothing to ACK with
    assert h.a.inbox == []
    answer = sdp("198.51.100.20", 5000, "sendrecv", 3)
    h.b.ack(ok, body=answer)
    ack = h.a.expect_one("ACK").request
    assert ack.body == answer and ack.cseq.number == to_a.cseq.number and ack.call_id == h.a.call_id
    h.advance(10)
    assert h.a.inbox == [] and h.b.inbox == []
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


# -- 7. requests that name no dialog, CSeq order ------------------------------------------------


def test_481_for_unknown_dialog() -> None:
    h = Harness()
    h.a.remote_tag = "nobody"
    h.a.remote_target = "sip:1002@192.0.2.1"
    h.a.remote_uri = "<sip:1002@192.0.2.1>"
    h.a.request("BYE")
    h.a.request("INFO", DTMF, content_type="application/dtmf-relay")
    assert [r.kind for r in h.a.take()] == ["481 BYE", "481 INFO"]
    # and inside a live call, a wrong To tag
    h2 = Harness()
    connect(h2)
    real = h2.a.remote_tag
    h2.a.remote_tag = "stale"
    h2.a.request("BYE")
    h2.a.request("INFO", DTMF, content_type="application/dtmf-relay")
    h2.a.expect("481 BYE", "481 INFO")
    assert h2.b.inbox == [] and len(h2.manager) == 1
    h2.a.remote_tag = real
    h2.a.request("BYE")
    h2.a.expect("200 BYE")
    h2.b.respond(h2.b.expect_one("BYE").request, 200)
    h.settle()
    h2.settle()


def test_bye_with_out_of_order_cseq_gets_500() -> None:
    h = Harness()
    connect(h)
    h.a.request("INFO", DTMF, content_type="application/dtmf-relay", cseq=10)
    h.b.respond(h.b.expect_one("INFO").request, 200)
    h.a.expect("200 INFO")
    h.a.request("BYE", cseq=5)
    err = h.a.expect_one("500 BYE").response
    assert err.reason == "CSeq out of order"
    assert h.b.inbox == [] and len(h.manager) == 1
    h.a.request("BYE", cseq=11)
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.settle()


# -- 8. session refresh, maximum duration -------------------------------------------------------


def test_session_refresh_with_options_and_update() -> None:
    h = Harness(Settings(session_interval=90))
    connect(h, a_extra=(header("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE"),))
    h.advance(44.9)
    assert h.a.inbox == [] and h.b.inbox == []
    h.advance(0.1)
    upd = h.a.expect_one("UPDATE")  # A allows UPDATE
    opt = h.b.expect_one("OPTIONS")  # B's 200 had no Allow
    assert upd.at == opt.at == 45.0
    assert upd.request.get("session-expires") == "90;refresher=uac" and upd.request.body == b""
    assert upd.request.to.tag == h.a.tag and upd.request.call_id == h.a.call_id
    assert opt.request.to.tag == h.b.tag
    h.a.respond(upd.request, 200)
    h.b.respond(opt.request, 200)
    h.advance(45)
    h.a.respond(h.a.expect_one("UPDATE").request, 200)
    h.b.respond(h.b.expect_one("OPTIONS").request, 405)  # any answer but 408/481 says "alive"
    assert len(h.manager) == 1 and h.events == []
    h.hang_up()


def test_session_refresh_uses_update_when_b_allows_it() -> None:
    h = Harness(Settings(session_interval=90))
    connect(h, b_extra=(header("Allow", "INVITE, ACK, BYE, UPDATE"),))
    h.advance(45)
    h.a.respond(h.a.expect_one("OPTIONS").request, 200)
    h.b.respond(h.b.expect_one("UPDATE").request, 200)
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.settle()


def test_session_refresh_481_ends_the_call() -> None:
    h = Harness(Settings(session_interval=90))
    connect(h)
    h.advance(45)
    opt_a = h.a.expect_one("OPTIONS").request
    opt_b = h.b.expect_one("OPTIONS").request
    h.b.respond(opt_b, 200)
    h.a.respond(opt_a, 481)  # A forgot the call
    bye = h.b.expect_one("BYE")
    assert bye.at == 45.0
    assert h.a.inbox == []  # no BYE to the side whose dialog is gone
    h.b.respond(bye.request, 200)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (200, "session refresh failed", "server")
    h.settle()


def test_session_refresh_unanswered_ends_the_call() -> None:
    h = Harness(Settings(session_interval=90))
    connect(h)
    h.advance(45)
    h.a.respond(h.a.expect_one("OPTIONS").request, 200)
    h.advance(32)
    got = h.b.take()
    assert [r.at for r in got if r.kind == "OPTIONS"] == [45.0, 45.5, 46.5, 48.5, 52.5, 56.5, 60.5, 64.5, 68.5, 72.5, 76.5]
    assert [r.kind for r in got if r.kind != "OPTIONS"] == []  # no BYE to the vanished side
    bye = h.a.expect_one("BYE")
    assert bye.at == 77.0  # Timer F = 64*T1 after the OPTIONS
    h.a.respond(bye.request, 200)
    ended = h.ended()
    assert (ended.cause, ended.hangup, ended.at) == ("peer unreachable", "server", 77.0)
    h.settle()


def test_max_call_duration() -> None:
    h = Harness(Settings(max_call_duration=120))
    connect(h)
    h.advance(119.9)
    assert h.a.inbox == [] and h.b.inbox == []
    h.advance(0.1)
    bye_a = h.a.expect_one("BYE")
    bye_b = h.b.expect_one("BYE")
    assert bye_a.at == bye_b.at == 120.0
    h.a.respond(bye_a.request, 200)
    h.b.respond(bye_b.request, 200)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup, ended.at) == (200, "maximum call duration", "server", 120.0)
    h.settle()


def test_end_call_from_the_server() -> None:
    """CallManager.end_call (credit control's cut-off): BYE on both legs, hangup "server"."""
    h = Harness()
    connect(h)
    (ref,) = list(h.manager.index.calls)
    h.advance(10)
    assert h.manager.end_call(ref, h.now, "credit: credit exhausted")
    h.pump()
    bye_a = h.a.expect_one("BYE")
    bye_b = h.b.expect_one("BYE")
    h.a.respond(bye_a.request, 200)
    h.b.respond(bye_b.request, 200)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (200, "credit: credit exhausted", "server")
    assert not h.manager.end_call(ref, h.now, "again")  # already ended
    assert not h.manager.end_call("no-such-call", h.now, "x")
    h.settle()


# -- 9. malformed SDP -----------------------------------------------------------------------------


def test_malformed_sdp_in_initial_invite() -> None:
    h = Harness()
    h.a.invite(b"this is not a session description")
    nah = h.a.expect_one("488 INVITE").response
    assert nah.reason == "Malformed SDP" and nah.to.tag
    assert h.b.inbox == []
    h.a.ack_failure(nah)
    assert event_names(h) == ["CallStarted", "CallEnded"]
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (488, "malformed SDP", "")
    h.settle()


def test_session_interval_too_small_is_refused_with_min_se() -> None:
    h = Harness()
    h.a.invite(SDP_A, extra=[header("Session-Expires", "30"), header("Supported", "timer")])
    nah = h.a.expect_one("422 INVITE").response
    assert nah.get("min-se") == "90"
    assert h.b.inbox == []
    h.a.ack_failure(nah)
    assert (h.ended().status, h.ended().cause) == (422, "session interval too small")
    h.settle()


def test_no_session_timer_granted_to_a_caller_that_does_not_support_it() -> None:
    h = Harness()
    _, ok = connect(h, a_extra=(header("Session-Expires", "1800"),))  # no Supported: timer
    assert "session-expires" not in ok and "require" not in ok
    h.a.request("BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    h.a.expect("200 BYE")
    h.settle()


# -- 10. delayed offer -----------------------------------------------------------------------------


def test_initial_invite_without_sdp() -> None:
    h = Harness()
    inv = call_to_b(h, body=b"")
    assert inv.body == b"" and "content-type" not in inv
    h.b.respond(inv, 180)
    ok_b = h.b.respond(inv, 200, SDP_B)  # the offer
    assert h.b.inbox == []  # the ACK waits for A's answer
    _, ok = h.a.expect("180 INVITE", "200 INVITE")
    assert ok.response.body == SDP_B
    h.advance(0.2)
    h.b.send(ok_b)  # B resends its 2xx meanwhile: still nothing to ACK with
    assert h.b.inbox == [] and h.a.inbox == []
    h.a.ack(ok.response, body=SDP_A)  # the answer
    ack = h.b.expect_one("ACK").request
    assert ack.body == SDP_A and ack.get("content-type") == "application/sdp"
    assert ack.cseq.number == 1 and ack.call_id == inv.call_id and ack.to.tag == h.b.tag
    h.advance(0.2)
    h.b.send(ok_b)  # our ACK was lost
    assert h.b.expect_one("ACK").request.body == SDP_A  # the same ACK, answer included
    h.advance(10)
    assert h.a.inbox == []
    h.b.request("BYE")
    h.b.expect("200 BYE")
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.assert_isolated()
    h.settle()


# -- trunks ----------------------------------------------------------------------------------------

CARRIER = Trunk(name="carrier", host="192.0.2.40", username="acct", password="secret")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_params(value: str) -> dict[str, str]:
    assert value.startswith("Digest ")
    out = {}
    for part in value[7:].split(","):
        k, _, v = part.strip().partition("=")
        out[k] = v.strip('"')
    return out


def test_trunk_call_answers_a_proxy_challenge() -> None:
    h = Harness(
        route=Route(kind="trunk", destination="5551234", trunk=CARRIER),
        trunk_credentials=lambda name: ("acct", "secret") if name == "carrier" else None,
        digest_client=authorization_for_challenges,
    )
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    first = h.gw.expect_one("INVITE")
    assert first.dest == GW_ADDR and first.request.uri == "sip:5551234@192.0.2.40:5060"
    challenge = 'Digest realm="carrier", nonce="n0nce", algorithm=MD5, qop="auth"'
    h.gw.respond(first.request, 407, extra=[header("Proxy-Authenticate", challenge)])
    ack, second = h.gw.expect("ACK", "INVITE")
    assert ack.request.cseq.number == 1
    inv = second.request
    # §22.2: the retry keeps Call-ID and From tag, and takes the next CSeq and a new branch
    assert inv.call_id == first.request.call_id and inv.from_.tag == first.request.from_.tag
    assert inv.cseq.number == 2 and inv.top_via.branch != first.request.top_via.branch
    assert len(inv.vias) == 1 and inv.body == SDP_A
    p = digest_params(inv.get("proxy-authorization") or "")
    assert (p["username"], p["realm"], p["nonce"], p["uri"], p["qop"]) == ("acct", "carrier", "n0nce", inv.uri, "auth")
    ha1, ha2 = md5("acct:carrier:secret"), md5(f"INVITE:{inv.uri}")
    assert p["response"] == md5(f"{ha1}:n0nce:{p['nc']}:{p['cnonce']}:auth:{ha2}")
    assert h.a.inbox == []  # the challenge is not A's business

    h.gw.respond(inv, 183, SDP_B)
    h.gw.respond(inv, 200, SDP_B)
    assert h.gw.expect_one("ACK").request.cseq.number == 2
    _, ok = h.a.expect("183 INVITE", "200 INVITE")
    h.a.ack(ok.response)
    started = h.events[0]
    assert isinstance(started, CallStarted) and started.route == "trunk:carrier" and started.destination == "5551234"
    h.a.request("BYE")
    h.a.expect("200 BYE")
    bye = h.gw.expect_one("BYE").request
    assert bye.cseq.number == 3  # after INVITE 1 and 2
    h.gw.respond(bye, 200)
    h.assert_isolated()
    h.settle()


def test_trunk_challenge_without_credentials_is_403_to_a() -> None:
    h = Harness(route=Route(kind="trunk", destination="5551234", trunk=CARRIER), digest_client=authorization_for_challenges)
    h.a.invite(SDP_A)
    inv = h.gw.expect_one("INVITE").request
    h.gw.respond(inv, 401, extra=[header("WWW-Authenticate", 'Digest realm="carrier", nonce="x"')])
    h.gw.expect("ACK")
    refused = h.a.expect("100 INVITE", "403 INVITE")[-1].response
    h.a.ack_failure(refused)
    assert h.ended().cause == "callee answered 401 Unauthorized"
    h.settle()


# -- duplicated datagrams ------------------------------------------------------------------------


def test_every_datagram_twice() -> None:
    """UDP may duplicate anything: the call must come out the same."""
    h = Harness()
    for peer in (h.a, h.b):
        deliver_once = peer.send
        peer.send = lambda msg, source=None, _once=deliver_once: (_once(msg, source), _once(msg, source))  # type: ignore[method-assign]
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE", "100 INVITE")  # the duplicate is absorbed by the transaction
    inv = h.b.expect_one("INVITE").request
    h.b.respond(inv, 180)
    h.b.respond(inv, 200, SDP_B)
    assert h.b.kinds() == ["ACK", "ACK"]  # the duplicated 2xx is ACKed again
    h.b.take()
    ok = [r for r in h.a.take() if r.kind == "200 INVITE"]
    assert len({r.data for r in ok}) == 1
    h.a.ack(ok[0].response)
    h.a.request("INFO", DTMF, content_type="application/dtmf-relay")
    info = h.b.expect_one("INFO").request  # relayed once
    h.b.respond(info, 200)
    assert [r.kind for r in h.a.take()] == ["200 INFO"]  # the duplicate 200 is absorbed
    h.a.request("BYE")
    assert [r.kind for r in h.a.take()] == ["200 BYE", "200 BYE"]  # resent by the transaction
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert event_names(h) == ["CallStarted", "CallRinging", "CalleeAnswered", "CallerConnected", "CallEnded"]
    h.settle()
