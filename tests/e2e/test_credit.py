"""Real-time credit control end to end: prepaid calls through the running server.

A code (40404) spends the credit account ``wallet``; its rate plan charges long
distance at 0.60/min in 1 s increments (0.01 EUR a second) and the server
reserves credit in chunks of 10 s (0.10 EUR), renewing 5 s before a chunk ends.
SIPp places the calls (``uac_wait_bye.xml``: the server hangs up) and a SIPp UAS
stands in for the carrier.  The billing database (SQLite in the data directory)
and ``b2bua credit balance`` tell what was charged.
"""

from __future__ import annotations

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

from .server import ROOT, free_port, wait_codes
from .sipp import SIPP, wait_idle
from .test_calls import OFFICE, Rig

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

CHUNK_S = 10
PER_SECOND = Decimal("0.01")
INCREMENT = PER_SECOND  # one billing increment (1 s)

PREPAID = OFFICE + f"""

[billing]
credit_chunk = {CHUNK_S}

[[billing.rate_plans]]
name = "prepaid"
class_defaults = {{ long_distance = {{ price_per_minute = 0.60, increment_s = 1 }} }}
"""

DIALED = "40404**2125551234"


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(rig.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


def balance(rig: Rig) -> tuple[Decimal, Decimal]:
    """(balance, reserved) of the wallet, from ``b2bua credit balance``."""
    proc = cli(rig, "credit", "balance", "wallet")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"balance (-?[\d.]+) EUR, reserved (-?[\d.]+)", proc.stdout)
    assert m, proc.stdout
    return Decimal(m.group(1)), Decimal(m.group(2))


def prepaid_rig(tmp: Path, amount: str) -> Rig:
    rig = Rig(tmp, extra=PREPAID, carrier_port=free_port())
    for args in (("credit", "create", "wallet", amount),
                 ("codes", "add", "40404", "--credit-account", "wallet", "--rate-plan", "prepaid")):
        proc = cli(rig, *args)
        assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=1)
    return rig



@pytest.fixture
def wallet_rig(tmp_path: Path) -> Iterator[Rig]:
    rig = prepaid_rig(tmp_path, "1.00")  # 100 s of talk in all
    yield rig
    rig.close()


def db_rows(rig: Rig, count: int, timeout: float = 20.0) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The closed call records and the reservations by call ref (amounts in EUR)."""
    end = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(rig.data / "billing.sqlite3")
        db.row_factory = sqlite3.Row
        try:
            cdrs = [dict(r) for r in db.execute("SELECT * FROM cdr WHERE end_time IS NOT NULL")]
            res = {r["id"]: dict(r) for r in db.execute("SELECT * FROM credit_reservations")}
        finally:
            db.close()
        if len(cdrs) >= count or time.monotonic() > end:
            for r in res.values():
                r["amount"] = Decimal(r["amount"]) / 100
                r["charged"] = Decimal(r["charged"]) / 100
            return cdrs, res
        time.sleep(0.3)


def check_cut_calls(cdrs: list[dict[str, Any]], res: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every answered call was ended by the server for credit, never before its paid
    time ran out; every settled reservation charged at most what it held."""
    answered = [c for c in cdrs if c["answer_time"] is not None]
    for c in answered:
        assert c["hangup"] == "server" and c["cause"].startswith("credit: "), c
        r = res.get(c["ref"])
        talk = c["end_time"] - c["answer_time"]
        if r is None or r["amount"] == 0:  # its first chunk could not be reserved: cut at once
            assert c["cause"] == "credit: insufficient credit" and talk < 2.0, (c, r)
            continue
        assert r["state"] == "committed" and r["charged"] <= r["amount"], r
        paid_s = float(r["amount"] / PER_SECOND)
        assert paid_s % CHUNK_S == 0, r
        assert c["cause"] == "credit: credit exhausted", c
        assert paid_s - 0.2 <= talk <= paid_s + 2.0, (talk, c, r)  # not early, not (much) late
    return answered


def test_fifty_calls_on_one_small_balance(wallet_rig: Rig) -> None:
    rig = wallet_rig
    calls = 50
    initial, _ = balance(rig)
    far = rig.uas("uas.xml", rig.carrier_port, calls=calls)
    rig.uac("uac_wait_bye.xml", DIALED, calls=calls, rate=200, extra=("-l", str(calls)))
    # SIPp fails the calls refused with 402 (no credit left for their first chunk)
    status = wait_idle(rig.data)
    assert status.get("calls") == 0 and status.get("transactions") == 0, status
    far.stop()

    cdrs, res = db_rows(rig, calls)
    assert len(cdrs) == calls, len(cdrs)
    answered = check_cut_calls(cdrs, res)
    refused = [c for c in cdrs if c["answer_time"] is None]
    for c in refused:
        assert c["status"] == 402 and c["route"] == "none" and c["hangup"] == "", c
        assert c["ref"] not in res
    assert len(answered) + len(refused) == calls
    paid = [c for c in answered if res.get(c["ref"]) and res[c["ref"]]["amount"] > 0]
    assert paid, "no call got any credit"

    charged = sum((r["charged"] for r in res.values()), Decimal(0))
    assert all(r["state"] != "held" for r in res.values()), res
    assert charged <= initial + INCREMENT, charged
    assert charged >= initial - CHUNK_S * PER_SECOND, charged  # the balance was (nearly) spent
    final, reserved = balance(rig)
    assert reserved == 0 and final >= 0 and final == initial - charged, (final, reserved, charged)
    assert status["credit_calls"] == 0 and status["credit_cuts"] == len(answered), status


def test_renewal_then_cut_when_the_balance_runs_out(tmp_path: Path) -> None:
    """Two calls on 0.30 (three chunks): both pay a first chunk, one renews, the
    other is cut after 10 s and the renewed one after 20 s; 0.30 charged."""
    rig = prepaid_rig(tmp_path, "0.30")
    try:
        far = rig.uas("uas.xml", rig.carrier_port, calls=2)
        assert rig.uac("uac_wait_bye.xml", DIALED, calls=2, rate=50, extra=("-l", "2")) == 0, rig.last_uac
        status = wait_idle(rig.data)
        assert status.get("calls") == 0 and status.get("transactions") == 0, status
        far.stop()
        cdrs, res = db_rows(rig, 2)
        assert len(cdrs) == 2
        check_cut_calls(cdrs, res)
        assert sorted(r["amount"] for r in res.values()) == [Decimal("0.10"), Decimal("0.20")], res
        assert sum(r["charged"] for r in res.values()) == Decimal("0.30"), res
        assert balance(rig) == (Decimal("0.00"), Decimal("0.00"))
    finally:
        rig.close()
