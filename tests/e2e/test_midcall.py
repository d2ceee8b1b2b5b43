"""Mid-call account codes end to end with SIPp: a call up through the server,
codes set by INFO with the account-code package, by legacy INFO and by a
separate SIPp process naming the call with Target-Dialog; the far end (a SIPp
UAS with -trace_msg) receives no request caused by them, and the record's
segments and costs are worked out by hand from their durations."""

from __future__ import annotations

import math
import re
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from .server import free_port
from .sipp import SIPP, Sipp, run, sipp_args
from .test_billing import BILLED_OFFICE, billed_office, cli, records
from .test_calls import Rig, settle


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    """test_billing's office, with codes optional: a call may start without one and
    get it during the call."""
    yield from billed_office(tmp_path, BILLED_OFFICE.replace('mode = "classes"', 'mode = "optional"'))

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

CID = "midcall-e2e-1@127.0.0.1"


def server_tag(rig: Rig, timeout: float = 15.0) -> str:
    """The server's tag of the phone's dialog, as the phone's SIPp wrote it (totag.txt)."""
    end = time.monotonic() + timeout
    path = rig.tmp / "totag.txt"
    while time.monotonic() < end:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return text
        time.sleep(0.1)
    raise AssertionError("the phone never logged the server's tag")


def cost(price_per_minute: str, seconds: int, setup: str = "0") -> Decimal:
    raw = Decimal(setup) + Decimal(seconds) * Decimal(price_per_minute) / 60
    return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_codes_set_during_a_call_split_the_record(office: Rig) -> None:
    far = office.uas("uas.xml", office.carrier_port, extra=("-trace_msg",))
    phone = Sipp(sipp_args(
        "uac_midcall.xml", office.target, port=free_port(), service="2125551234", user="1001", password="pw1001",
        # SIPp matches answers to its calls by Call-ID: the known one is made by -cid_str
        variables={"caller": "1001"}, extra=("-d", "4000", "-trace_msg", "-cid_str", "midcall-e2e-%u@%s"),
    ), office.tmp, "phone")
    office.procs.append(phone)
    tag = server_tag(office)
    time.sleep(2.5)  # the two in-dialog codes are set by now (1 s and 2 s after the answer)
    td = run(sipp_args(
        "td_info.xml", office.target, port=free_port(), service="1001", user="1001", password="pw1001",
        variables={"cid": CID, "totag": tag, "code": "12345"},
    ), office.tmp)
    assert td.returncode == 0, td.stdout[-3000:] + td.stderr[-3000:]
    assert phone.wait(60) == 0, phone.output()
    assert far.wait(30) == 0, far.output()
    settle(office)
    # the far end saw the call and its end, nothing else
    (trace,) = office.tmp.glob("uas_*_messages.log")
    methods = re.findall(r"^([A-Z]+) sip:\S+ SIP/2\.0", trace.read_text(errors="replace"), re.M)
    assert methods == ["INVITE", "ACK", "BYE"], methods

    (rec,) = records(office, 1)
    segs = rec["code_changes"]
    assert [(s["accountcode"], s["code_source"], s["set_by"], s["rate_plan"]) for s in segs] == [
        ("", "none", "", "standard"),
        ("12345", "info_package", "1001", "client"),
        ("55555", "info", "1001", "standard"),
        ("12345", "target_dialog", "1001", "client"),
    ]
    assert rec["accountcode"] == "12345" and rec["code_source"] == "target_dialog"
    # by hand, from each segment's talk time: the first on the standard 212 rate (0.05 setup,
    # 30 s minimum, 6 s steps at 0.12/min); then the client plan (0.60/min, every started
    # second) and the standard rate by its 6 s steps, neither with setup nor minimum
    first, pkg, legacy, target = segs
    def started(seg: dict[str, Any]) -> int:  # seconds started (any part of one counts)
        return math.ceil(Decimal(str(seg["billsec"])))

    expect = [
        (max(30, math.ceil(started(first) / 6) * 6), "0.12", "0.05"),
        (started(pkg), "0.60", "0"),
        (math.ceil(started(legacy) / 6) * 6, "0.12", "0"),
        (started(target), "0.60", "0"),
    ]
    for seg, (billable, ppm, setup) in zip(segs, expect):
        assert seg["billable"] == billable, (seg, billable)
        assert Decimal(seg["cost"]) == cost(ppm, billable, setup), seg
    assert Decimal(rec["cost"]) == sum(Decimal(s["cost"]) for s in segs)
    assert 0.5 <= pkg["billsec"] <= 2.0 and legacy["billsec"] > 0 and target["billsec"] > 0
    # the per-segment CSV and the report by account code
    rows = cli(office, "cdr", "export", "--by-segment").stdout.splitlines()
    assert len(rows) == 5 and rows[2].split(",")[2:5] == ["12345", "info_package", "1001"]
    report = cli(office, "report", "--by", "account-code", "--format", "csv").stdout
    assert "12345,1,1," in report and "55555,1,1," in report


def test_a_code_attached_after_the_call_rebills_its_record(office: Rig) -> None:
    """Within the group's post_call_window a Target-Dialog request naming the
    caller's ended call attaches a code to it: the whole call is billed under that
    code's plan and the record says post_call."""
    far = office.uas("uas.xml", office.carrier_port)
    call = run(sipp_args(
        "uac_tagged.xml", office.target, port=free_port(), service="2125551234", user="1001", password="pw1001",
        variables={"caller": "1001"}, extra=("-d", "2000", "-cid_str", "midcall-e2e-%u@%s"),
    ), office.tmp)
    assert call.returncode == 0, call.stdout[-3000:]
    assert far.wait(30) == 0
    (before,) = records(office, 1)
    assert before["accountcode"] == "" and before["end"], before
    tag = server_tag(office)
    td = run(sipp_args(
        "td_info.xml", office.target, port=free_port(), service="1001", user="1001", password="pw1001",
        variables={"cid": CID, "totag": tag, "code": "12345"},
    ), office.tmp)
    assert td.returncode == 0, td.stdout[-3000:] + office.server.output()[-2000:]
    end = time.monotonic() + 10
    while time.monotonic() < end:
        (after,) = records(office, 1)
        if after["accountcode"] == "12345":
            break
        time.sleep(0.3)
    assert (after["accountcode"], after["code_source"], after["rate_plan"]) == ("12345", "post_call", "client"), after
    # the whole call under the client plan: 0.60/min, every started second, no setup
    assert Decimal(after["cost"]) == cost("0.60", after["billable"]), after
    assert after["billsec"] <= after["billable"] <= after["billsec"] + 1 and after["billable"] >= 2, after
    # only once
    again = run(sipp_args(
        "td_info.xml", office.target, port=free_port(), service="1001", user="1001", password="pw1001",
        variables={"cid": CID, "totag": tag, "code": "55555"},
    ), office.tmp)
    assert again.returncode != 0  # 481: the call no longer takes a code


def test_a_second_call_of_the_same_user_takes_its_own_code(office: Rig) -> None:
    """An ATA's three-way call: while 1001's call with code 12345 is up, its second
    INVITE carries the FAC form with code 55555 (``*88 code # number``); each record
    keeps its own code and the first call's code does not change."""
    far = office.uas("uas.xml", office.carrier_port, calls=2)
    first = Sipp(sipp_args(
        "uac.xml", office.target, port=free_port(), service="12345**2125551234", user="1001", password="pw1001",
        variables={"caller": "1001"}, extra=("-d", "4000"),
    ), office.tmp, "first")
    office.procs.append(first)
    end = time.monotonic() + 15
    while not re.search(r"call \w+ answered", office.server.output()) and time.monotonic() < end:
        time.sleep(0.1)
    # the first call is up: the second is placed now
    assert office.uac("uac.xml", "*8855555%232125551236", extra=("-d", "500")) == 0, office.last_uac
    assert first.wait(60) == 0, first.output()
    assert far.wait(30) == 0, far.output()
    settle(office)
    recs = {r["destination"]: r for r in records(office, 2)}
    one, two = recs["2125551234"], recs["2125551236"]
    assert (one["accountcode"], one["code_source"], one["code_changes"]) == ("12345", "shortcut", []), one
    assert (two["accountcode"], two["code_source"], two["code_changes"]) == ("55555", "fac", []), two
    assert one["caller_user"] == two["caller_user"] == "1001"
    # the calls overlapped: the second began and ended while the first was up
    assert one["start"] <= two["start"] and two["end"] < one["end"], (one, two)  # to the second
