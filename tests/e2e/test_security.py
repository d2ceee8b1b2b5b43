"""Security of the running server, seen from the wire: challenges that cost
nothing (RFC 3261 §8.2.7, §26.3.2.4)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from .server import ServerProcess, status_of


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
