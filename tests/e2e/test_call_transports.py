"""Calls through the server over TCP and IPv6, end to end with SIPp.

The callee registers (``register.xml``) and answers (``uas.xml``) on one
transport, the caller calls (``uac.xml``) on its own; the call must go
through, each leg on its peer's transport, and the server's billing record
must tell where the call came from (``source``), that it was answered and
that it ended normally.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from .server import ServerProcess, free_port
from .sipp import SIPP, Sipp, run, sipp_args, wait_idle
from .test_calls import config
from .test_transport import _has_ipv6_loopback

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

TRANSPORT = {"udp": "u1", "tcp": "t1"}


def records(data: Path, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The closed call records of the server (SQLite in its data directory)."""
    end = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(data / "billing.sqlite3")
        db.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in db.execute("SELECT * FROM cdr WHERE end_time IS NOT NULL")]
        finally:
            db.close()
        if len(rows) >= count or time.monotonic() > end:
            return rows
        time.sleep(0.2)


def call(tmp: Path, *, host: str, a: str, b: str) -> dict[str, Any]:
    """1001 (on transport ``a``) calls 1002 (registered and answering on ``b``),
    both at ``host``; returns the server's record of the call."""
    data = tmp / "data"
    server = ServerProcess(tmp, host=host, config=config(data, free_port()))
    target = server.addr
    # SIPp writes an IPv6 digest-uri without brackets ("sip:::1:5060"), which names
    # no host; -auth_uri makes it the server's address as a URI writes it
    auth = ("-auth_uri", f"[{host}]:{server.port}") if ":" in host else ()
    uas: Sipp | None = None
    try:
        cport = free_port(host)
        reg = run(sipp_args("register.xml", target, port=cport, ip=host, transport=TRANSPORT[b], service="1002",
                            user="1002", password="pw1002", variables={"cport": str(cport), "expires": "300"}, extra=auth), tmp)
        assert reg.returncode == 0, reg.stdout[-2000:] + reg.stderr[-2000:]
        # the callee listens on its own transport and address only: B's leg can go no other way
        uas = Sipp(sipp_args("uas.xml", None, port=cport, ip=host, transport=TRANSPORT[b]), tmp, "uas")
        time.sleep(0.3)  # the UAS listening before the INVITE comes
        uac = run(sipp_args("uac.xml", target, port=free_port(host), ip=host, transport=TRANSPORT[a], service="1002",
                            user="1001", password="pw1001", variables={"caller": "1001"}, extra=("-d", "300", *auth)), tmp)
        assert uac.returncode == 0, uac.stdout[-3000:] + uac.stderr[-3000:]
        assert uas.wait(30) == 0, uas.output()
        status = wait_idle(data)
        assert status.get("calls") == 0 and status.get("transactions") == 0, status
        assert status["calls_answered"] == 1 and status["calls_ended"] == 1 and status["calls_failed"] == 0, status
        [rec] = records(data, 1)
        return rec
    finally:
        if uas is not None:
            uas.stop()
        code = server.stop()
        out = server.output()
        assert "Traceback" not in out, out
        assert code == 0, out


def check(rec: dict[str, Any], source: str) -> None:
    assert (rec["caller"], rec["destination"], rec["route"]) == ("1001", "1002", "extension"), rec
    assert (rec["status"], rec["hangup"], rec["cause"]) == (200, "caller", "caller hung up"), rec
    assert rec["answer_time"] is not None and rec["b_call_id"] and rec["recovered"] == 0, rec
    assert rec["source"].startswith(source), rec


def test_call_over_tcp_both_legs(tmp_path: Path) -> None:
    check(call(tmp_path, host="127.0.0.1", a="tcp", b="tcp"), "tcp:127.0.0.1:")


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 on this machine")
def test_call_over_ipv6_udp_both_legs(tmp_path: Path) -> None:
    check(call(tmp_path, host="::1", a="udp", b="udp"), "udp:::1:")


def test_caller_on_udp_callee_registered_over_tcp(tmp_path: Path) -> None:
    check(call(tmp_path, host="127.0.0.1", a="udp", b="tcp"), "udp:127.0.0.1:")
