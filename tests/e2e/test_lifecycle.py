"""The server's life seen from outside: registrations that expire leave memory
and the database."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from .server import ServerProcess, free_port
from .sipp import SIPP, run, server_status, sipp_args


def config(data: Path, extra: str = "") -> str:
    return f"""
[server]
data_dir = "{data}"
[sip]
min_expires = 1
digest_algorithms = ["MD5"]  # SIPp answers MD5 only
[[users]]
extension = "1001"
password = "pw1001"
""" + extra


def wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.1)


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")
def test_an_expired_registration_is_purged_from_memory_and_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerProcess(tmp_path, config=config(data))
    try:
        args = sipp_args("register.xml", srv.addr, port=free_port(), service="1001", user="1001", password="pw1001",
                         variables={"cport": str(free_port()), "expires": "2"})
        registered = run(args, tmp_path)
        assert registered.returncode == 0, registered.stdout[-2000:] + registered.stderr[-2000:]
        db = sqlite3.connect(data / "b2bua.sqlite3")
        try:
            assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 1
            wait_for(lambda: server_status(data).get("registrations_expired") == 1)
            status = server_status(data)
            assert status["registrations"] == 0, status
            assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 0
        finally:
            db.close()
    finally:
        code = srv.stop()
        out = srv.output()
        assert "Traceback" not in out and code == 0, out
