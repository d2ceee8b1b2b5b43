"""Flash + VSC's shell: the media side of :mod:`b2bua.calls.flash`.

Media kept through the server (``[media] anchor``, the relay of
:mod:`b2bua.runtime.prompts`):

* ``hold``: the relay stops both ways (the callee hears nothing and sends
  nothing to the caller; no SIP request: the callee's dialog is untouched);
  the caller's keys are listened for in RFC 4733 events and in its audio;
* ``play``: a tone of the configured plan (``[media] tones``) to the caller
  alone, looped (recall dial tone) or for the given seconds (confirmation,
  reorder); ``stop``: the tone ends (the first key keyed);
* ``reconnect``: the tone stopped, the relay both ways again.

Media end to end (every other answered call, with ``[media]`` on): the
server re-offers the two ends itself, one offer at a time (RFC 3725 style,
as the prompting bridge does), see :class:`_Reoffered`:

1. a stream of the server's is opened on the port range;
2. re-INVITE to the callee with the server's SDP ``a=inactive`` (held);
3. re-INVITE to the caller with the server's SDP (its stream, the caller's
   first codec of PCMU/PCMA and telephone-event 101): the caller's media now
   comes to the server (keys by RFC 4733 or in-band), the tones go to it;
4. ``reconnect``: ``CallManager.bridge`` (RFC 3725 flow I: an offer-less
   re-INVITE to the caller, its offer to the callee, the callee's answer in
   the caller's ACK): media end to end again, the stream closed.

A step refused by a peer (or a port range with no free port) gives up: the
feature ends (``FlashCodes.abandon``) and, once the callee was held, the two
are bridged again.  Without ``[media]`` nothing can be held (``can_hold``
False: the flash is refused 488).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any, Iterator

from b2bua.calls import sdp
from b2bua.calls.call import CallState
from b2bua.calls.events import CallBridged, CallEnded, CallEvent, OfferAnswered
from b2bua.media import g711
from b2bua.media.dtmf import DtmfDetector
from b2bua.media.errors import PortRangeExhausted
from b2bua.media.rfc4733 import EventReceiver, KeyPressed
from b2bua.media.rtp import RtpPacket
from b2bua.transport.rtp import RtpStream, open_stream

from .callee_media import audio_address

if TYPE_CHECKING:
    from .prompts import PromptService, _Prompt

log = logging.getLogger("b2bua.flash")

_session_ids = itertools.count(1)


class FlashMediaService:
    """:class:`b2bua.calls.flash.FlashMedia`: anchored streams, or re-offers."""

    def __init__(self, prompts: "PromptService | None") -> None:
        self.prompts = prompts
        self.reoffered: dict[str, _Reoffered] = {}  # by call ref

    def _anchored(self, ref: str) -> "_Prompt | None":
        p = self.prompts.by_ref.get(ref) if self.prompts is not None else None
        return p if p is not None and p.phase == "anchored" and p.stream is not None else None

    def _end_to_end(self, ref: str) -> bool:
        """An answered call whose media the server does not carry, that re-offers can hold."""
        if self.prompts is None or ref in self.prompts.by_ref:
            return False
        call = self.prompts.app.calls.index.calls.get(ref)
        return call is not None and call.state is CallState.CONNECTED and call.a is not None and call.b is not None

    def can_hold(self, ref: str) -> bool:
        return self._anchored(ref) is not None or self._end_to_end(ref)

    def hold(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None:
            p.callee.paused = True
        elif self.prompts is not None and self._end_to_end(ref) and ref not in self.reoffered:
            r = self.reoffered[ref] = _Reoffered(self, self.prompts, ref)
            asyncio.get_running_loop().create_task(r.open())

    def play(self, ref: str, role: str, seconds: float | None) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.stream.play(self.prompts.frames(f"tone:{role}", p.codec, seconds=seconds))  # type: ignore[union-attr]
        elif ref in self.reoffered:
            self.reoffered[ref].play(role, seconds)

    def stop(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.stream.stop()
        elif ref in self.reoffered:
            self.reoffered[ref].play("", None)

    def reconnect(self, ref: str) -> None:
        p = self._anchored(ref)
        if p is not None and p.stream is not None:
            p.callee.paused = False
            p.stream.stop()
        elif ref in self.reoffered:
            self.reoffered[ref].reconnect()

    def on_event(self, event: CallEvent) -> None:
        """A CallLog subscriber: the outcomes of the re-offers."""
        r = self.reoffered.get(event.ref)
        if r is not None:
            r.on_event(event)

    def forget(self, r: "_Reoffered") -> None:
        if self.reoffered.get(r.ref) is r:
            del self.reoffered[r.ref]


class _Reoffered:
    """One end-to-end call held for a flash (module docstring)."""

    def __init__(self, owner: FlashMediaService, prompts: "PromptService", ref: str) -> None:
        self.owner = owner
        self.s = prompts
        self.ref = ref
        self.stream: RtpStream | None = None
        self.phase = "opening"  # opening, holding, moving, held, reconnecting, done
        self.tone: tuple[str, float | None] | None = None  # to play once the caller's media comes here
        self.want_reconnect = False
        self.codec = g711.PCMU
        self.events = EventReceiver(payload_type=sdp.TELEPHONE_EVENT.pt)
        self.detector = DtmfDetector()
        self.loop = asyncio.get_running_loop()

    @property
    def calls(self) -> Any:
        return self.s.app.calls

    async def open(self) -> None:
        call = self.calls.index.calls.get(self.ref)
        try:
            offered = sdp.parse(call.a.invite.body) if call is not None and call.a is not None else None
        except sdp.SdpError:
            offered = None
        encodings = [e[0].lower() for m in (offered.media if offered else ()) for e in map(m.encoding, m.formats) if e]
        g711s = [e for e in encodings if e in ("pcmu", "pcma")]
        self.codec = g711.PCMA if g711s[:1] == ["pcma"] else g711.PCMU  # the caller's first choice
        try:
            self.stream = await open_stream(
                self.s.pool, self.s.pacer, host=self.s.media_host, on_packet=self.packet, payload_type=self.codec,
                remote=audio_address(offered) if offered is not None else None,
            )
        except PortRangeExhausted:
            log.error("call %s: no free RTP port to hold the callee for a flash", self.ref)
            self.give_up(undo=False)
            return
        if self.phase != "opening":  # the call ended meanwhile
            self.close()
            return
        own = self._own(sdp.Direction.INACTIVE)
        if self.calls.reoffer(self.ref, "callee", own, self.loop.time()):
            self.phase = "holding"
            log.info("call %s: callee held (re-INVITE, inactive) for a flash", self.ref)
        else:
            self.give_up(undo=False)
        self.s.flush()

    def _own(self, direction: sdp.Direction) -> sdp.SessionDescription:
        assert self.stream is not None
        codec = sdp.PCMA if self.codec == g711.PCMA else sdp.PCMU
        return sdp.offer(address=self.s.media_host, port=self.stream.port, session_id=next(_session_ids),
                         codecs=[codec, sdp.TELEPHONE_EVENT], direction=direction)

    def on_event(self, event: CallEvent) -> None:
        now = self.loop.time()
        if isinstance(event, CallEnded):
            self.close()
        elif isinstance(event, CallBridged) and self.phase == "reconnecting":
            log.info("call %s: caller and callee reconnected after a flash", self.ref)
            self.close()
        elif isinstance(event, OfferAnswered) and self.phase == "holding" and event.side == "callee":
            if not 200 <= event.status < 300:
                self.give_up(undo=False)  # the callee kept its session: nothing to undo
            elif self.calls.reoffer(self.ref, "caller", self._own(sdp.Direction.SENDRECV), now):
                self.phase = "moving"
            else:
                self.give_up(undo=True)
        elif isinstance(event, OfferAnswered) and self.phase == "moving" and event.side == "caller":
            if not 200 <= event.status < 300:
                self.give_up(undo=True)  # the callee is held: bridged back to the caller
                return
            self.phase = "held"
            if self.want_reconnect:
                self.reconnect()
            elif self.tone is not None:
                self.play(*self.tone)

    def play(self, role: str, seconds: float | None) -> None:
        self.tone = (role, seconds) if role else None
        if self.phase != "held" or self.stream is None:
            return
        if not role:
            self.stream.stop()
            return
        self.stream.play(self.s.frames(f"tone:{role}", self.codec, seconds=seconds))

    def reconnect(self) -> None:
        if self.phase in ("opening", "holding", "moving"):
            self.want_reconnect = True  # once the caller's re-offer is answered
            return
        if self.phase != "held":
            return
        if self.stream is not None:
            self.stream.stop()
        self.phase = "reconnecting"
        if not self._bridge():
            self.loop.call_later(0.05, self._retry_bridge, 100)
        self.s.flush()

    def _bridge(self) -> bool:
        return bool(self.calls.bridge(self.ref, self.loop.time()))

    def _retry_bridge(self, tries: int) -> None:
        if self.phase != "reconnecting":
            return
        if self._bridge():
            self.s.flush()
        elif tries > 0:
            self.loop.call_later(0.05, self._retry_bridge, tries - 1)
        else:
            log.warning("call %s: caller and callee not reconnected after a flash", self.ref)
            self.close()

    def give_up(self, *, undo: bool) -> None:
        """A step failed: the feature ends; with ``undo`` (the callee was held) the
        two are bridged again."""
        log.warning("call %s: flash feature given up (a re-offer failed)", self.ref)
        midcall = self.s.app.midcall
        if midcall is not None and midcall.flash is not None:
            midcall.flash.abandon(self.ref)
        if not undo:
            self.close()
            return
        self.phase = "held"
        self.reconnect()

    def packet(self, packet: RtpPacket, now: float) -> None:
        """The caller's media while held: its keys, as RFC 4733 events or in-band."""
        if self.phase != "held":
            return
        midcall = self.s.app.midcall
        keys: Iterator[tuple[str, str]]
        if packet.payload_type == self.events.payload_type:
            self.events.receive(packet, now)
            keys = iter([(ev.key, "rfc4733") for ev in self.events.events if isinstance(ev, KeyPressed)])
            self.events.events.clear()
        elif packet.payload_type in (g711.PCMU, g711.PCMA):
            decode = g711.decode_alaw if packet.payload_type == g711.PCMA else g711.decode_ulaw
            keys = iter([(f.digit, "inband") for f in self.detector.feed(decode(packet.payload), now)])
        else:
            return
        address = self.stream.latched[0] if self.stream is not None and self.stream.latched else ""
        for key, source in keys:
            if midcall is not None:
                midcall.key(self.ref, key, address, now, source=source)
        self.s.flush()

    def close(self) -> None:
        self.phase = "done"
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self.owner.forget(self)

