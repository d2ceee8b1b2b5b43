"""Prompted account codes end to end: a SIPp phone dials a long-distance number
without a code, hears the server's prompt (183 with the server's SDP), keys the
code, and its call reaches the SIPp carrier; after the callee answers, the
server re-offers both sides so that media flows phone to phone.

The office of test_calls (NANP, home area 801, 5-digit codes on long-distance
and international calls), with prompting on for its group.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from .server import ROOT, free_port, wait_codes
from .sipp import SIPP, run, sipp_args
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

LONG = "2125551234"


def prompting_office(rtp_first: int) -> str:
    return OFFICE.replace('prompt = "off"', 'prompt = "announcement"') + f"""
[media]
address = "127.0.0.1"
rtp_first = {rtp_first}
rtp_last = {rtp_first + 99}
"""


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(rig.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    rtp_first = 30000 + (free_port() % 300) * 100  # a range of its own, as far as can be told
    rig = Rig(tmp_path, extra=prompting_office(rtp_first), carrier_port=free_port())
    proc = cli(rig, "codes", "add", "12345", "--name", "Acme")
    assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=1)
    yield rig
    rig.close()


def keyed(rig: Rig, code: str, *, scenario: str = "uac_prompt_info.xml", far: str = "uas_bridged.xml") -> int:
    uas = rig.uas(far, rig.carrier_port, extra=("-trace_msg",))
    variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate(code)}}
    if scenario != "uac_prompt_info.xml":
        variables = {"caller": "1001"}  # the digits are in the scenario (captures)
    args = sipp_args(scenario, rig.target, port=free_port(), service=LONG, user="1001", password="pw1001",
                     variables=variables, extra=("-d", "500", "-trace_msg", "-mp", str(free_port())))
    proc = run(args, rig.tmp)
    rig.last_uac = proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode or uas.wait(30)


def records(rig: Rig) -> list[dict[str, Any]]:
    proc = cli(rig, "cdr", "export", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def sdp_address(message: str) -> tuple[str, int]:
    c = re.search(r"c=IN IP4 (\S+)", message)
    m = re.search(r"m=audio (\d+)", message)
    assert c is not None and m is not None, message
    return c.group(1), int(m.group(1))


def messages(rig: Rig, prefix: str) -> list[str]:
    """The messages a SIPp process sent and received (-trace_msg), oldest first."""
    out: list[str] = []
    for log in sorted(rig.tmp.glob(f"{prefix}*_messages.log")):
        for chunk in re.split(r"^-{10,}.*$", log.read_text(errors="replace"), flags=re.M):
            head, sep, body = chunk.partition(":\n")  # "UDP message received [N] bytes :" / "sent (N bytes):"
            if sep and "message" in head and body.strip():
                out.append(body.strip())
    return out


def test_a_code_keyed_by_info_after_the_prompt_places_the_call(office: Rig) -> None:
    assert keyed(office, "12345") == 0, office.last_uac + office.server.output()[-3000:]
    caller = messages(office, "uac_prompt_info")
    callee = messages(office, "uas_bridged")
    early = next(m for m in caller if "SIP/2.0 183" in m)
    assert sdp_address(early)[0] == "127.0.0.1"  # the server's own media
    ok = next(m for m in caller if "SIP/2.0 200 OK" in m and "INVITE" in m.split("CSeq:")[1].split("\n")[0])
    assert sdp_address(ok) == sdp_address(early)  # the caller's 200 is consistent with its early media
    invites = [m for m in callee if m.lstrip().startswith("INVITE ")]
    assert len(invites) == 2, callee
    # the first offer to the callee is the server's; the re-INVITE brings the caller's own address
    caller_offer = next(m for m in caller if m.lstrip().startswith("INVITE ") and "Authorization" in m)
    assert sdp_address(invites[1]) == sdp_address(caller_offer)
    assert sdp_address(invites[0]) != sdp_address(caller_offer)
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"]) == ("12345", "prompt", "info"), r
    assert r["destination"] == LONG and r["disposition"] == "ANSWERED" and r["trunk"] == "outside", r
    status = settle(office)
    assert status["calls_answered"] == 1


def test_a_code_keyed_by_rfc4733_events_from_captures(office: Rig) -> None:
    """The digits as RTP telephone-events: sip-tester's dtmf_2833_N.pcap captures
    played to the server's media address."""
    assert keyed(office, "12345", scenario="uac_prompt_2833.xml") == 0, (
        office.last_uac + office.server.output()[-3000:]
    )
    early = next(m for m in messages(office, "uac_prompt_2833") if "SIP/2.0 183" in m)
    assert "telephone-event/8000" in early  # negotiated
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"]) == ("12345", "prompt", "rfc4733"), r
    settle(office)
