"""The server over real loopback sockets: UDP, TCP, IPv6, bad peers."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from b2bua.sip.framing import StreamFramer
from b2bua.sip.message import Response, parse_message

from .server import ServerProcess, UdpClient, options, status_of


def tcp_connect(addr: tuple[str, int]) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3.0)
    s.connect(addr)
    return s


def tcp_exchange(s: socket.socket, data: bytes, timeout: float = 3.0) -> list[bytes]:
    """Send ``data``; collect framed messages until a final response (or timeout)."""
    s.sendall(data)
    framer = StreamFramer()
    got: list[bytes] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = s.recv(65535)
        except socket.timeout:
            break
        if not chunk:
            break
        got.extend(framer.feed(chunk))
        if any(not m.startswith(b"SIP/2.0 1") for m in got):
            break
    return got


def tcp_options(host: str, port: int) -> bytes:
    return options(host, port).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")


def test_options_over_udp(server: ServerProcess) -> None:
    client = UdpClient(server.addr)
    port = client.sock.getsockname()[1]
    reply = client.request(options(*server.addr))
    client.close()
    assert status_of(reply) == 200
    resp = parse_message(reply)  # type: ignore[arg-type]
    assert isinstance(resp, Response)
    allow = {m.strip() for m in resp.get_all("allow")}
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"} <= allow
    assert "application/sdp" in (resp.get("accept") or "")
    assert "supported" in resp
    # RFC 3581: rport filled with the port we sent from, received with our address
    via = resp.top_via
    assert via.params.get("rport") == str(port)
    assert via.params.get("received") == "127.0.0.1"


def test_options_over_tcp(server: ServerProcess) -> None:
    s = tcp_connect(server.addr)
    try:
        msgs = tcp_exchange(s, tcp_options(*server.addr))
        assert msgs and status_of(msgs[-1]) == 200
        # the connection stays open for the next request
        msgs = tcp_exchange(s, tcp_options(*server.addr))
        assert msgs and status_of(msgs[-1]) == 200
    finally:
        s.close()


def _has_ipv6_loopback() -> bool:
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_udp_and_tcp(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path, host="::1")
    try:
        client = UdpClient(srv.addr)
        assert status_of(client.request(options("::1", srv.port))) == 200
        client.close()
        s = tcp_connect(srv.addr)
        msgs = tcp_exchange(s, tcp_options("::1", srv.port))
        s.close()
        assert msgs and status_of(msgs[-1]) == 200
    finally:
        assert srv.stop() == 0


def test_udp_junk_never_stops_the_server(server: ServerProcess) -> None:
    client = UdpClient(server.addr)
    junk = [
        b"\x00" * 40,
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 999999 x\r\n\r\n",
        b"GARBAGE " * 500,
        os.urandom(1400),
        b"\r\n\r\n",
        b"",
    ]
    for data in junk:
        client.sock.sendto(data, server.addr)
    assert status_of(client.request(options(*server.addr))) == 200
    client.close()


def test_tcp_garbage_peer_is_closed_and_others_served(server: ServerProcess) -> None:
    good = tcp_connect(server.addr)
    bad = tcp_connect(server.addr)
    try:
        bad.sendall(b"GARBAGE WITHOUT END " * 2000)  # a head that never ends
        bad.settimeout(5)
        closed = False
        try:
            while bad.recv(65535):
                pass
            closed = True
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        assert closed
        msgs = tcp_exchange(good, tcp_options(*server.addr))
        assert msgs and status_of(msgs[-1]) == 200
    finally:
        good.close()
        bad.close()


def test_tcp_huge_content_length_is_answered_then_closed(server: ServerProcess) -> None:
    s = tcp_connect(server.addr)
    try:
        head = tcp_options(*server.addr).replace(b"Content-Length: 0", b"Content-Length: 999999999")
        s.sendall(head)
        s.settimeout(5)
        got = b""
        try:
            while chunk := s.recv(65535):
                got += chunk
        except ConnectionResetError:
            pass
        # the fault is named, then the connection is closed (the stream cannot be resynchronised)
        assert got.startswith(b"SIP/2.0 400 Content-Length 999999999 exceeds the limit of "), got[:80]
    finally:
        s.close()
    client = UdpClient(server.addr)
    assert status_of(client.request(options(*server.addr))) == 200
    client.close()


def test_tcp_peer_sending_one_byte_at_a_time(server: ServerProcess) -> None:
    s = tcp_connect(server.addr)
    try:
        for b in tcp_options(*server.addr):
            s.send(bytes([b]))
        msgs = tcp_exchange(s, b"")
        assert msgs and status_of(msgs[-1]) == 200
    finally:
        s.close()
