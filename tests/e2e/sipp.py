"""Running SIPp (Debian's sip-tester) against the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = shutil.which("sipp")


def sipp_args(
    scenario: str,
    target: tuple[str, int] | None,
    *,
    port: int | None,
    ip: str = "127.0.0.1",
    transport: str = "u1",
    calls: int = 1,
    rate: float = 10.0,
    limit: int | None = None,
    service: str | None = None,
    user: str | None = None,
    password: str | None = None,
    variables: dict[str, str] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    assert SIPP is not None
    args = [SIPP]
    if target is not None:
        host = f"[{target[0]}]" if ":" in target[0] else target[0]  # IPv6
        args.append(f"{host}:{target[1]}")
    args += ["-sf", str(SCENARIOS / scenario), "-i", ip, "-t", transport, "-m", str(calls)]
    if port is not None:  # None: SIPp binds a port the kernel picks (no race with another process)
        args += ["-p", str(port)]
    args += ["-r", str(rate), "-nostdin", "-recv_timeout", "40000", "-timeout", "120", "-timeout_error"]
    if limit is not None:
        args += ["-l", str(limit)]
    if service is not None:
        args += ["-s", service]
    if user is not None:
        args += ["-au", user, "-ap", password or ""]
    for k, v in (variables or {}).items():
        args += ["-set", k, v]
    args += list(extra)
    return args


class Sipp:
    """A SIPp process in the background (a UAS, usually)."""

    def __init__(self, args: list[str], cwd: Path, name: str) -> None:
        self.log = cwd / f"{name}.out"
        self._f = open(self.log, "wb")
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=self._f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._f.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._f.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def run(args: list[str], cwd: Path, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def server_status(data_dir: Path, settle: float = 0.0) -> dict[str, int]:
    if settle:
        time.sleep(settle)
    return json.loads((data_dir / "status.json").read_text())


def wait_idle(data_dir: Path, timeout: float = 60.0) -> dict[str, int]:
    """Poll the server's status until no call and no transaction is left."""
    end = time.monotonic() + timeout
    status: dict[str, int] = {}
    while time.monotonic() < end:
        try:
            status = server_status(data_dir)
        except (OSError, ValueError):
            status = {}
        if status and status.get("calls") == 0 and status.get("transactions") == 0:
            return status
        time.sleep(0.1)
    return status
