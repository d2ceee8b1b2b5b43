"""The callee's side of a prompted call (:mod:`b2bua.runtime.prompts`): the
call placed once the code is accepted, its media until the two ends are
connected, and the media kept through the server (``[media] anchor``).

Theory of operation
-------------------
When a prompted call is placed (:meth:`CalleeSide.place`), the callee is
offered an RTP stream of the server's own (one more port of the range), not
the caller's: so the callee's packets are never mistaken for the caller's
(two phones on one host, a caller that has not sent yet) and need no
demultiplexing.  That stream sends nothing of its own (it only relays), so the
pacer leaves it out of its ticks (:mod:`b2bua.transport.rtp`).

* While the callee rings, the caller hears the server's ringback.  A callee
  that answers with media of its own in a provisional (183 with SDP:
  ``CalleeEarlyMedia``, a carrier's ringback or announcement, RFC 3960) is
  heard instead: ringback stops and each of the callee's packets goes to the
  caller on the caller's stream as it came (:meth:`RtpStream.relay`); a
  later 180 without SDP changes nothing.
* After the callee answers (the caller gets its 200 with the early media's
  SDP), its packets keep reaching the caller that way: with ``[media]
  anchor`` for the whole call (and the caller's go to the callee:
  :meth:`from_caller`, which holds back the keys of a mid-call feature code
  and of a flash, and listens for a flash's code in the audio while the
  callee is held); without, until the re-offers connect the two ends
  (``CallManager.bridge``, RFC 3725 flow I, then ``CallBridged``), which
  closes both streams.

A callee's packet while neither applies (it rings without SDP) is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from b2bua.calls import sdp
from b2bua.media import g711
from b2bua.media.errors import PortRangeExhausted
from b2bua.media.rfc4733 import KeyPressed
from b2bua.media.rtp import RtpPacket
from b2bua.transport.rtp import RtpStream, open_stream

if TYPE_CHECKING:
    from .prompts import _Prompt

log = logging.getLogger("b2bua.prompts")

BRIDGE_RETRY = 0.05  # seconds between attempts to bridge while the caller's ACK is awaited
BRIDGE_TRIES = 100


class CalleeSide:
    """One prompted call's callee: its stream, the relay, the bridge or the anchor."""

    def __init__(self, prompt: "_Prompt") -> None:
        self.p = prompt
        self.s = prompt.s
        self.ref = prompt.ref
        self.stream: RtpStream | None = None
        self.ringback = False  # the caller hears the server's ringback
        self.early = False  # the callee sent SDP in a provisional: its media is heard
        self.answered = False
        self.held = False  # a tone of the server's own plays to the caller meanwhile
        self.paused = False  # a flash holds the callee (b2bua.runtime.flash): nothing passes either way
        self.held_keys: dict[int, bool] = {}  # anchored: RFC 4733 events (by timestamp) kept from the callee

    # -- placing the call ------------------------------------------------------------------
    def place(self, now: float) -> None:
        """The code is accepted: the call goes out with the server's own offer
        (the callee's stream is opened first), and the caller hears ringback."""
        p = self.p
        go = p.go
        if go is None or p.stream is None:
            return
        p.phase = "placing"
        if self.stream is None:  # the callee gets a stream of its own first
            asyncio.get_running_loop().create_task(self._open())
            return
        own = sdp.offer(address=self.s.media_host, port=self.stream.port, session_id=next(self.s._session_ids),
                        codecs=[sdp.PCMA if p.codec == g711.PCMA else sdp.PCMU, sdp.TELEPHONE_EVENT])
        placed = self.s.app.calls.place(
            self.ref, now, route=go.route, sd=own, display=go.display, account=go.account, dialed=go.dialed or "",
            group=go.group,
        )
        if placed:
            self.s.counters["prompted_calls_placed"] += 1
            self.ringing()  # the caller hears ringback from the server until the callee answers
        self.s.flush()

    async def _open(self) -> None:
        """Bind the stream the callee is offered, then place the call."""
        p = self.p
        try:
            self.stream = await open_stream(self.s.pool, self.s.pacer, host=self.s.media_host, on_packet=self.packet,
                                            payload_type=p.codec, rtcp_interval=self.s.rtcp_interval, rtcp_mux=False)
        except PortRangeExhausted:
            self.s.counters["no_port"] += 1
            log.error("call %s: no free RTP port for the callee's media: refused 503", self.ref)
            p.finish(503, "No media port available")
            return
        if p.phase != "placing":  # the caller left meanwhile
            p.close()
            return
        self.place(asyncio.get_running_loop().time())

    def ringing(self) -> None:
        p = self.p
        if p.phase == "placing" and p.stream is not None and not self.ringback and not self.early:
            self.ringback = True
            p.stream.play(self.s.frames("tone:ringback", p.codec))

    def early_media(self, body: bytes) -> None:
        """The callee's provisional with SDP: its media replaces the server's ringback."""
        if self.p.phase != "placing":
            return
        self.remote(body)
        first, self.early = not self.early, True
        if first:
            self._caller_hears_callee()

    def connected(self, at: float) -> None:
        """The callee answered: its media reaches the caller; then the bridge, or the anchor."""
        p = self.p
        if p.phase != "placing":
            return
        self._caller_hears_callee()
        call = self.s.app.calls.index.calls.get(self.ref)
        answer = call.b.final if call is not None and call.b is not None else None
        self.answered = True
        self.remote(answer.body if answer is not None else None)
        if self.s.anchor:  # relay both ways from now on
            p.phase = "anchored"
            self.s.counters["anchored"] += 1
            return
        p.phase = "connected"
        self._bridge(BRIDGE_TRIES)

    def _caller_hears_callee(self) -> None:
        stream = self.p.stream
        if stream is not None:
            stream.stop()
            stream.idle = None  # the callee's packets only, from now on

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

    def _bridge(self, tries: int) -> None:
        """Connect the two ends once the caller has ACKed its 200 (RFC 3725 flow I)."""
        p = self.p
        if p.phase != "connected":
            return
        if self.s.app.calls.bridge(self.ref, p.loop.time()):
            self.s.flush()
            return
        if tries > 0:
            p.loop.call_later(BRIDGE_RETRY, self._bridge, tries - 1)
        else:
            log.warning("call %s: media not bridged; it stays through the server's stream", self.ref)

    # -- the relay -------------------------------------------------------------------------
    def packet(self, packet: RtpPacket, now: float) -> None:
        """A packet from the callee: to the caller as it came, once heard."""
        caller, stream = self.p.stream, self.stream
        if self.held or self.paused or caller is None or stream is None or not (self.early or self.answered):
            return
        caller.relay(stream.datagram)
        self.s.counters["relayed_to_caller"] += 1

    def from_caller(self, packet: RtpPacket, now: float) -> None:
        """Anchored media: the caller's packet goes to the callee as it came,
        but for the keys of a mid-call feature code or a flash, and but while a
        flash holds the callee (its code may then be keyed in the audio)."""
        p = self.p
        if p.te_pt is not None and packet.payload_type == p.te_pt and self._feature_key(packet, now):
            return
        if self.paused:
            midcall = self.s.app.midcall
            for key in p.inband(packet, now):
                if midcall is not None:
                    midcall.key(self.ref, key, p.address, now, source="inband")
            self.s.flush()
            return
        if self.stream is not None and p.stream is not None:
            self.stream.relay(p.stream.datagram)
            self.s.counters["relayed_to_callee"] += 1

    def _feature_key(self, packet: RtpPacket, now: float) -> bool:
        """The caller's RFC 4733 keys checked for ``*VSC code #``
        (b2bua.calls.midcall); True when this packet's key is held back."""
        midcall = self.s.app.midcall
        if midcall is None:
            return False
        events = self.p.events
        events.receive(packet, now)
        for ev in events.events:
            if isinstance(ev, KeyPressed):
                held, status = midcall.key(self.ref, ev.key, self.p.address, now)
                if len(self.held_keys) > 1000:
                    self.held_keys.clear()
                self.held_keys[packet.timestamp] = held
                if status is not None:
                    self.confirm(status == 200)
        events.events.clear()
        self.s.flush()
        return self.held_keys.get(packet.timestamp, False)

    def confirm(self, accepted: bool) -> None:
        """The caller alone hears the verdict: confirmation tone, or reorder."""
        stream = self.p.stream
        if stream is None:
            return
        name = "tone:confirmation" if accepted else "tone:reorder"
        self.held = True
        stream.play(self.s.frames(name, self.p.codec, seconds=1.0), on_done=self._confirmed)

    def _confirmed(self) -> None:
        self.held = False

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
