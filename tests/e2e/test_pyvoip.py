"""pyVoIP phones (a SIP stack nobody here wrote) through the real server.

Two phones register with digest authentication, 1001 calls 1002 through the
B2BUA, 1002 answers, both hear each other (RTP flows phone to phone on the
SDP the B2BUA relayed), the caller hangs up and both sides end; the server's
counters say so and nothing is left behind.  A phone with a wrong password is
refused and the server keeps serving.  See ``phones.py`` for the pyVoIP bugs
worked around and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from .phones import TONE, CallState, Phone, PhoneStatus, heard, wait_for
from .server import ServerProcess, UdpClient, options, status_of
from .sipp import server_status, wait_idle

T1 = 0.1  # seconds; calls and transactions are forgotten 64*T1 after they end
T2 = 0.4  # seconds; caps the interval of the 2xx retransmissions, whose last ends the call


def config(tmp: Path) -> str:
    return f"""
[server]
data_dir = {json.dumps(str(tmp / "data"))}
[sip]
t1 = {T1}
t2 = {T2}
invite_challenge = 401          # pyVoIP never answers a 407 on an INVITE
[[users]]
extension = "1001"
password = "pw1001"
display_name = "Alice"
[[users]]
extension = "1002"
password = "pw1002"
display_name = "Bob"
"""


class Rig:
    """The server and the phones of one test; ``close`` stops the phones
    (they unregister), then the server, and fails on a traceback in its log."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.server = ServerProcess(tmp, config=config(tmp))
        self.phones: list[Phone] = []

    def phone(self, extension: str, password: str, **kw: bool) -> Phone:
        p = Phone(self.server.addr, extension, password, **kw)
        self.phones.append(p)
        return p

    def registrations(self) -> str:
        """What `b2bua registrations` prints."""
        cmd = [sys.executable, "-m", "b2bua.runtime.cli", "registrations", "--config", str(self.tmp / "b2bua.toml")]
        proc = subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=20)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def log(self) -> str:
        return self.server.output()

    def close(self) -> None:
        errors: list[BaseException] = []
        for p in self.phones:
            try:
                p.stop()
            except Exception as err:  # stop the others and the server all the same
                errors.append(err)
        code = self.server.stop()
        out = self.server.output()
        assert "Traceback" not in out, out
        assert code == 0, out
        if errors:
            raise errors[0]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_call_between_two_pyvoip_phones(rig: Rig) -> None:
    alice = rig.phone("1001", "pw1001")
    bob = rig.phone("1002", "pw1002", answer=True)
    bob.start()
    alice.start()
    assert (alice.status, bob.status) == (PhoneStatus.REGISTERED, PhoneStatus.REGISTERED)
    listed = rig.registrations()
    assert f"127.0.0.1:{alice.sip_port}" in listed and f"127.0.0.1:{bob.sip_port}" in listed, listed

    call = alice.call("1002")
    # pyVoIP rings for one second before its callback answers
    assert wait_for(lambda: call.state is CallState.ANSWERED, 10), f"caller's call is {call.state}"
    answered_at = time.monotonic()
    answered = bob.answered.get(timeout=5)
    assert not bob.errors, bob.errors
    assert answered.state is CallState.ANSWERED

    # two dialogs, not one: the callee sees the B2BUA's Call-ID, and the
    # caller's extension as the From user
    assert answered.call_id != call.call_id
    assert answered.request.headers["From"]["number"] == "1001"
    assert answered.request.headers["To"]["number"] == "1002"

    # the SDP went through unchanged both ways: each phone sends RTP
    # straight to the other's port, and each hears the other
    (rtp_a,) = call.RTPClients
    (rtp_b,) = answered.RTPClients
    assert (rtp_a.outIP, rtp_a.outPort) == ("127.0.0.1", bob.rtp_port)
    assert (rtp_b.outIP, rtp_b.outPort) == ("127.0.0.1", alice.rtp_port)
    call.write_audio(TONE)
    answered.write_audio(TONE)
    assert heard(answered, 5), "the callee heard nothing from the caller"
    assert heard(call, 5), "the caller heard nothing from the callee"

    # The server resends its 2xx to the caller until the ACK comes and ends
    # the call at the first resend after 64*T1 without one: still up past
    # that, the caller's ACK was matched to the dialog.
    time.sleep(max(0.0, answered_at + 64 * T1 + T2 + 0.5 - time.monotonic()))
    assert (call.state, answered.state) == (CallState.ANSWERED, CallState.ANSWERED)

    call.hangup()
    assert call.state is CallState.ENDED
    assert wait_for(lambda: answered.state is CallState.ENDED, 5), "the callee never got the BYE"

    status = wait_idle(rig.data, timeout=64 * T1 + 10)
    assert status.get("calls") == 0 and status.get("transactions") == 0, status
    assert status["calls_started"] == 1, status
    assert status["calls_answered"] == 1, status
    assert status["calls_ended"] == 1, status
    assert status["calls_failed"] == 0, status
    assert status["registrations"] == 2, status
    log = rig.log()
    assert "caller hung up" in log, log
    assert "no ACK for 2xx" not in log, log


def test_wrong_password_is_refused_and_server_keeps_serving(rig: Rig) -> None:
    bad = rig.phone("1001", "not-the-password")
    good = rig.phone("1002", "pw1002")
    bad.start()  # does not raise: pyVoIP retries twice, then gives up with FAILED
    assert wait_for(lambda: bad.status is PhoneStatus.FAILED, 10), f"pyVoIP status {bad.status}"
    assert "no live registrations" in rig.registrations()
    assert "authentication failed for REGISTER" in rig.log()

    client = UdpClient(rig.server.addr)
    try:
        assert status_of(client.request(options(*rig.server.addr))) == 200
    finally:
        client.close()
    good.start()
    assert good.status is PhoneStatus.REGISTERED
    listed = rig.registrations()
    assert f"127.0.0.1:{good.sip_port}" in listed and f":{bad.sip_port}" not in listed, listed
    assert wait_for(lambda: server_status(rig.data).get("registrations") == 1, 3)


def test_unpatched_pyvoip_can_call(rig: Rig) -> None:
    """pyVoIP exactly as released calls through the server: its INVITE with
    credentials reuses the challenged INVITE's branch, which the server takes as
    a new request because its CSeq differs (as PJSIP does since
    pjsip/pjproject#4765)."""
    alice = rig.phone("1001", "pw1001", fix_pyvoip=False)
    bob = rig.phone("1002", "pw1002", answer=True, fix_pyvoip=False)
    bob.start()
    alice.start()
    call = alice.call("1002")
    answered = wait_for(lambda: call.state is CallState.ANSWERED, 4)
    answered_at = time.monotonic()
    still_up = False
    if answered:
        # its ACK carries a random To tag: taken from where its INVITE came, for
        # the INVITE's CSeq, so the call outlives the 2xx retransmissions
        time.sleep(max(0.0, answered_at + 64 * T1 + T2 + 0.5 - time.monotonic()))
        still_up = call.state is CallState.ANSWERED
        if still_up:
            call.hangup()
    assert answered, f"caller's call is {call.state}"
    assert still_up, f"caller's call is {call.state}"
    assert "no ACK for 2xx" not in rig.log()
