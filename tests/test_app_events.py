"""The application dispatches the call manager's events after each step: in
order, to its sink, until none is left, and a failing subscriber stops nothing."""

from __future__ import annotations

import logging

import pytest

from b2bua.calls.events import CallEnded, CallEvent, CallRinging, CallStarted
from b2bua.runtime.app import ServerApp
from b2bua.runtime.config import Config
from b2bua.sip.build import CountingIds
from b2bua.sip.endpoint import Address, Endpoint

LOCAL = Address("udp", "192.0.2.1", 5060)


def started(ref: str) -> CallStarted:
    return CallStarted(ref=ref, at=0.0, caller="1001", caller_user="1001", dialed="1002",
                       destination="1002", route="extension", a_call_id="x", source="udp:192.0.2.10:5060")


def test_dispatch_in_order_until_empty_and_survives_a_failing_sink(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[CallEvent] = []

    def sink(event: CallEvent) -> None:
        seen.append(event)
        if isinstance(event, CallRinging):
            raise RuntimeError("subscriber bug")
        if isinstance(event, CallStarted) and event.ref == "r1":
            # a subscriber acting on the manager (credit control's end_call) adds events
            app.calls.events.append(CallEnded(ref="r1", at=1.0, status=487, cause="x", hangup=""))

    ids = CountingIds()
    app = ServerApp(Endpoint(ids), ids, Config(), secret=b"secret", sink=sink, local=lambda t: LOCAL)
    app.calls.events.extend([started("r1"), CallRinging(ref="r2", at=0.5, status=180), started("r3")])
    with caplog.at_level(logging.ERROR, logger="b2bua.app"):
        app.dispatch()
    assert [(type(e).__name__, e.ref) for e in seen] == [
        ("CallStarted", "r1"), ("CallRinging", "r2"), ("CallStarted", "r3"), ("CallEnded", "r1")
    ]
    assert app.calls.events == []
    assert "internal error dispatching CallRinging" in caplog.text
    app.dispatch()
    assert len(seen) == 4


A = Address("udp", "192.0.2.10", 5060)


def invite(call_id: str) -> bytes:
    return (
        "INVITE sip:1002@192.0.2.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{call_id};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:1001@192.0.2.1>;tag=a\r\nTo: <sip:1002@192.0.2.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_draining_refuses_new_invites_and_calls_admitted_late() -> None:
    """While the server stops, a new INVITE gets 503, and a call whose admission
    finishes only now (a late credit answer) is started refused: 503, recorded."""
    from b2bua.calls.admission import StartCall
    from b2bua.calls.routing import Route
    from b2bua.sip.endpoint import RequestReceived
    from b2bua.sip.message import parse_message

    seen: list[CallEvent] = []
    ids = CountingIds()
    ep = Endpoint(ids, local={"udp": LOCAL})
    app = ServerApp(ep, ids, Config(), secret=b"secret", sink=seen.append, local=lambda t: LOCAL)
    app.draining = True
    ep.receive(invite("new"), A, 0.0)
    for event in ep.events:
        app.handle(event, 0.0)
    ep.events.clear()
    [(data, dest)] = ep.outbox
    ep.outbox.clear()
    assert parse_message(data).status == 503 and dest == A  # type: ignore[union-attr]

    ep.receive(invite("admitted"), A, 1.0)
    [received] = ep.events
    ep.events.clear()
    assert isinstance(received, RequestReceived)
    app.execute([StartCall(event=received, route=Route(kind="extension", destination="1002"),
                           caller="1001", caller_user="1001", display="")], 1.0)
    app.dispatch()
    assert [type(e).__name__ for e in seen] == ["CallStarted", "CallEnded"]
    ended = seen[-1]
    assert isinstance(ended, CallEnded) and (ended.status, ended.cause) == (503, "server shutdown")
    assert [parse_message(d).status for d, _ in ep.outbox][-1] == 503  # type: ignore[union-attr]
