"""Inputs the fuzzer (bench/fuzz.py) found that made an exception escape the
endpoint or the call manager; each must now be handled like any bad input."""

from __future__ import annotations

from b2bua.calls.events import CallEnded, CallStarted
from b2bua.sip.message import header

from .harness import SDP_A, SDP_B, Harness


def test_a_2xx_with_an_unreadable_contact_fails_the_fork_cleanly() -> None:
    """No ParseError escapes the manager: a 2xx whose Contact cannot be used is a
    callee that cannot be reached (the fork fails 502, recorded), like one with
    an unusable Record-Route, never a call left up with an unreachable leg."""
    h = Harness()
    h.a.invite(SDP_A)
    inv = h.b.expect_one("INVITE").request
    h.b.contact = "<sip*1002@192.0.2.20:5060>"
    h.b.respond(inv, 200, SDP_B)
    final = [r for r in h.a.take() if r.kind == "502 INVITE"]
    assert final, "the caller is told the callee cannot be reached"
    events = h.take_events()
    assert [type(e) for e in events] == [CallStarted, CallEnded]
    assert isinstance(events[-1], CallEnded) and "unusable" in events[-1].cause
    h.a.ack_failure(final[0].response)


def test_an_allow_header_with_an_unterminated_quote_is_no_update_support() -> None:
    h = Harness()
    h.a.invite(SDP_A, extra=[header("Allow", 'INVITE, "ACK')])
    assert h.b.expect_one("INVITE").request.method == "INVITE"
    assert [type(e) for e in h.take_events()] == [CallStarted]
