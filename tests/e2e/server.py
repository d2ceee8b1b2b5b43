"""Start the real server (``python -m b2bua.runtime.cli serve``) on free
loopback ports, and small real-socket SIP clients to talk to it."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``, drawn from 10000-19999: below the
    kernel's ephemeral range (32768-60999), which other processes take from at any
    moment, and below the RTP port ranges the tests give the server (20000 and up),
    so that a port chosen here stays free until SIPp or the server binds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randrange(10000, 20000)
        u = socket.socket(family, socket.SOCK_DGRAM)
        t = socket.socket(family, socket.SOCK_STREAM)
        try:
            u.bind((host, port))
            t.bind((host, port))
        except OSError:
            continue
        finally:
            t.close()
            u.close()
        return port
    raise RuntimeError("no free port")


def rtp_range() -> int:
    """The first port of a range of 100 RTP ports for a server under test: between
    the ports free_port() draws from (10000-19999) and the ephemeral ports (32768 up),
    so that neither a SIP port chosen for a test nor a socket the kernel hands out
    meanwhile sits in it; drawn at random so that servers started one after the other
    rarely share one; a range some port of which is taken now (another server under
    test on this machine) is passed over."""
    for _ in range(20):
        first = 20000 + random.randrange(128) * 100
        if _udp_range_free(first, first + 100):
            return first
    return first


def _udp_range_free(first: int, last: int) -> bool:
    taken: list[socket.socket] = []
    try:
        for port in range(first, last, 2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            taken.append(s)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True
    finally:
        for s in taken:
            s.close()


def options(host: str, port: int, *, tag: str | None = None) -> bytes:
    cid = tag or uuid.uuid4().hex
    h = f"[{host}]" if ":" in host else host
    return (
        f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {h}:9;branch=z9hG4bK{cid[:12]};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:probe@{h}>;tag=p1\r\nTo: <sip:{h}>\r\n"
        f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class UdpClient:
    def __init__(self, server: tuple[str, int]) -> None:
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((server[0], 0))
        self.sock.settimeout(2.0)
        self.server = server

    def request(self, data: bytes, timeout: float = 2.0) -> bytes | None:
        """Send ``data``; return the first final response to it (same Call-ID),
        or None on timeout."""
        m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", data)
        call_id = m.group(1) if m else b""
        self.sock.sendto(data, self.server)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                reply = self.sock.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if not reply.startswith(b"SIP/2.0 1") and call_id in reply:
                return reply
        return None

    def close(self) -> None:
        self.sock.close()


def status_of(reply: bytes | None) -> int | None:
    if reply is None:
        return None
    return int(reply.split(b" ", 2)[1])


class ServerProcess:
    """The server as a subprocess; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, tmp: Path, host: str = "127.0.0.1", config: str | None = None, extra: list[str] | None = None) -> None:
        self.host = host
        self.port = free_port(host)
        h = f"[{host}]" if ":" in host else host
        cfg = tmp / "b2bua.toml"
        cfg.write_text(config or "")
        args = [sys.executable, "-m", "b2bua.runtime.cli", "serve", "--listen", f"udp:{h}:{self.port}", "--listen", f"tcp:{h}:{self.port}"]
        # the portal on a port the kernel picks (no collision between tests);
        # ``http_url`` finds it in the log
        args += ["--http-listen", f"{h}:0"]
        if config is not None:
            args += ["--config", str(cfg)]
        args += extra or []
        self.log = tmp / "server.log"
        self._logf = open(self.log, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, cwd=tmp, stdout=self._logf, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _wait_ready(self) -> None:
        """Until the server answers an OPTIONS: one is sent every 50 ms, and an
        answer to any of them (a socket of its own gets no other) will do."""
        client = UdpClient(self.addr)
        try:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.output()}")
                client.sock.sendto(options(self.host, self.port), self.addr)
                client.sock.settimeout(0.05)
                try:
                    if client.sock.recv(65535).startswith(b"SIP/2.0 "):
                        return
                except (socket.timeout, ConnectionRefusedError):
                    time.sleep(0.01)  # refused: not listening yet
            raise RuntimeError(f"server did not answer: {self.output()}")
        finally:
            client.close()

    @property
    def http_url(self) -> str:
        """``http://HOST:PORT`` of the server's portal and /metrics (from its log:
        the port is the kernel's choice)."""
        end = time.monotonic() + 10
        while time.monotonic() < end:
            m = re.search(r"portal and metrics on (https?://\S+?)/?$", self.output(), re.M)
            if m is not None:
                return m.group(1)
            time.sleep(0.05)
        raise RuntimeError(f"the server names no HTTP address: {self.output()}")

    def output(self) -> str:
        if not self._logf.closed:
            self._logf.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()
        return self.proc.returncode


def wait_codes(data: Path, *, count: int = 0, timeout: float = 10.0) -> None:
    """Until a change to the account codes made just now is in the running
    server's copy: the status file (rewritten every second) shows at least
    ``count`` codes, written at least half a second after this call (the copy
    follows the table within a fraction of a second)."""
    since = time.time() + 0.5
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            st = json.loads((data / "status.json").read_text())
        except (OSError, ValueError):
            st = {}
        if st.get("account_codes_loaded", 0) >= count and (st.get("updated") or 0) >= since:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server did not take the account-code change in {timeout} s")
