"""The callee's side of a prompted call's media (:mod:`b2bua.runtime.prompts`).

Theory of operation
-------------------
When a prompted call is placed, the callee is offered an RTP stream of the
server's own (:class:`CalleeSide`, one more port of the range), not the
caller's: so the callee's packets are never mistaken for the caller's (two
phones on one host, a caller that has not sent yet) and need no demultiplexing.

* While the callee rings, the caller hears the server's ringback.  A callee
  that answers with media of its own in a provisional (183 with SDP:
  ``CalleeEarlyMedia``, a carrier's ringback or announcement, RFC 3960) is
  heard instead: ringback stops and each of the callee's packets goes to the
  caller on the caller's stream as it came (:meth:`RtpStream.relay`); a
  later 180 without SDP changes nothing.
* After the callee answers, its packets keep reaching the caller that way:
  with ``[media] anchor`` for the whole call (and the caller's go to the
  callee: :meth:`forward`); without, until the re-offers connect the two
  ends (RFC 3725 flow I, ``CallBridged``), which closes both streams.

A callee's packet while neither applies (it rings without SDP) is dropped.
"""

from __future__ import annotations

import logging
from typing import Callable

from b2bua.calls import sdp
from b2bua.media.rtp import RtpPacket
from b2bua.transport.rtp import RtpPacer, RtpPortPool, RtpStream, open_stream

log = logging.getLogger("b2bua.prompts")


class CalleeSide:
    """The server's stream towards one prompted call's callee, and the relay."""

    def __init__(self, ref: str, caller: Callable[[], RtpStream | None], counters: dict[str, int]) -> None:
        self.ref = ref
        self.caller = caller  # the caller's stream (None once closed)
        self.counters = counters
        self.stream: RtpStream | None = None
        self.early = False  # the callee sent SDP in a provisional: its media is heard
        self.answered = False
        self.held = False  # a tone of the server's own plays to the caller meanwhile
        self.paused = False  # a flash holds the callee (b2bua.runtime.flash): nothing passes either way

    async def open(self, pool: RtpPortPool, pacer: RtpPacer, *, host: str, payload_type: int,
                   rtcp_interval: float | None) -> RtpStream:
        """Bind the stream the callee is offered (PortRangeExhausted when none is free)."""
        self.stream = await open_stream(pool, pacer, host=host, on_packet=self.packet, payload_type=payload_type,
                                        rtcp_interval=rtcp_interval, rtcp_mux=False)
        return self.stream

    def early_media(self, body: bytes) -> bool:
        """The callee's provisional with SDP: its media replaces the server's
        ringback; True the first time (the caller's stream stops playing)."""
        self.remote(body)
        first, self.early = not self.early, True
        return first

    def connected(self, body: bytes | None) -> None:
        """The callee answered (``body``: its SDP)."""
        self.answered = True
        self.remote(body)

    def remote(self, body: bytes | None) -> None:
        """Where the callee asks to receive (used until its first packet latches it)."""
        if self.stream is None or not body:
            return
        try:
            address = audio_address(sdp.parse(body))
        except sdp.SdpError:
            log.warning("call %s: the callee's SDP does not parse; its media waits for its packets", self.ref)
            return
        if address is not None:
            self.stream.remote = address

    def packet(self, packet: RtpPacket, now: float) -> None:
        """A packet from the callee: to the caller as it came, once heard."""
        caller = self.caller()
        if self.held or self.paused or caller is None or not (self.early or self.answered):
            return
        caller.relay(packet.to_bytes())
        self.counters["relayed_to_caller"] += 1

    def forward(self, data: bytes) -> None:
        """A packet of the caller's to the callee (anchored media)."""
        if self.stream is not None:
            self.stream.relay(data)
            self.counters["relayed_to_callee"] += 1

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def audio_address(sd: sdp.SessionDescription) -> tuple[str, int] | None:
    """Where a description asks to receive audio (until a packet latches the source)."""
    for i, m in enumerate(sd.media):
        conn = sd.connection_of(i)
        if m.media == "audio" and m.port and conn is not None:
            return conn.address, m.port
    return None
