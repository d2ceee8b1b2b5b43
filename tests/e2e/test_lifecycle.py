"""The server's life seen from outside: `b2bua status` of a running, a cleanly
stopped, a killed and a hung server; registrations that expire leave memory
and the database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .server import ROOT, ServerProcess, free_port
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


def status_cli(tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "status", "--config", str(tmp / "b2bua.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )


def wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.1)


def test_status_says_when_the_server_is_not_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerProcess(tmp_path, config=config(data))
    try:
        wait_for(lambda: (data / "status.json").exists())
        live = status_cli(tmp_path)
        assert live.returncode == 0, live.stdout + live.stderr
        assert "running: True" in live.stdout and "not running" not in live.stdout
        assert f"pid: {srv.proc.pid}" in live.stdout
    finally:
        assert srv.stop() == 0, srv.output()

    stopped = status_cli(tmp_path)
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    lines = stopped.stdout.splitlines()
    assert lines[0].startswith("b2bua is not running: stopped at ") and lines[0].endswith(" UTC")
    assert lines[1] == "last counters before it stopped:"
    assert "  running: False" in lines and "  calls: 0" in lines and f"  pid: {srv.proc.pid}" in lines
    saved = json.loads((data / "status.json").read_text())
    assert saved["running"] is False and saved["stopped"] == saved["updated"]

    killed = ServerProcess(tmp_path, config=config(data))  # same data directory, killed without a stop
    wait_for(lambda: server_status(data).get("pid") == killed.proc.pid)
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(10)
    killed.stop()
    gone = status_cli(tmp_path)
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert gone.stdout.startswith(f"b2bua is not running: process {killed.proc.pid} is gone without a clean stop")
    assert "  running: True" in gone.stdout  # the last counters, as the dead server wrote them

    hung = dict(server_status(data), pid=os.getpid(), updated=time.time() - 60)  # a live pid, an old status
    (data / "status.json").write_text(json.dumps(hung))
    stale = status_cli(tmp_path)
    assert stale.returncode == 3 and "status was last written 60 s ago" in stale.stdout.splitlines()[0], stale.stdout


def test_status_without_a_status_file(tmp_path: Path) -> None:
    (tmp_path / "b2bua.toml").write_text(config(tmp_path / "data"))
    none = status_cli(tmp_path)
    assert none.returncode == 1 and "is the server running?" in none.stderr


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
            # bindings are written off the event loop, a moment after the 200
            wait_for(lambda: db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 1, timeout=1.5)
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
