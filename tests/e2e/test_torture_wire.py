"""The RFC 4475 / RFC 5118 torture messages replayed to the running server
over real UDP and TCP sockets: each gets the status the RFC asks for or is
dropped, and the server keeps answering afterwards.

Responses to a UDP request go to the source address (``received``) and the
port of the Via sent-by (5060 when none), or the source port with ``rport``.
The client therefore sends from 127.0.0.5 and listens there on every sent-by
port the messages name.  After each message an OPTIONS probe (with ``rport``)
marks the end of that message's answers: the server handles datagrams in
order, so whatever arrives before the probe's 200 belongs to the message.
"""

from __future__ import annotations

import re
import select
import socket
import time
import uuid

import pytest

from tests.sip.torture_messages import OK, TORTURE, Torture

from .server import ServerProcess, status_of
from .test_transport import tcp_connect, tcp_exchange

CLIENT_IP = "127.0.0.5"
_VIA_PORT = re.compile(rb"(?im)^(?:via|v)[ \t]*:[^\r\n]*?:(\d{2,5})\b")


def _ports() -> set[int]:
    ports = {5060}
    for t in TORTURE:
        ports.update(int(p) for p in _VIA_PORT.findall(t.data) if 1024 <= int(p) <= 65535)
    return ports


def _probe(port: int, server_port: int) -> tuple[bytes, str]:
    cid = uuid.uuid4().hex
    return (
        f"OPTIONS sip:127.0.0.1:{server_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {CLIENT_IP}:{port};branch=z9hG4bK{cid[:12]};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@{CLIENT_IP}>;tag=p\r\nTo: <sip:127.0.0.1>\r\n"
        f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode(), cid


class Listener:
    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        for port in sorted(_ports()):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((CLIENT_IP, port))
            except OSError:
                s.close()
                continue
            self.socks.append(s)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.bind((CLIENT_IP, 0))
        self.socks.append(self.sender)

    def exchange(self, data: bytes, server: tuple[str, int]) -> list[bytes]:
        """Send ``data``, then a probe; return what came back before the probe's answer."""
        self.sender.sendto(data, server)
        probe, cid = _probe(self.sender.getsockname()[1], server[1])
        self.sender.sendto(probe, server)
        got: list[bytes] = []
        end = time.monotonic() + 5
        while time.monotonic() < end:
            ready, _, _ = select.select(self.socks, [], [], 0.2)
            for s in ready:
                msg = s.recv(65535)
                if cid.encode() in msg:
                    if not msg.startswith(b"SIP/2.0 1"):
                        return got
                else:
                    got.append(msg)
        raise AssertionError("the server stopped answering the OPTIONS probe")

    def close(self) -> None:
        for s in self.socks:
            s.close()


def _final_statuses(replies: list[bytes]) -> list[int]:
    return [s for s in (status_of(r) for r in replies) if s is not None and s >= 200]


def test_torture_over_udp(server: ServerProcess) -> None:
    listener = Listener()
    failures: list[str] = []
    try:
        for t in TORTURE:
            replies = listener.exchange(t.data, server.addr)
            finals = _final_statuses(replies)
            if t.expect is None and replies:
                failures.append(f"{t.name}: expected a silent drop, got {finals or replies[0][:40]!r}")
            elif isinstance(t.expect, int) and t.expect not in finals:
                failures.append(f"{t.name}: expected {t.expect}, got {finals}")
            elif t.expect == OK and any(s in (400, 505) for s in finals) and t.data[:4] != b"SIP/":
                failures.append(f"{t.name}: a valid message got {finals}")
    finally:
        listener.close()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("t", [t for t in TORTURE if not t.datagram_only], ids=lambda t: t.name)
def test_torture_over_tcp(module_server: ServerProcess, t: Torture) -> None:
    data = t.data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    s = tcp_connect(module_server.addr)
    try:
        expect = t.expect_on_stream
        if expect is None or t.data.startswith(b"SIP/"):
            s.sendall(data)
            s.settimeout(0.3)
            try:
                got = s.recv(65535)
            except (socket.timeout, ConnectionResetError):
                got = b""
            assert not got.startswith(b"SIP/2.0"), f"{t.name}: expected no answer, got {got[:60]!r}"
        else:
            msgs = tcp_exchange(s, data)
            finals = _final_statuses(msgs)
            if isinstance(expect, int):
                assert expect in finals, f"{t.name}: expected {expect}, got {finals}"
            else:
                assert not any(x in (400, 505) for x in finals), f"{t.name}: got {finals}"
    finally:
        s.close()
    # the server keeps serving other connections
    s2 = tcp_connect(module_server.addr)
    try:
        probe, _ = _probe(9, module_server.port)
        msgs = tcp_exchange(s2, probe.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        assert msgs and status_of(msgs[-1]) == 200
    finally:
        s2.close()
