"""Prompting's shell: the media side of a call whose caller is asked for an
account code (:mod:`b2bua.calls.prompting` decides; this carries it out).

Theory of operation
-------------------
For each :class:`~b2bua.calls.commands.StartPrompt` the admission machine
emits, a :class:`_Prompt`:

1. starts the call held by the server (``CallManager.start_call`` with
   ``place=False``: 100 Trying, CallStarted), opens an RTP stream on the
   configured port range (:mod:`b2bua.transport.rtp`) and answers the
   caller's offer with the server's own SDP (PCMU or PCMA, and RFC 4733
   telephone-event when the phone offers it): 183 Session Progress, or 200
   when the group answers (``prompt_answer``).  No codec in common: the
   attempt ends 488; no free port: 503 (logged);
2. runs a :class:`~b2bua.media.prompt.PromptSession`: its ``Play`` commands
   become G.711 frames on the stream (:mod:`b2bua.media.payloads`: every
   sound and tone encoded once), its digits come from RFC 4733 events on the
   stream, from INFO (``InfoReceived``) and from the in-band detector on the
   decoded audio (until the phone's first telephone-event key: some phones
   offer telephone-event and key in-band all the same); its
   ``CodeCollected`` goes to admission as ``CodeEntered`` (the transport
   that carried the first digit), whose answer comes back as
   ``PromptAgain`` (the session says "invalid code") or as the prompted
   ``StartCall`` (:meth:`PromptService.route`);
3. once the code is accepted and confirmed, the call is placed, the caller
   hears ringback or the callee's early media, and once the callee answers
   the two ends are connected (or the media stays through the server):
   :mod:`b2bua.runtime.callee_media`;
4. a refusal plays the failure (announcement or reorder) and ends the held
   call with the refusal's status; the caller hanging up ends everything
   (``TransactionGone`` to admission).

Every media callback and timer ends with ``flush()`` (the driver's), so
what it caused on the SIP side goes out at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Callable

from b2bua.calls import sdp
from b2bua.calls.commands import (
    CodeEntered, CollectNumber, NumberEntered, PromptAgain, PromptEnded, StartCall, StartPrompt, TransactionGone,
)
from b2bua.calls.events import (
    CallBridged, CalleeAnswered, CalleeEarlyMedia, CallEnded, CallEvent, CallRinging, InfoReceived,
)
from b2bua.calls.info import key_of
from b2bua.media import g711
from b2bua.media.collector import (
    NANP_DIGIT_MAP, CollectionTimedOut, CollectorConfig, CollectorEvent, DigitCollector, DigitsCollected,
)
from b2bua.media.dtmf import DtmfDetector
from b2bua.media.errors import PortRangeExhausted
from b2bua.media.prompt import (
    CodeChecked, CodeCollected, DigitReceived, Play, PlaybackFinished, PromptConfig, PromptFailed, PromptSession,
    PromptSucceeded, StopPlayback,
)
from b2bua.media.rfc4733 import EventReceiver, KeyPressed
from b2bua.media.rtp import RtpPacket
from b2bua.media.sounds import CODE_FAILED, THANK_YOU, SoundLibrary
from b2bua.media.payloads import MediaPayloads
from b2bua.media.tones import TonePlan
from b2bua.transport.rtp import RtpPacer, RtpPortPool, RtpStream, open_stream

from .callee_media import CalleeSide, audio_address
from dialplan import Prompt

log = logging.getLogger("b2bua.prompts")

ANSWER_WAIT = 1.0  # seconds an answered caller's first RTP packet is waited for before prompting
FAIL_TONE = 3.0  # seconds of reorder before a refused prompted call is ended


class PromptService:
    """Runs every prompt (module docstring); ``ServerApp.prompter``."""

    def __init__(
        self,
        app: Any,  # ServerApp: calls, admission, execute()
        *,
        pool: RtpPortPool,
        pacer: RtpPacer,
        sounds: SoundLibrary,
        tones: TonePlan,
        media_host: str,
        flush: Callable[[], None] = lambda: None,
        rtcp_interval: float = 0.0,
        anchor: bool = False,
    ) -> None:
        self.app = app
        self.pool = pool
        self.pacer = pacer
        self.sounds = sounds
        self.tones = tones
        self.media_host = media_host
        self.flush = flush
        self.rtcp_interval = rtcp_interval or None  # receiver reports on the prompts' streams
        self.anchor = anchor  # media stays through the server after the callee answers
        self.prompts: dict[str, _Prompt] = {}  # by INVITE transaction
        self.by_ref: dict[str, _Prompt] = {}
        media = MediaPayloads(sounds, tones)  # every sound and tone encoded once per codec
        self.payloads, self.frames = media.payloads, media.frames
        self._session_ids = itertools.count(1)
        self.peak = 0  # prompts at once, at most
        self.counters = {
            "prompts": 0, "prompted_calls_placed": 0, "no_codec": 0, "no_port": 0, "bridged": 0, "anchored": 0,
            "relayed_to_callee": 0, "relayed_to_caller": 0,
        }

    # -- commands of the admission machine ------------------------------------------------
    def execute(self, cmd: StartPrompt | PromptAgain | CollectNumber, now: float) -> None:
        if isinstance(cmd, StartPrompt):
            self._start(cmd, now)
            return
        p = self.prompts.get(cmd.txn)
        if p is not None:
            p.checked(isinstance(cmd, CollectNumber), now)  # the FAC form's code taken: the number next

    def route(self, cmd: StartCall, now: float) -> None:
        """The prompted StartCall: place the held call, or end it refused."""
        assert cmd.event.transaction_id is not None
        p = self.prompts.get(cmd.event.transaction_id)
        if p is None:
            return  # the caller left meanwhile
        p.go = cmd
        if cmd.route.kind == "none":
            p.refuse(now)
        elif p.phase == "routing":  # the FAC form: the number was the last thing keyed
            p.callee.place(now)
        else:
            p.checked(True, now)

    # -- call events (a CallLog subscriber) ------------------------------------------------
    def on_event(self, event: CallEvent) -> None:
        p = self.by_ref.get(event.ref)
        if p is None:
            return
        if isinstance(event, InfoReceived):
            key = key_of(event.content_type, event.body)
            if key is not None:
                p.digit(key.key, "info", event.at)
        elif isinstance(event, CallRinging):
            p.callee.ringing()
        elif isinstance(event, CalleeEarlyMedia):
            p.callee.early_media(event.body)
        elif isinstance(event, CalleeAnswered):
            p.callee.connected(event.at)
        elif isinstance(event, CallBridged):
            self.counters["bridged"] += 1
            p.close()
        elif isinstance(event, CallEnded):
            p.ended()

    def _start(self, cmd: StartPrompt, now: float) -> None:
        call = cmd.call
        started = self.app.calls.start_call(
            call.event, call.route, caller=call.caller, caller_user=call.caller_user, display=call.display,
            department=call.department, group=call.group, account=call.account, dialed=call.dialed, now=now,
            place=False,
        )
        if started is None or started.route.kind != "prompt" or started.a is None:
            self._gone(cmd.txn)  # refused at once (merged request, malformed SDP, ...): recorded by the manager
            return
        p = _Prompt(self, cmd, started.ref, now)
        self.prompts[cmd.txn] = p
        self.by_ref[started.ref] = p
        self.peak = max(self.peak, len(self.prompts))
        self.counters["prompts"] += 1
        asyncio.get_running_loop().create_task(p.open())

    def _gone(self, txn: str) -> None:
        """The attempt's call is over: admission forgets it."""
        self.admission(TransactionGone(txn=txn))

    def status(self) -> dict[str, int | float]:
        """For the status file: prompts running now and at most, ports in use, counters."""
        recent = sorted(itertools.islice(reversed(self.pacer.lateness), 1000))  # the last 20 s of ticks
        late = recent[int(len(recent) * 0.99)] if recent else 0.0
        return {
            "prompts_active": len(self.prompts), "prompts_peak": self.peak, "rtp_ports_in_use": self.pool.in_use,
            "rtp_tick_late_p99_ms": round(late * 1000, 1),  # how late the 20 ms pacing ran, 99th percentile
            **{f"prompt_{k}": v for k, v in self.counters.items()},
        }

    def close(self) -> None:
        """The server stops: every stream closed (the calls end with it)."""
        for p in list(self.prompts.values()):
            p.close()

    def forget(self, p: "_Prompt") -> None:
        self.prompts.pop(p.txn, None)
        self.by_ref.pop(p.ref, None)

    def admission(self, event: CodeEntered | NumberEntered | PromptEnded | TransactionGone) -> None:
        now = asyncio.get_running_loop().time()
        self.app.execute(self.app.admission.handle(event, now), now)
        self.flush()


class _Prompt:
    """One prompted call's media, session and progress."""

    def __init__(self, service: PromptService, cmd: StartPrompt, ref: str, now: float) -> None:
        self.s = service
        self.txn = cmd.txn
        self.ref = ref
        self.spec = cmd.spec
        self.call = cmd.call
        self.go: StartCall | None = None  # admission's verdict, once given
        self.stream: RtpStream | None = None
        self.codec = g711.PCMU
        self.te_pt: int | None = None
        self.events = EventReceiver()
        self.detector: DtmfDetector | None = None
        self.session: PromptSession | None = None
        self.local: sdp.SessionDescription | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.number: DigitCollector | None = None  # the FAC form's destination digits
        self.phase = "opening"  # opening, waiting, prompting, dialing, routing, placing, connected, anchored, ...
        self.loop = asyncio.get_running_loop()
        self.callee = CalleeSide(self)  # the call once placed, and the callee's media

    # -- setting up ---------------------------------------------------------------------
    async def open(self) -> None:
        try:
            offer = sdp.parse(self.call.event.request.body)
        except sdp.SdpError:
            self._end_attempt(488, "Malformed SDP")
            return
        try:
            self.stream = await open_stream(
                self.s.pool, self.s.pacer, host=self.s.media_host, remote=audio_address(offer),
                on_packet=self.packet, rtcp_interval=self.s.rtcp_interval,
                rtcp_mux=False,  # the server's answer has no a=rtcp-mux (RFC 5761 §5.1.1): RTCP on the odd port
            )
        except PortRangeExhausted:
            self.s.counters["no_port"] += 1
            log.error("call %s: no free RTP port to prompt the caller: refused 503", self.ref)
            self._end_attempt(503, "No media port available")
            return
        if self.phase == "done":  # the caller left while the port was opened
            self.close()
            return
        answer = sdp.answer(offer, address=self.s.media_host, port=self.stream.port,
                            session_id=next(self.s._session_ids))
        media = next((m for m in answer.media if m.port != 0), None)
        if media is None:
            self.s.counters["no_codec"] += 1
            self._end_attempt(488, "No usable codec")
            return
        self.codec = g711.PCMA if media.formats[0] == str(g711.PCMA) else g711.PCMU
        self.stream.sender.payload_type = self.codec
        # silence between the prompt's sounds, sent: a phone that places audio by
        # timestamp (pyVoIP) fills a jump of the media clock with noise
        self.stream.idle = bytes((g711.ALAW_SILENCE if self.codec == g711.PCMA else g711.ULAW_SILENCE,)) * 160
        self.te_pt = sdp.telephone_event(media)
        if self.te_pt is not None:
            self.events = EventReceiver(payload_type=self.te_pt)
        # tones in the audio are listened for even when telephone-event was agreed (until
        # its first key): some phones offer it and send in-band all the same (a press
        # seen both ways counts once: the collector's dedupe)
        self.detector = DtmfDetector()
        self.local = answer
        now = self.loop.time()
        calls = self.s.app.calls
        given = calls.answer_locally(self.ref, answer, now) if self.spec.answer else calls.early_media(
            self.ref, answer, now)
        if not given:
            self._end_attempt(500, "Cannot give the caller media")
            return
        if self.spec.minimal:  # a beep, then the dial string keyed as one
            self.collect_dial_string(now)
            return
        length = self.spec.code_length
        collector = CollectorConfig(min_length=length or 2, max_length=length or 14, length=length, terminator="#")
        self.session = PromptSession(PromptConfig(
            mode="tone" if self.spec.style is Prompt.TONE else "announcement", max_attempts=self.spec.attempts,
            collector=collector))
        if self.spec.answer:
            # answered: a phone starts its media once it has the 200; the prompt
            # starts with the phone's first packet (at most ANSWER_WAIT later), so
            # that its beginning is heard
            self.phase = "waiting"
            self.loop.call_later(ANSWER_WAIT, self._begin)
            return
        self._begin()

    def _begin(self) -> None:
        """The prompt itself (once the caller can hear it)."""
        if self.phase not in ("opening", "waiting") or self.session is None:
            return
        now = self.loop.time()
        self.phase = "prompting"
        self.run(self.session.start(now), now)

    # -- inputs -------------------------------------------------------------------------
    def packet(self, packet: RtpPacket, now: float) -> None:
        if self.phase == "waiting":  # the answered phone's media has begun: so does the prompt
            self._begin()
        if self.phase == "anchored":  # the caller's packet goes to the callee as it came
            self.callee.from_caller(packet, now)
            return
        if self.phase not in ("prompting", "dialing"):
            return
        if self.te_pt is not None and packet.payload_type == self.te_pt:
            self.events.receive(packet, now)
            for ev in self.events.events:
                if isinstance(ev, KeyPressed):
                    if ev.key != "!":
                        # the phone sends its keys as telephone-events: its audio is not
                        # listened to from now on (keys sent both ways counted once so far)
                        self.detector = None
                    self.digit(ev.key, "rfc4733", now)
            self.events.events.clear()
        else:
            for key in self.inband(packet, now):
                self.digit(key, "inband", now)
        self._rearm()

    def inband(self, packet: RtpPacket, now: float) -> list[str]:
        """The keys the in-band detector finds in an audio packet."""
        if self.detector is None or packet.payload_type not in (g711.PCMU, g711.PCMA):
            return []
        decode = g711.decode_alaw if packet.payload_type == g711.PCMA else g711.decode_ulaw
        return [found.digit for found in self.detector.feed(decode(packet.payload), now)]

    @property
    def address(self) -> str:
        """Where the caller's media comes from (once latched), else ""."""
        return self.stream.latched[0] if self.stream is not None and self.stream.latched else ""

    def digit(self, key: str, transport: str, now: float) -> None:
        if key == "!":
            return
        if self.phase == "dialing" and self.number is not None:
            if not self.number.digits and self.stream is not None:
                self.stream.stop()  # the first key ends the dial tone
            self.number_events(self.number.digit(key, now, transport))
            return
        if self.session is None or self.phase != "prompting":
            return
        self.run(self.session.handle(DigitReceived(digit=key, source=transport), now), now)

    # -- the FAC form: dial tone, then the number -------------------------------------------
    def dial_tone(self, now: float) -> None:
        """The code is confirmed: dial tone, and the number collected by the NANP digit map."""
        self.phase = "dialing"
        self.number = DigitCollector(CollectorConfig(
            min_length=1, max_length=18, terminator="#", first_digit_timeout=15.0, interdigit_timeout=5.0,
            digit_map=NANP_DIGIT_MAP,
        ), now)
        if self.stream is not None:
            self.stream.play(self.s.frames("tone:dial", self.codec))
        self._rearm()

    def collect_dial_string(self, now: float) -> None:
        """The minimal prompt: a beep, then ``code**number#`` (any dial string) keyed."""
        self.phase = "dialing"
        self.number = DigitCollector(CollectorConfig(
            min_length=1, max_length=32, terminator="#", first_digit_timeout=10.0, interdigit_timeout=5.0,
        ), now)
        if self.stream is not None:
            once, _ = self.s.payloads("tone:beep", self.codec)
            self.stream.play(iter(once))
        self._rearm()
        self.s.flush()

    def number_events(self, events: list[CollectorEvent]) -> None:
        for ev in events:
            if isinstance(ev, DigitsCollected) and ev.digits:
                self.phase = "routing"
                self.s.admission(NumberEntered(txn=self.txn, number=ev.digits,
                                               transport=ev.sources[0] if ev.sources else "info"))
            elif isinstance(ev, (DigitsCollected, CollectionTimedOut)):
                self.phase = "prompting"  # _end_attempt acts from here
                self._end_attempt(484, "Address Incomplete")
        self._rearm()
        self.s.flush()

    def checked(self, valid: bool, now: float) -> None:
        if self.session is not None and self.phase == "prompting":
            self.run(self.session.handle(CodeChecked(valid=valid), now), now)

    def run(self, commands: list[Any], now: float) -> None:
        for cmd in commands:
            if isinstance(cmd, Play):
                self.play(cmd, now)
            elif isinstance(cmd, StopPlayback):
                if self.stream is not None:
                    self.stream.stop()
            elif isinstance(cmd, CodeCollected):
                transport = cmd.sources[0] if cmd.sources else "info"
                self.s.admission(CodeEntered(txn=self.txn, digits=cmd.digits, transport=transport))
            elif isinstance(cmd, PromptSucceeded):
                if self.spec.number:
                    self.dial_tone(now)
                else:
                    self.callee.place(now)
            elif isinstance(cmd, PromptFailed):
                if self.go is not None and self.go.route.kind == "none":
                    self.finish(self.go.route.status, self.go.route.reason)
                else:
                    reason = "No account code entered" if cmd.reason == "no_input" else "Invalid account code"
                    self._end_attempt(403, reason)
        self._rearm()
        self.s.flush()

    def play(self, cmd: Play, now: float) -> None:
        if self.stream is None:
            return
        play_id = cmd.play_id
        frames = self.s.frames(cmd.media_name, self.codec, loop=cmd.loop)

        def done() -> None:
            if self.session is not None and self.phase == "prompting":
                t = self.loop.time()
                self.run(self.session.handle(PlaybackFinished(play_id=play_id), t), t)

        self.stream.play(frames, on_done=done)

    def _rearm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadlines = [d for d in (
            self.session.next_deadline() if self.session is not None and self.phase == "prompting" else None,
            self.number.next_deadline() if self.number is not None and self.phase == "dialing" else None,
            self.events.next_deadline(),
        ) if d is not None]
        if deadlines:
            self.timer = self.loop.call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        now = self.loop.time()
        self.events.handle_timer(now)
        self.events.events.clear()  # a press closed by its timeout was reported when it began
        if self.session is not None and self.phase == "prompting":
            self.run(self.session.handle_timer(now), now)
        elif self.number is not None and self.phase == "dialing":
            self.number_events(self.number.handle_timer(now))
        else:
            self._rearm()

    # -- outcomes -----------------------------------------------------------------------
    def refuse(self, now: float) -> None:
        """Admission refused the call (a lockout, the last wrong code, credit): the
        caller hears the failure, then the held call ends with the refusal."""
        go = self.go
        assert go is not None
        if self.phase != "prompting" or self.stream is None:
            self.finish(go.route.status, go.route.reason)
            return
        self.phase = "failing"
        if go.route.status == 200:  # not refused: a code attached to the last call (the VSC alone)
            name = THANK_YOU if self.spec.style is Prompt.ANNOUNCEMENT else "tone:confirmation"
            frames = self.s.frames(name, self.codec, loop=False)
        elif self.spec.style is Prompt.ANNOUNCEMENT:
            frames = self.s.frames(CODE_FAILED, self.codec, loop=False)
        else:
            frames = self.s.frames("tone:reorder", self.codec, seconds=FAIL_TONE)
        self.stream.play(frames, on_done=lambda: self.finish(go.route.status, go.route.reason))

    def finish(self, status: int, reason: str) -> None:
        """End the held call with ``status`` (the attempt is over in admission)."""
        self.phase = "done"
        self.s.app.calls.refuse_held(self.ref, status, reason, self.loop.time())
        self.s.flush()

    def _end_attempt(self, status: int, reason: str) -> None:
        """The prompt cannot go on: admission refuses the attempt (its StartCall ends the call)."""
        if self.phase in ("failing", "done"):
            return
        self.phase = "failing"
        self.s.admission(PromptEnded(txn=self.txn, status=status, reason=reason))

    def ended(self) -> None:
        """The call ended (caller gone, refused, hung up after the bridge)."""
        was = self.phase
        self.phase = "done"
        self.close()
        if was in ("opening", "waiting", "prompting", "dialing", "routing"):  # still in admission's hands
            self.s.admission(TransactionGone(txn=self.txn))

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        self.callee.close()
        self.s.forget(self)

