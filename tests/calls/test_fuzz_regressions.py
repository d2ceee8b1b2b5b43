"""Inputs the fuzzer (bench/fuzz.py) found that made an exception escape the
endpoint or the call manager; each must now be handled like any bad input."""

from __future__ import annotations

from b2bua.calls.events import CallAnswered, CallStarted
from b2bua.sip.message import header

from .harness import B_ADDR, SDP_A, SDP_B, Harness


def test_a_2xx_with_an_unreadable_contact_still_answers_the_call() -> None:
    """The dialog's remote target falls back to the Request-URI, as for a 2xx without
    Contact, instead of a ParseError escaping the manager."""
    h = Harness()
    h.a.invite(SDP_A)
    inv = h.b.expect_one("INVITE").request
    h.b.contact = "<sip*1002@192.0.2.20:5060>"
    h.b.respond(inv, 200, SDP_B)
    ack = h.b.expect_one("ACK")
    assert ack.dest == B_ADDR and ack.request.uri == inv.uri
    assert [type(e) for e in h.take_events()] == [CallStarted, CallAnswered]
    h.a.ack([r for r in h.a.take() if r.kind == "200 INVITE"][0].response)
    h.a.request("BYE")
    assert h.b.expect_one("BYE").request.uri == inv.uri


def test_an_allow_header_with_an_unterminated_quote_is_no_update_support() -> None:
    h = Harness()
    h.a.invite(SDP_A, extra=[header("Allow", 'INVITE, "ACK')])
    assert h.b.expect_one("INVITE").request.method == "INVITE"
    assert [type(e) for e in h.take_events()] == [CallStarted]
