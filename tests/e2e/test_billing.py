"""Billing end to end: calls placed by SIPp leave rated records in the billing
database, the ``b2bua report``/``b2bua cdr export`` commands show them, and a
server killed with SIGKILL mid-call closes its open records when it restarts.

The office of test_account_codes (NANP, home area 801, codes on long distance),
with two rate plans; the far end is a SIPp UAS standing in for the carrier.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from .server import ROOT, ServerProcess, free_port, wait_codes
from .sipp import SIPP, Sipp, server_status, sipp_args
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

BILLED_OFFICE = OFFICE + """

[billing]
interim_interval = 1
default_rate_plan = "standard"

[[billing.rate_plans]]
name = "standard"
rates = [{ prefix = "212", price_per_minute = 0.12, increment_s = 6, minimum_s = 30, setup = 0.05 }]
class_defaults = { local = { price_per_minute = 0.02, minimum_s = 60, setup = 0.10 } }

[[billing.rate_plans]]
name = "client"
class_defaults = { long_distance = { price_per_minute = 0.60 } }
"""


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(rig.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


def records(rig: Rig, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The exported records, once ``count`` of them are closed (writes are queued)."""
    end = time.monotonic() + timeout
    while True:
        proc = cli(rig, "cdr", "export", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)
        if sum(1 for r in found if r["end"]) >= count or time.monotonic() > end:
            return found
        time.sleep(0.3)


def billed_office(tmp: Path, extra: str = BILLED_OFFICE) -> Iterator[Rig]:
    """A fixture's body: the office of ``extra`` with codes 12345 (Acme, plan
    client) and 55555 (Desk), then its close."""
    rig = Rig(tmp, extra=extra, carrier_port=free_port())
    for args in (("add", "12345", "--name", "Acme", "--rate-plan", "client"), ("add", "55555", "--name", "Desk")):
        proc = cli(rig, "codes", *args)
        assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=2)
    yield rig
    rig.close()


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    yield from billed_office(tmp_path)


def outside_call(rig: Rig, dialed: str, talk_ms: int = 300, uas: str = "uas.xml", uac: str = "uac.xml") -> int:
    far = rig.uas(uas, rig.carrier_port)
    code = rig.uac(uac, dialed, extra=("-d", str(talk_ms)))
    return code or far.wait(30)


def test_every_attempt_leaves_one_rated_record(office: Rig) -> None:
    assert outside_call(office, "12345**2125551234", talk_ms=2000) == 0, office.last_uac
    assert outside_call(office, "55555**2125551234") == 0, office.last_uac
    assert outside_call(office, "6424655") == 0, office.last_uac
    assert outside_call(office, "6424656", uas="uas_busy.xml", uac="uac_fail.xml") == 0, office.last_uac
    assert office.uac("uac_fail.xml", "2125551234") == 0, office.last_uac  # 403: code required
    settle(office)
    found = records(office, 5)
    assert len(found) == 5 and all(r["end"] for r in found), found
    # dst is the number without the code: records told apart by number and account code
    by_dst = {(r["dst"], r["accountcode"]): r for r in found}
    assert len(by_dst) == 5  # one record per attempt
    assert not any("**" in r["dst"] for r in found)

    client = by_dst[("2125551234", "12345")]
    assert (client["accountcode"], client["code_source"], client["code_valid"]) == ("12345", "shortcut", True)
    assert (client["call_class"], client["rate_plan"], client["status"], client["disposition"]) == (
        "long_distance", "client", 200, "ANSWERED")
    assert client["destination"] == "2125551234" and client["trunk"] == "outside"
    assert client["hangup"] == "caller" and client["a_call_id"] and client["b_call_id"]
    # about 2 s of talk, every started second billed at 0.60/min: 3 s -> 0.03
    assert client["billable"] == 3 and client["cost"] == "0.03", client
    assert 2 <= client["billsec"] <= 3

    desk = by_dst[("2125551234", "55555")]  # the code names no plan: the default plan's 212 rate
    # 0.3 s -> 30 s minimum (a multiple of 6): 0.05 setup + 30 s at 0.12/min = 0.11
    assert (desk["accountcode"], desk["rate_plan"], desk["billable"], desk["cost"]) == ("55555", "standard", 30, "0.11")

    local = by_dst[("6424655", "")]  # no code needed; class default: 0.10 + 60 s at 0.02/min
    assert (local["accountcode"], local["call_class"], local["billable"], local["cost"]) == ("", "local", 60, "0.12")

    busy = by_dst[("6424656", "")]
    assert (busy["status"], busy["disposition"], busy["answer"], busy["billsec"], busy["cost"]) == (
        486, "BUSY", "", 0, "0.00")

    refused = by_dst[("2125551234", "")]
    assert (refused["status"], refused["disposition"], refused["route"], refused["cost"]) == (403, "FAILED", "none", "0.00")
    assert refused["cause"].startswith("Account code required") and refused["call_class"] == "long_distance"

    proc = cli(office, "report", "--by", "account-code", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["account-code"]: r for r in json.loads(proc.stdout)}
    assert rows["12345"]["calls"] == 1 and rows["12345"]["total_cost"] == "0.03"
    assert rows["(none)"]["calls"] == 3 and rows["(none)"]["answered"] == 1 and rows["(none)"]["total_cost"] == "0.12"
    total = sum(Decimal(r["total_cost"]) for r in rows.values())
    assert total == Decimal("0.26")

    proc = cli(office, "cdr", "export", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert {r["accountcode"] for r in table} == {"12345", "55555", ""}
    assert sorted(r["cost"] for r in table) == ["0.00", "0.00", "0.03", "0.11", "0.12"]

    proc = cli(office, "report", "--by", "department", "--from", "2024-02-30")
    assert proc.returncode == 2 and "bad date" in proc.stderr


def test_killed_server_closes_open_records_on_restart(office: Rig) -> None:
    calls = 8
    far = office.uas("uas.xml", office.carrier_port, calls=calls)
    uac = Sipp(sipp_args("uac.xml", office.target, port=free_port(), calls=calls, rate=20, service="6424655",
                         user="1001", password="pw1001", variables={"caller": "1001"},
                         extra=("-d", "60000", "-l", str(calls))), office.tmp, "uac-crash")
    office.procs.append(uac)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        status = server_status(office.data)
        if status.get("calls_answered") == calls:
            break
        time.sleep(0.2)
    assert status.get("calls_answered") == calls, status
    time.sleep(2.5)  # at least one interim update per call (interim_interval = 1 s)
    office.server.proc.kill()
    office.server.proc.wait()
    before = office.server.output()
    uac.stop()
    far.stop()
    assert "Traceback" not in before, before

    office.server = ServerProcess(office.tmp, config=(office.tmp / "b2bua.toml").read_text())
    office.target = office.server.addr
    assert "closed 8 call records left open by an earlier crash" in office.server.output()
    found = records(office, calls)
    assert len(found) == calls, found
    assert len({r["a_call_id"] for r in found}) == calls  # exactly one record per answered call
    for r in found:
        assert r["recovered"] and r["disposition"] == "ANSWERED" and r["cause"] == "recovered after restart", r
        # billed up to the last interim update: at least 2 s of the ~3 s talked
        assert 2 <= r["billsec"] <= 4 and r["end"] and r["cost"] == "0.12", r
    status = server_status(office.data, settle=1.5)
    assert status["billing_open_records"] == 0
    # a second restart finds nothing left to recover
    office.server.stop()
    office.server = ServerProcess(office.tmp, config=(office.tmp / "b2bua.toml").read_text())
    assert "left open by an earlier crash" not in office.server.output()
    assert len(records(office, calls)) == calls


def test_an_answered_call_survives_kill_9_while_the_database_is_locked(office: Rig) -> None:
    """The caller's 200 OK is relayed only once the answer is on disk ([billing]
    durable_answer, group-committed to the journal): with the billing database
    locked by another process (its writes stall) and the server killed with SIGKILL
    just after SIPp received the 200, the restarted server still has the record."""
    db = sqlite3.connect(office.data / "billing.sqlite3", isolation_level=None, timeout=30)
    db.execute("BEGIN EXCLUSIVE")  # nothing the server queues reaches the database now
    try:
        far = office.uas("uas.xml", office.carrier_port)
        uac = Sipp(sipp_args("uac.xml", office.target, port=free_port(), service="6424655", user="1001",
                             password="pw1001", variables={"caller": "1001"}, extra=("-d", "60000", "-trace_msg")),
                   office.tmp, "uac-durable")
        office.procs.append(uac)
        end = time.monotonic() + 30
        while time.monotonic() < end and not answered_seen(office.tmp):
            time.sleep(0.01)
        assert answered_seen(office.tmp), "SIPp never got the 200"
        office.server.proc.kill()  # at once: the queued writes are still stalled on the lock
        office.server.proc.wait()
        uac.stop()
        far.stop()
    finally:
        db.execute("ROLLBACK")
        db.close()
    office.server = ServerProcess(office.tmp, config=(office.tmp / "b2bua.toml").read_text())
    found = records(office, 1)
    assert len(found) == 1, (found, office.server.output())
    (r,) = found
    assert r["disposition"] == "ANSWERED" and r["recovered"] and r["destination"] == "6424655", r


def answered_seen(tmp: Path) -> bool:
    """Did the SIPp caller receive a 200 to its INVITE (its -trace_msg log)?"""
    for log in tmp.glob("uac*_messages.log"):
        text = log.read_text(errors="replace")
        if re.search(r"SIP/2\.0 200 OK(?:(?!\n\n|\r\n\r\n).)*?CSeq: *\d+ INVITE", text, re.S):
            return True
    return False
