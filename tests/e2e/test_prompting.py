"""Prompted account codes end to end: a SIPp phone dials a long-distance number
without a code, hears the server's prompt (183 with the server's SDP), keys the
code, and its call reaches the SIPp carrier; after the callee answers, the
server re-offers both sides so that media flows phone to phone.

The office of test_calls (NANP, home area 801, 5-digit codes on long-distance
and international calls), with prompting on for its group.
"""

from __future__ import annotations

import json
import math
import time
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from .server import ROOT, free_port, rtp_range, wait_codes
from .sipp import SIPP, Sipp, run, sipp_args
from .test_calls import OFFICE, Rig, settle

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

LONG = "2125551234"


def prompting_office(rtp_first: int) -> str:
    return OFFICE.replace('prompt = "off"', 'prompt = "announcement"\nminimal_access = "*90"') + f"""
[media]
address = "127.0.0.1"
rtp_first = {rtp_first}
rtp_last = {rtp_first + 99}
rtcp_interval = 1
"""


def cli(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", *args, "--config", str(rig.tmp / "b2bua.toml")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Rig]:
    rtp_first = rtp_range()
    rig = Rig(tmp_path, extra=prompting_office(rtp_first), carrier_port=free_port())
    proc = cli(rig, "codes", "add", "12345", "--name", "Acme")
    assert proc.returncode == 0, proc.stderr
    wait_codes(rig.data, count=1)
    yield rig
    rig.close()


def keyed(rig: Rig, code: str, *, scenario: str = "uac_prompt_info.xml", far: str = "uas_bridged.xml",
          service: str = LONG) -> int:
    uas = rig.uas(far, rig.carrier_port, extra=("-trace_msg",))
    variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate(code)}}
    if "2833" in scenario:
        variables = {"caller": "1001"}  # the digits are in the scenario (captures)
    args = sipp_args(scenario, rig.target, port=free_port(), service=service, user="1001", password="pw1001",
                     variables=variables, extra=("-d", "500", "-trace_msg", "-mp", str(free_port())))
    proc = run(args, rig.tmp)
    rig.last_uac = proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode or uas.wait(30)


def records(rig: Rig) -> list[dict[str, Any]]:
    proc = cli(rig, "cdr", "export", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def sdp_address(message: str) -> tuple[str, int]:
    c = re.search(r"c=IN IP4 (\S+)", message)
    m = re.search(r"m=audio (\d+)", message)
    assert c is not None and m is not None, message
    return c.group(1), int(m.group(1))


def messages(rig: Rig, prefix: str) -> list[str]:
    """The messages a SIPp process sent and received (-trace_msg), oldest first."""
    out: list[str] = []
    for log in sorted(rig.tmp.glob(f"{prefix}*_messages.log")):
        for chunk in re.split(r"^-{10,}.*$", log.read_text(errors="replace"), flags=re.M):
            head, sep, body = chunk.partition(":\n")  # "UDP message received [N] bytes :" / "sent (N bytes):"
            if sep and "message" in head and body.strip():
                out.append(body.strip())
    return out


def test_a_code_keyed_by_info_after_the_prompt_places_the_call(office: Rig) -> None:
    assert keyed(office, "12345") == 0, office.last_uac + office.server.output()[-3000:]
    caller = messages(office, "uac_prompt_info")
    callee = messages(office, "uas_bridged")
    early = next(m for m in caller if "SIP/2.0 183" in m)
    assert sdp_address(early)[0] == "127.0.0.1"  # the server's own media
    ok = next(m for m in caller if "SIP/2.0 200 OK" in m and "INVITE" in m.split("CSeq:")[1].split("\n")[0])
    assert sdp_address(ok) == sdp_address(early)  # the caller's 200 is consistent with its early media
    invites = [m for m in callee if m.lstrip().startswith("INVITE ")]
    assert len(invites) == 2, callee
    # the first offer to the callee is the server's; the re-INVITE brings the caller's own address
    caller_offer = next(m for m in caller if m.lstrip().startswith("INVITE ") and "Authorization" in m)
    assert sdp_address(invites[1]) == sdp_address(caller_offer)
    assert sdp_address(invites[0]) != sdp_address(caller_offer)
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"]) == ("12345", "prompt", "info"), r
    assert r["destination"] == LONG and r["disposition"] == "ANSWERED" and r["trunk"] == "outside", r
    status = settle(office)
    assert status["calls_answered"] == 1


def test_a_code_keyed_by_rfc4733_events_from_captures(office: Rig) -> None:
    """The digits as RTP telephone-events: sip-tester's dtmf_2833_N.pcap captures
    played to the server's media address."""
    assert keyed(office, "12345", scenario="uac_prompt_2833.xml") == 0, (
        office.last_uac + office.server.output()[-3000:]
    )
    early = next(m for m in messages(office, "uac_prompt_2833") if "SIP/2.0 183" in m)
    assert "telephone-event/8000" in early  # negotiated
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"]) == ("12345", "prompt", "rfc4733"), r
    settle(office)


def test_a_wrong_code_is_refused_then_the_right_one_places_the_call(office: Rig) -> None:
    assert keyed(office, "9999912345", scenario="uac_prompt_info_retry.xml") == 0, (
        office.last_uac + office.server.output()[-3000:]
    )
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["disposition"]) == ("12345", "prompt", "ANSWERED"), r
    assert "99999" not in office.server.output()  # the wrong code is logged masked, if at all


def test_a_caller_hanging_up_during_the_prompt_leaves_a_record(office: Rig) -> None:
    args = sipp_args("uac_prompt_cancel.xml", office.target, port=free_port(), service=LONG, user="1001",
                     password="pw1001", variables={"caller": "1001"})
    proc = run(args, office.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + office.server.output()[-3000:]
    (r,) = records(office)
    assert (r["code_source"], r["accountcode"], r["status"], r["answer"]) == ("prompt", "", 487, ""), r
    assert r["cause"] == "cancelled by caller" and r["billable"] == 0 and r["cost"] in ("0", "0.00"), r
    status = settle(office)
    assert status["calls"] == 0


def test_three_wrong_codes_end_the_call_with_403_and_a_record(office: Rig) -> None:
    args = sipp_args("uac_prompt_fail.xml", office.target, port=free_port(), service=LONG, user="1001",
                     password="pw1001", variables={"caller": "1001", **{f"d{i}": "9" for i in range(1, 16)}},
                     extra=("-trace_msg",))
    proc = run(args, office.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + office.server.output()[-3000:]
    final = next(m for m in messages(office, "uac_prompt_fail") if m.startswith("SIP/2.0 403"))
    assert "Invalid account code" in final.splitlines()[0]
    (r,) = records(office)
    assert (r["code_source"], r["status"], r["answer"], r["cost"]) == ("prompt", 403, "", "0"), r
    assert "99999" not in office.server.output()


def test_the_feature_access_code_alone_collects_the_code_then_the_number(office: Rig) -> None:
    """BroadWorks' FAC form: *88, prompt, code, confirmation, dial tone, number, call."""
    assert keyed(office, "12345" + LONG, scenario="uac_prompt_fac.xml", service="*88") == 0, (
        office.last_uac + office.server.output()[-3000:]
    )
    callee = messages(office, "uas_bridged")
    assert any(m.startswith(f"INVITE sip:{LONG}@") for m in callee), callee[:1]
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"], r["destination"]) == (
        "12345", "prompt", "info", LONG), r
    assert r["disposition"] == "ANSWERED", r


def test_the_minimal_prompt_takes_the_dial_string_after_a_beep(office: Rig) -> None:
    """3CX's minimal prompts: *90, a beep, then code**number# keyed."""
    assert keyed(office, "12345**" + LONG + "#", scenario="uac_prompt_minimal.xml", service="*90") == 0, (
        office.last_uac + office.server.output()[-3000:]
    )
    (r,) = [r for r in records(office) if r["end"]]
    assert (r["accountcode"], r["code_source"], r["code_entry"], r["destination"]) == (
        "12345", "prompt", "info", LONG), r


def test_an_offer_without_a_codec_the_server_speaks_gets_488_and_a_record(office: Rig) -> None:
    args = sipp_args("uac_prompt_g729.xml", office.target, port=free_port(), service=LONG, user="1001",
                     password="pw1001", variables={"caller": "1001"})
    proc = run(args, office.tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + office.server.output()[-3000:]
    (r,) = records(office)
    assert (r["code_source"], r["status"], r["cause"]) == ("prompt", 488, "No usable codec"), r


def test_no_free_media_port_gets_503_logged_and_recorded(tmp_path: Path) -> None:
    """One RTP port (rtp_first .. rtp_first + 1): while a caller is prompted, the next
    one cannot be, and is refused 503."""
    rtp_first = rtp_range()
    extra = prompting_office(rtp_first).replace(f"rtp_last = {rtp_first + 99}", f"rtp_last = {rtp_first + 1}")
    rig = Rig(tmp_path, extra=extra, carrier_port=free_port())
    try:
        first = Sipp(sipp_args("uac_prompt_hold.xml", rig.target, port=free_port(), service=LONG, user="1001",
                               password="pw1001", variables={"caller": "1001"}),
                     rig.tmp, "holder")
        rig.procs.append(first)
        end = time.monotonic() + 10
        while time.monotonic() < end and "prompts_active\": 1" not in (rig.data / "status.json").read_text():
            time.sleep(0.1)
        second = run(sipp_args("uac_prompt_503.xml", rig.target, port=free_port(), service=LONG, user="1001",
                               password="pw1001", variables={"caller": "1001"}), rig.tmp)
        assert second.returncode == 0, second.stdout[-3000:] + rig.server.output()[-3000:]
        assert first.wait(30) == 0
        assert "no free RTP port" in rig.server.output()
        statuses = sorted(r["status"] for r in records(rig))
        assert statuses == [487, 503], statuses
    finally:
        rig.close()


def test_media_kept_through_the_server_is_relayed_both_ways(tmp_path: Path) -> None:
    """[media] anchor: no re-offers after the callee answers; the caller's audio
    reaches the callee through the server (the callee, SIPp -rtp_echo, sends it
    back, and that reaches the caller the same way)."""
    rtp_first = rtp_range()
    rig = Rig(tmp_path, extra=prompting_office(rtp_first) + "anchor = true\n", carrier_port=free_port())
    try:
        assert cli(rig, "codes", "add", "12345", "--name", "Acme").returncode == 0
        wait_codes(rig.data, count=1)
        far = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg", "-rtp_echo", "-mp", str(free_port())))
        variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate("12345")}}
        proc = run(sipp_args("uac_prompt_anchored.xml", rig.target, port=free_port(), service=LONG, user="1001",
                             password="pw1001", variables=variables,
                             extra=("-d", "3000", "-trace_msg", "-mp", str(free_port()))), rig.tmp)
        assert proc.returncode == 0, proc.stdout[-3000:] + rig.server.output()[-3000:]
        assert far.wait(30) == 0
        status = json.loads((rig.data / "status.json").read_text())
        assert status["prompt_anchored"] == 1, status
        assert status["prompt_relayed_to_callee"] > 20 and status["prompt_relayed_to_caller"] > 20, status
        callee = messages(rig, "uas_")
        assert [m.split(" ", 1)[0] for m in callee if not m.startswith("SIP/")] == ["INVITE", "ACK", "BYE"]
        (r,) = [r for r in records(rig) if r["end"]]
        assert (r["accountcode"], r["code_source"], r["disposition"]) == ("12345", "prompt", "ANSWERED"), r
    finally:
        rig.close()


def test_a_code_keyed_as_rfc4733_during_an_anchored_call_splits_the_record(tmp_path: Path) -> None:
    """Media kept through the server: *89 55555 # keyed as telephone-events during
    the call (b2bua.calls.midcall) sets a new account code; nothing reaches the
    callee as a request, and the record has a segment under the new code.  (The
    events come from a socket of the test's, numbered by b2bua.media: the
    sip-tester captures cannot spell *89..., their timestamps go up 0..9 * #.)"""
    import socket

    from b2bua.media.rfc4733 import EventSender
    from b2bua.media.rtp import RtpSender

    rtp_first = rtp_range()
    rig = Rig(tmp_path, extra=prompting_office(rtp_first) + "anchor = true\n", carrier_port=free_port())
    try:
        for code in ("12345", "55555"):
            assert cli(rig, "codes", "add", code, "--name", f"Client {code}").returncode == 0
        wait_codes(rig.data, count=2)
        far = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg",))
        variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate("12345")}}
        phone = Sipp(sipp_args("uac_prompt_anchored_te.xml", rig.target, port=free_port(), service=LONG, user="1001",
                               password="pw1001", variables=variables, extra=("-d", "6000", "-trace_msg")),
                     rig.tmp, "phone")
        rig.procs.append(phone)
        end = time.monotonic() + 20
        while time.monotonic() < end and '"prompt_anchored": 1' not in (rig.data / "status.json").read_text():
            time.sleep(0.1)
        rtp = RtpSender(ssrc=0x1234, sequence=1, timestamp=1000, payload_type=0)
        keys = EventSender(payload_type=101)
        for k in "*8955555#":
            keys.press(k, duration=0.08)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            while keys.busy:
                data = keys.next_packet(rtp) or rtp.audio(b"\xff" * 160)
                s.sendto(data, ("127.0.0.1", rtp_first))  # the caller's stream: the first port of the range
                time.sleep(0.02)
        assert phone.wait(30) == 0
        assert far.wait(30) == 0
        callee = messages(rig, "uas_")
        assert [m.split(" ", 1)[0] for m in callee if not m.startswith("SIP/")] == ["INVITE", "ACK", "BYE"]
        (r,) = [r for r in records(rig) if r["end"]]
        assert r["accountcode"] == "55555" and r["code_source"] == "rfc4733", r
        assert [(c["accountcode"], c["code_source"]) for c in r["code_changes"]] == [
            ("12345", "prompt"), ("55555", "rfc4733")], r["code_changes"]
        assert "55555" not in rig.server.output()  # logged masked
    finally:
        rig.close()


# -- a pyVoIP phone: it hears the prompt and keys the code as tones in its audio --------

ROWS = {"1": 697, "2": 697, "3": 697, "4": 770, "5": 770, "6": 770, "7": 852, "8": 852, "9": 852, "0": 941}
COLUMNS = {"1": 1209, "2": 1336, "3": 1477, "4": 1209, "5": 1336, "6": 1477, "7": 1209, "8": 1336, "9": 1477,
           "0": 1336}


def dtmf_audio(digits: str, on: float = 0.12, off: float = 0.12) -> bytes:
    """Keys as pyVoIP writes audio: 8-bit unsigned linear, 8 kHz, silence 0x80."""
    out = bytearray()
    for d in digits:
        f1, f2 = ROWS[d], COLUMNS[d]
        for n in range(int(on * 8000)):
            t = n / 8000
            out.append(128 + round(45 * math.sin(2 * math.pi * f1 * t) + 40 * math.sin(2 * math.pi * f2 * t)))
        out += b"\x80" * int(off * 8000)
    return bytes(out)


def power(audio: bytes, hz: float) -> float:
    """Goertzel power of ``hz`` in 8-bit audio (normalised by length)."""
    k = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for b in audio:
        s1, s2 = (b - 128) + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / len(audio) ** 2


def listen(call: Any, seconds: float) -> bytes:
    out = bytearray()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += call.read_audio(160, blocking=True)
    return bytes(out)


@pytest.fixture
def answering_office(tmp_path: Path) -> Iterator[Rig]:
    """The office with a group that answers the prompted caller (phones that send
    no DTMF in early media, like pyVoIP) and uses tone-only prompting."""
    rtp_first = rtp_range()
    extra = prompting_office(rtp_first).replace(
        'prompt = "announcement"', 'prompt = "announcement"\nprompt_answer = true'
    )
    rig = Rig(tmp_path, extra=extra, carrier_port=free_port())
    assert cli(rig, "codes", "add", "12345", "--name", "Acme").returncode == 0
    wait_codes(rig.data, count=1)
    yield rig
    rig.close()


def test_a_pyvoip_phone_hears_the_prompt_keys_tones_and_hears_ringback(answering_office: Rig) -> None:
    from .phones import CallState, Phone, wait_for

    rig = answering_office
    far = rig.uas("uas_ring.xml", rig.carrier_port)
    phone = Phone(rig.target, "1001", "pw1001")
    phone.start()
    try:
        call = phone.call(LONG, timeout=10)
        assert wait_for(lambda: call.state == CallState.ANSWERED, 10), call.state  # by the server
        prompt = listen(call, 1.5)
        assert max(abs(b - 128) for b in prompt) > 20, "no announcement heard"
        call.write_audio(dtmf_audio("12345"))
        time.sleep(3.5)  # the keys (1.2 s), "thank you", the callee placed
        ringback = listen(call, 1.5)
        on = power(ringback, 440) + power(ringback, 480)
        assert on > 20 * (power(ringback, 350) + power(ringback, 620) + power(ringback, 1000)), "no ringback"
        call.hangup()
    finally:
        phone.stop()
    assert far.wait(30) == 0  # the callee rang and was cancelled
    (r,) = records(rig)
    assert (r["accountcode"], r["code_source"], r["code_entry"]) == ("12345", "prompt", "inband"), r
    assert r["answer"] == "" and r["destination"] == LONG, r  # never answered by the callee: nothing billed
    # (no settle: the cancelled INVITE's transaction lives on for Timer D, 32 s over UDP)


def test_a_broken_replacement_announcement_stops_the_server_with_its_name(tmp_path: Path) -> None:
    """A file in [media] sounds_dir that is not 8 kHz 16-bit mono is found at start,
    not by a caller hearing noise: a readable error naming it, exit status 1."""
    import wave

    sounds = tmp_path / "sounds"
    sounds.mkdir()
    with wave.open(str(sounds / "thank_you.wav"), "wb") as w:  # 44.1 kHz: wrong
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0\0" * 4410)
    cfg = tmp_path / "b2bua.toml"
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n\n[media]\nsounds_dir = "{sounds}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "b2bua.runtime.cli", "serve", "--config", str(cfg), "--listen",
         f"udp:127.0.0.1:{free_port()}", "--http-listen", "off"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "thank_you.wav" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture
def tone_office(tmp_path: Path) -> Iterator[Rig]:
    """Tone-only prompting (CUCM style), the caller answered by the server."""
    rtp_first = rtp_range()
    extra = prompting_office(rtp_first).replace('prompt = "announcement"', 'prompt = "tone"\nprompt_answer = true')
    rig = Rig(tmp_path, extra=extra, carrier_port=free_port())
    yield rig
    rig.close()


def envelope(audio: bytes, frame: int = 160) -> list[bool]:
    """Per 20 ms: is there a tone (8-bit audio from pyVoIP)?"""
    return [max(abs(b - 128) for b in audio[i:i + frame]) > 8 for i in range(0, len(audio) - frame + 1, frame)]


def test_the_tone_prompt_is_recall_dial_tone(tone_office: Rig) -> None:
    """Tone-only prompting, decoded from the server's RTP by a pyVoIP phone: the
    recall dial tone, 350+440 Hz (its three leading bursts are over before pyVoIP,
    which starts its media with the 200, reads anything)."""
    from .phones import CallState, Phone, wait_for

    rig = tone_office
    phone = Phone(rig.target, "1001", "pw1001")
    phone.start()
    try:
        call = phone.call(LONG, timeout=10)
        assert wait_for(lambda: call.state == CallState.ANSWERED, 10), call.state
        audio = listen(call, 1.0)
        call.hangup()
    finally:
        phone.stop()
    steady = audio[-4000:]
    assert all(envelope(steady)), "no steady tone"
    tone = power(steady, 350) + power(steady, 440)
    assert tone > 20 * (power(steady, 480) + power(steady, 620) + power(steady, 1000)), "not 350+440 Hz"
