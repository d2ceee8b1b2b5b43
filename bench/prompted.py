"""Calls per second through the prompted flow: SIPp phones that dial a number
needing an account code without one, hear the server's prompt, key the code by
INFO, and are connected to a SIPp callee (the server then bridges the media).

Run:  .venv/bin/python bench/prompted.py [--rates 10,20,40] [--seconds 10] [--code DIR] [--profile FILE]

Everything runs on loopback and is stopped at the end.  Per step: SIPp's
successful and failed calls, the rate achieved, the server's CPU (utime+stime
over the step, 100% = one core) and, from the server's status file, how many
prompts ran at once at most (each one an RTP stream paced every 20 ms, playing
the announcement, then ringback) and how late the 20 ms pacing ran (99th
percentile over the last 1,000 ticks, ms).  Each call lasts about 3 s in the prompt
(183, five INFO digits 150 ms apart, "thank you") plus 1 s of talk.

``--code DIR`` runs the server (and the code list's command) from another
checkout (PYTHONPATH=DIR; without it, this checkout), so that two commits can be
measured in one run; the first line printed names the package that runs.
``--profile FILE`` runs the server under cProfile, writes its statistics to
FILE and prints the functions with the most own time, per call and in all.
"""

from __future__ import annotations

import argparse
import json
import pstats
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "e2e" / "scenarios"
PY = sys.executable


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CONFIG = """
[server]
data_dir = "{data}"
log_level = "warning"

[sip]
digest_algorithms = ["MD5"]
overload_lag = 0

[[users]]
extension = "1001"
password = "pw1001"

[[trunks]]
name = "outside"
host = "127.0.0.1"
port = {carrier}

[[routes]]
prefix = ""
trunk = "outside"

[numbering]
kind = "nanp"
home_area_code = "801"

[groups.default]
mode = "mandatory"
code_length = 5
prompt = "announcement"

[media]
address = "127.0.0.1"
rtp_first = 40000
rtp_last = 45999
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="10,20,40,80")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose b2bua package the server runs")
    ap.add_argument("--profile", type=Path, help="run the server under cProfile, its statistics to this file")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="b2bua-prompted-"))
    carrier, port = free_port(), free_port()
    cfg = work / "b2bua.toml"
    cfg.write_text(CONFIG.format(data=work / "data", carrier=carrier))
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    package = subprocess.run([PY, "-c", "import b2bua; print(b2bua.__file__)"], cwd=work, env=env,
                             check=True, capture_output=True, text=True).stdout.strip()
    print(f"server: {Path(package).parent}")
    subprocess.run([PY, "-m", "b2bua.runtime.cli", "codes", "add", "12345", "--config", str(cfg)],
                   check=True, cwd=work, env=env, capture_output=True)
    profiler = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
    server = subprocess.Popen(
        [PY, *profiler, "-m", "b2bua.runtime.cli", "serve", "--listen", f"udp:127.0.0.1:{port}",
         "--config", str(cfg)],
        cwd=work, env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT,
    )
    completed = 0
    procs: list[subprocess.Popen[bytes]] = [server]
    try:
        time.sleep(2.0)
        print(f"{'rate':>6} {'calls':>6} {'ok':>6} {'failed':>6} {'achieved':>9} {'CPU':>6} {'prompts':>8} "
              f"{'late p99':>9}")
        for rate in (float(r) for r in args.rates.split(",")):
            calls = int(rate * args.seconds)
            uas = subprocess.Popen(
                ["sipp", "-sf", str(SCENARIOS / "uas_bridged.xml"), "-p", str(carrier), "-i", "127.0.0.1",
                 "-m", str(calls), "-nostdin", "-trace_stat", "-stf", "uas.csv"],
                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append(uas)
            t0, c0 = time.monotonic(), cpu_seconds(server.pid)
            uac = subprocess.run(
                ["sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "uac_prompt_info.xml"), "-i", "127.0.0.1",
                 "-p", str(free_port()), "-m", str(calls), "-r", str(rate), "-l", str(int(rate * 8) + 10),
                 "-s", "2125551234", "-au", "1001", "-ap", "pw1001", "-d", "1000", "-nostdin",
                 "-set", "caller", "1001", *sum((["-set", f"d{i}", d] for i, d in enumerate("12345", 1)), []),
                 "-trace_stat", "-stf", "uac.csv", "-timeout", "300", "-recv_timeout", "30000"],
                cwd=work, capture_output=True, text=True,
            )
            wall, cpu = time.monotonic() - t0, cpu_seconds(server.pid) - c0
            uas.send_signal(signal.SIGTERM)
            uas.wait(10)
            stats = uac.stdout
            ok = _count(stats, "Successful call")
            failed = _count(stats, "Failed call")
            status = json.loads((work / "data" / "status.json").read_text())
            peak, late = status.get("prompts_peak", "?"), status.get("rtp_tick_late_p99_ms", "?")
            completed += ok
            print(f"{rate:6.0f} {calls:6d} {ok:6d} {failed:6d} {ok / wall:8.1f}/s {cpu / wall * 100:5.0f}% {peak!s:>8} "
                  f"{late!s:>9}")
            if failed:
                break
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("working files:", work)
    if args.profile:
        _print_profile(args.profile, completed, args.top)
    return 0


def _print_profile(path: Path, calls: int, top: int) -> None:
    """The server's functions with the most own time: microseconds per completed call, share of all."""
    stats = pstats.Stats(str(path))
    total = sum(tt for _, _, tt, _, _ in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    print(f"\nprofile: {total:.1f} s of own time in all, {calls} calls completed")
    print(f"{'us/call':>8} {'share':>6} {'ncalls':>9}  function")
    for (file, line, name), (_, ncalls, tt, _, _) in rows:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        print(f"{tt / max(calls, 1) * 1e6:8.0f} {tt / total * 100:5.1f}% {ncalls:9d}  {name} ({where})")


def _count(text: str, name: str) -> int:
    m = re.search(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(m.group(1)) if m else 0


if __name__ == "__main__":
    sys.exit(main())
