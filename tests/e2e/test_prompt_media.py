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

from .ear import Ear, Packet, continuous, decode, goertzel, parse, pcap_payloads, runs, seconds
from .server import free_port, rtp_range, wait_codes
from .sipp import SCENARIOS, SIPP, Sipp, run, sipp_args
from .test_calls import Rig
from .test_prompting import LONG, cli, messages, prompting_office, sdp_address

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

FREQUENCIES = (350, 425, 440, 480, 620, 1000)  # every tone's, and one none uses


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


def frequencies(samples: list[int]) -> set[int]:
    """The frequencies that carry at least a fifth of the samples' energy."""
    return {f for f in FREQUENCIES if goertzel(samples, f) > 0.2}


def tone_of(bursts: list[list[int]]) -> set[int]:
    """The frequencies that carry every burst of a tone (each at least a fifth
    of its energy), checked to carry nearly all of it.  Burst by burst: each
    starts at phase 0, so bursts put end to end are not one sine."""
    tones = set()
    for samples in bursts:
        shares = {f: goertzel(samples, f) for f in FREQUENCIES}
        found = frequencies(samples)
        assert sum(shares[f] for f in found) > 0.9, shares
        tones.add(frozenset(found))
    assert len(tones) == 1, tones
    return set(tones.pop())


def shape(found: list[tuple[bool, list[int]]]) -> list[tuple[bool, float]]:
    return [(on, seconds((on, r))) for on, r in found]


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
def test_the_tone_prompt_is_recall_dial_tone(tmp_path: Path, tones: str, expected: set[int]) -> None:
    """Three 0.1 s bursts, then steady: 350+440 Hz, or 425 Hz with the E.180 set.
    The phone sends RTP too and did not offer rtcp-mux (RFC 5761): the server's
    receiver reports (every second here) do not come to its RTP port."""
    rig = office(tmp_path, tones=tones)
    ear = Ear(talk=True)
    try:
        proc = run(caller(rig, "uac_prompt_listen.xml", ear.port, pause_ms=1500), rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        early = next(m for m in messages(rig, "uac_prompt_listen") if "SIP/2.0 183" in m)
        packets = from_server(ear, sdp_address(early))
    finally:
        rig.close()
        ear.close()
    assert ear.rtcp == 0
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
    assert not continuous(packets)  # prompt, confirmation, ringback: one stream, a packet every 20 ms
    found = runs(decode(packets))
    start = next(i for i, (on, r) in enumerate(found) if on and frequencies(r) == {440, 480})
    ringback = found[start:]
    assert shape(ringback[:2]) == [(True, 2.0), (False, 4.0)] and ringback[2][0], shape(ringback)
    assert seconds(ringback[2]) >= 1.0
    assert set(ringback[1][1]) == {0}  # the off period: silence, sent (PCMU 0xFF/0x7F)
    assert tone_of([r for on, r in ringback if on]) == {440, 480}
    confirmation = found[start - 6:start]
    assert shape(confirmation[:5]) == [(True, 0.1), (False, 0.1)] * 2 + [(True, 0.1)], shape(confirmation)
    assert not confirmation[5][0] and seconds(confirmation[5]) >= 0.1
    assert tone_of([r for on, r in confirmation if on]) == {350, 440}


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
    assert not continuous(packets)
    found = runs(decode(packets))
    prompt = max(i for i, (on, r) in enumerate(found) if on and frequencies(r) == {350, 440})
    reorder = [r for r in found[prompt + 1:]]
    if not reorder[0][0]:
        reorder = reorder[1:]  # the silence after the last key
    assert shape(reorder[:11]) == [(True, 0.25), (False, 0.25)] * 5 + [(True, 0.25)], shape(reorder)
    assert tone_of([r for on, r in reorder if on]) == {480, 620}


def status(rig: Rig) -> dict[str, int]:
    try:
        return json.loads((rig.data / "status.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def test_the_callees_own_early_media_reaches_the_caller_instead_of_ringback(tmp_path: Path, ear: Ear) -> None:
    """A carrier answers 183 with SDP and plays audio (sip-tester's g711a.pcap),
    then 180 without SDP: the caller's socket gets those packets through the
    server's stream, and the server's ringback stops."""
    rig = office(tmp_path)
    try:
        far = rig.uas("uas_early_media.xml", rig.carrier_port, extra=("-mp", str(free_port())))
        proc = run(caller(rig, "uac_prompt_ringback.xml", ear.port, pause_ms=5000, code="12345"), rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        assert far.wait(30) == 0, far.output()
        early = next(m for m in messages(rig, "uac_prompt_ringback") if "SIP/2.0 183" in m)
        server_media = sdp_address(early)
        relayed_count = status(rig)["prompt_relayed_to_caller"]
    finally:
        rig.close()
    carrier = {parse_payload(d) for d in pcap_payloads(Path("/usr/share/sip-tester/g711a.pcap"))}
    packets = from_server(ear, server_media)
    first = next(i for i, p in enumerate(packets) if p.payload in carrier)
    assert all(p.payload_type == 0 for p in packets[:first])  # the server's own tones before
    after = packets[first:]
    assert len(after) >= 50 and all(p.payload in carrier for p in after), len(after)  # no ringback mixed in
    assert {p.payload_type for p in after} == {8}  # as the carrier sent them
    assert relayed_count == len(after)


def parse_payload(datagram: bytes) -> bytes:
    packet = parse(datagram, ("", 0), 0.0)
    assert packet is not None
    return packet.payload  # type: ignore[no-any-return]


def test_after_the_bridge_the_two_ends_reach_each_other_directly(tmp_path: Path) -> None:
    """No [media] anchor: once the callee answers, the server re-offers the two
    ends to each other (RFC 3725 flow I).  The caller's and callee's media are
    sockets of the test's: each was last offered the other's address, a packet
    sent there arrives from the sender's own address, and the server's stream
    no longer sends to the caller."""
    a, b = Ear(), Ear()
    rig = office(tmp_path)
    try:
        far = rig.uas(scenario(rig, "uas_bridged.xml", b.port), rig.carrier_port, extra=("-trace_msg",))
        phone = Sipp(caller(rig, "uac_prompt_info.xml", a.port, pause_ms=3000, code="12345"), rig.tmp, "phone")
        rig.procs.append(phone)
        end = time.monotonic() + 20
        while time.monotonic() < end and status(rig).get("prompt_bridged", 0) < 1:
            time.sleep(0.1)
        assert status(rig).get("prompt_bridged") == 1, rig.server.output()[-3000:]
        bridged = time.monotonic()
        for i in range(5):
            a.send(b"\x80\x00" + bytes(10) + b"caller %d" % i, b.addr)
            b.send(b"\x80\x00" + bytes(10) + b"callee %d" % i, a.addr)
        assert phone.wait(30) == 0, phone.output() + rig.server.output()[-3000:]
        assert far.wait(30) == 0, far.output()
        sent = messages(rig, "uac_prompt_info")
        received = messages(rig, "uas_")
    finally:
        rig.close()
        a.close()
        b.close()
    # what each end was last offered (the caller: the callee's answer in the ACK
    # of flow I; the callee: the caller's offer in the re-INVITE)
    to_caller = [m for m in sent if m.startswith("ACK ") and "m=audio" in m]
    to_callee = [m for m in received if m.startswith("INVITE ")]
    assert to_caller and sdp_address(to_caller[-1]) == b.addr, sent
    assert len(to_callee) == 2 and sdp_address(to_callee[-1]) == a.addr, received
    early = next(m for m in sent if "SIP/2.0 183" in m)
    final = next(m for m in sent if m.startswith("SIP/2.0 200 OK") and "CSeq: 2 INVITE" in m)
    assert sdp_address(final) == sdp_address(early)  # the caller's 200 is consistent with its early media
    assert sorted(p.payload for p in b.packets if p.source == a.addr) == [b"caller %d" % i for i in range(5)]
    assert sorted(p.payload for p in a.packets if p.source == b.addr) == [b"callee %d" % i for i in range(5)]
    server_media = sdp_address(early)
    assert any(p.source == server_media for p in a.packets)  # the prompt came from there
    assert not [p for p in a.packets if p.source == server_media and p.at > bridged]  # and nothing after
    assert not [p for p in b.packets if p.source[1] != a.port]  # the callee hears nothing but the caller
