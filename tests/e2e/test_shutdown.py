"""Live calls at SIGTERM: ended, recorded and paid for before the server exits.

Three prepaid calls are up (SIPp caller -> server -> SIPp carrier) when the
server gets SIGTERM: both legs of each get a BYE, each record is closed by the
server itself (hangup "server", cause "server shutdown", never left open for
the next start's crash recovery), each credit reservation is committed with the
talk time charged and the rest returned, and the process exits 0 within
``[server] shutdown_timeout`` (5 s by default).
"""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest

from .server import free_port
from .sipp import SIPP, Sipp, server_status, sipp_args
from .test_credit import DIALED, balance, db_rows, prepaid_rig

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

SHUTDOWN_TIMEOUT = 5.0  # the default of [server] shutdown_timeout
CALLS = 3


def test_sigterm_ends_live_calls_and_settles_their_credit(tmp_path: Path) -> None:
    rig = prepaid_rig(tmp_path, "5.00")
    try:
        rig.uas("uas.xml", rig.carrier_port, calls=CALLS)
        caller = Sipp(sipp_args(
            "uac_wait_bye.xml", rig.target, port=free_port(), calls=CALLS, rate=50, service=DIALED,
            user="1001", password="pw1001", variables={"caller": "1001"}, extra=("-l", str(CALLS)),
        ), rig.tmp, "uac")
        rig.procs.append(caller)
        end = time.monotonic() + 30
        status: dict[str, int] = {}
        while time.monotonic() < end:
            status = server_status(rig.data)
            if status.get("credit_calls") == CALLS:  # answered, first chunk reserved
                break
            time.sleep(0.2)
        assert status.get("credit_calls") == CALLS, status
        time.sleep(1.0)  # some talk time to charge

        started = time.monotonic()
        rig.server.proc.send_signal(signal.SIGTERM)
        code = rig.server.proc.wait(SHUTDOWN_TIMEOUT + 10)
        took = time.monotonic() - started
        assert code == 0, rig.server.output()
        assert took < SHUTDOWN_TIMEOUT + 2.0, took  # the bound, plus the interpreter's exit
        assert caller.wait(30) == 0, caller.output()  # every caller got its BYE and answered it
        assert "shutdown: ended 3 live calls" in rig.server.output()

        cdrs, res = db_rows(rig, CALLS, timeout=1.0)
        assert len(cdrs) == CALLS
        for c in cdrs:
            assert (c["hangup"], c["cause"], c["recovered"]) == ("server", "server shutdown", 0), c
            assert c["answer_time"] is not None and c["end_time"] >= c["answer_time"] + 1.0, c
            r = res[c["ref"]]
            assert r["state"] == "committed" and Decimal(0) < r["charged"] <= r["amount"], r
        charged = sum(r["charged"] for r in res.values())
        assert balance(rig) == (Decimal("5.00") - charged, Decimal("0.00"))
        out = rig.server.output()
        assert "Traceback" not in out and "unfinished at shutdown" not in out, out
    finally:
        rig.close()
