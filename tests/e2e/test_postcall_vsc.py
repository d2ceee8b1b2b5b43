"""Post-call assignment by dialing the mid-call VSC alone, end to end with SIPp:
1001 places a local call without a code (the carrier a SIPp UAS), hangs up, then
dials ``*89`` alone; the server answers with its prompt, the phone keys a wrong
code by INFO (asked again), then the right one; the server thanks it and hangs
up.  The first call's record now carries the code (code source post_call); the
``*89`` call's record says what it was and bills nothing; ``*89`` once more finds
no call to give a code to."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from .sipp import SIPP, run, sipp_args
from .server import free_port
from .test_calls import Rig, settle
from .test_prompting import office, records  # noqa: F401  (the fixture: the office with prompting on)

import pytest

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

LOCAL = "5551234"  # a local number of home area 801: no code needed


def closed(rig: Rig, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        found = [r for r in records(rig) if r["end"]]
        if len(found) >= count or time.monotonic() > end:
            return found
        time.sleep(0.3)


def test_the_vsc_alone_gives_the_last_call_its_code(office: Rig) -> None:  # noqa: F811
    far = office.uas("uas.xml", office.carrier_port)
    assert office.uac("uac.xml", LOCAL) == 0, office.last_uac
    assert far.wait(30) == 0
    (first,) = closed(office, 1)
    assert first["accountcode"] == "" and first["disposition"] == "ANSWERED", first
    proc = run(sipp_args(
        "uac_vsc_assign.xml", office.target, port=free_port(), service="*89", user="1001", password="pw1001",
        variables={"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate("99999" + "12345")}},
        extra=("-trace_msg", "-mp", str(free_port())),
    ), office.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + office.server.output()[-3000:]
    end = time.monotonic() + 10
    while time.monotonic() < end:
        recs = {r["dst"]: r for r in closed(office, 2)}
        if recs.get(LOCAL, {}).get("accountcode") == "12345":
            break
        time.sleep(0.3)
    call, vsc = recs[LOCAL], recs["*89"]
    assert (call["accountcode"], call["code_source"]) == ("12345", "post_call"), call
    # the *89 call: answered by the server's prompt only, never billed
    assert (vsc["cause"], Decimal(vsc["cost"]), vsc["billable"]) == ("Account code assigned to the last call", 0, 0), vsc
    assert vsc["hangup"] == "server" and vsc["code_source"] == "prompt", vsc
    log = office.server.output()
    assert "attached to the last call" in log and "12345" not in log  # codes are logged masked
    # once: nothing left to give a code to (the same answer as outside the window)
    assert office.uac("uac_fail.xml", "*89") == 0, office.last_uac
    assert "403 No recent call to assign an account code to" in office.server.output()
    settle(office)
