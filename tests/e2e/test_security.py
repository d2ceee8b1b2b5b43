"""Security of the running server, seen from the wire: challenges that cost
nothing (RFC 3261 §8.2.7, §26.3.2.4)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from b2bua.sip.digest import authorization_for_challenges
from b2bua.sip.message import Response, parse_message

from .server import ServerProcess, UdpClient, status_of


def _config(data: Path) -> str:
    return f"""
[server]
data_dir = {json.dumps(str(data))}
[sip]
t1 = 0.1
[[users]]
extension = "1001"
password = "pw1001"
"""


def _invite(port: int, n: int) -> bytes:
    return (
        f"INVITE sip:1002@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-flood-{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=f{n}\r\nTo: <sip:1002@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:1001@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _status(data: Path) -> dict[str, object]:
    return json.loads((data / "status.json").read_text())


def test_unauthenticated_invites_are_challenged_once_and_leave_no_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerProcess(tmp_path, config=_config(data))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for n in range(100):
            sock.sendto(_invite(port, n), srv.addr)
        got: list[bytes] = []
        sock.settimeout(0.2)
        end = time.monotonic() + 2.0  # T1 = 0.1 s: a stateful 401 would be resent 4 times by then
        while time.monotonic() < end:
            try:
                got.append(sock.recv(65535))
            except socket.timeout:
                continue
        assert all(status_of(d) == 401 for d in got), [d[:40] for d in got]
        assert len(got) == 100  # one challenge each: no 100 Trying, no retransmission
        assert len({d.split(b"nonce=", 1)[1][:45] for d in got}) == 100
        # nothing is kept for them: the status file (rewritten every second)
        # shows at most the readiness probe's OPTIONS transaction (Timer J)
        time.sleep(1.1)
        assert _status(data)["transactions"] <= 1
    finally:
        sock.close()
        assert srv.stop() == 0
        assert "Traceback" not in srv.output()


def _guard_config(data: Path, trunk_port: int) -> str:
    return _config(data) + f"""
[[users]]
extension = "1002"
password = "pw1002"
[[trunks]]
name = "carrier"
host = "127.0.0.1"
port = {trunk_port}
[[routes]]
prefix = "9"
trunk = "carrier"
"""


class _Phone:
    """A digest-answering SIP client on one UDP socket (one source address for all users)."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.client = UdpClient(server)
        self.port = self.client.sock.getsockname()[1]
        self.n = 0

    def _request(self, method: str, target: str, user: str, auth: str = "") -> bytes:
        self.n += 1
        n, port = self.n, self.port
        host = self.client.server[0]
        to = f"<sip:{user}@{host}>" if method == "REGISTER" else f"<sip:{target}@{host}>"
        return (
            f"{method} sip:{target}@{host}:{self.client.server[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-guess-{n};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag=g{n}\r\nTo: {to}\r\n"
            f"Call-ID: guess-{n}-{user}\r\nCSeq: 1 {method}\r\n"
            f"Contact: <sip:{user}@127.0.0.1:{port}>\r\n{auth}Content-Length: 0\r\n\r\n"
        ).encode()

    def attempt(self, method: str, target: str, user: str, password: str) -> bytes | None:
        """The request, its challenge, the request with credentials: the final answer."""
        challenge = self.client.request(self._request(method, target, user))
        assert status_of(challenge) == 401, challenge
        msg = parse_message(challenge or b"")
        assert isinstance(msg, Response)
        uri = f"sip:{target}@{self.client.server[0]}:{self.client.server[1]}"
        value = authorization_for_challenges(msg.get_all("www-authenticate"), method, uri, user, password, "cn")
        return self.client.request(self._request(method, target, user, f"Authorization: {value}\r\n"))


def test_password_guessing_is_locked_out_but_emergency_calls_pass(tmp_path: Path) -> None:
    data = tmp_path / "data"
    trunk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trunk.bind(("127.0.0.1", 0))
    trunk.settimeout(3.0)
    srv = ServerProcess(tmp_path, config=_guard_config(data, trunk.getsockname()[1]))
    phone = _Phone(srv.addr)
    try:
        assert status_of(phone.attempt("REGISTER", "127.0.0.1", "1001", "pw1001")) == 200
        wrong = [phone.attempt("REGISTER", "127.0.0.1", "1001", f"guess{n}") for n in range(12)]
        assert [status_of(r) for r in wrong] == [403] * 12
        right = phone.attempt("REGISTER", "127.0.0.1", "1001", "pw1001")
        # the right password is answered exactly as a wrong one (status line and all)
        assert right is not None and right.split(b"\r\n", 1)[0] == wrong[-1].split(b"\r\n", 1)[0]
        assert status_of(phone.attempt("INVITE", "92125551234", "1001", "pw1001")) == 403
        # an emergency call from the locked phone reaches the trunk
        challenge = phone.client.request(phone._request("INVITE", "911", "1001"))
        msg = parse_message(challenge or b"")
        assert isinstance(msg, Response) and msg.status == 401
        uri = f"sip:911@{srv.addr[0]}:{srv.addr[1]}"
        value = authorization_for_challenges(msg.get_all("www-authenticate"), "INVITE", uri, "1001", "pw1001", "c")
        phone.client.sock.sendto(phone._request("INVITE", "911", "1001", f"Authorization: {value}\r\n"), srv.addr)
        out = trunk.recv(65535)
        assert out.startswith(b"INVITE sip:911@"), out[:60]
        # another user at the same address is not locked
        assert status_of(phone.attempt("REGISTER", "127.0.0.1", "1002", "pw1002")) == 200
        time.sleep(1.1)
        status = _status(data)
        assert status["auth_lockouts"] == 1 and status["auth_locked_out_attempts"] >= 2
        assert "password guessing: user '1001' from 127.0.0.1 locked" in srv.output()
        assert "guess1" not in srv.output()
    finally:
        phone.client.close()
        trunk.close()
        assert srv.stop() == 0
        assert "Traceback" not in srv.output()


def test_a_restart_keeps_lockouts_and_retires_nonces(tmp_path: Path) -> None:
    """Neither guessing protection nor nonce replay protection is reset by a restart."""
    data = tmp_path / "data"
    first = ServerProcess(tmp_path, config=_config(data) + '[[users]]\nextension = "1002"\npassword = "pw1002"\n')
    phone = _Phone(first.addr)
    try:
        challenge = phone.client.request(phone._request("REGISTER", "127.0.0.1", "1001"))
        msg = parse_message(challenge or b"")
        assert isinstance(msg, Response) and msg.status == 401
        uri = f"sip:127.0.0.1@{first.addr[0]}:{first.addr[1]}"
        value = authorization_for_challenges(msg.get_all("www-authenticate"), "REGISTER", uri, "1001", "pw1001", "c")
        signed = phone._request("REGISTER", "127.0.0.1", "1001", f"Authorization: {value}\r\n")
        assert status_of(phone.client.request(signed)) == 200
        wrong = [phone.attempt("REGISTER", "127.0.0.1", "1002", f"guess{n}") for n in range(10)]
        assert [status_of(r) for r in wrong] == [403] * 10
    finally:
        phone.client.close()
        assert first.stop() == 0
    (tmp_path / "second").mkdir()
    second = ServerProcess(tmp_path / "second", config=_config(data) + '[[users]]\nextension = "1002"\npassword = "pw1002"\n')
    phone = _Phone(second.addr)
    try:
        # the credential captured before the restart is not taken again (nonce of another run: stale)
        again = phone.client.request(signed)
        assert status_of(again) == 401 and again is not None and b"stale=true" in again
        # 1002 is still locked out: its right password is answered like a wrong one
        assert status_of(phone.attempt("REGISTER", "127.0.0.1", "1002", "pw1002")) == 403
        assert status_of(phone.attempt("REGISTER", "127.0.0.1", "1001", "pw1001")) == 200
    finally:
        phone.client.close()
        assert second.stop() == 0
        assert "Traceback" not in second.output()
