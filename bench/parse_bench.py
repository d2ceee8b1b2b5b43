"""Micro-benchmark: parse and serialize SIP messages, ours against two pure-Python peers.

Run:  .venv/bin/python bench/parse_bench.py [--seconds N] [--repeats R] [--profile]

For every sample message (bench/messages.py: INVITE with SDP, 180, 200 with SDP,
ACK, BYE) and every operation it reports messages per second for

* ours   -- ``b2bua.sip.message.parse_message`` and ``Message.serialize``;
* pyVoIP -- ``pyVoIP.SIP.SIPMessage`` (1.6.8);
* sippy  -- ``sippy.SipRequest.SipRequest`` / ``sippy.SipResponse.SipResponse`` (2.5.0),

and the ratio of ours to the faster peer.  Performance is a ratio against peers
measured in the same run (DESIGN.md "Tests"), never an absolute figure.

What "parse" means for each, so the comparison is like for like
------------------------------------------------------------------
All three start from the datagram as ``bytes`` and end with the values a SIP
stack needs to hand the message to its transaction (RFC 3261 §17.1.3, §17.2.3):
top Via branch and sent-by (host, port), CSeq number and method, Call-ID,
From tag and To tag.  Ours and sippy parse structured header values lazily, so
their "parse" includes reading those fields through the public accessors;
pyVoIP parses eagerly and its "parse" reads them out of its dicts.

* ours:   decode, split, header list, Content-Length check, start line
          validation (``parse_message``); then ``top_via`` (Via grammar, host and
          port validation, params), ``cseq``, ``call_id``, ``from_``/``to``
          (name-addr grammar, URI parsed and validated, params); for requests
          also the Request-URI (``ruri``), which sippy parses eagerly.  The body
          stays bytes (SDP is parsed by the media layer only when needed).
* pyVoIP: what ``SIPMessage(data)`` does: split, first occurrence of every
          header kept, Via/From/To/CSeq/Allow/Supported split into dicts, and the
          whole SDP body parsed into dicts (eager; it cannot be turned off).
          It validates little (no URI or host grammar).
* sippy:  what its transaction manager does on receipt: ``bytes.decode()``,
          ``SipRequest(str)``/``SipResponse(str)`` (start line and Request-URI
          parsed, one object per header, body wrapped unparsed), then
          ``getHFBody('via')`` ``.getBranch()`` ``.getAddr()``,
          ``getHFBody('cseq').getCSeq()``, ``getHFBody('call-id')``,
          ``getHFBody('from'/'to').getTag()`` (Via and addresses parsed on access).

Serialization starts from a message that went through "parse" above (the state
a message is in once the stack has routed it) and ends with ``bytes``:
ours ``msg.serialize()``; sippy ``msg.localStr().encode()`` (what its
transaction manager sends).  pyVoIP 1.6.8 has no serializer from a message
object (``SIPMessage`` only keeps ``raw``, the bytes it was given; ``SIPClient``
writes outgoing messages from f-string templates), so pyVoIP is compared on
parse only.  "roundtrip" is parse followed by serialize, in one call.

Method: ``time.perf_counter``, a warm-up run, then the loop count is calibrated
so one repeat lasts ``--seconds / --repeats``; the best repeat is reported.  The
garbage collector is disabled during every timed loop, for all three alike.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

from messages import MESSAGES  # noqa: E402

from b2bua.sip.message import Request, parse_message  # noqa: E402

# The routing fields every "parse" must produce, normalised for comparison:
# (branch, sent-by host, sent-by port, CSeq number, CSeq method, Call-ID, From tag, To tag)
Fields = tuple[Any, ...]

OPS = ("parse", "serialize", "roundtrip")
GOAL = 5.0  # the project's target: ours at least 5x the faster peer


# -- ours -------------------------------------------------------------------


def _ours_route(msg: Any) -> Fields:
    """What the transaction layer reads; the structured values parse on access."""
    via = msg.top_via
    cseq = msg.cseq
    if isinstance(msg, Request):
        msg.ruri  # noqa: B018  parsed and validated on access, as sippy does eagerly
    return (via.branch, via.host, via.port, cseq.number, cseq.method, msg.call_id, msg.from_.tag, msg.to.tag)


def ours_parse(data: bytes) -> Any:
    msg = parse_message(data)
    _ours_route(msg)
    return msg


def ours_fields(data: bytes) -> Fields:
    return _ours_route(parse_message(data))


def ours_serialize(msg: Any) -> bytes:
    return msg.serialize()


def ours_roundtrip(data: bytes) -> bytes:
    return ours_parse(data).serialize()


# -- pyVoIP -------------------------------------------------------------------


def _pyvoip() -> dict[str, Callable[..., Any]]:
    import pyVoIP.VoIP  # noqa: F401  pyVoIP.SIP cannot be imported first (circular import)
    from pyVoIP.SIP import SIPMessage

    def fields(data: bytes) -> Fields:
        h = SIPMessage(data).headers
        via = h["Via"][0]
        host, port = via["address"]
        cseq = h["CSeq"]
        return (
            via["branch"],
            host,
            int(port),
            int(cseq["check"]),
            cseq["method"],
            h["Call-ID"],
            h["From"]["tag"] or None,
            h["To"]["tag"] or None,
        )

    return {"parse": fields, "fields": fields}


# -- sippy --------------------------------------------------------------------


def _sippy() -> dict[str, Callable[..., Any]]:
    # sippy's header classes read sippy.SipConf only when they build headers of
    # their own (local address, default port); parsing needs no set-up.
    from sippy.SipRequest import SipRequest
    from sippy.SipResponse import SipResponse

    def route(msg: Any) -> Fields:
        via = msg.getHFBody("via")
        host, port = via.getAddr()
        cseq, method = msg.getHFBody("cseq").getCSeq()
        return (
            via.getBranch(),
            host,
            port,
            cseq,
            method,
            str(msg.getHFBody("call-id")),
            msg.getHFBody("from").getTag(),
            msg.getHFBody("to").getTag(),
        )

    def parse(data: bytes) -> Any:
        text = data.decode()
        msg = SipResponse(text) if text.startswith("SIP/2.0 ") else SipRequest(text)
        route(msg)
        return msg

    def fields(data: bytes) -> Fields:
        text = data.decode()
        return route(SipResponse(text) if text.startswith("SIP/2.0 ") else SipRequest(text))

    def serialize(msg: Any) -> bytes:
        return msg.localStr().encode()

    def roundtrip(data: bytes) -> bytes:
        return parse(data).localStr().encode()

    return {"parse": parse, "serialize": serialize, "roundtrip": roundtrip, "fields": fields}


@dataclass
class Impl:
    name: str
    version: str
    ops: dict[str, Callable[..., Any]]


def implementations() -> list[Impl]:
    ours = {
        "parse": ours_parse,
        "serialize": ours_serialize,
        "roundtrip": ours_roundtrip,
        "fields": ours_fields,
    }
    return [
        Impl("ours", metadata.version("b2bua"), ours),
        Impl("pyVoIP", metadata.version("pyVoIP"), _pyvoip()),
        Impl("sippy", metadata.version("sippy"), _sippy()),
    ]


# -- checks -------------------------------------------------------------------


def check(impls: list[Impl]) -> None:
    """Every implementation must read the same routing fields, and our
    serializer must give back a message that parses to the same thing."""
    for label, data in MESSAGES.items():
        expected = impls[0].ops["fields"](data)
        for impl in impls[1:]:
            got = impl.ops["fields"](data)
            if got != expected:
                raise SystemExit(f"{impl.name} reads {got!r} from {label}, ours {expected!r}")
        msg = parse_message(data)
        wire = msg.serialize()
        if parse_message(wire) != msg:
            raise SystemExit(f"ours: parse(serialize(m)) != m for {label}")
        if wire != data:
            raise SystemExit(f"ours: serialize(parse(data)) != data for {label}")
        sippy = next(i for i in impls if i.name == "sippy")
        again = sippy.ops["serialize"](sippy.ops["parse"](data))
        if impls[0].ops["fields"](again) != expected:
            raise SystemExit(f"sippy: its serialized {label} reads differently")


# -- timing ---------------------------------------------------------------------


def _loop(fn: Callable[[Any], Any], arg: Any, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        return time.perf_counter() - t0
    finally:
        gc.enable()


def rate(fn: Callable[[Any], Any], arg: Any, seconds: float, repeats: int) -> float:
    """Best-of-``repeats`` calls per second, each repeat about seconds/repeats long."""
    _loop(fn, arg, 50)  # warm-up: imports, caches, branch predictors
    target = seconds / repeats
    n = 1
    while True:  # calibrate
        elapsed = _loop(fn, arg, n)
        if elapsed >= target / 4:
            break
        n *= 4 if elapsed < target / 40 else 2
    n = max(1, int(n * target / max(elapsed, 1e-9)))
    best = min(_loop(fn, arg, n) for _ in range(repeats))
    return n / best


def run(impls: list[Impl], seconds: float, repeats: int) -> list[tuple[str, str, dict[str, float | None]]]:
    check(impls)
    rows: list[tuple[str, str, dict[str, float | None]]] = []
    for label, data in MESSAGES.items():
        for op in OPS:
            rates: dict[str, float | None] = {}
            for impl in impls:
                fn = impl.ops.get(op)
                if fn is None:
                    rates[impl.name] = None
                    continue
                arg = impl.ops["parse"](data) if op == "serialize" else data
                rates[impl.name] = rate(fn, arg, seconds, repeats)
            rows.append((label, op, rates))
    return rows


def report(rows: list[tuple[str, str, dict[str, float | None]]], impls_desc: str) -> None:
    def fmt(v: float | None) -> str:
        return f"{v:,.0f}" if v is not None else "n/a"

    print(impls_desc)
    print()
    head = f"{'message':<12} {'op':<10} {'ours msg/s':>12} {'pyVoIP msg/s':>13} {'sippy msg/s':>12} {'ours/faster peer':>17}"
    print(head)
    print("-" * len(head))
    ratios: list[float] = []
    per_op: dict[str, list[float]] = {op: [] for op in OPS}
    for label, op, r in rows:
        peers = [v for k, v in r.items() if k != "ours" and v is not None]
        ratio = r["ours"] / max(peers)  # type: ignore[operator]
        ratios.append(ratio)
        per_op[op].append(ratio)
        print(
            f"{label:<12} {op:<10} {fmt(r['ours']):>12} {fmt(r['pyVoIP']):>13} "
            f"{fmt(r['sippy']):>12} {ratio:>16.1f}x"
        )
    print("-" * len(head))
    print("pyVoIP n/a: pyVoIP 1.6.8 has no serializer from a message object (SIPMessage keeps only .raw).")

    def gmean(xs: list[float]) -> float:
        return math.exp(sum(math.log(x) for x in xs) / len(xs))

    by_op = ", ".join(f"{op} {gmean(v):.1f}x" for op, v in per_op.items())
    g = gmean(ratios)
    verdict = "met" if g >= GOAL else "NOT met"
    print(f"geometric mean ours / faster peer: {g:.1f}x over {len(ratios)} rows ({by_op}); goal {GOAL:.0f}x {verdict}")


def profile(seconds: float) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    end = time.perf_counter() + seconds
    prof.enable()
    while time.perf_counter() < end:
        for data in MESSAGES.values():
            ours_roundtrip(data)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=0.8, help="time per measurement (default 0.8)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per measurement, best taken (default 5)")
    ap.add_argument("--profile", action="store_true", help="cProfile our parse+serialize instead")
    args = ap.parse_args(argv)
    if args.profile:
        profile(max(args.seconds, 2.0))
        return
    impls = implementations()
    desc = (
        f"SIP parse/serialize micro-benchmark -- Python {platform.python_version()} "
        f"({platform.python_implementation()}), "
        + ", ".join(f"{i.name} {i.version}" for i in impls)
        + f"\n{args.seconds:g} s per measurement, best of {args.repeats}, gc disabled while timing"
        "\nparse = bytes -> message + top Via branch/sent-by, CSeq, Call-ID, From/To tag"
        " (ours also parses the Request-URI; pyVoIP also parses the SDP body eagerly)"
    )
    started = time.perf_counter()
    rows = run(impls, args.seconds, args.repeats)
    report(rows, desc)
    print(f"(run took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
