"""Account codes enforced in the signaling path of the running server, with SIPp.

The office: NANP numbering with home area code 801; everything outside goes
to the carrier (SIPp UAS).  The default group requires a 5-digit code on long
distance and international calls, validated against the code list; the
``lobby`` group requires a code on every outside call.  Codes are managed
with the ``b2bua codes`` command while the server runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from .server import ROOT, free_port, wait_codes
from .sipp import SIPP, run, sipp_args
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

TRUSTED_PBX = "127.0.0.4"

POLICY = OFFICE + """

[groups.lobby]
mode = "mandatory"
validation = "list"
prompt = "off"

[groups.consult]
mode = "mandatory"
validation = "flag"            # any well-formed code, unknown ones flagged
fac = "*77"                    # variable length: the code ends with #
prompt = "off"

[groups.premium]
mode = "prefixes"
required_prefixes = ["1900", "900"]
prompt = "off"

[lockout]
max_failures = 3
window = 60
lockout = 60

[[users]]
extension = "1003"
password = "pw1003"
account_code = "55555"

[[users]]
extension = "1004"
password = "pw1004"
group = "lobby"

[[users]]
extension = "1005"
password = "pw1005"
group = "consult"

[[users]]
extension = "1006"
password = "pw1006"
group = "premium"

[[trunks]]
name = "pbx"
host = "TRUSTED_PBX"
port = 5060
inbound = ["TRUSTED_PBX/32"]
pass_account_code = true
group = "default"
allow_transit = true

[billing]
credit_chunk = 10

[[billing.rate_plans]]
name = "prepaid"
class_defaults = { long_distance = { price_per_minute = 0.60 }, emergency = { price_per_minute = 1.00 } }
"""


def codes(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = rig.tmp / "b2bua.toml"
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "codes", *args, "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, extra=POLICY.replace("TRUSTED_PBX", TRUSTED_PBX), carrier_port=free_port())
    for args in (
        ("add", "12345", "--name", "Acme v. Smith", "--blocked", "801,004,920988"),
        ("add", "55555", "--name", "Front desk"),
        ("add", "77777", "--name", "No international", "--classes", "local,long_distance,toll_free"),
        ("add", "24680", "--group", "lobby", "--allow-numbers", "1001,1002"),
        ("add", "31337", "--name", "Prepaid client", "--credit-account", "prepaid-1", "--rate-plan", "prepaid"),
        ("add", "31338", "--name", "Empty wallet", "--credit-account", "empty-1", "--rate-plan", "prepaid"),
    ):
        proc = codes(rig, *args)
        assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=6)
    yield rig
    rig.close()


def outside_call(rig: Rig, dialed: str, *, caller: str = "1001", password: str = "pw1001") -> int:
    """A call that reaches the carrier: 0 when the SIPp UAS answered it."""
    uas = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg",))
    code = rig.uac("uac.xml", dialed, caller=caller, password=password)
    uas_code = uas.wait(30)
    return code or uas_code


def refused(rig: Rig, dialed: str, *, caller: str = "1001", password: str = "pw1001") -> str:
    """A refused call: the reason phrase the server answered with."""
    assert rig.uac("uac_fail.xml", dialed, caller=caller, password=password) == 0, rig.last_uac
    return rig.server.output().strip().splitlines()[-1]


def carrier_saw(rig: Rig) -> str:
    return "".join(p.read_text() for p in rig.tmp.glob("uas_*_messages.log"))


def test_shortcut_code_on_a_long_distance_call(office: Rig) -> None:
    """3CX shortcut: code**number# (the # arrives escaped as %23)."""
    assert outside_call(office, "12345**2125551234%23") == 0, office.last_uac
    assert f"INVITE sip:2125551234@127.0.0.1:{office.carrier_port}" in carrier_saw(office)
    settle(office)


def test_blocked_prefix_refused_with_the_rule(office: Rig) -> None:
    line = refused(office, "12345**8016424655%23")
    assert "Account code ***45 may not call prefix 801" in line and "12345" not in line
    settle(office)


def test_code_required_on_long_distance_only(office: Rig) -> None:
    line = refused(office, "2125551234")
    assert "Account code required" in line
    assert outside_call(office, "6424655") == 0, office.last_uac  # local: no code asked
    settle(office)


def test_feature_access_code_form(office: Rig) -> None:
    assert outside_call(office, "*8812345%232125551234") == 0, office.last_uac
    assert outside_call(office, "*88123452125551234") == 0, office.last_uac  # fixed length: no # needed
    settle(office)


def test_emergency_never_asks_for_a_code(office: Rig) -> None:
    assert outside_call(office, "911", caller="1004", password="pw1004") == 0, office.last_uac
    settle(office)


def test_assigned_code_and_class_restriction(office: Rig) -> None:
    assert outside_call(office, "2125551234", caller="1003", password="pw1003") == 0, office.last_uac
    line = refused(office, "77777**011442071234567")
    assert "Account code ***77 may not make international calls" in line and "77777" not in line
    settle(office)


def test_lobby_code_may_only_call_listed_extensions(office: Rig) -> None:
    line = refused(office, "24680**2125551234", caller="1004", password="pw1004")
    assert "may not call" in line
    settle(office)


def test_wrong_codes_lock_the_extension_out(office: Rig) -> None:
    for bad in ("11111", "22222", "33333"):
        line = refused(office, f"{bad}**2125551234")
        assert "Invalid account code" in line  # the same answer whatever the code
    line = refused(office, "12345**2125551234")  # a good code, but locked now
    assert "Too many invalid account codes" in line
    assert "account codes locked for ext 1001" in office.server.output()
    status = settle(office)
    assert status["account_code_lockouts"] >= 1 and status["locked_out_attempts"] == 1


def test_code_disabled_while_the_server_runs(office: Rig) -> None:
    assert codes(office, "disable", "12345").returncode == 0
    wait_codes(office.data)
    line = refused(office, "12345**2125551234")
    assert "Invalid account code" in line
    settle(office)


def test_trusted_trunk_passes_the_code(office: Rig) -> None:
    uas = office.uas("uas.xml", office.carrier_port)
    args = sipp_args("uac_trunk.xml", office.target, port=free_port(TRUSTED_PBX), ip=TRUSTED_PBX,
                     service="2125551234", variables={"caller": "5550100", "code": "12345"}, extra=("-d", "300"))
    proc = run(args, office.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert uas.wait(30) == 0
    args = sipp_args("uac_trunk.xml", office.target, port=free_port(TRUSTED_PBX), ip=TRUSTED_PBX,
                     service="2125551234", variables={"caller": "5550100", "code": "99999"}, extra=("-d", "300"))
    assert run(args, office.tmp).returncode != 0  # an unknown code from the trunk is refused
    settle(office)


def test_flag_validation_with_variable_length_codes(office: Rig) -> None:
    """GR-605: any well-formed code goes through; an unknown one is flagged."""
    assert outside_call(office, "*77987654321%232125551234", caller="1005", password="pw1005") == 0, office.last_uac
    assert "account code ***21 (fac, flagged invalid)" in office.server.output()  # logged masked
    assert "987654321" not in office.server.output()
    line = refused(office, "2125551234", caller="1005", password="pw1005")
    assert "Account code required" in line
    line = refused(office, "*771%232125551234", caller="1005", password="pw1005")  # 1 digit: too short
    assert "Account code" in line
    settle(office)


def test_prefix_mode_asks_only_for_chosen_prefixes(office: Rig) -> None:
    assert outside_call(office, "2125551234", caller="1006", password="pw1006") == 0, office.last_uac
    line = refused(office, "19005551234", caller="1006", password="pw1006")
    assert "Account code required" in line
    settle(office)


def test_codes_unreadable_under_the_running_server_keep_the_copy_in_use(office: Rig) -> None:
    """The database cannot be read under the running server (its version counter
    renamed away): calls go on with the codes read last, the failure is logged
    once, and once it is back a change applies again.  (Before the first read
    nothing is guessed: calls that need a code get 503, tests/test_database.py.)"""
    import sqlite3
    import time

    def sql(statement: str) -> None:
        db = sqlite3.connect(office.data / "b2bua.sqlite3")
        db.execute(statement)
        db.commit()
        db.close()

    sql("ALTER TABLE admin_version RENAME TO gone")
    end = time.monotonic() + 10
    while "account codes cannot be read" not in office.server.output() and time.monotonic() < end:
        time.sleep(0.05)
    assert outside_call(office, "12345**2125551234%23") == 0, office.last_uac
    assert "Invalid account code" in refused(office, "99999**2125551234")
    sql("ALTER TABLE gone RENAME TO admin_version")
    assert codes(office, "disable", "12345").returncode == 0
    wait_codes(office.data)
    assert "Invalid account code" in refused(office, "12345**2125551234")
    out = office.server.output()
    assert out.count("account codes cannot be read") == 1 and "the copy read last stays in use" in out
    assert "account codes readable again" in out
    settle(office)


def test_credit_account_calls_checked_before_ringing(office: Rig) -> None:
    """A code that spends a credit account: an unknown account is refused with 403
    and a balance that cannot pay the first chunk with 402, both before the
    carrier is asked; emergency calls are never credit-checked."""
    line = refused(office, "31337**2125551234")  # no credit account prepaid-1
    assert "403 Credit refused: unknown credit account" in line, line
    proc = subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "credit", "create", "empty-1", "0",
         "--config", str(office.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    line = refused(office, "31338**2125551234")
    assert "402 Insufficient credit" in line, line
    assert "INVITE sip:2125551234" not in carrier_saw(office)  # never rang
    assert outside_call(office, "31337**911") == 0, office.last_uac
    assert outside_call(office, "31338**911") == 0, office.last_uac
    status = settle(office)
    assert status["credit_refusals"] == 2, status
