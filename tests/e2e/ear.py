"""A phone's media as the tests hear it: a UDP socket of the test's own that
receives the server's RTP, with an RTP header reader, a PCMU decoder and a
Goertzel filter written here (not the server's :mod:`b2bua.media`), so that
what the server sends is judged by code that does not share its mistakes.

``Ear()`` binds 127.0.0.1 on a port the kernel picks and collects datagrams in
a thread until ``close()``; ``runs(samples)`` cuts decoded audio into on/off
runs of 5 ms blocks (the tones' cadences are whole multiples of 5 ms).
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections import namedtuple
from pathlib import Path

BLOCK = 40  # samples: 5 ms at 8 kHz
SILENT = 8  # a block whose samples all stay within this is silence


# one received RTP packet: source (host, port), at (monotonic seconds, for
# ordering only), then the header fields (RFC 3550 §5.1) and the payload
Packet = namedtuple("Packet", "source at marker payload_type sequence timestamp ssrc payload")


def parse(data: bytes, source: tuple[str, int], at: float) -> Packet | None:
    if len(data) < 12 or data[0] >> 6 != 2 or 72 <= data[1] & 0x7F <= 95:
        return None  # not RTP version 2, or RTCP (RFC 5761 §4)
    first, second, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    start = 12 + 4 * (first & 0x0F)
    end = len(data) - (data[-1] if first & 0x20 else 0)
    return Packet(source, at, bool(second & 0x80), second & 0x7F, seq, ts, ssrc, data[start:end])


class Ear:
    """A socket that keeps every RTP packet it receives (and who sent it) and
    counts RTCP; with ``talk``, it answers each packet with one of PCMU silence
    of its own (a phone that sends media, from the same port: symmetric RTP)."""

    def __init__(self, *, talk: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.addr = ("127.0.0.1", self.port)
        self.packets: list[Packet] = []
        self.rtcp = 0  # RTCP datagrams received on this (the RTP) port
        self.talk = talk
        self._sequence = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(4096)
            except (socket.timeout, ConnectionRefusedError):
                continue
            except OSError:
                return
            packet = parse(data, (source[0], source[1]), time.monotonic())
            if packet is None:
                self.rtcp += int(len(data) >= 8 and data[0] >> 6 == 2 and 200 <= data[1] <= 204)
                continue
            self.packets.append(packet)
            if self.talk:
                self._sequence += 1
                header = struct.pack("!BBHII", 0x80, 0, self._sequence & 0xFFFF, self._sequence * 160, 0x7E57)
                self.sock.sendto(header + b"\xff" * 160, source)

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def ulaw(code: int) -> int:
    """One G.711 mu-law codeword as a 16-bit sample (the classic decoder)."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


ULAW = [ulaw(c) for c in range(256)]


def decode(packets: list[Packet]) -> list[int]:
    return [ULAW[b] for p in packets for b in p.payload]


def goertzel(samples: list[int], hz: float) -> float:
    """The share of the signal's energy at ``hz`` (about 0.5 for each of two
    equal sines, 1 for one alone)."""
    k = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    energy = sum(x * x for x in samples)
    return 2 * (s1 * s1 + s2 * s2 - k * s1 * s2) / (len(samples) * energy) if energy else 0.0


def runs(samples: list[int]) -> list[tuple[bool, list[int]]]:
    """Consecutive 5 ms blocks grouped into (sounding, samples) runs."""
    out: list[tuple[bool, list[int]]] = []
    for i in range(0, len(samples) - BLOCK + 1, BLOCK):
        block = samples[i:i + BLOCK]
        on = max(abs(x) for x in block) > SILENT
        if out and out[-1][0] == on:
            out[-1][1].extend(block)
        else:
            out.append((on, list(block)))
    return out


def seconds(run: tuple[bool, list[int]]) -> float:
    return len(run[1]) / 8000


def continuous(packets: list[Packet]) -> list[str]:
    """What is wrong with ``packets`` as one 20 ms PCMU stream (empty: nothing)."""
    faults = []
    if len({p.ssrc for p in packets}) != 1:
        faults.append(f"SSRCs {sorted({p.ssrc for p in packets})}")
    for p in packets:
        if p.payload_type != 0 or len(p.payload) != 160:
            faults.append(f"packet {p.sequence}: payload type {p.payload_type}, {len(p.payload)} octets")
    for a, b in zip(packets, packets[1:]):
        if (b.sequence - a.sequence) & 0xFFFF != 1:
            faults.append(f"sequence {a.sequence} then {b.sequence}")
        if (b.timestamp - a.timestamp) & 0xFFFFFFFF != 160:
            faults.append(f"timestamp {a.timestamp} then {b.timestamp} (sequence {b.sequence})")
        if b.marker:
            faults.append(f"marker bit inside a tone (sequence {b.sequence})")
    return faults


def pcap_payloads(path: Path) -> list[bytes]:
    """The UDP payloads (RTP packets) of a classic libpcap file (Ethernet or
    Linux cooked capture, IPv4)."""
    data = path.read_bytes()
    linktype = struct.unpack("<I", data[20:24])[0]
    link = {1: 14, 113: 16}[linktype]
    out, i = [], 24
    while i + 16 <= len(data):
        caplen = struct.unpack("<I", data[i + 8:i + 12])[0]
        frame = data[i + 16:i + 16 + caplen]
        i += 16 + caplen
        ip = frame[link:]
        if ip and ip[0] >> 4 == 4 and ip[9] == 17:
            udp = ip[(ip[0] & 0x0F) * 4:]
            out.append(udp[8:])
    return out
