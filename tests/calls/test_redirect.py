"""A callee's 3xx (b2bua.calls.redirect) on virtual time: followed in q order,
loop and limit protected, or relayed to the caller with its Contacts."""

from __future__ import annotations

from b2bua.billing.cdr import CdrBuilder
from b2bua.calls.events import CallRedirected
from b2bua.calls.manager import Settings
from b2bua.calls.routing import Route, Trunk
from b2bua.runtime.calllog import CallLog
from b2bua.sip.digest import authorization_for_challenges
from b2bua.sip.message import Request, Response, header

from .harness import B2_ADDR, B_ADDR, GW_ADDR, SDP_A, SDP_B2, Harness, Peer

TO_B2 = "sip:1002@192.0.2.21:5060"
TO_GW = "sip:carrier@192.0.2.40:5060"
OURS = "sip:1003@192.0.2.1:5060"  # the server itself: never followed


def contacts(*values: str) -> list:
    return [header("Contact", v) for v in values]


def call_to_b(h: Harness) -> Request:
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    return h.b.expect_one("INVITE").request


def b_redirects(h: Harness, inv: Request, target: str, to: Peer) -> Request:
    """B answers ``inv`` 302 with ``target``; returns the INVITE ``to`` got for it."""
    h.b.respond(inv, 302, extra=contacts(f"<{target}>"))
    h.b.expect("ACK")
    return to.expect_one("INVITE").request


def redirected(h: Harness) -> list[CallRedirected]:
    return [e for e in h.events if isinstance(e, CallRedirected)]


def refused_to_a(h: Harness, status: int) -> Response:
    """The failure A got (ACKed); all settles."""
    got = h.a.expect_one(f"{status} INVITE").response
    h.a.ack_failure(got)
    h.settle()
    return got


def test_follow_a_302_to_its_contact() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 180)
    h.a.expect("180 INVITE")
    inv2 = b_redirects(h, inv, TO_B2, h.b2)
    assert inv2.uri == TO_B2
    assert inv2.call_id != inv.call_id and inv2.from_.tag != inv.from_.tag
    assert inv2.get("to") == inv.get("to") and inv2.cseq.number == 1
    assert inv2.body == SDP_A and inv2.from_.uri == inv.from_.uri
    assert len(inv2.get_all("via")) == 1 and inv2.get("supported") == inv.get("supported")
    assert h.a.inbox == []
    assert redirected(h) == [
        CallRedirected(ref=h.events[0].ref, at=0.0, status=302, action="follow", targets=(TO_B2,))
    ]
    h.b2.respond(inv2, 200, SDP_B2)
    h.b2.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    assert ok.body == SDP_B2
    h.a.ack(ok)
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b2.respond(h.b2.expect_one("BYE").request, 200)
    assert [type(e).__name__ for e in h.events] == [
        "CallStarted", "CallRinging", "CallRedirected", "CalleeAnswered", "CallerConnected", "CallEnded",
    ]
    h.assert_isolated()
    h.settle()


def test_targets_are_tried_one_at_a_time_best_q_first_and_only_usable_ones() -> None:
    h = Harness()
    inv = call_to_b(h)
    h.b.respond(
        inv,
        300,
        extra=[
            header("Contact", f"<{TO_GW}>;q=0.5, <{TO_B2}>;q=0.9"),
            *contacts(f"<{OURS}>", "<tel:+15551234567>", "<sip:x@192.0.2.50:5060;transport=tcp>"),
            *contacts("<sip:1002@192.0.2.20:5060>"),
        ],
    )
    h.b.expect("ACK")
    # own address, tel:, a transport we do not listen on and B itself (tried) are left out
    assert redirected(h)[0].targets == (TO_B2, TO_GW)
    inv2 = h.b2.expect_one("INVITE").request
    assert h.gw.inbox == []  # one at a time
    h.b2.respond(inv2, 486)
    h.b2.expect("ACK")
    inv3 = h.gw.expect_one("INVITE").request
    assert inv3.uri == TO_GW and inv3.call_id not in (inv.call_id, inv2.call_id)
    assert h.a.inbox == []
    h.gw.respond(inv3, 404)
    h.gw.expect("ACK")
    assert refused_to_a(h, 486).reason == "Busy Here"  # the best of the failures


def test_redirect_limit_then_the_3xx_is_relayed_with_its_contacts() -> None:
    h = Harness(Settings(max_redirects=1))
    inv = call_to_b(h)
    inv2 = b_redirects(h, inv, TO_B2, h.b2)
    h.b2.respond(inv2, 302, extra=contacts(f"<{TO_GW}>"))  # beyond the limit
    h.b2.expect("ACK")
    assert h.gw.inbox == []
    got = refused_to_a(h, 302)
    assert got.get_all("contact") == [f"<{TO_GW}>"] and got.reason == "Moved Temporarily"
    assert [(e.action, e.targets) for e in redirected(h)] == [("follow", (TO_B2,)), ("relay", (f"<{TO_GW}>",))]
    ended = h.ended()
    assert (ended.status, ended.cause) == (302, "callee redirected 302 Moved Temporarily")


def test_a_redirect_loop_is_not_followed() -> None:
    h = Harness()
    inv = call_to_b(h)
    inv2 = b_redirects(h, inv, TO_B2, h.b2)
    # B2 sends the call back to B (tried) and to the server itself
    h.b2.respond(inv2, 302, extra=contacts("<sip:1002@192.0.2.20:5060>", f"<{OURS}>"))
    h.b2.expect("ACK")
    assert h.b.inbox == [] and h.b2.inbox == []
    got = refused_to_a(h, 302)
    assert got.get_all("contact") == ["<sip:1002@192.0.2.20:5060>", f"<{OURS}>"]


def test_relay_mode_passes_the_3xx_to_the_caller() -> None:
    h = Harness(Settings(redirect="relay"))
    inv = call_to_b(h)
    h.b.respond(inv, 301, extra=contacts(f"<{TO_B2}>;q=0.7", f"<{TO_GW}>"))
    h.b.expect("ACK")
    assert h.b2.inbox == [] and h.gw.inbox == []
    got = refused_to_a(h, 301)
    assert got.get_all("contact") == [f"<{TO_B2}>;q=0.7", f"<{TO_GW}>"]
    assert got.reason == "Moved Permanently" and got.get("server") == "b2bua"
    (ev,) = redirected(h)
    assert (ev.status, ev.action) == (301, "relay")
    assert h.ended().cause == "callee redirected 301 Moved Permanently"  # its Contacts are meant for A


def test_relay_mode_maps_unknown_3xx_to_300_and_305_to_502() -> None:
    h = Harness(Settings(redirect="relay"))
    inv = call_to_b(h)
    h.b.respond(inv, 399, reason="Odd", extra=contacts(f"<{TO_B2}>"))
    h.b.expect("ACK")
    got = refused_to_a(h, 300)
    assert got.get_all("contact") == [f"<{TO_B2}>"]

    h = Harness()
    inv = call_to_b(h)
    h.b.respond(inv, 305, extra=contacts("<sip:192.0.2.30:5060>"))
    h.b.expect("ACK")
    assert h.b.inbox == [] and redirected(h) == []
    assert refused_to_a(h, 502).get("contact") is None


def test_with_forks_a_kept_3xx_beats_a_4xx_but_not_a_6xx() -> None:
    for other, relayed in ((486, 302), (603, 603)):
        h = Harness(Settings(redirect="relay"), contacts=[("sip:1002@192.0.2.20:5060", B_ADDR), (TO_B2, B2_ADDR)])
        h.a.invite(SDP_A)
        h.a.expect("100 INVITE")
        inv = h.b.expect_one("INVITE").request
        inv2 = h.b2.expect_one("INVITE").request
        h.b.respond(inv, 302, extra=contacts(f"<{TO_GW}>"))
        h.b.expect("ACK")
        assert h.a.inbox == []
        h.b2.respond(inv2, other)
        h.b2.expect("ACK")
        refused_to_a(h, relayed)


def test_cancel_while_a_redirect_target_rings() -> None:
    h = Harness()
    inv = call_to_b(h)
    inv2 = b_redirects(h, inv, TO_GW, h.gw)
    h.gw.respond(inv2, 180)
    h.a.expect("180 INVITE")
    h.a.cancel()
    h.a.expect("200 CANCEL", "487 INVITE")
    h.gw.respond(h.gw.expect_one("CANCEL").request, 200)
    h.gw.respond(inv2, 487)
    h.gw.expect("ACK")
    assert h.ended().cause == "cancelled by caller"
    assert GW_ADDR.host in inv2.uri
    h.settle()


def test_a_trunk_call_follows_a_redirect_but_never_offers_the_trunk_credentials_there() -> None:
    carrier = Trunk(name="carrier", host=GW_ADDR.host, port=GW_ADDR.port)
    h = Harness(
        route=Route(kind="trunk", destination="5551234", trunk=carrier),
        trunk_credentials=lambda name: ("acct", "secret"),
        digest_client=authorization_for_challenges,
    )
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv = h.gw.expect_one("INVITE").request
    h.gw.respond(inv, 302, extra=contacts(f"<{TO_B2}>"))
    h.gw.expect("ACK")
    inv2 = h.b2.expect_one("INVITE").request
    assert inv2.uri == TO_B2 and inv2.get("to") == inv.get("to")
    h.b2.respond(inv2, 407, extra=[header("Proxy-Authenticate", 'Digest realm="elsewhere", nonce="n"')])
    assert h.b2.expect("ACK") and h.b2.inbox == []  # no retry with our credentials
    refused_to_a(h, 403)


def test_the_record_of_a_relayed_redirect() -> None:
    """The call's events go through the CDR builder and the call log as the
    runtime sends them: the 3xx is the call's final status and cause."""
    h = Harness(Settings(redirect="relay"))
    inv = call_to_b(h)
    h.b.respond(inv, 302, extra=contacts(f"<{TO_B2}>"))
    h.b.expect("ACK")
    refused_to_a(h, 302)
    builder = CdrBuilder(wall_offset=1000.0)
    log = CallLog()
    writes = []
    for event in h.events:
        log(event)
        writes += builder.handle(event)
    assert [type(w).__name__ for w in writes] == ["CdrOpened", "CdrClosed"]
    closed = writes[-1].cdr
    assert (closed.status, closed.cause) == (302, "callee redirected 302 Moved Temporarily")
    assert log.counters["calls_failed"] == 1
