"""A malformed Record-Route (``<sip:[::1>;lr``) never leaves a call up with a
leg that cannot be reached: in B's 2xx, the 2xx is ACKed and BYEd where the
INVITE went and the call fails 502 with a cause; in A's INVITE, 400."""

from __future__ import annotations

from b2bua.calls.events import CallEnded, CallerConnected
from b2bua.sip.message import header

from .harness import B_ADDR, SDP_A, SDP_B, Harness
from .test_b2bua import call_to_b, event_names, two_contacts

BAD_RR = "<sip:[::1>;lr"


def test_2xx_with_an_unusable_route_set_is_acked_byed_and_the_call_fails() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    h.b.respond(inv, 200, SDP_B, extra=[header("Record-Route", BAD_RR)])
    ack, bye = h.b.expect("ACK", "BYE")
    for r in (ack, bye):  # where the INVITE went, to B's Contact, no Route
        assert r.dest == B_ADDR and "route" not in r.request
        assert r.request.uri == "sip:1002@192.0.2.20:5060" and r.request.to.tag == h.b.tag
    failed = h.a.expect_one("502 INVITE").response
    assert failed.reason == "Bad Gateway"
    h.a.ack_failure(failed)
    h.b.respond(bye.request, 200)
    assert event_names(h) == ["CallStarted", "CallRinging", "CallEnded"]
    ended = h.ended()
    assert ended.status == 502 and "Record-Route" in ended.cause and "[::1" in ended.cause
    # B's 2xx again (our ACK lost): ACKed again, nothing else
    h.b.respond(inv, 200, SDP_B, extra=[header("Record-Route", BAD_RR)])
    assert h.b.expect_one("ACK").data == ack.data
    h.settle()
    assert h.a.inbox == [] and h.b.inbox == []


def test_other_forks_go_on_when_one_answers_with_an_unusable_route_set() -> None:
    h = two_contacts()
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv_b = h.b.expect_one("INVITE").request
    inv_b2 = h.b2.expect_one("INVITE").request
    h.b.respond(inv_b, 200, SDP_B, extra=[header("Record-Route", BAD_RR)])
    h.b.expect("ACK", "BYE")
    assert h.a.inbox == [] and len(h.manager) == 1
    h.b2.respond(inv_b2, 200, SDP_B)
    h.b2.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert isinstance(h.events[-1], CallerConnected)
    h.a.ack(ok)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b2.respond(h.b2.expect_one("BYE").request, 200)
    h.settle(200)


def test_invite_with_an_unusable_record_route_is_refused_400() -> None:
    h = Harness()
    h.a.invite(SDP_A, extra=[header("Record-Route", BAD_RR)])
    refused = h.a.expect_one("400 INVITE")
    assert refused.response.reason == "Bad Record-Route or Contact"
    assert h.b.log == []
    ended = h.ended()
    assert ended.status == 400 and "Record-Route" in ended.cause
    assert [type(e) for e in h.events][-1] is CallEnded
    h.a.ack_failure(refused.response)
    h.settle()
