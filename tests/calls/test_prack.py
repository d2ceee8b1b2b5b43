"""Reliable provisional responses (RFC 3262, 100rel/PRACK) on both legs, on virtual time.

Towards B the server is the UAC: it offers 100rel, PRACKs B's reliable
provisionals in their early dialog and relays them once.  Towards A it is
the UAS: it sends provisionals reliably when A asked for 100rel,
retransmits them until A's PRACK and gives up with 500 after 64*T1.
"""

from __future__ import annotations

from b2bua.calls import prack
from b2bua.calls.manager import Settings
from b2bua.runtime.app import capability_headers
from b2bua.sip.message import Request, Response, header

from .harness import SDP_A, SDP_B, Harness, Received, sdp

SUPPORTED_100REL = (header("Supported", "100rel, timer"),)
REQUIRE_100REL = (header("Require", "100rel"),)
SDP_SERVER = sdp("192.0.2.99", 7000)


def call_to_b(h: Harness, body: bytes = SDP_A, extra: tuple = ()) -> Request:
    h.a.invite(body, extra=list(extra))
    h.a.expect("100 INVITE")
    return h.b.expect_one("INVITE").request


def tags(msg: Request | Response, name: str) -> set[str]:
    return prack.option_tags(msg, name)


def hang_up_from_a(h: Harness, ok: Response) -> Request:
    """A ACKs the 200 and hangs up; returns the BYE B got (answered 200)."""
    h.a.ack(ok)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    bye = h.b.expect_one("BYE").request
    h.b.respond(bye, 200)
    return bye


def cancel_from_a(h: Harness, inv: Request) -> None:
    """A cancels the call B rings (B has spoken, so it gets the CANCEL); all settles."""
    h.a.cancel()
    h.a.expect("200 CANCEL", "487 INVITE")
    h.b.respond(h.b.expect_one("CANCEL").request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.settle()


def busy(h: Harness, inv: Request) -> None:
    """B answers 486, relayed to A; all settles."""
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    h.a.ack_failure(h.a.expect_one("486 INVITE").response)
    h.settle()


# -- towards B: we are the UAC ----------------------------------------------------------


def test_invites_to_b_offer_100rel_unless_turned_off() -> None:
    h = Harness()
    inv = call_to_b(h)
    assert tags(inv, "supported") == {"100rel", "timer"}
    assert "PRACK" in (inv.get("allow") or "")
    assert tags(inv, "require") == set()
    h.a.cancel()
    h.b.respond(inv, 487)
    h.settle()

    h = Harness(Settings(offer_100rel=False))
    inv = call_to_b(h)
    assert tags(inv, "supported") == {"timer"}
    h.a.cancel()
    h.b.respond(inv, 487)
    h.settle()


def test_delayed_offer_from_a_without_100rel_is_not_offered_to_b() -> None:
    """B's offer in a reliable 183 needs its answer in the PRACK, which a
    caller without 100rel cannot give: 100rel is not offered then."""
    h = Harness()
    inv = call_to_b(h, body=b"")
    assert tags(inv, "supported") == {"timer"}
    h.a.cancel()
    h.b.respond(inv, 487)
    h.settle()


def test_reliable_183_from_b_is_pracked_and_relayed_unreliably_to_a() -> None:
    h = Harness()
    inv = call_to_b(h)
    p183 = h.b.respond_reliably(inv, 183, 1, SDP_B)
    pr = h.b.expect_one("PRACK").request
    assert pr.get("rack") == "1 1 INVITE"
    assert pr.cseq.number == 2 and pr.call_id == inv.call_id
    assert pr.to.tag == p183.to.tag and pr.from_.tag == inv.from_.tag
    assert pr.uri == "sip:1002@192.0.2.20:5060"  # B's Contact in the 183
    assert pr.body == b""  # the 183 had the answer to A's offer (RFC 3262 §5)
    early = h.a.expect_one("183 INVITE").response
    assert early.body == SDP_B
    assert early.get("rseq") is None and "100rel" not in tags(early, "require")  # A did not ask for it
    h.b.respond(pr, 200)
    assert h.a.inbox == [] and h.b.inbox == []

    h.b.respond(inv, 200)  # the answer came in the 183 already
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == SDP_B  # A got it unreliably: its offer is answered here
    bye = hang_up_from_a(h, ok)
    assert bye.cseq.number == 3  # after the PRACK's CSeq (RFC 3261 §12.2.1.1)
    h.assert_isolated()
    h.settle()


def test_retransmitted_reliable_183_is_not_relayed_again_and_a_failed_prack_is_resent() -> None:
    h = Harness()
    inv = call_to_b(h)
    p183 = h.b.respond_reliably(inv, 183, 1, SDP_B)
    first = h.b.expect_one("PRACK")
    h.a.expect("183 INVITE")
    h.b.send(p183)  # B has no PRACK yet: it resends the 183
    assert h.b.inbox == [] and h.a.inbox == []  # our PRACK is in flight: its transaction resends it
    h.advance(0.5)
    again = h.b.expect_one("PRACK")
    assert again.data == first.data  # Timer E: the same PRACK
    h.b.respond(first.request, 500)  # B refuses it
    h.b.send(p183)
    second = h.b.expect_one("PRACK").request  # a new PRACK for the same RSeq
    assert second.get("rack") == "1 1 INVITE" and second.cseq.number == 3
    assert h.a.inbox == []
    h.b.respond(second, 200)
    h.b.send(p183)  # a late copy: PRACKed already
    assert h.b.inbox == [] and h.a.inbox == []
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert hang_up_from_a(h, ok).cseq.number == 4
    h.settle()


def test_out_of_order_rseq_is_neither_pracked_nor_relayed() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond_reliably(inv, 180, 7)
    h.b.respond(h.b.expect_one("PRACK").request, 200)
    h.a.expect("180 INVITE")
    h.b.respond_reliably(inv, 183, 9, SDP_B)  # 8 is missing
    assert h.b.inbox == [] and h.a.inbox == []
    h.b.respond_reliably(inv, 183, 6, SDP_B)  # an old one
    assert h.b.inbox == [] and h.a.inbox == []
    h.b.respond_reliably(inv, 183, 8, SDP_B)
    pr = h.b.expect_one("PRACK").request
    assert pr.get("rack") == "8 1 INVITE"
    assert h.a.expect_one("183 INVITE").response.body == SDP_B
    h.b.respond(pr, 200)
    cancel_from_a(h, inv)


def test_a_reliable_181_from_b_is_pracked_though_not_relayed() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond_reliably(inv, 181, 1)
    h.b.respond(h.b.expect_one("PRACK").request, 200)
    assert h.a.inbox == []
    busy(h, inv)


# -- towards A: we are the UAS -----------------------------------------------------------


def test_183_with_sdp_is_reliable_to_a_that_supports_100rel() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond_reliably(inv, 183, 1, SDP_B)
    h.b.respond(h.b.expect_one("PRACK").request, 200)  # B is PRACKed by us, whatever A does
    early = h.a.expect_one("183 INVITE").response
    assert early.body == SDP_B and early.get("rseq") == "1" and tags(early, "require") == {"100rel"}
    assert early.get("contact") == "<sip:b2bua@192.0.2.1:5060>"
    h.advance(3.6)
    again = h.a.expect("183 INVITE", "183 INVITE", "183 INVITE")
    assert [r.at for r in again] == [0.5, 1.5, 3.5]  # T1, 2*T1, 4*T1
    assert {r.data for r in again} == {again[0].data}
    h.a.prack(early)
    ok = h.a.expect_one("200 PRACK").response
    assert ok.to.tag == early.to.tag
    h.a.prack(early)  # nothing unacknowledged any more
    assert h.a.expect_one("481 PRACK").response.status == 481
    h.advance(40)
    assert h.a.inbox == [] and h.b.inbox == [] and len(h.manager) == 1
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert hang_up_from_a(h, ok).cseq.number == 3
    h.assert_isolated()
    h.settle()


def test_180_without_sdp_stays_unreliable_when_a_only_supports_100rel() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond(inv, 180)
    ring = h.a.expect_one("180 INVITE").response
    assert ring.get("rseq") is None
    h.advance(2)
    assert h.a.inbox == []
    busy(h, inv)


def test_a_requiring_100rel_is_accepted_and_gets_every_provisional_reliably_one_at_a_time() -> None:
    h = Harness()
    inv = call_to_b(h, extra=REQUIRE_100REL)  # no 420 any more
    h.b.respond(inv, 180)  # B itself is not reliable
    h.b.respond(inv, 183, SDP_B)
    ring = h.a.expect_one("180 INVITE").response  # the 183 waits for the 180's PRACK
    assert ring.get("rseq") == "1" and tags(ring, "require") == {"100rel"}
    h.a.prack(ring)
    early = h.a.expect("200 PRACK", "183 INVITE")[1].response
    assert early.get("rseq") == "2" and early.body == SDP_B
    h.a.prack(early, rseq=1)  # names the wrong one
    h.a.expect("481 PRACK")
    h.a.prack(early)
    h.a.expect("200 PRACK")
    h.advance(10)
    assert h.a.inbox == []
    cancel_from_a(h, inv)


def test_no_prack_from_a_gives_500_after_64_t1() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond(inv, 183, SDP_B)
    h.advance(31.9)
    got = h.a.expect(*["183 INVITE"] * 7)
    assert [r.at for r in got] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    h.advance(0.2)  # 63.5 would be the next; 64*T1 = 32 cuts it
    got = h.a.take()
    assert [(r.kind, r.at) for r in got] == [("500 INVITE", 32.0)]
    h.b.respond(h.b.expect_one("CANCEL").request, 200)
    h.b.respond(inv, 487)
    h.b.expect("ACK")
    h.a.ack_failure(got[0].response)
    ended = h.ended()
    assert (ended.status, ended.cause, ended.hangup) == (500, "no PRACK for a reliable provisional response", "")
    h.settle()


def test_the_final_answer_stops_the_retransmissions() -> None:
    h = Harness()
    inv = call_to_b(h, extra=REQUIRE_100REL)
    h.b.respond(inv, 180)
    assert h.a.expect_one("180 INVITE").response.get("rseq") == "1"
    h.b.respond(inv, 200, SDP_B)  # no session description unacknowledged: not held
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.a.ack(ok)
    h.advance(40)
    assert h.a.inbox == []
    h.hang_up()


def test_a_prack_crossing_the_2xx_gets_200() -> None:
    h = Harness()
    inv = call_to_b(h, extra=REQUIRE_100REL)
    h.b.respond(inv, 180)
    ring = h.a.expect_one("180 INVITE").response
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.a.prack(ring)  # sent before A saw the 2xx
    h.a.expect("200 PRACK")
    h.a.prack(ring)
    h.a.expect("481 PRACK")
    assert hang_up_from_a(h, ok).cseq.number == 2  # B's dialog: INVITE 1, no PRACK there
    h.settle()


def test_a_2xx_waits_for_the_prack_of_a_provisional_with_sdp() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond(inv, 183, SDP_B)
    early = h.a.expect_one("183 INVITE").response
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    assert h.a.inbox == []  # RFC 3262 §3: held
    h.advance(1.0)
    assert h.a.kinds() == ["183 INVITE"]  # still resent, the 2xx is not
    h.a.take()
    h.a.prack(early)
    got = h.a.expect("200 PRACK", "200 INVITE")
    ok = got[1].response
    assert ok.body == SDP_B and got[1].at == 1.0
    h.advance(0.5)
    assert h.a.kinds() == ["200 INVITE"]  # the 2xx is resent until the ACK, as usual
    h.a.take()
    hang_up_from_a(h, ok)
    h.settle()


def test_a_held_2xx_goes_out_when_the_prack_never_comes() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond(inv, 183, SDP_B)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    h.advance(31.9)
    assert set(h.a.kinds()) == {"183 INVITE"}
    h.a.take()
    h.advance(0.1)
    ok = h.a.expect_one("200 INVITE")
    assert ok.at == 32.0
    hang_up_from_a(h, ok.response)
    h.settle()


def test_delayed_offer_the_answer_goes_from_a_prack_to_b_prack() -> None:
    h = Harness()
    inv = call_to_b(h, body=b"", extra=SUPPORTED_100REL)
    assert inv.body == b"" and "100rel" in tags(inv, "supported")
    h.b.respond_reliably(inv, 183, 1, SDP_B)  # B's offer
    assert h.b.inbox == []  # our PRACK waits for A's answer
    early = h.a.expect_one("183 INVITE").response
    assert early.body == SDP_B and early.get("rseq") == "1"
    h.a.prack(early, SDP_A)
    h.a.expect("200 PRACK")
    pr = h.b.expect_one("PRACK").request
    assert pr.body == SDP_A and pr.get("content-type") == "application/sdp" and pr.get("rack") == "1 1 INVITE"
    h.b.respond(pr, 200)
    h.b.respond(inv, 200)
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == b"" and h.b.inbox == []  # B's ACK goes with A's
    h.a.ack(ok)
    assert h.b.expect_one("ACK").request.body == b""  # the answer went in the PRACK
    h.a.request("BYE")
    h.a.expect("200 BYE")
    bye = h.b.expect_one("BYE").request
    h.b.respond(bye, 200)
    assert bye.cseq.number == 3
    h.settle()


def test_prack_for_an_unknown_dialog_gets_481() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    h.b.respond(inv, 180)
    ring = h.a.expect_one("180 INVITE").response
    h.a.prack(ring, rseq=1)  # the 180 was not reliable
    h.a.expect("481 PRACK")
    h.a.remote_tag = "nobody"
    h.a.prack(ring, rseq=1)
    h.a.expect("481 PRACK")
    h.a.remote_tag = ring.to.tag
    cancel_from_a(h, inv)


# -- the server's own early media -------------------------------------------------------------


def _a_leg(h: Harness):  # type: ignore[no-untyped-def]
    (call,) = h.manager.index.calls.values()
    return call.a


def test_server_early_media_is_a_reliable_183_when_a_supports_100rel() -> None:
    h = Harness()
    inv = call_to_b(h, extra=SUPPORTED_100REL)
    assert prack.early_media(_a_leg(h), SDP_SERVER, h.now) is True
    h.pump()
    early = h.a.expect_one("183 INVITE").response
    assert early.body == SDP_SERVER and early.get("content-type") == "application/sdp"
    assert early.get("rseq") == "1" and tags(early, "require") == {"100rel"}
    h.b.respond_reliably(inv, 183, 1, SDP_B)
    h.b.respond(h.b.expect_one("PRACK").request, 200)
    assert h.a.inbox == []  # waits behind ours
    h.a.prack(early)
    got = h.a.expect("200 PRACK", "183 INVITE")
    assert got[1].response.get("rseq") == "2" and got[1].response.body == SDP_B
    h.a.prack(got[1].response)
    h.a.expect("200 PRACK")
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    hang_up_from_a(h, ok)
    h.settle()


def test_server_early_media_is_unreliable_to_a_without_100rel() -> None:
    h = Harness()
    inv = call_to_b(h)
    assert prack.early_media(_a_leg(h), SDP_SERVER, h.now) is False
    h.pump()
    early: Received = h.a.expect_one("183 INVITE")
    assert early.response.get("rseq") is None and early.response.body == SDP_SERVER
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    cancel_from_a(h, inv)


def test_100rel_is_a_supported_extension_and_advertised() -> None:
    h = Harness()
    h.a.invite(SDP_A, extra=[header("Require", "100rel, foo")])
    refused = h.a.expect_one("420 INVITE").response
    assert refused.get("unsupported") == "foo"  # 100rel is no longer refused
    assert h.b.inbox == []
    assert "100rel" in (dict((k, v) for _, k, v in capability_headers())["supported"])
