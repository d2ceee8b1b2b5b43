"""Dialogs are made only with a usable route set (RFC 3261 §12.1, §20.30):
an entry we could not send a BYE or ACK along is refused when the dialog is
made, not when the first in-dialog request is built."""

from __future__ import annotations

import pytest

from b2bua.sip.build import make_response
from b2bua.sip.dialog import Dialog, check_route_set
from b2bua.sip.endpoint import Address
from b2bua.sip.errors import ParseError
from b2bua.sip.message import Request, header

FLOW = Address("udp", "192.0.2.20", 5060)
BAD = ["<sip:[::1>;lr", "<tel:+15551234>", "sip:no-angle;lr>", "<>"]


def invite(record_route: str | None = None) -> Request:
    headers = [
        header("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1"),
        header("From", "<sip:alice@example.com>;tag=a1"),
        header("To", "<sip:bob@example.com>"),
        header("Call-ID", "c1"),
        header("CSeq", "1 INVITE"),
        header("Contact", "<sip:alice@192.0.2.10>"),
    ]
    if record_route is not None:
        headers.append(header("Record-Route", record_route))
    return Request("INVITE", "sip:bob@example.com", headers)


@pytest.mark.parametrize("route", BAD)
def test_unusable_record_route_is_refused_when_the_dialog_is_made(route: str) -> None:
    with pytest.raises(ParseError) as err:
        check_route_set(["<sip:192.0.2.30;lr>", route])
    assert "Record-Route" in err.value.reason and err.value.status == 400
    with pytest.raises(ParseError):
        Dialog.from_uas(invite(route), "b1", "<sip:b2bua@192.0.2.1>", FLOW)
    ok = make_response(invite(), 200, to_tag="b1", headers=[header("Record-Route", route), header("Contact", "<sip:bob@192.0.2.20>")])
    with pytest.raises(ParseError):
        Dialog.from_uac(invite(), ok, FLOW)


def test_usable_route_sets_make_dialogs_that_send_along_them() -> None:
    rr = "<sip:192.0.2.30;lr>, <sip:[2001:db8::1]:5070;lr;transport=tcp>"
    uas = Dialog.from_uas(invite(rr), "b1", "<sip:b2bua@192.0.2.1>", FLOW)
    assert uas.next_hop() == ("192.0.2.30", None, "udp")
    ok = make_response(invite(), 200, to_tag="b1", headers=[header("Record-Route", rr), header("Contact", "<sip:bob@192.0.2.20>")])
    uac = Dialog.from_uac(invite(), ok, FLOW)
    assert uac.next_hop() == ("2001:db8::1", 5070, "tcp")
    assert uac.request("BYE").get_all("route") == ["<sip:[2001:db8::1]:5070;lr;transport=tcp>", "<sip:192.0.2.30;lr>"]
