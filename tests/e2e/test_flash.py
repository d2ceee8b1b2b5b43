"""Flash + VSC end to end (b2bua.calls.flash): a prompted call whose media the
server keeps ([media] anchor); the caller flashes, hears recall dial tone, keys
*89 and a code, hears confirmation, flashes again and talks to the callee.

The caller's RTP comes from a socket of the test's, sent to the caller's stream
(the first port of the range): the server latches onto it (symmetric RTP), so
the test hears what the server sends the caller.  The callee is SIPp with
-rtp_echo: while the two talk, the test's audio comes back to it through the
callee; while the callee is held, it does not.  Audio is decoded here with the
G.711 mu-law formula and a Goertzel filter, independently of b2bua.media.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from b2bua.media.rfc4733 import EventSender
from b2bua.media.rtp import RtpSender

from .server import free_port, rtp_range, wait_codes
from .sipp import SIPP, Sipp, sipp_args
from .test_calls import OFFICE, Rig
from .test_prompting import LONG, cli, messages, prompting_office, records

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

SSRC = 0x1234  # the test's caller stream; the callee's echo carries it back
BURSTS = "11111" "00000" "11111" "00000" "11111"  # three 0.1 s bursts in 20 ms frames


def ulaw(byte: int) -> int:
    """ITU-T G.711 mu-law to linear."""
    b = ~byte & 0xFF
    magnitude = (((b & 0x0F) << 3) + 0x84) << ((b >> 4) & 7)
    return 0x84 - magnitude if b & 0x80 else magnitude - 0x84


def to_ulaw(sample: int) -> int:
    """Linear (16-bit) to ITU-T G.711 mu-law."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(e for e in range(8) if magnitude >= (0x84 << e) or e == 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
        "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
        "0": (941, 1336), "#": (941, 1477)}  # ITU-T Q.23


def dtmf_frames(keys: str, on: int = 5, off: int = 5) -> list[bytes]:
    """20 ms mu-law frames: each key's two tones for ``on`` frames, then ``off`` frames of silence."""
    frames: list[bytes] = []
    n = 0
    for key in keys:
        low, high = DTMF[key]
        for _ in range(on):
            frames.append(bytes(to_ulaw(int(6000 * (math.sin(2 * math.pi * low * (n + i) / 8000) +
                                                    math.sin(2 * math.pi * high * (n + i) / 8000))))
                                for i in range(160)))
            n += 160
        frames += [b"\xff" * 160] * off
    return frames


def power(samples: list[int], hz: float) -> float:
    coeff = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


class CallerMedia:
    """The caller's RTP: 20 ms of silence (or an RFC 4733 event) sent every 20 ms,
    everything that comes back kept as (arrival, ssrc, payload type, payload)."""

    def __init__(self, server_port: int | None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.dest = ("127.0.0.1", server_port) if server_port else None  # None: it only listens
        self.rtp = RtpSender(ssrc=SSRC, sequence=1, timestamp=1000, payload_type=0)
        self.keys = EventSender(payload_type=101)
        self.heard: list[tuple[float, int, int, bytes]] = []
        self.audio: list[bytes] = []  # frames to send before silence (in-band keys)
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            with self.lock:
                data = self.keys.next_packet(self.rtp) or self.rtp.audio(
                    self.audio.pop(0) if self.audio else b"\xff" * 160)
            if self.dest is not None:
                self.sock.sendto(data, self.dest)
            time.sleep(0.02)
            while True:
                try:
                    got = self.sock.recv(2048)
                except BlockingIOError:
                    break
                if len(got) > 12:
                    ssrc = struct.unpack("!I", got[8:12])[0]
                    self.heard.append((time.monotonic(), ssrc, got[1] & 0x7F, got[12:]))

    def press(self, keys: str) -> float:
        """Key ``keys`` as RFC 4733 events; returns when they are sent."""
        with self.lock:
            for k in keys:
                self.keys.press(k, duration=0.08)
        while True:
            with self.lock:
                if not self.keys.busy:
                    return time.monotonic()
            time.sleep(0.02)

    def tones(self, keys: str) -> None:
        """Key ``keys`` as DTMF tones in the audio; returns when they are sent."""
        with self.lock:
            self.audio += dtmf_frames(keys)
        while True:
            with self.lock:
                if not self.audio:
                    return
            time.sleep(0.02)

    def stop(self) -> None:
        self.running = False
        self.thread.join(5)
        self.sock.close()

    def tone_runs(self) -> list[list[tuple[float, bytes]]]:
        """The server's own packets (not the echo), split where nothing came for 0.2 s."""
        runs: list[list[tuple[float, bytes]]] = []
        for at, ssrc, pt, payload in self.heard:
            if ssrc == SSRC:
                continue
            if not runs or at - runs[-1][-1][0] > 0.2:
                runs.append([])
            runs[-1].append((at, payload))
        return runs

    def echoes(self, start: float, end: float) -> int:
        return sum(1 for at, ssrc, pt, _ in self.heard if ssrc == SSRC and pt == 0 and start <= at <= end)


def envelope(run: list[tuple[float, bytes]]) -> str:
    return "".join("1" if max(abs(ulaw(b)) for b in p) > 500 else "0" for _, p in run)


def assert_dial_tone_frequencies(run: list[tuple[float, bytes]]) -> None:
    on = [ulaw(b) for (_, p), lit in zip(run, envelope(run)) if lit == "1" for b in p]
    assert on, "no tone"
    tone = power(on, 350) + power(on, 440)
    assert tone > 20 * (power(on, 480) + power(on, 620) + power(on, 1000)), "not 350+440 Hz"


def assert_recall_then_confirmation(media: CallerMedia) -> tuple[float, float]:
    """Two runs of the server's audio: recall dial tone (three bursts, then steady
    until the first key), then confirmation (three bursts).  Their (start, end)."""
    runs = media.tone_runs()
    assert len(runs) == 2, [envelope(r) for r in runs]
    recall, confirmation = runs
    assert envelope(recall).startswith(BURSTS + "00000" + "1" * 10), envelope(recall)
    assert envelope(confirmation).startswith(BURSTS + "0"), envelope(confirmation)
    assert envelope(confirmation).count("1") == 15, envelope(confirmation)  # three bursts and no more
    assert_dial_tone_frequencies(recall)
    assert_dial_tone_frequencies(confirmation)
    return recall[0][0], confirmation[-1][0]


def anchored_office(tmp_path: Path) -> tuple[Rig, int]:
    rtp_first = rtp_range()
    rig = Rig(tmp_path, extra=prompting_office(rtp_first) + "anchor = true\n", carrier_port=free_port())
    for code in ("12345", "55555"):
        assert cli(rig, "codes", "add", code, "--name", f"Client {code}").returncode == 0
    wait_codes(rig.data, count=2)
    return rig, rtp_first


def status(rig: Rig) -> dict[str, Any]:
    return json.loads((rig.data / "status.json").read_text())  # type: ignore[no-any-return]


def anchored_call(rig: Rig, scenario: str, *, talk_ms: int) -> tuple[Sipp, Sipp]:
    """The callee (SIPp echoing RTP) and the caller (prompted for 12345 by INFO),
    once the call is up with its media kept through the server."""
    far = rig.uas("uas.xml", rig.carrier_port, extra=("-trace_msg", "-rtp_echo", "-mp", str(free_port())))
    variables = {"caller": "1001", **{f"d{i + 1}": d for i, d in enumerate("12345")}}
    phone = Sipp(sipp_args(scenario, rig.target, port=free_port(), service=LONG, user="1001", password="pw1001",
                           variables=variables, extra=("-d", str(talk_ms), "-trace_msg")), rig.tmp, "phone")
    rig.procs.append(phone)
    end = time.monotonic() + 20
    while time.monotonic() < end and status(rig).get("prompt_anchored") != 1:
        time.sleep(0.1)
    assert status(rig).get("prompt_anchored") == 1, rig.server.output()[-3000:]
    return far, phone


def check_call(rig: Rig) -> None:
    """The callee saw no request but the call's own; the record's segments."""
    callee = messages(rig, "uas_")
    assert [m.split(" ", 1)[0] for m in callee if not m.startswith("SIP/")] == ["INVITE", "ACK", "BYE"]
    (r,) = [r for r in records(rig) if r["end"]]
    assert r["accountcode"] == "55555" and r["code_source"] == "flash", r
    assert [(c["accountcode"], c["code_source"]) for c in r["code_changes"]] == [
        ("12345", "prompt"), ("55555", "flash")], r["code_changes"]
    assert r["disposition"] == "ANSWERED", r
    assert "55555" not in rig.server.output()  # logged masked


@pytest.mark.parametrize("keyed", ["rfc4733", "inband"])
def test_a_flash_then_the_code_in_the_media(tmp_path: Path, keyed: str) -> None:
    """The flash as RFC 4733 event 16; *89 55555 as RFC 4733 events, or as DTMF
    tones in the caller's audio (the in-band detector listens while the callee is held)."""
    rig, rtp_first = anchored_office(tmp_path)
    try:
        far, phone = anchored_call(rig, "uac_prompt_anchored_te.xml", talk_ms=9000)
        media = CallerMedia(rtp_first)
        try:
            time.sleep(1.0)  # talking: the echo comes back through the callee
            pressing = time.monotonic()
            flashed = media.press("!")  # RFC 4733 event 16 (returns once its end packets are sent)
            time.sleep(1.5)  # recall dial tone
            if keyed == "rfc4733":
                media.press("*8955555")  # the group's 5 digits end entry
            else:
                media.tones("*8955555")
            time.sleep(1.5)  # confirmation
            back = media.press("!")
            time.sleep(1.5)
        finally:
            media.stop()
        assert phone.wait(30) == 0, phone.output()
        assert far.wait(30) == 0
        start, end = assert_recall_then_confirmation(media)
        assert start >= pressing  # the recall dial tone follows the flash's first packet
        assert media.echoes(0, flashed) > 20  # talking before
        assert media.echoes(start + 0.1, back) == 0  # the callee held: nothing of ours reached it
        assert media.echoes(back + 0.2, back + 1.5) > 20  # reconnected
        assert not [h for h in media.heard if h[2] == 101], "a key reached the callee"
        check_call(rig)
        s = status(rig)
        assert (s["flash_flashes"], s["flash_codes_accepted"]) == (1, 1), s
    finally:
        rig.close()


def test_a_flash_and_the_code_by_info_from_sipp(tmp_path: Path) -> None:
    """SIPp as the ATA: INFO application/hook-flash, *89 55555 as INFO dtmf-relay
    digits, then INFO dtmf-relay Signal=16 (uac_flash_info.xml)."""
    rig, rtp_first = anchored_office(tmp_path)
    try:
        far, phone = anchored_call(rig, "uac_flash_info.xml", talk_ms=2000)
        media = CallerMedia(rtp_first)  # before the flash, 3 s into the call
        try:
            assert phone.wait(60) == 0, phone.output()
        finally:
            media.stop()
        assert far.wait(30) == 0
        start, end = assert_recall_then_confirmation(media)
        assert media.echoes(0, start) > 20
        assert media.echoes(start + 0.1, end) == 0  # held
        assert media.echoes(end + 1.0, end + 5.0) > 20  # reconnected by the second flash
        answers = [m for m in messages(rig, "uac_flash_info") if m.startswith("SIP/2.0") and "INFO" in m]
        assert answers and all(m.startswith("SIP/2.0 200") for m in answers), answers
        check_call(rig)
    finally:
        rig.close()


def test_a_flash_on_a_call_with_media_end_to_end_reoffers_both_sides(tmp_path: Path) -> None:
    """No media through the server: the flash (INFO dtmf-relay Signal=16) makes the
    server re-INVITE the callee with its own SDP, a=inactive, and the caller to its
    media port; the caller (its media at the test's socket) hears recall dial tone
    and confirmation; the second flash (INFO application/broadsoft) bridges the two
    again (the caller's offer to the callee)."""
    rtp_first = rtp_range()
    extra = OFFICE.replace('mode = "classes"', 'mode = "optional"') + f"""
[media]
address = "127.0.0.1"
rtp_first = {rtp_first}
rtp_last = {rtp_first + 99}
"""
    rig = Rig(tmp_path, extra=extra, carrier_port=free_port())
    try:
        assert cli(rig, "codes", "add", "55555", "--name", "Desk").returncode == 0
        wait_codes(rig.data, count=1)
        far = rig.uas("uas_flash_reoffer.xml", rig.carrier_port, extra=("-trace_msg",))
        media = CallerMedia(None)
        try:
            phone = Sipp(sipp_args("uac_flash_reoffer.xml", rig.target, port=free_port(), service=LONG, user="1001",
                                   password="pw1001", variables={"caller": "1001", "mport": str(media.port)},
                                   extra=("-d", "1000", "-trace_msg")), rig.tmp, "phone")
            rig.procs.append(phone)
            assert phone.wait(60) == 0, phone.output() + rig.server.output()[-3000:]
        finally:
            media.stop()
        assert far.wait(30) == 0, far.output()
        assert_recall_then_confirmation(media)
        callee = [m for m in messages(rig, "uas_flash_reoffer") if not m.startswith("SIP/")]
        assert [m.split(" ", 1)[0] for m in callee] == ["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"]
        hold, reconnect = callee[2], callee[4]
        assert "a=inactive" in hold and f"m=audio {media.port} " not in hold, hold  # the server's own media
        assert f"m=audio {media.port} " in reconnect and "a=inactive" not in reconnect, reconnect  # the caller's
        caller = [m for m in messages(rig, "uac_flash_reoffer") if m.startswith("INVITE ") and "tag=flash-a" not in
                  m.split("From:", 1)[1].split("\n", 1)[0]]  # the server's re-INVITEs
        assert len(caller) == 2 and "m=audio" in caller[0] and "m=audio" not in caller[1], caller  # offer, offer-less
        assert "a=inactive" not in caller[0] and "telephone-event" in caller[0], caller[0]
        (r,) = [r for r in records(rig) if r["end"]]
        assert r["accountcode"] == "55555" and r["code_source"] == "flash", r
        s = status(rig)
        assert (s["flash_flashes"], s["flash_codes_accepted"]) == (1, 1), s
    finally:
        rig.close()
