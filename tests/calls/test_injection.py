"""Header injection: what a caller chose (its From user part, its display
name) reaches the callee's INVITE only through the URI and name-addr
serializers, escaped; what no escaping can carry (CR, LF, NUL) refuses the
call instead of writing a header line of the caller's choosing."""

from __future__ import annotations

import pytest

from b2bua.calls.admission import from_user
from b2bua.calls.events import CallEnded
from b2bua.calls.leg import fork_invite
from b2bua.sip.errors import UnsafeValue
from b2bua.sip.message import Request, header, parse_message
from b2bua.sip.uri import unescape

from .harness import B_ADDR, SDP_A, Harness, Peer, head

EVIL_USER = "5551234%0D%0AX-Evil%3A%20yes"  # as written in the trunk caller's From


def _fork(h: Harness, caller: str, display: str) -> Request:
    src = Request("INVITE", "sip:1002@192.0.2.1", [header("Max-Forwards", "70")], SDP_A)
    return fork_invite(h.manager.core, src, "sip:1002@192.0.2.20:5060", B_ADDR, caller=caller, display=display, callee="1002")


def test_builder_escapes_user_parts_and_quotes_display_names() -> None:
    h = Harness()
    req = _fork(h, unescape(EVIL_USER), 'Al"ice \\ "Boss"')
    data = req.serialize()
    lines = head(data).decode().split("\r\n")
    assert not any(line.lower().startswith("x-evil") for line in lines)
    [frm] = [line for line in lines if line.startswith("From: ")]
    assert frm.startswith('From: "Al\\"ice \\\\ \\"Boss\\"" <sip:5551234%0D%0AX-Evil%3A%20yes@192.0.2.1>;tag=')
    back = parse_message(data)
    assert isinstance(back, Request)
    assert back.from_.display == 'Al"ice \\ "Boss"' and from_user(back) == unescape(EVIL_USER)


@pytest.mark.parametrize("display", ["Alice\r\nX-Evil: yes", "Alice\nX", "Alice\rX", "Alice\0"])
def test_builder_refuses_what_no_escaping_can_carry(display: str) -> None:
    h = Harness()
    req = _fork(h, "1001", display)
    with pytest.raises(UnsafeValue, match="From header"):
        req.serialize()
    with pytest.raises(UnsafeValue, match="start line"):
        Request("INVITE", "sip:a\r\nX: y@h", [header("To", "<sip:a@h>")]).serialize()


def busy_and_settle(h: Harness, inv: Request, caller: Peer) -> None:
    """B answers 486; the caller is told; nothing is left."""
    h.b.respond(inv, 486)
    h.b.expect("ACK")
    caller.expect("486 INVITE")
    h.settle()


def test_trunk_caller_crlf_in_user_part_reaches_the_phone_escaped() -> None:
    h = Harness()
    h.gw.user = EVIL_USER
    h.caller = unescape(EVIL_USER)  # what admission takes from the From (from_user)
    sent = h.gw.invite(SDP_A)
    assert from_user(sent) == h.caller
    h.gw.expect("100 INVITE")
    got = h.b.expect_one("INVITE")
    lines = head(got.data).decode().split("\r\n")
    assert not any(line.lower().startswith("x-evil") for line in lines), lines
    assert got.request.from_.uri.user == h.caller  # type: ignore[union-attr]
    assert f"<sip:{EVIL_USER}@192.0.2.1>" in got.request.get("from")  # type: ignore[operator]
    busy_and_settle(h, got.request, h.gw)


def test_display_name_with_quotes_reaches_the_phone_quoted() -> None:
    h = Harness()
    h.display = 'Al"ice \\ "Boss"'
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE")
    inv = h.b.expect_one("INVITE").request
    assert inv.from_.display == h.display
    assert (inv.get("from") or "").startswith('"Al\\"ice \\\\ \\"Boss\\"" <sip:1001@192.0.2.1>;tag=')
    busy_and_settle(h, inv, h.a)


def test_crlf_in_display_name_refuses_the_call() -> None:
    h = Harness()
    h.display = "Alice\r\nX-Evil: yes"
    h.a.invite(SDP_A)
    h.a.expect("100 INVITE", "400 INVITE")
    assert h.b.log == []
    ended = h.ended()
    assert ended.status == 400 and "From header" in ended.cause
    assert [type(e) for e in h.events][-1] is CallEnded
    h.settle()
