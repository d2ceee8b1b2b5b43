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
