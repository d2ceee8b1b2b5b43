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
