"""In-dialog requests and responses from anyone (issue: dialogs matched on all
three identifiers, RFC 3261 §12.2.2; responses only from where the request
went).  A third party X knows a call's Call-ID and a tag (it saw a message),
and tries to end the call, ACK it, or answer for the callee."""

from __future__ import annotations

from b2bua.calls.events import CalleeAnswered, CallEnded, CallerConnected
from b2bua.sip.endpoint import Address
from b2bua.sip.message import Request

from .harness import SDP_B, Harness, Peer
from .test_b2bua import call_to_b, connect

X_ADDR = Address("udp", "203.0.113.66", 5060)  # nobody the call knows


def intruder(h: Harness, addr: Address = X_ADDR) -> Peer:
    x = Peer(h, "X", addr, "666", "Evil/1.0")
    h.peers[addr] = x
    return x


def posing_as_a(h: Harness, x: Peer, *, from_tag: str, to_tag: str) -> None:
    """X writes requests in A's dialog with these tags."""
    a = h.a
    x.call_id, x.tag, x.remote_tag = a.call_id, from_tag, to_tag
    x.local_uri, x.remote_uri, x.remote_target = a.local_uri, a.remote_uri, a.remote_target
    x.cseq = 50  # well above A's: no "CSeq out of order" to hide behind


def test_bye_from_an_unrelated_address_with_a_wrong_from_tag_gets_481() -> None:
    h = Harness()
    connect(h)
    x = intruder(h)
    posing_as_a(h, x, from_tag="guessed", to_tag=h.a.remote_tag or "")
    x.request("BYE")
    x.expect("481 BYE")
    assert h.b.inbox == [] and h.a.inbox == [] and len(h.manager) == 1
    assert not any(isinstance(e, CallEnded) for e in h.events)
    # the same wrong From tag from A's own address is no better
    h.a.tag, real = "guessed", h.a.tag
    h.a.request("BYE")
    h.a.expect("481 BYE")
    assert h.b.inbox == [] and len(h.manager) == 1
    h.a.tag = real
    caller_hangs_up(h)


def caller_hangs_up(h: Harness) -> None:
    """A ends the call with its real dialog identifiers; nothing is left after."""
    h.a.request("BYE")
    h.a.expect("200 BYE")
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert h.ended().cause == "caller hung up"
    h.settle()


def _answered_unacked(h: Harness) -> Request:
    inv = call_to_b(h)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.a.confirm(ok)
    return ok  # type: ignore[return-value]


def test_ack_with_a_random_to_tag_only_from_the_caller_for_its_invite() -> None:
    """pyVoIP 1.6.8 ACKs a 2xx with a random To tag: taken from the INVITE's
    source for the INVITE's CSeq while the 2xx waits for its ACK, from nobody else."""
    h = Harness()
    ok = _answered_unacked(h)
    x = intruder(h)
    posing_as_a(h, x, from_tag=h.a.tag, to_tag="random-1")
    x.request("ACK", cseq=ok.cseq.number)  # the right Call-ID and From tag, elsewhere
    h.a.remote_tag = "random-2"
    h.a.request("ACK", cseq=ok.cseq.number + 1)  # from A, but not the INVITE's CSeq
    h.advance(1.0)
    assert h.a.expect_one("200 INVITE").at == 0.5  # neither was taken: the 2xx is resent
    assert x.inbox == []
    h.a.remote_tag = "random-3"
    h.a.request("ACK", cseq=ok.cseq.number)  # pyVoIP: from A, the INVITE's CSeq
    h.advance(30.0)
    assert h.a.inbox == [] and len(h.manager) == 1  # ACKed: no more 2xx, no teardown
    # once ACKed, a random To tag matches nothing, even from A
    h.a.request("BYE")
    h.a.expect("481 BYE")
    h.a.remote_tag = ok.to.tag
    caller_hangs_up(h)


def test_forged_ack_cannot_keep_an_unacked_call_up() -> None:
    """Only ACKs from elsewhere: the call ends after 64*T1 as without any ACK."""
    h = Harness()
    ok = _answered_unacked(h)
    x = intruder(h)
    posing_as_a(h, x, from_tag=h.a.tag, to_tag="random-1")
    x.request("ACK", cseq=ok.cseq.number)
    h.advance(31.9)
    assert len(h.a.take()) == 10
    h.advance(0.1)
    ended = h.ended()
    assert (ended.cause, ended.at) == ("no ACK for 2xx", 32.0)
    h.a.respond(h.a.expect_one("BYE").request, 200)
    h.b.respond(h.b.expect_one("BYE").request, 200)
    assert x.inbox == []
    h.settle()


def test_responses_only_from_where_the_request_went() -> None:
    """X answers B's INVITE (right branch, right everything) from its own
    address: dropped; B's own answer still works."""
    h = Harness()
    inv = call_to_b(h)
    x = intruder(h)
    resp = x.respond(inv, 200, SDP_B)  # X was never sent inv: it answers from X_ADDR
    assert resp.status == 200
    assert h.b.inbox == [] and h.a.inbox == [] and x.inbox == []
    assert not any(isinstance(e, (CalleeAnswered, CallerConnected)) for e in h.events)
    h.b.respond(inv, 200, SDP_B)
    h.b.expect("ACK")
    ok = h.a.expect_one("200 INVITE").response
    h.a.ack(ok)
    # X's answer to our BYE towards B does not complete its transaction
    h.a.request("BYE")
    h.a.expect("200 BYE")
    bye = h.b.expect_one("BYE").request
    x.respond(bye, 200)
    h.advance(0.5)
    assert h.b.expect_one("BYE").data.startswith(b"BYE ")  # Timer E: still unanswered
    h.b.respond(bye, 200)
    h.advance(1.0)
    assert h.b.inbox == []
    assert h.ended().cause == "caller hung up"
    h.settle()
