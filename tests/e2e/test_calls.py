"""Calls end to end: SIPp UAC -> server -> SIPp UAS, over real loopback sockets.

Every test ends by checking that the server holds no call and no transaction
once the dust has settled, and that its counters say what happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .server import ServerProcess, free_port
from .sipp import SIPP, Sipp, run, server_status, sipp_args, wait_idle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

CARRIER_IP = "127.0.0.3"  # SIPp bound here is the carrier calling in


def config(data: Path, carrier_port: int, no_answer: float = 30.0, extra: str = "", server: str = "") -> str:
    return f"""
[server]
data_dir = "{data}"
{server}
log_level = "info"
[sip]
t1 = 0.1
t4 = 1.0  # loopback: Timers I and K need not absorb retransmissions 5 s long
timer_d = 1.0  # nor Timer D the callee's final responses 32 s long
invite_challenge = 401
no_answer_timeout = {no_answer}
[[users]]
extension = "1001"
password = "pw1001"
display_name = "Alice"
department = "Sales"
[[users]]
extension = "1002"
password = "pw1002"
[[trunks]]
name = "carrier"
host = "127.0.0.1"
port = {carrier_port}
inbound = ["{CARRIER_IP}/32"]
strip = 1
dids = {{ "5551002" = "1002" }}
[[routes]]
prefix = "9"
trunk = "carrier"
""" + extra


# An office for account-code and billing tests (append to Rig's extra=): every
# outside number goes to the SIPp carrier; the default group needs a 5-digit
# code on long-distance and international calls.
OFFICE = """
[[routes]]
prefix = ""
trunk = "outside"

[[trunks]]
name = "outside"
host = "127.0.0.1"
port = CARRIER_PORT

[numbering]
kind = "nanp"
home_area_code = "801"

[groups.default]
mode = "classes"
required_classes = ["long_distance", "international"]
code_length = 5
fac = "*88"
validation = "list"
prompt = "off"   # these tests dial their codes; a missing one is refused (prompting: test_prompting)
"""


class Rig:
    def __init__(self, tmp: Path, no_answer: float = 30.0, extra: str = "", carrier_port: int | None = None,
                 server: str = "") -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.carrier_port = carrier_port or free_port()
        extra = extra.replace("CARRIER_PORT", str(self.carrier_port))
        self.server = ServerProcess(tmp, config=config(self.data, self.carrier_port, no_answer, extra, server))
        self.target = self.server.addr
        self.procs: list[Sipp] = []

    def register(self, ext: str, password: str, contact_port: int) -> None:
        args = sipp_args(
            "register.xml", self.target, port=free_port(), service=ext, user=ext, password=password,
            variables={"cport": str(contact_port), "expires": "300"},
        )
        proc = run(args, self.tmp)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    def uas(self, scenario: str, port: int, calls: int = 1, extra: tuple[str, ...] = (), ip: str = "127.0.0.1") -> Sipp:
        p = Sipp(sipp_args(scenario, None, port=port, ip=ip, calls=calls, extra=extra), self.tmp, f"uas-{port}")
        self.procs.append(p)
        return p

    def uac(self, scenario: str, dialed: str, *, calls: int = 1, caller: str = "1001", password: str = "pw1001",
            extra: tuple[str, ...] = (), rate: float = 10.0, ip: str = "127.0.0.1") -> int:
        args = sipp_args(
            scenario, self.target, port=free_port(ip), ip=ip, calls=calls, rate=rate, service=dialed,
            user=caller, password=password, variables={"caller": caller}, extra=("-d", "300", *extra),
        )
        proc = run(args, self.tmp)
        self.last_uac = proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.returncode

    def close(self) -> None:
        for p in self.procs:
            p.stop()
        code = self.server.stop()
        out = self.server.output()
        assert "Traceback" not in out, out
        assert code == 0, out


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def settle(rig: Rig) -> dict[str, int]:
    status = wait_idle(rig.data)
    assert status.get("calls") == 0 and status.get("transactions") == 0, status
    return status


def test_call_between_registered_extensions(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas.xml", port)
    assert rig.uac("uac.xml", "1002") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    status = settle(rig)
    assert status["calls_started"] == 1 and status["calls_answered"] == 1 and status["calls_ended"] == 1
    assert status["calls_failed"] == 0


def test_several_calls_in_a_row_and_at_once(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas.xml", port, calls=20)
    assert rig.uac("uac.xml", "1002", calls=20, rate=20, extra=("-l", "10")) == 0, rig.last_uac
    assert uas.wait(60) == 0, uas.output()
    status = settle(rig)
    assert status["calls_answered"] == 20 and status["calls_ended"] == 20


def test_busy_callee(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas_busy.xml", port)
    assert rig.uac("uac_fail.xml", "1002") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    status = settle(rig)
    assert status["calls_failed"] == 1 and status["calls_answered"] == 0
    assert "486 Busy Here" in rig.server.output()


def test_caller_cancels_while_ringing(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas_ring.xml", port)
    assert rig.uac("uac_cancel.xml", "1002") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    status = settle(rig)
    assert status["calls_answered"] == 0 and status["calls_ended"] == 1


def test_no_answer_timeout(tmp_path: Path) -> None:
    rig = Rig(tmp_path, no_answer=1.0)
    try:
        port = free_port()
        rig.register("1002", "pw1002", port)
        uas = rig.uas("uas_ring.xml", port)
        assert rig.uac("uac_fail.xml", "1002") == 0, rig.last_uac  # gets 480
        assert uas.wait(30) == 0, uas.output()  # got the CANCEL
        status = settle(rig)
        assert status["calls_failed"] == 1
        assert "no answer" in rig.server.output()
    finally:
        rig.close()


def test_callee_hangs_up(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas_hangup.xml", port, extra=("-d", "500"))
    assert rig.uac("uac_wait_bye.xml", "1002") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    settle(rig)
    assert "callee hung up" in rig.server.output()


def test_unregistered_extension_and_unknown_number(rig: Rig) -> None:
    assert rig.uac("uac_fail.xml", "1002") == 0, rig.last_uac  # 480: not registered
    assert rig.uac("uac_fail.xml", "4444") == 0, rig.last_uac  # 404: no route
    status = settle(rig)
    assert status["calls_failed"] == 2
    out = rig.server.output()
    assert "1002 not registered" in out and "no route for 4444" in out


def test_wrong_password_is_refused(rig: Rig) -> None:
    assert rig.uac("uac_fail.xml", "1002", password="wrong") == 0, rig.last_uac  # 403
    settle(rig)
    assert "authentication failed for INVITE 1002" in rig.server.output()


def test_ten_percent_loss_on_both_legs(rig: Rig) -> None:
    """SIPp drops 10% of what it sends and receives on both sides: every call
    completes or fails cleanly and nothing is left behind in the server."""
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas.xml", port, calls=30, extra=("-lost", "10"))
    rig.uac("uac.xml", "1002", calls=30, rate=10, extra=("-lost", "10", "-l", "10"))
    uas.stop()  # calls whose last messages were lost may keep the UAS waiting
    status = settle(rig)
    assert status["calls_started"] >= 30
    assert status["calls_started"] == status["calls_ended"]


def test_carrier_calls_a_did_that_rings_a_phone(rig: Rig) -> None:
    port = free_port()
    rig.register("1002", "pw1002", port)
    uas = rig.uas("uas.xml", port)
    args = sipp_args("", rig.target, port=free_port(CARRIER_IP), ip=CARRIER_IP, service="5551002",
                     extra=("-d", "300"))
    args[args.index("-sf"):args.index("-sf") + 2] = ["-sn", "uac"]
    proc = run(args, rig.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert uas.wait(30) == 0, uas.output()
    settle(rig)
    assert "via extension" in rig.server.output() and "(trunk:carrier)" in rig.server.output()


def test_phone_calls_out_through_the_trunk(rig: Rig) -> None:
    uas = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg",))
    assert rig.uac("uac.xml", "95551234") == 0, rig.last_uac
    assert uas.wait(30) == 0, uas.output()
    settle(rig)
    trace = "".join(p.read_text() for p in rig.tmp.glob("uas_*_messages.log"))
    # the leading 9 is stripped; the B leg is a dialog of its own
    assert f"INVITE sip:5551234@127.0.0.1:{rig.carrier_port} SIP/2.0" in trace
    assert "SIPpTag00" not in trace.split("INVITE sip:5551234", 1)[1].split("\n\n", 1)[0]
