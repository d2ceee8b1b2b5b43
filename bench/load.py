"""Load harness: calls per second and call-setup latency through the B2BUA,
against sippy's B2BUA in the same run; memory per established call.

Run:  .venv/bin/python bench/load.py [--quick] [--only ours|sippy]
                                      [--steps 100,200,...] [--step-seconds S]
                                      [--hold N] [--p99-bound MS] [--stop-p99 MS]
                                      [--no-memory] [--keep]

Everything runs on loopback, is started by this script and killed at the end
(also on Ctrl-C).  ``--quick`` is a one-minute smoke version (three short
steps, 1,000 held calls); the full run takes about ten minutes.

Topology (the same for both servers)
------------------------------------
::

    SIPp uac (127.0.0.2) --INVITE--> B2BUA (127.0.0.1:P) --INVITE--> SIPp uas (127.0.0.1:U)

Calls are 1-second calls (``-d 1000``): INVITE, 100/180/200, ACK, BYE, 200,
with SDP, scenarios ``bench/scenarios/uac.xml`` and ``uas.xml``.  SIPp uac and
uas are one process each (the machine has two cores and SIPp needs CPU too).

Neither server authenticates the caller, so the comparison is like for like:
sippy's ``b2bua_simple`` authenticates nobody and sends every INVITE to a
fixed next hop (``-n``); ours recognises 127.0.0.2 as an inbound trunk
(``[[trunks]] inbound``), so its calls are trusted and routed by DID: the
dialed number 1002 maps to extension 1002, which SIPp registers (once, with
digest, ``tests/e2e/scenarios/register.xml``) with the uas address as Contact.
Each call therefore goes through trunk recognition, DID routing, a location
lookup, two dialogs and six transactions, and writes the call log events.

sippy 2.5.0 runs as shipped, with its per-message log turned off
(``SIPLOG_BEND=none``; by default it prints every SIP message to stderr).
It sends from three sender threads, which can deliver a 180 after the 200;
SIPp runs with ``-default_behaviors all,-abortunexp`` so such a late
provisional is counted ("unexpected" column) but does not fail the call, as a
real phone would ignore it.  Anything else (a timeout, a non-200 final) fails
the call.  The uac sends ACK and BYE to the URI inside the 200's Contact
(not SIPp's ``[next_url]``, which keeps sippy's display name "Anonymous" and
gives a Request-URI sippy cannot parse), and neither scenario puts
``transport=UDP`` in its Contact (sippy 2.5 refuses the capitals).  After each
ramp the server's own log is summarised (line and traceback counts).

The ramp
--------
Steps of ``--steps`` calls per second (default 100, 200, 400, 600, ... +200),
each ``--step-seconds`` long (12 s; ``-m = rate * seconds``), one SIPp uac run
per step against the same server process.  A step passes when every call
succeeds (SIPp's ``SuccessfulCall == -m``, ``FailedCall == 0``), the rate SIPp
actually achieved is at least 90% of the target, and the p99 call-setup time
is at most ``--stop-p99`` (500 ms: beyond T1 the INVITEs are retransmitted
and the load feeds itself).  The ramp stops at the first step that fails.
Two figures per server: "max cps", the last step that passed, and "fast cps",
the last passing step whose p99 is also within ``--p99-bound`` (50 ms, the
project's target).  The ratio ours/sippy is of max cps.

Call-setup time is what SIPp measures as response time 1: from sending the
INVITE (``start_rtd``) to receiving the 200 (``rtd``), per call, traced with
``-trace_rtt`` (integer milliseconds); p50/p99/max are computed here from all
calls of the step.  CPU is the server process's utime+stime over the step
divided by wall time (100% = one core) from /proc/PID/stat.

Memory per call
---------------
A fresh server process; RSS (``VmRSS`` in /proc/PID/status) after
registration and 200 warm-up calls, then ``--hold`` calls (10,000 by default)
set up at 500 calls/s with ``-d 600000`` (ten minutes: all are established at
once), RSS again once they are all answered and once the setup transactions
have expired (RFC 3261 Timer J/L, 64*T1 = 32 s), when only the calls
remain.  Per call = (RSS held - RSS before) / N.  The same for sippy (which
has no status file: the script waits for SIPp's current-call count instead).

Output: a table per step, then a summary with the ratios ours/sippy.
Working files (SIPp logs, CSVs, configuration) are left in a temporary
directory that is printed (and removed unless ``--keep`` or a failure).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REGISTER_XML = ROOT / "tests" / "e2e" / "scenarios" / "register.xml"
PYTHON = ROOT / ".venv" / "bin" / "python"
SIPPY = ROOT / ".venv" / "bin" / "b2bua_simple"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"

UAC_IP = "127.0.0.2"  # the caller: an inbound trunk address for our server
HOST = "127.0.0.1"
EXTENSION = "1002"
PASSWORD = "load-test"
SIPP_BUFFER = 4 * 1024 * 1024  # bytes, SIPp -buff_size (net.core.rmem_max here)
CALL_MS = 1000  # -d, the talk time of a call


# -- helpers ----------------------------------------------------------------------
def free_port() -> int:
    """A UDP port free on 127.0.0.1 and 127.0.0.2 (SIPp binds both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
                s2.bind((UAC_IP, port))
            return port
        except OSError:
            continue


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Procs:
    """Every process this script starts, so that finally kills them all (by pid)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[object] = []

    def start(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        f = open(log, "wb")
        self.files.append(f)
        p = subprocess.Popen(
            args,
            cwd=log.parent,
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], grace: float = 3.0) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            try:
                self.stop(p, grace=2.0)
            except Exception:
                pass
        for f in self.files:
            try:
                f.close()  # type: ignore[attr-defined]
            except Exception:
                pass


# -- SIPp ---------------------------------------------------------------------------
def sipp_common(scenario: Path, port: int, ip: str) -> list[str]:
    return [
        SIPP, "-sf", str(scenario), "-p", str(port), "-i", ip, "-t", "u1",
        "-nostdin", "-buff_size", str(SIPP_BUFFER), "-trace_err",
        "-default_behaviors", "all,-abortunexp",
    ]  # fmt: skip


def start_uas(procs: Procs, work: Path, port: int) -> subprocess.Popen[bytes]:
    args = sipp_common(SCENARIOS / "uas.xml", port, HOST) + ["-l", "1000000"]
    p = procs.start(args, work / "uas.out")
    time.sleep(0.3)
    if p.poll() is not None:
        raise RuntimeError(f"SIPp uas exited: {(work / 'uas.out').read_text(errors='replace')[-2000:]}")
    return p


@dataclass
class StepResult:
    rate: int
    calls: int
    ok: int = 0
    failed: int = 0
    retrans: int = 0
    unexpected: int = 0
    achieved: float = 0.0
    p50: float = float("nan")
    p99: float = float("nan")
    pmax: float = float("nan")
    cpu: float = 0.0  # server, fraction of one core
    uas_cpu: float = 0.0  # SIPp uas, fraction of one core
    passed: bool = False  # every call succeeded at the rate, p99 under the stop bound
    fast: bool = False  # passed and p99 under the target bound
    why: str = ""
    errors: str = ""


def sipp_stats(work: Path, tag: str) -> dict[str, str]:
    files = sorted(work.glob(f"{tag}_*_.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        return {}
    with open(files[-1], newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return rows[-1] if rows else {}


def rtt_values(work: Path, tag: str) -> tuple[list[float], list[float]]:
    """(response times in ms, their timestamps in ms) from the -trace_rtt file."""
    times: list[float] = []
    stamps: list[float] = []
    for path in work.glob(f"{tag}_*_rtt.csv"):
        with open(path) as f:
            next(f, None)
            for line in f:
                parts = line.strip().split(";")
                if len(parts) >= 3 and parts[2] == "1":
                    try:
                        stamps.append(float(parts[0]))
                        times.append(float(parts[1]))
                    except ValueError:
                        pass
    return times, stamps


def error_excerpt(work: Path, tag: str, limit: int = 1500) -> tuple[int, str]:
    """(count of unexpected-message warnings, first lines of the error log)."""
    text = ""
    for path in work.glob(f"{tag}_*_errors.log"):
        text += path.read_text(errors="replace")
    unexpected = text.count("unexpected message")
    return unexpected, text[:limit]


def run_uac(
    procs: Procs,
    work: Path,
    tag: str,
    target: tuple[str, int],
    port: int,
    rate: int,
    calls: int,
    duration_ms: int,
    limit: int,
    timeout: float,
) -> subprocess.Popen[bytes]:
    step_dir = work / tag
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / "uac.xml").write_bytes((SCENARIOS / "uac.xml").read_bytes())
    args = sipp_common(step_dir / "uac.xml", port, UAC_IP) + [
        f"{target[0]}:{target[1]}", "-s", EXTENSION,
        "-r", str(rate), "-m", str(calls), "-l", str(limit), "-d", str(duration_ms),
        "-trace_rtt", "-rtt_freq", "100", "-trace_stat", "-fd", "1",
        "-recv_timeout", "16000", "-timeout", str(int(timeout)), "-timeout_error",
    ]  # fmt: skip
    return procs.start(args, step_dir / "uac.out")


def run_step(
    procs: Procs,
    work: Path,
    name: str,
    target: tuple[str, int],
    uac_port: int,
    server_pid: int,
    rate: int,
    seconds: float,
    p99_bound: float,
    stop_p99: float,
    uas_pid: int | None = None,
) -> StepResult:
    calls = max(1, int(rate * seconds))
    tag = f"{name}-{rate}"
    res = StepResult(rate=rate, calls=calls)
    timeout = seconds + CALL_MS / 1000 + 60
    cpu0, t0 = cpu_seconds(server_pid), time.monotonic()
    ucpu0 = cpu_seconds(uas_pid) if uas_pid else 0.0
    p = run_uac(procs, work, tag, target, uac_port, rate, calls, CALL_MS, max(rate * 10, 1000), timeout)
    try:
        p.wait(timeout + 10)
    except subprocess.TimeoutExpired:
        procs.stop(p)
        res.why = "SIPp did not finish"
    elapsed = time.monotonic() - t0
    res.cpu = (cpu_seconds(server_pid) - cpu0) / elapsed if elapsed > 0 else 0.0
    if uas_pid:
        res.uas_cpu = (cpu_seconds(uas_pid) - ucpu0) / elapsed if elapsed > 0 else 0.0
    step_dir = work / tag
    stats = sipp_stats(step_dir, "uac")
    res.ok = int(stats.get("SuccessfulCall(C)", 0) or 0)
    res.failed = int(stats.get("FailedCall(C)", 0) or 0)
    res.retrans = int(stats.get("Retransmissions(C)", 0) or 0)
    times, stamps = rtt_values(step_dir, "uac")
    if times:
        res.p50 = percentile(times, 50)
        res.p99 = percentile(times, 99)
        res.pmax = max(times)
    if len(stamps) > 1 and max(stamps) > min(stamps):
        res.achieved = (len(stamps) - 1) / ((max(stamps) - min(stamps)) / 1000.0)
    res.unexpected, res.errors = error_excerpt(step_dir, "uac")
    if not server_alive(server_pid):
        res.why = "server died"
    elif res.why:
        pass
    elif res.failed or res.ok != calls:
        res.why = f"{res.failed} failed, {calls - res.ok - res.failed} unfinished"
    elif res.achieved < 0.9 * rate:
        res.why = f"rate reached {res.achieved:.0f}/s"
    elif not res.p99 <= stop_p99:
        res.why = f"p99 {res.p99:.0f} ms > {stop_p99:.0f} ms"
    else:
        res.passed = True
        res.fast = res.p99 <= p99_bound
    return res


def server_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- the servers under test ----------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


NO_DURABLE_ANSWER = False  # --no-durable-answer


def our_config(work: Path, uas_port: int) -> Path:
    data = work / "ours-data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    cfg = work / "ours.toml"
    cfg.write_text(
        f"""\
[server]
data_dir = "{data}"
log_level = "warning"

[sip]
t1 = 0.5
digest_algorithms = ["MD5"]   # SIPp's digest client knows MD5 only (registration)

[[users]]
extension = "{EXTENSION}"
password = "{PASSWORD}"

[[trunks]]
name = "load"
host = "{UAC_IP}"
port = 5060
inbound = ["{UAC_IP}/32"]     # SIPp uac binds here: its calls are trunk calls (no auth)
dids = {{ "{EXTENSION}" = "{EXTENSION}" }}
"""
        + ("\n[billing]\ndurable_answer = false\n" if NO_DURABLE_ANSWER else "")
    )
    return cfg


def start_ours(procs: Procs, work: Path, uas_port: int) -> Server:
    port = free_port()
    cfg = our_config(work, uas_port)
    args = [str(PYTHON), "-m", "b2bua.runtime.cli", "serve", "--config", str(cfg), "--listen", f"udp:{HOST}:{port}",
            "--http-listen", f"{HOST}:0"]  # the portal runs too (as deployed), on any free port
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = procs.start(args, work / "ours.log", env=env)
    srv = Server("ours", port, proc, work / "ours-data")
    status = srv.data_dir / "status.json"  # type: ignore[operator]
    end = time.monotonic() + 20
    while not status.exists():
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f"our server did not start: {(work / 'ours.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    # register extension 1002 with the uas as its contact (digest, 401 round trip)
    reg = subprocess.run(
        sipp_common(REGISTER_XML, free_port(), HOST)
        + [f"{HOST}:{port}", "-m", "1", "-s", EXTENSION, "-au", EXTENSION, "-ap", PASSWORD,
           "-set", "cport", str(uas_port), "-set", "expires", "3600",
           "-recv_timeout", "5000", "-timeout", "15", "-timeout_error"],  # fmt: skip
        cwd=work,
        capture_output=True,
        timeout=30,
    )
    if reg.returncode != 0:
        raise RuntimeError(f"registration failed: {reg.stdout[-1500:]!r}")
    return srv


def start_sippy(procs: Procs, work: Path, uas_port: int) -> Server:
    port = free_port()
    args = [str(SIPPY), "-f", "-l", HOST, "-p", str(port), "-n", f"{HOST}:{uas_port}", "-L", str(work / "sippy.log")]
    env = dict(os.environ, SIPLOG_BEND="none")
    proc = procs.start(args, work / "sippy.out", env=env)
    srv = Server("sippy", port, proc)
    end = time.monotonic() + 20
    while not udp_bound(port):
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f"sippy did not start: {(work / 'sippy.out').read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    time.sleep(0.5)
    return srv


def udp_bound(port: int) -> bool:
    hexport = f":{port:04X}"
    try:
        text = Path("/proc/net/udp").read_text()
    except OSError:
        return False
    return any(line.split()[1].endswith(hexport) for line in text.splitlines()[1:] if len(line.split()) > 1)


def our_status(srv: Server) -> dict[str, int]:
    try:
        return json.loads((srv.data_dir / "status.json").read_text())  # type: ignore[operator]
    except (OSError, ValueError):
        return {}


# -- the phases -------------------------------------------------------------------------
def ramp(
    procs: Procs,
    work: Path,
    start: Callable[[Procs, Path, int], Server],
    name: str,
    steps: list[int],
    seconds: float,
    p99_bound: float,
    stop_p99: float,
    settle: float,
) -> list[StepResult]:
    uas_port = free_port()
    (work / name).mkdir(exist_ok=True)
    uas = start_uas(procs, work / name, uas_port)
    srv = start(procs, work, uas_port)
    results: list[StepResult] = []
    uac_port = free_port()
    print(f"\n== {name}: pid {srv.pid}, udp:{HOST}:{srv.port} -> uas udp:{HOST}:{uas_port}", flush=True)
    print(f"{'cps':>6} {'calls':>7} {'ok':>7} {'fail':>5} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'retrans':>7} {'unexp':>6} {'cpu':>5} {'uas cpu':>7}  result", flush=True)  # fmt: skip
    try:
        for rate in steps:
            r = run_step(
                procs, work, name, (HOST, srv.port), uac_port, srv.pid, rate, seconds, p99_bound, stop_p99, uas.pid
            )
            results.append(r)
            verdict = ("pass" if r.fast else f"pass (p99 > {p99_bound:g} ms)") if r.passed else "FAIL: " + r.why
            print(
                f"{r.rate:>6} {r.calls:>7} {r.ok:>7} {r.failed:>5} {r.achieved:>9.0f} {r.p50:>7.0f} {r.p99:>7.0f} "
                f"{r.pmax:>7.0f} {r.retrans:>7} {r.unexpected:>6} {r.cpu:>5.0%} {r.uas_cpu:>7.0%}  {verdict}",
                flush=True,
            )
            if not r.passed:
                if r.errors:
                    print("   SIPp uac errors (excerpt):")
                    for line in r.errors.splitlines()[:12]:
                        print("   | " + line[:200])
                break
            time.sleep(settle)  # let the calls' BYEs and the uas's timewait finish
    finally:
        if name == "ours":
            st = our_status(srv)
            if st:
                print(f"   server status after the ramp: {json.dumps({k: v for k, v in st.items() if k != 'listen'})}")
        assert srv.proc is not None
        procs.stop(srv.proc)
        procs.stop(uas)
        report_server_log(work / ("ours.log" if name == "ours" else "sippy.out"))
    return results


def report_server_log(path: Path) -> None:
    """Warnings, errors and tracebacks the server printed during the run."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    lines = text.splitlines()
    tracebacks = text.count("Traceback (most recent call last)")
    if not lines:
        print(f"   server log {path.name}: empty")
        return
    print(f"   server log {path.name}: {len(lines)} lines, {tracebacks} tracebacks; first lines:")
    for line in lines[:8]:
        print("   | " + line[:200])


@dataclass
class MemResult:
    held: int = 0
    before_kib: int = 0
    answered_kib: int = 0
    settled_kib: int = 0
    note: str = ""

    @property
    def per_call(self) -> float:
        return (self.settled_kib - self.before_kib) * 1024 / self.held if self.held else float("nan")

    @property
    def per_call_answered(self) -> float:
        return (self.answered_kib - self.before_kib) * 1024 / self.held if self.held else float("nan")


def current_calls(step_dir: Path) -> tuple[int, int]:
    """(SIPp uac's current calls, successful-so-far is unknown here: answered estimate)."""
    stats = sipp_stats(step_dir, "uac")
    return int(stats.get("CurrentCall", 0) or 0), int(stats.get("FailedCall(C)", 0) or 0)


def memory(
    procs: Procs,
    work: Path,
    start: Callable[[Procs, Path, int], Server],
    name: str,
    held: int,
    rate: int,
    expire_wait: float,
) -> MemResult:
    res = MemResult()
    mdir = work / f"mem-{name}"
    mdir.mkdir(exist_ok=True)
    uas_port = free_port()
    uas = start_uas(procs, mdir, uas_port)
    srv = start(procs, mdir, uas_port)
    uac_port = free_port()
    try:
        # warm-up: code paths, caches and allocator arenas touched once
        warm = run_step(procs, mdir, "warm", (HOST, srv.port), uac_port, srv.pid, 100, 2.0, 1e9, 1e9)
        if not warm.passed:
            res.note = f"warm-up failed: {warm.why}"
            return res
        time.sleep(expire_wait)  # the warm-up calls' transactions and call records expire
        res.before_kib = rss_kib(srv.pid)
        setup = held / rate
        p = run_uac(procs, mdir, "hold", (HOST, srv.port), uac_port, rate, held, 600_000, held + 10, 900)
        end = time.monotonic() + setup + 60
        answered = 0
        while time.monotonic() < end:
            time.sleep(1.0)
            if p.poll() is not None:
                res.note = "SIPp uac exited early: " + (mdir / "hold" / "uac.out").read_text(errors="replace")[-800:]
                return res
            if name == "ours":
                answered = int(our_status(srv).get("calls_answered", 0)) - warm.calls
            else:
                # sippy has no status: SIPp's own count of calls past the 200 (rtt trace)
                answered = len(rtt_values(mdir / "hold", "uac")[0])
            cur, failed = current_calls(mdir / "hold")
            if failed:
                res.note = f"{failed} held calls failed"
                break
            if answered >= held:
                break
        if name != "ours":
            # -rtt_freq flushes every 100 calls: give the last ones time to land
            time.sleep(2.0)
        cur, failed = current_calls(mdir / "hold")
        res.held = min(held, cur) if cur else held
        if answered < held:
            res.note = (res.note + f"; only {answered} of {held} answered").lstrip("; ")
            res.held = max(answered, 0)
        res.answered_kib = rss_kib(srv.pid)
        time.sleep(expire_wait)
        res.settled_kib = rss_kib(srv.pid)
        if name == "ours":
            st = our_status(srv)
            res.note = (res.note + f" status: calls={st.get('calls')} transactions={st.get('transactions')}").strip()
        procs.stop(p)
    finally:
        assert srv.proc is not None
        procs.stop(srv.proc)
        procs.stop(uas)
    return res


# -- main ---------------------------------------------------------------------------------
def default_steps(top: int) -> list[int]:
    steps = [100, 200, 400]
    r = 600
    while r <= top:
        steps.append(r)
        r += 200
    return steps


def fmt_ms(v: float) -> str:
    return "-" if v != v else f"{v:.0f}"


def best(results: list[StepResult], fast: bool = False) -> StepResult | None:
    passed = [r for r in results if (r.fast if fast else r.passed)]
    return passed[-1] if passed else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~1 minute smoke version")
    ap.add_argument("--only", choices=("ours", "sippy"), help="measure one server only")
    ap.add_argument("--steps", help="comma-separated calls/s (default 100,200,400,600,...,4000)")
    ap.add_argument("--step-seconds", type=float, help="seconds of calls per step (default 12, quick 4)")
    ap.add_argument("--p99-bound", type=float, default=50.0, help="ms; the call-setup target (default 50)")
    ap.add_argument(
        "--stop-p99", type=float, default=500.0, help="ms; a step with a higher p99 ends the ramp (default 500 = T1)"
    )
    ap.add_argument("--hold", type=int, help="concurrent calls for the memory test (default 10000, quick 1000)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory test")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--no-durable-answer", action="store_true",
                    help="relay the callee's 200 at once ([billing] durable_answer = false)")
    args = ap.parse_args()
    global NO_DURABLE_ANSWER
    NO_DURABLE_ANSWER = args.no_durable_answer

    if not Path(SIPP).exists():
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    if args.steps:
        steps = [int(x) for x in args.steps.split(",") if x.strip()]
    else:
        steps = [100, 400, 800] if args.quick else default_steps(4000)
    seconds = args.step_seconds or (4.0 if args.quick else 12.0)
    held = args.hold or (1000 if args.quick else 10_000)
    settle = 1.5 if args.quick else 3.0
    expire_wait = 34.0  # 64*T1 + margin: Timer J/L and the call records' linger
    if args.quick:
        expire_wait = 5.0
    names = [args.only] if args.only else ["ours", "sippy"]
    starters = {"ours": start_ours, "sippy": start_sippy}

    work = Path(tempfile.mkdtemp(prefix="b2bua-load-"))
    print(f"working directory {work}; {os.cpu_count()} CPUs; SIPp {SIPP}; steps {steps} x {seconds:g} s, "
          f"{CALL_MS} ms calls, p99 bound {args.p99_bound:g} ms", flush=True)  # fmt: skip
    procs = Procs()
    ramps: dict[str, list[StepResult]] = {}
    mems: dict[str, MemResult] = {}
    ok = True
    try:
        for name in names:
            ramps[name] = ramp(
                procs, work, starters[name], name, steps, seconds, args.p99_bound, args.stop_p99, settle
            )
        if not args.no_memory:
            for name in names:
                print(f"\n== memory, {name}: {held} concurrent calls", flush=True)
                m = memory(procs, work, starters[name], name, held, 500, expire_wait)
                mems[name] = m
                print(
                    f"   RSS before {m.before_kib} KiB, all answered {m.answered_kib} KiB, "
                    f"after {expire_wait:g} s {m.settled_kib} KiB; held {m.held}; "
                    f"{m.per_call_answered:.0f} B/call with setup transactions, {m.per_call:.0f} B/call settled"
                    + (f"; {m.note}" if m.note else ""),
                    flush=True,
                )
    except KeyboardInterrupt:
        ok = False
        print("interrupted", file=sys.stderr)
    except Exception as err:
        ok = False
        print(f"error: {err}", file=sys.stderr)
    finally:
        procs.stop_all()

    # -- summary
    print("\n== summary (UDP, loopback, 1 s calls, SIPp uac -> B2BUA -> SIPp uas)")
    print(f"max cps: highest step with 0 failed calls (and p99 <= {args.stop_p99:g} ms); "
          f"fast cps: highest step with 0 failed calls and p99 <= {args.p99_bound:g} ms")  # fmt: skip
    print(f"{'server':<8} {'max cps':>8} {'p99 ms':>7} {'cpu':>5} {'fast cps':>9} {'p99 ms':>7}  "
          f"{'first failing step':<44} {'B/call':>8}")  # fmt: skip
    for name in names:
        b, f = best(ramps.get(name, [])), best(ramps.get(name, []), fast=True)
        fail = next((r for r in ramps.get(name, []) if not r.passed), None)
        m = mems.get(name)
        print(
            f"{name:<8} {b.rate if b else 0:>8} {fmt_ms(b.p99) if b else '-':>7} {f'{b.cpu:.0%}' if b else '-':>5} "
            f"{f.rate if f else 0:>9} {fmt_ms(f.p99) if f else '-':>7}  "
            f"{(f'{fail.rate}/s: {fail.why}' if fail else 'none (ramp ended)'):<44} "
            f"{(f'{m.per_call:.0f}' if m and m.held else '-'):>8}"
        )
    if len(names) == 2:
        bo, bs = best(ramps.get("ours", [])), best(ramps.get("sippy", []))
        if bo and bs:
            print(f"ratio ours/sippy, max cps: {bo.rate / bs.rate:.2f} ({bo.rate} / {bs.rate}); "
                  f"p99 at own max: {fmt_ms(bo.p99)} ms vs {fmt_ms(bs.p99)} ms")  # fmt: skip
            common = min(bo.rate, bs.rate)
            ro = next(r for r in ramps["ours"] if r.rate == common)
            rs = next(r for r in ramps["sippy"] if r.rate == common)
            print(f"at {common} cps (both pass): p99 ours {fmt_ms(ro.p99)} ms, sippy {fmt_ms(rs.p99)} ms; "
                  f"server CPU ours {ro.cpu:.0%}, sippy {rs.cpu:.0%} (100% = one core)")  # fmt: skip
        fo, fs = best(ramps.get("ours", []), fast=True), best(ramps.get("sippy", []), fast=True)
        print(f"fast cps (p99 <= {args.p99_bound:g} ms): ours {fo.rate if fo else 0}, sippy {fs.rate if fs else 0}")
        mo, ms = mems.get("ours"), mems.get("sippy")
        if mo and ms and mo.held and ms.held:
            print(f"memory per established call: ours {mo.per_call:.0f} B, sippy {ms.per_call:.0f} B "
                  f"(ratio {mo.per_call / ms.per_call:.2f}); held {mo.held} / {ms.held} calls")  # fmt: skip
    if args.keep or not ok:
        print(f"working files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
