"""What a prompted caller hears, judged from the server's RTP: SIPp does the
signaling, its SDP names a socket of the test's own (:class:`.ear.Ear`), and the
test reads the RTP headers, decodes the PCMU with its own table and measures the
tones' frequencies (Goertzel) and cadences (in samples of the media clock, not
by wall-clock time).  Then the media after the bridge (RFC 3725 flow I: the two
ends' own sockets reach each other directly) and the callee's own early media
relayed to the caller."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from .ear import Ear, Packet, continuous, decode, goertzel, pcap_payloads, runs, seconds
from .server import free_port, wait_codes
from .sipp import SCENARIOS, SIPP, Sipp, run, sipp_args
from .test_calls import Rig
from .test_prompting import LONG, cli, messages, prompting_office, records, sdp_address

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

FREQUENCIES = (350, 425, 440, 480, 620, 1000)  # every tone's, and one none uses


def rtp_range() -> int:
    """The first port of an RTP range below the ephemeral ports (32768 up), so
    that no socket the kernel hands out meanwhile sits in it."""
    return 12000 + (free_port() % 200) * 100


def office(tmp: Path, *, tones: str = "north_american", extra: str = "") -> Rig:
    """Tone-only prompting in early media (183), the given tone plan."""
    config = prompting_office(rtp_range()).replace('prompt = "announcement"', 'prompt = "tone"')
    rig = Rig(tmp, extra=config.replace("rtcp_interval = 1", f'rtcp_interval = 1\ntones = "{tones}"') + extra,
              carrier_port=free_port())
    proc = cli(rig, "codes", "add", "12345", "--name", "Acme")
    assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=1)
    return rig


@pytest.fixture
def ear() -> Iterator[Ear]:
    e = Ear()
    yield e
    e.close()


def scenario(rig: Rig, name: str, media_port: int) -> str:
    """``name`` with its SDP naming ``media_port`` (a socket of the test's)."""
    path = rig.tmp / f"{Path(name).stem}-{media_port}.xml"
    path.write_text((SCENARIOS / name).read_text().replace("m=audio [media_port]", f"m=audio {media_port}"))
    return str(path)


def caller(rig: Rig, name: str, media_port: int, *, pause_ms: int, code: str = "") -> list[str]:
    """SIPp args of a prompted caller whose media is ``media_port``, keying ``code``."""
    variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate(code)}}
    return sipp_args(scenario(rig, name, media_port), rig.target, port=None, service=LONG, user="1001",
                     password="pw1001", variables=variables, extra=("-d", str(pause_ms), "-trace_msg"))


def from_server(ear: Ear, server_media: tuple[str, int] | None = None) -> list[Packet]:
    packets = [p for p in ear.packets if server_media is None or p.source == server_media]
    return sorted(packets, key=lambda p: p.at)


def talkspurts(packets: list[Packet]) -> list[list[Packet]]:
    """The stream cut where the media clock jumps (the server stopped one
    sound and started the next)."""
    out: list[list[Packet]] = []
    for p in packets:
        if out and (p.timestamp - out[-1][-1].timestamp) & 0xFFFFFFFF == 160 and not p.marker:
            out[-1].append(p)
        else:
            out.append([p])
    return out


def tone_of(bursts: list[list[int]]) -> set[int]:
    """The frequencies that carry every burst of a tone (each at least a fifth
    of its energy), checked to carry nearly all of it.  Burst by burst: each
    starts at phase 0, so bursts put end to end are not one sine."""
    tones = set()
    for samples in bursts:
        shares = {f: goertzel(samples, f) for f in FREQUENCIES}
        found = {f for f, share in shares.items() if share > 0.2}
        assert sum(shares[f] for f in found) > 0.9, shares
        tones.add(frozenset(found))
    assert len(tones) == 1, tones
    return set(tones.pop())


def check_cadence(samples: list[int], pattern: list[tuple[bool, float]], *, last_at_least: float) -> list[list[int]]:
    """The runs of ``samples`` follow ``pattern`` exactly (seconds), the one
    after is at least ``last_at_least`` long; returns the bursts' samples."""
    found = runs(samples)
    got = [(on, seconds(r)) for on, r in ((r[0], r) for r in found)]
    assert len(got) >= len(pattern) + 1, got
    assert got[:len(pattern)] == pattern, got
    assert got[len(pattern)][0] != pattern[-1][0] and got[len(pattern)][1] >= last_at_least, got
    for on, run_samples in found:
        if not on:
            assert max(abs(x) for x in run_samples) <= 8  # silence, not a quiet tone
    return [r for on, r in found if on]


@pytest.mark.parametrize(("tones", "expected"), [("north_american", {350, 440}), ("itu", {425})])
def test_the_tone_prompt_is_recall_dial_tone(tmp_path: Path, ear: Ear, tones: str, expected: set[int]) -> None:
    """Three 0.1 s bursts, then steady: 350+440 Hz, or 425 Hz with the E.180 set."""
    rig = office(tmp_path, tones=tones)
    try:
        proc = run(caller(rig, "uac_prompt_listen.xml", ear.port, pause_ms=1500), rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        early = next(m for m in messages(rig, "uac_prompt_listen") if "SIP/2.0 183" in m)
        packets = from_server(ear, sdp_address(early))
    finally:
        rig.close()
    assert not continuous(packets)  # one looped tone: one stream, every 20 ms, no gap
    assert packets[0].marker
    bursts = [(True, 0.1), (False, 0.1)] * 3
    sounding = check_cadence(decode(packets), bursts, last_at_least=0.5)
    assert tone_of(sounding) == expected


def test_ringback_while_the_callee_rings_after_the_confirmation_tone(tmp_path: Path, ear: Ear) -> None:
    """The code keyed (INFO), the confirmation tone (three 0.1 s bursts of
    350+440 Hz), then ringback, 440+480 Hz 2 s on 4 s off, while a SIPp callee
    rings: the off periods are silence (PCMU 0xFF) and the packets keep coming."""
    rig = office(tmp_path)
    try:
        far = rig.uas("uas_ring.xml", rig.carrier_port)
        proc = run(caller(rig, "uac_prompt_ringback.xml", ear.port, pause_ms=9000, code="12345"), rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        assert far.wait(30) == 0
        early = next(m for m in messages(rig, "uac_prompt_ringback") if "SIP/2.0 183" in m)
        packets = from_server(ear, sdp_address(early))
    finally:
        rig.close()
    spurts = talkspurts(packets)
    ringback, confirmation = spurts[-1], spurts[-2]
    assert not continuous(ringback)
    sounding = check_cadence(decode(ringback), [(True, 2.0), (False, 4.0)], last_at_least=1.0)
    assert tone_of(sounding) == {440, 480}
    off = ringback[100:300]  # the first off period: 200 frames of silence, sent
    assert {b for p in off for b in p.payload} <= {0xFF, 0x7F}, {b for p in off for b in p.payload}
    assert not continuous(confirmation)
    bursts = check_cadence(decode(confirmation), [(True, 0.1), (False, 0.1)] * 2 + [(True, 0.1)], last_at_least=0.1)
    assert tone_of(bursts) == {350, 440}


def test_reorder_after_the_last_wrong_code(tmp_path: Path, ear: Ear) -> None:
    """Three refused codes: reorder, 480+620 Hz 0.25 s on 0.25 s off, then 403."""
    rig = office(tmp_path)
    try:
        variables = {"caller": "1001", **{f"d{i}": "9" for i in range(1, 16)}}
        args = sipp_args(scenario(rig, "uac_prompt_fail.xml", ear.port), rig.target, port=None, service=LONG,
                         user="1001", password="pw1001", variables=variables, extra=("-trace_msg",))
        proc = run(args, rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        early = next(m for m in messages(rig, "uac_prompt_fail") if "SIP/2.0 183" in m)
        packets = from_server(ear, sdp_address(early))
    finally:
        rig.close()
    last = talkspurts(packets)[-1]
    assert not continuous(last)
    sounding = check_cadence(decode(last), [(True, 0.25), (False, 0.25)] * 5, last_at_least=0.25)
    assert tone_of(sounding) == {480, 620}
