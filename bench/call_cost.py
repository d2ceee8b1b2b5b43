"""CPU cost of one call through the whole server, in process, without sockets.

Run:  .venv/bin/python bench/call_cost.py [--calls N] [--profile] [--top K]

A real :class:`~b2bua.runtime.server.Server` is started (database, billing,
call log, the same configuration as ``bench/load.py``: an inbound trunk at
127.0.0.2 whose DID 1002 routes to the registered extension 1002), then its
UDP senders are replaced by a capture, and this script plays both peers by
handing datagrams to the driver exactly as the UDP protocol does
(``Driver.receive``): INVITE from the trunk, 100/180/200 from the callee,
ACK and BYE from the caller, 200 to the BYE from the callee.  Between batches
the event loop runs so that billing's background writes happen as they would.
``[billing] durable_answer`` is off unless ``--durable-answer``: with it each
call waits for its own group commit, one call at a time, which measures the
fsync rather than the server (its cost under load is in ``bench/load.py``).

What it prints: CPU microseconds per call (process time, which includes the
billing writer's thread) over ``--calls`` calls after a warm-up, the median
of several rounds, and the wall time spent handling each kind of message.  Unlike the SIPp ramp of ``bench/load.py`` this figure does
not depend on SIPp's own CPU or the scheduler, so two commits can be compared
run after run; ``--profile`` prints cProfile's top functions by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from b2bua.calls.registrar import Binding  # noqa: E402
from b2bua.runtime.config import loads  # noqa: E402
from b2bua.runtime.server import Server  # noqa: E402
from b2bua.sip.endpoint import Address  # noqa: E402

TRUNK = Address("udp", "127.0.0.2", 5060)
CALLEE = Address("udp", "127.0.0.1", 5999)

CONFIG = """\
[server]
data_dir = "{data}"
log_level = "warning"
listen = ["udp:127.0.0.1:0"]

[sip]
digest_algorithms = ["MD5"]
overload_lag = 0  # the loop is busy with this script: no shedding

[[users]]
extension = "1002"
password = "secret1002"

[[trunks]]
name = "load"
host = "127.0.0.2"
port = 5060
inbound = ["127.0.0.2/32"]
dids = {{ "1002" = "1002" }}

[billing]
durable_answer = {durable}
"""

SDP = (
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\n"
    "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class Capture:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def send(self, data: bytes, dest: Address) -> None:
        self.sent.append((data, dest))


def _msg(lines: list[str], body: str = "") -> bytes:
    return ("\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""]) + body).encode()


def _header(data: bytes, name: str) -> str:
    m = re.search(rb"\r\n" + name.encode() + rb": ?([^\r\n]*)", data, re.I)
    assert m is not None, (name, data[:300])
    return m.group(1).decode()


def _first(cap: Capture, dest: Address, start: bytes) -> bytes:
    for data, d in cap.sent:
        if d == dest and data.startswith(start):
            return data
    raise AssertionError(f"nothing starting {start!r} sent to {dest}: {[s[0][:40] for s in cap.sent]}")


STEPS: dict[str, float] = {}


class _Timed:
    """``driver.receive`` that adds its time to STEPS under the message's first word."""

    def __init__(self, driver: object) -> None:
        self.driver = driver

    def receive(self, data: bytes, source: Address) -> None:
        t0 = time.perf_counter()
        self.driver.receive(data, source)  # type: ignore[attr-defined]
        key = data[:12].decode().split(" ")[0] if not data.startswith(b"SIP/") else data[8:11].decode()
        key = f"{key} from {'caller' if source == TRUNK else 'callee'}"
        STEPS[key] = STEPS.get(key, 0.0) + time.perf_counter() - t0


async def _sent(cap: Capture, dest: Address, start: bytes) -> bytes:
    """What was sent, once it is: the caller's 2xx waits for the answer's group commit."""
    for _ in range(20000):
        for data, d in cap.sent:
            if d == dest and data.startswith(start):
                return data
        await asyncio.sleep(0.0002)
    return _first(cap, dest, start)


async def one_call(server: Server, cap: Capture, n: int, port: int) -> None:
    driver = _Timed(server.driver)
    me = f"127.0.0.1:{port}"
    tag_a = f"a{n}"
    cid = f"call-{n}@127.0.0.2"
    via_a = f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-a{n};rport"
    from_a = f'From: "Load" <sip:load@127.0.0.2:5060>;tag={tag_a}'
    cap.sent.clear()
    driver.receive(_msg([
        f"INVITE sip:1002@{me} SIP/2.0", via_a, from_a, f"To: <sip:1002@{me}>", f"Call-ID: {cid}",
        "CSeq: 1 INVITE", "Contact: <sip:load@127.0.0.2:5060>", "Max-Forwards: 70",
        "Content-Type: application/sdp",
    ], SDP), TRUNK)
    inv = _first(cap, CALLEE, b"INVITE ")
    via_b, from_b, to_b, cid_b, cseq_b = (
        _header(inv, "Via"), _header(inv, "From"), _header(inv, "To"), _header(inv, "Call-ID"), _header(inv, "CSeq"),
    )
    common = [f"Via: {via_b}", f"From: {from_b}", f"Call-ID: {cid_b}", f"CSeq: {cseq_b}"]
    to_b_tagged = f"To: {to_b};tag=b{n}"
    contact_b = "Contact: <sip:1002@127.0.0.1:5999>"
    driver.receive(_msg(["SIP/2.0 100 Trying", *common, f"To: {to_b}"]), CALLEE)
    driver.receive(_msg(["SIP/2.0 180 Ringing", *common, to_b_tagged, contact_b]), CALLEE)
    cap.sent.clear()
    driver.receive(_msg(["SIP/2.0 200 OK", *common, to_b_tagged, contact_b, "Content-Type: application/sdp"], SDP),
                   CALLEE)
    ok = await _sent(cap, TRUNK, b"SIP/2.0 200")
    to_a = _header(ok, "To")
    contact = re.search(r"<(sip:[^>]*)>", _header(ok, "Contact"))
    assert contact is not None
    target = contact.group(1)
    driver.receive(_msg([
        f"ACK {target} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-ack{n};rport", from_a,
        f"To: {to_a}", f"Call-ID: {cid}", "CSeq: 1 ACK", "Max-Forwards: 70",
    ]), TRUNK)
    cap.sent.clear()
    driver.receive(_msg([
        f"BYE {target} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-bye{n};rport", from_a,
        f"To: {to_a}", f"Call-ID: {cid}", "CSeq: 2 BYE", "Max-Forwards: 70",
    ]), TRUNK)
    bye = _first(cap, CALLEE, b"BYE ")
    driver.receive(_msg([
        "SIP/2.0 200 OK", f"Via: {_header(bye, 'Via')}", f"From: {_header(bye, 'From')}",
        f"To: {_header(bye, 'To')}", f"Call-ID: {_header(bye, 'Call-ID')}", f"CSeq: {_header(bye, 'CSeq')}",
    ]), CALLEE)
    _first(cap, TRUNK, b"SIP/2.0 200")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--durable-answer", action="store_true",
                    help="with [billing] durable_answer (each call then waits for its own fsync)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = loads(CONFIG.format(data=tmp, durable="true" if args.durable_answer else "false"))
        server = Server(config)
        await server.start()
        try:
            driver = server.driver
            assert driver is not None
            cap = Capture()
            driver.senders["udp"] = [cap]
            port = server.bound[0].port
            now = asyncio.get_running_loop().time()
            server.app.location.update("1002", [Binding(
                aor="1002", contact="<sip:1002@127.0.0.1:5999>", contact_uri="sip:1002@127.0.0.1:5999",
                expires_at=now + 3600, call_id="reg", cseq=1, source=CALLEE, registered_at=now,
            )], now)
            n = 0
            for _ in range(200):  # warm-up
                await one_call(server, cap, n, port)
                n += 1
            await asyncio.sleep(0.2)
            results = []
            prof = cProfile.Profile() if args.profile else None
            for _ in range(args.rounds):
                t0 = time.process_time()
                if prof is not None:
                    prof.enable()
                for i in range(args.calls):
                    await one_call(server, cap, n, port)
                    n += 1
                    if i % 100 == 99:
                        await asyncio.sleep(0)  # let billing's tasks run, as between datagrams
                if prof is not None:
                    prof.disable()
                await asyncio.sleep(0.1)
                results.append((time.process_time() - t0) / args.calls * 1e6)
            print(f"CPU per call: {statistics.median(results):.0f} us (rounds: "
                  + ", ".join(f"{r:.0f}" for r in results) + ")")
            total = sum(STEPS.values())
            for key, t in STEPS.items():
                print(f"  {key:18} {t / total * 100:5.1f}% {t / n * 1e6:7.1f} us per call")
            if prof is not None:
                pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
        finally:
            await server.aclose()


if __name__ == "__main__":
    asyncio.run(main())
