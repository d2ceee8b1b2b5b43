"""The call log (b2bua.runtime.calllog): account codes appear masked."""

from __future__ import annotations

import pytest

from b2bua.calls.events import AccountInfo, CallStarted
from b2bua.runtime.calllog import CallLog


def test_account_codes_are_logged_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    log = CallLog()
    log(CallStarted(
        ref="c1", at=0.0, caller="1001", caller_user="1001", dialed="2125551234", destination="2125551234",
        route="trunk:carrier", a_call_id="x", source="udp:127.0.0.1:5070",
        account=AccountInfo(code="12345", source="shortcut", valid=True),
    ))
    assert "***45" in caplog.text and "12345" not in caplog.text


def _started(ref: str, route: str, at: float = 0.0) -> CallStarted:
    return CallStarted(ref=ref, at=at, caller="1001", caller_user="1001", dialed="1002", destination="1002",
                       route=route, a_call_id=ref, source="udp:127.0.0.1:5070")


def test_counters_per_route_status_and_setup_time() -> None:
    from b2bua.calls.events import CalleeAnswered, CallEnded, CallRinging
    from b2bua.runtime.calllog import SETUP_BUCKETS

    log = CallLog()
    log(_started("a", "extension", 10.0))
    log(CallRinging(ref="a", at=10.3, status=180))
    log(CalleeAnswered(ref="a", at=12.0, b_call_id="b"))  # setup counted once, at ringing
    log(CallEnded(ref="a", at=20.0, status=200, cause="caller hung up", hangup="caller"))
    log(_started("b", "trunk:carrier", 0.0))
    log(CallEnded(ref="b", at=1.0, status=486, cause="busy", hangup=""))
    log(_started("c", "none"))
    log(CallEnded(ref="c", at=0.0, status=404, cause="no route", hangup=""))
    assert log.started == {"extension": 1, "trunk:carrier": 1, "none": 1}
    assert log.answered == {"extension": 1}
    assert log.ended == {("extension", 200): 1, ("trunk:carrier", 486): 1, ("none", 404): 1}
    assert sum(log.setup_counts) == 1 and log.setup_counts[SETUP_BUCKETS.index(0.5)] == 1
    assert log.setup_sum == pytest.approx(0.3)
    assert not log.live and not log._setup  # nothing kept for ended calls
