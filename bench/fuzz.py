"""Fuzz the SIP parser, the TCP framer and the endpoint with a call manager behind it.

    .venv/bin/python bench/fuzz.py --runs 1000000          # atheris, if installed
    .venv/bin/python bench/fuzz.py --runs 100000 --engine mutate --seed 7

Not part of the test suite.  Each input picks one target by its first byte:

* ``parse``: ``parse_message`` of the rest, as a datagram and as a framed stream
  message, then ``check_request``/``check_response``; a ``ParseError`` is an answer;
* ``stream``: the rest cut into segments (sizes from the second byte) and fed to a
  ``StreamFramer``; a ``FramingError`` is an answer; every framed message then goes
  into a fresh endpoint rig from a TCP source;
* ``endpoint``: the rest is a script of ``[source][length:2][bytes]`` frames, fed one
  by one with ``Endpoint.receive`` into a fresh rig (``tests.calls.harness``: one
  Endpoint and a CallManager on virtual time, INVITEs started as calls to an
  extension), then the clock runs 64 s so every timer fires.  The rig parses all
  the server sends, so a message the server cannot read back is a crash too.

Any other exception is a crash: its first input per crash site (exception type and
innermost ``b2bua`` frame outside the parser modules) is written to ``--crash-dir`` and fuzzing goes on.  The seeds
are the RFC 4475/5118 torture messages (``tests/sip/torture_messages.py``) and the
recorded messages of a few whole calls (set-up, hang-up from either side, CANCEL,
busy, re-INVITE).  At the end: inputs run, inputs per second, crash sites.

Engines: ``atheris`` (coverage guided, libFuzzer; ``pip install atheris``) and
``mutate`` (no dependency: byte flips, inserts, deletes, splices and SIP tokens on the
seeds, random.Random(--seed), reproducible).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # the mutation engine needs nothing
    atheris = None

TARGETS = ("parse", "stream", "endpoint")
SOURCES = 5  # frame source byte modulo this picks a peer address (the last one TCP)
PARSERS = ("message.py", "headers.py", "uri.py")  # raise ParseError by design; their caller is the site
RUN_TIMERS_S = 64.0  # 64*T1: every transaction timer fires
TOKENS = (
    b"\r\n", b"\r\n\r\n", b";", b":", b",", b"<", b">", b"\"", b"%", b"%00", b"%0D%0A", b"[", b"]", b"@",
    b"Content-Length: ", b"Content-Length: -1", b"l: 99999999999", b"Via: SIP/2.0/UDP ", b";branch=z9hG4bK",
    b";rport", b";received=", b";tag=", b"Record-Route: <sip:[::1>;lr>", b"Route: ", b"CSeq: 1 ", b"sip:",
    b"sips:", b"tel:", b"SIP/2.0 ", b"INVITE", b"ACK", b"BYE", b"CANCEL", b"\x00", b"\xff", b" \t",
    b"Authorization: Digest ", b"Session-Expires: 90", b"Contact: *", b"Expires: 0", b"Max-Forwards: 0",
)

# -- the targets ------------------------------------------------------------------------


def _import_targets() -> dict[str, object]:
    from b2bua.sip.endpoint import Address
    from b2bua.sip.errors import FramingError, ParseError
    from b2bua.sip.framing import StreamFramer
    from b2bua.sip.message import Request, parse_message
    from b2bua.sip.validate import check_request, check_response
    from tests.calls.harness import A_ADDR, B_ADDR, B2_ADDR, GW_ADDR, Harness

    return dict(locals())


class Fuzzer:
    def __init__(self, crash_dir: Path) -> None:
        self.t = _import_targets()
        self.crash_dir = crash_dir
        self.runs = 0
        self.crashes: dict[str, int] = {}  # site -> inputs that hit it
        self.started = time.monotonic()
        t = self.t
        tcp = t["Address"]("tcp", t["A_ADDR"].host, 5070)
        self.sources = (t["A_ADDR"], t["B_ADDR"], t["B2_ADDR"], t["GW_ADDR"], tcp)

    # one input --------------------------------------------------------------------
    def one(self, data: bytes) -> None:
        self.runs += 1
        if self.runs % 100_000 == 0:
            self.report()
        if not data:
            return
        try:
            target = TARGETS[data[0] % len(TARGETS)]
            getattr(self, "_" + target)(data[1:])
        except Exception as exc:  # everything that escapes is a crash
            self._crash(exc, data)

    def _parse(self, data: bytes) -> None:
        t = self.t
        for stream in (False, True):
            try:
                msg = t["parse_message"](data, stream=stream)
                (t["check_request"] if isinstance(msg, t["Request"]) else t["check_response"])(msg)
            except t["ParseError"]:
                pass

    def _stream(self, data: bytes) -> None:
        t = self.t
        if not data:
            return
        step, data = data[0] % 64 + 1, data[1:]
        framer = t["StreamFramer"]()
        framed: list[bytes] = []
        try:
            for i in range(0, len(data), step):
                framed += framer.feed(data[i : i + step])
        except t["FramingError"]:
            pass
        if framed:
            self._rig([(self.sources[-1], m) for m in framed])

    def _endpoint(self, data: bytes) -> None:
        frames = []
        while len(data) >= 3:
            n = struct.unpack_from(">H", data, 1)[0]
            frames.append((self.sources[data[0] % SOURCES], data[3 : 3 + n]))
            data = data[3 + n :]
        self._rig(frames)

    def _rig(self, frames: list) -> None:
        rig = _Rig()
        for source, message in frames:
            rig.deliver(message, source)
            rig.advance(0.01)
        rig.advance(RUN_TIMERS_S)

    # crashes -----------------------------------------------------------------------
    def _crash(self, exc: Exception, data: bytes) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/b2bua/" in f.filename or "/dialplan/" in f.filename] or frames
        callers = [f for f in ours if Path(f.filename).name not in PARSERS]  # who let the parser's error out
        where = (callers or ours)[-1]
        site = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno} ({where.name})"
        first = site not in self.crashes
        self.crashes[site] = self.crashes.get(site, 0) + 1
        if first:
            self.crash_dir.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(data).hexdigest()[:16]
            (self.crash_dir / f"crash-{name}").write_bytes(data)
            text = "".join(traceback.format_exception(exc))
            (self.crash_dir / f"crash-{name}.txt").write_text(f"{site}\n\n{text}")
            print(f"\nNEW CRASH {site}\n  input: {self.crash_dir / ('crash-' + name)}\n{text}", file=sys.stderr, flush=True)

    def report(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.runs / elapsed if elapsed > 0 else 0.0
        print(f"\n{self.runs} inputs in {elapsed:.0f} s ({rate:.0f}/s); {len(self.crashes)} crash sites", flush=True)
        for site, n in sorted(self.crashes.items()):
            print(f"  {n:8d}  {site}", flush=True)


class _SinkPeers(dict):
    """The rig's address -> peer map: messages to an address no peer owns (a
    fuzzed Via or Contact) go to a sink peer instead of failing the rig."""

    sink: object = None

    def get(self, key: object, default: object = None) -> object:
        return super().get(key, self.sink)


def _make_rig_class() -> type:
    from tests.calls.harness import Harness

    class Rig(Harness):
        def __init__(self) -> None:
            super().__init__()
            peers = _SinkPeers(self.peers)
            peers.sink = self.gw
            self.peers = peers

        def pump(self) -> None:
            super().pump()
            for peer in (self.a, self.b, self.b2, self.gw):  # keep memory flat
                peer.inbox.clear()
                peer.log.clear()

    return Rig


_Rig: Callable[[], object]

# -- seeds --------------------------------------------------------------------------------


def _frame(source_index: int, data: bytes) -> bytes:
    data = data[:0xFFFF]
    return bytes([source_index]) + struct.pack(">H", len(data)) + data


def seeds() -> list[bytes]:
    """Torture messages for every target, and recorded whole calls for the endpoint."""
    from tests.sip.torture_messages import TORTURE

    out: list[bytes] = []
    for t in TORTURE:
        out.append(bytes([TARGETS.index("parse")]) + t.data)
        out.append(bytes([TARGETS.index("stream"), 17]) + t.data)
        out.append(bytes([TARGETS.index("endpoint")]) + _frame(0, t.data))
    out += [bytes([TARGETS.index("endpoint")]) + script for script in _recorded_calls()]
    return out


def _recorded_calls() -> list[bytes]:
    """The messages of a few whole calls, as the peers sent them, in endpoint frames."""
    from tests.calls.harness import SDP_A, SDP_B, Harness

    scripts: list[bytes] = []

    class Recorder(Harness):
        def __init__(self) -> None:
            super().__init__()
            self.script = bytearray()

        def deliver(self, data: bytes, source: object) -> None:
            index = [self.a.addr, self.b.addr, self.b2.addr, self.gw.addr].index(source)
            self.script += _frame(index, data)
            super().deliver(data, source)

    def setup(h: Harness) -> tuple:
        h.a.invite(SDP_A)
        inv = h.b.expect_one("INVITE").request
        h.b.respond(inv, 180)
        h.b.respond(inv, 200, SDP_B)
        ok = [r for r in h.a.take() if r.kind == "200 INVITE"][0]
        h.a.ack(ok.response)
        return inv, ok

    h = Recorder()
    setup(h)
    h.a.request("BYE")
    bye = [r for r in h.b.take() if r.kind == "BYE"]
    if bye:
        h.b.respond(bye[0].request, 200)
    scripts.append(bytes(h.script))

    h = Recorder()
    setup(h)
    h.b.request("BYE")
    scripts.append(bytes(h.script))

    h = Recorder()
    setup(h)
    h.a.request("INVITE", SDP_A)
    reinvite = [r for r in h.b.take() if r.kind == "INVITE"]
    if reinvite:
        h.b.respond(reinvite[0].request, 200, SDP_B)
    scripts.append(bytes(h.script))

    h = Recorder()
    h.a.invite(SDP_A)
    inv = h.b.expect_one("INVITE").request
    h.b.respond(inv, 180)
    h.a.cancel()
    scripts.append(bytes(h.script))

    h = Recorder()
    h.a.invite(SDP_A)
    inv = h.b.expect_one("INVITE").request
    h.b.respond(inv, 486)
    scripts.append(bytes(h.script))
    return scripts


# -- engines ---------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a random byte
            buf[pos:pos] = bytes([rng.randrange(256)])
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3:  # insert a token
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 4 and buf:  # duplicate a run
            n = rng.randint(1, 64)
            buf[pos:pos] = buf[max(0, pos - n) : pos]
        elif op == 5:  # splice another input
            other = rng.choice(pool)
            start = rng.randint(0, len(other))
            buf[pos:] = other[start:]
        elif op == 6 and buf:  # replace a byte by an interesting one
            buf[rng.randrange(len(buf))] = rng.choice(b"\x00\r\n :;,<>\"%@\xff0")
    return bytes(buf[:8192])


def run_mutate(fuzzer: Fuzzer, runs: int, seed: int, corpus: list[bytes]) -> None:
    rng = random.Random(seed)
    pool = list(corpus)
    for data in corpus:
        fuzzer.one(data)
    while fuzzer.runs < runs:
        data = mutate(rng, rng.choice(pool), pool)
        fuzzer.one(data)
        if rng.random() < 0.001 and len(pool) < 5000:
            pool.append(data)  # let mutations build on mutations


def run_atheris(fuzzer: Fuzzer, runs: int, seed: int, corpus: list[bytes], extra: list[str]) -> None:
    corpus_dir = Path(tempfile.mkdtemp(prefix="b2bua-fuzz-corpus-"))
    for i, data in enumerate(corpus):
        (corpus_dir / f"seed-{i:04d}").write_bytes(data)
    tokens = corpus_dir.parent / (corpus_dir.name + ".dict")
    tokens.write_text("".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in TOKENS))
    argv = [sys.argv[0], f"-runs={runs}", f"-seed={seed}", "-max_len=8192", "-print_final_stats=1",
            f"-dict={tokens}", *extra, str(corpus_dir)]
    atheris.Setup(argv, fuzzer.one)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    global _Rig
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--engine", choices=("atheris", "mutate"), default="atheris" if atheris else "mutate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--crash-dir", default=os.path.join(tempfile.gettempdir(), "b2bua-fuzz-crashes"))
    p.add_argument("--replay", nargs="*", default=None, help="run these saved inputs once each and exit")
    args, extra = p.parse_known_args(argv)
    import logging

    logging.disable(logging.CRITICAL)  # the server logs every refusal; fuzzing makes millions
    if args.engine == "atheris":
        if atheris is None:
            p.error("atheris is not installed (pip install atheris), use --engine mutate")
        with atheris.instrument_imports(include=["b2bua", "dialplan"]):
            import b2bua.calls.manager  # noqa: F401  (instrumented before the rig imports it)
            import b2bua.sip.endpoint  # noqa: F401
    _Rig = _make_rig_class()
    fuzzer = Fuzzer(Path(args.crash_dir))
    if args.replay is not None:
        for name in args.replay:
            fuzzer.one(Path(name).read_bytes())
        fuzzer.report()
        return 1 if fuzzer.crashes else 0
    atexit.register(fuzzer.report)  # the mutation engine; libFuzzer exits past atexit
    corpus = seeds()
    if args.engine == "atheris":
        run_atheris(fuzzer, args.runs, args.seed, corpus, extra)
    else:
        run_mutate(fuzzer, args.runs, args.seed, corpus)
    return 1 if fuzzer.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
