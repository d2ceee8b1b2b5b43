"""Flash + VSC (b2bua.calls.flash): the pure session on virtual time, the flash
bodies vendors send, and the INFO answers on a call of the harness."""

from __future__ import annotations

from typing import Any

import pytest

from b2bua.calls.flash import (
    NO_MEDIA_REASON, ApplyCode, FlashCodes, FlashConfig, FlashSession, HoldFarEnd, Phase, PlayTone, Reconnect, StopTone,
    is_flash,
)
from dialplan import CodeSource

from .harness import Harness
from .test_midcall import changes, connect, dtmf, hang_up, rig


def session(**kw: Any) -> FlashSession:
    return FlashSession(FlashConfig(**kw))


def keys(s: FlashSession, digits: str, now: float, source: str = "rfc4733", step: float = 0.3) -> list[Any]:
    out: list[Any] = []
    for i, k in enumerate(digits):
        out += s.key(k, source, now + i * step)
    return out


def test_flash_code_confirmation_and_a_second_flash_reconnects() -> None:
    s = session()
    assert not s.active and s.next_deadline() is None
    assert s.flash(100.0) == [HoldFarEnd(), PlayTone(role="recall_dial")]
    assert s.active and s.next_deadline() == 110.0  # the first-digit timeout
    assert keys(s, "*8955555", 101.0) == [StopTone()]  # the first key ends recall dial tone
    assert s.key("#", "rfc4733", 104.0) == [ApplyCode(code="55555", sources=("rfc4733",))]
    assert s.phase is Phase.CHECKING
    assert s.verdict(True, 104.0) == [PlayTone(role="confirmation", seconds=1.0)]
    assert s.key("5", "rfc4733", 104.5) == []  # keys now are nobody's: not passed on either
    assert s.active
    assert s.flash(106.0) == [Reconnect(why="flash")]
    assert not s.active and s.key("1", "rfc4733", 107.0) == []


def test_a_refused_code_plays_reorder_and_the_far_end_comes_back_after_a_while_without_a_flash() -> None:
    s = session()
    s.flash(0.0)
    assert keys(s, "*8999999#", 1.0, source="info")[-1] == ApplyCode(code="99999", sources=("info",))
    assert s.verdict(False, 4.0) == [PlayTone(role="reorder", seconds=1.0)]
    assert s.next_deadline() == 15.0  # confirmation time + the reconnect timeout
    assert s.handle_timer(14.9) == []
    assert s.handle_timer(15.0) == [Reconnect(why="timeout")]


def test_reconnect_at_the_end_of_entry() -> None:
    s = session(reconnect="entry")
    s.flash(0.0)
    keys(s, "*8912345#", 1.0)
    assert s.verdict(True, 5.0) == [PlayTone(role="confirmation", seconds=1.0)]
    assert s.handle_timer(5.99) == []
    assert s.handle_timer(6.0) == [Reconnect(why="entry")]


def test_nothing_keyed_reconnects_unchanged() -> None:
    s = session()
    s.flash(50.0)
    assert s.handle_timer(59.9) == []
    assert s.handle_timer(60.0) == [Reconnect(why="no_entry")]
    assert s.phase is Phase.TALKING


def test_the_groups_fixed_length_ends_entry_without_pound() -> None:
    s = session(code_length=5)
    s.flash(0.0)
    assert keys(s, "*891234", 1.0) == [StopTone()]
    assert s.key("5", "inband", 4.0) == [ApplyCode(code="12345", sources=("rfc4733", "inband"))]


def test_the_interdigit_timeout_ends_entry_of_a_variable_length_code() -> None:
    s = session()
    s.flash(0.0)
    keys(s, "*891234", 1.0, step=0.5)  # the last key at 4.0
    assert s.next_deadline() == 9.0
    assert s.handle_timer(9.0) == [ApplyCode(code="1234", sources=("rfc4733",))]


def test_entry_that_is_not_the_vsc_and_a_code_is_refused_without_a_check() -> None:
    s = session()
    s.flash(0.0)
    assert keys(s, "*7712345#", 1.0)[-1] == PlayTone(role="reorder", seconds=1.0)
    assert s.phase is Phase.CONFIRMING
    s2 = session()
    s2.flash(0.0)
    keys(s2, "*8", 1.0)  # stops short: the interdigit timeout
    assert s2.handle_timer(6.3) == [PlayTone(role="reorder", seconds=1.0)]


def test_a_flash_while_entering_abandons_the_entry() -> None:
    s = session()
    s.flash(0.0)
    keys(s, "*891", 1.0)
    assert s.key("!", "rfc4733", 3.0) == [Reconnect(why="flash")]  # RFC 4733 event 16
    assert s.flash(4.0)[0] == HoldFarEnd()  # and a new flash starts afresh
    assert keys(s, "*8955555#", 5.0)[-1] == ApplyCode(code="55555", sources=("rfc4733",))


@pytest.mark.parametrize(("ctype", "body", "flash"), [
    ("application/dtmf-relay", b"Signal=16\r\nDuration=100\r\n", True),
    ("application/dtmf-relay", b"Signal=!\r\nDuration=100\r\n", True),
    ("application/dtmf-relay", b"Signal=1\r\nDuration=100\r\n", False),
    ("application/dtmf", b"16", True),
    ("application/hook-flash", b"signal=hf\r\n", True),
    ("application/hook-flash", b"", True),
    ("application/hook-flash", b"signal=x", False),
    ("application/broadsoft", b"event flashhook\r\n", True),
    ("application/broadsoft", b"event other\r\n", False),
    ("application/x-account-code", b"code=16", False),
    ("application/dtmf-relay", b"Signal=16\r\n" + b"x" * 1000, False),
    ("application/dtmf-relay", b"\xff\xfe", False),
])
def test_flash_bodies(ctype: str, body: bytes, flash: bool) -> None:
    assert is_flash(ctype, body) is flash


# -- on a call: the INFO answers, the code applied, the far end told nothing ----------------


class Media:
    """The media side's record (the runtime's one holds RTP streams)."""

    def __init__(self, anchored: bool = True) -> None:
        self.anchored = anchored
        self.log: list[tuple[str, ...]] = []

    def can_hold(self, ref: str) -> bool:
        return self.anchored

    def hold(self, ref: str) -> None:
        self.log.append(("hold",))

    def play(self, ref: str, role: str, seconds: float | None) -> None:
        self.log.append(("play", role))

    def stop(self, ref: str) -> None:
        self.log.append(("stop",))

    def reconnect(self, ref: str) -> None:
        self.log.append(("reconnect",))


def flash_rig(anchored: bool = True) -> tuple[Harness, FlashCodes, Media]:
    h, mc = rig()
    media = Media(anchored)
    mc.flash = FlashCodes(mc, media)
    return h, mc.flash, media


def test_an_info_flash_then_info_digits_set_the_code_and_the_far_end_sees_nothing() -> None:
    h, fc, media = flash_rig()
    connect(h)
    dtmf(h, "16")
    h.a.expect("200 INFO")
    assert media.log == [("hold",), ("play", "recall_dial")]
    for d in "*8912345":  # the group's codes are 5 digits: the fifth ends entry
        dtmf(h, d)
        h.a.expect("200 INFO")
    (ch,) = changes(h)
    assert ch.account.code == "12345" and ch.account.source is CodeSource.FLASH and ch.set_by == "1001"
    assert media.log[-1] == ("play", "confirmation")
    h.a.request("INFO", b"event flashhook\r\n", content_type="application/broadsoft")
    h.a.expect("200 INFO")
    assert media.log[-1] == ("reconnect",) and fc.running == {}
    dtmf(h, "5")  # an ordinary key again: relayed as before
    h.gw.respond(h.gw.expect_one("INFO").request, 200)
    h.a.expect("200 INFO")
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "INFO", "BYE"]  # only the ordinary key


def test_a_refused_code_keeps_the_old_one_and_the_call_comes_back() -> None:
    h, fc, media = flash_rig()
    connect(h)
    h.a.request("INFO", b"signal=hf\r\n", content_type="application/hook-flash")
    h.a.expect("200 INFO")
    (ref,) = list(h.manager.index.calls)
    assert all(fc.on_key(ref, k, "rfc4733", "192.0.2.10", h.now) for k in "*8933333")  # an inactive code
    assert changes(h) == [] and media.log[-1] == ("play", "reorder")
    h.advance(11.0)
    assert media.log[-1] == ("reconnect",)
    assert not fc.on_key(ref, "1", "rfc4733", "192.0.2.10", h.now)  # not the flash's any more
    hang_up(h)


def test_a_flash_without_media_through_the_server_is_refused_488_and_the_call_goes_on() -> None:
    h, fc, media = flash_rig(anchored=False)
    connect(h)
    h.a.request("INFO", b"Signal=16\r\n", content_type="application/dtmf-relay")
    ok = h.a.expect_one("488 INFO").response
    assert ok.reason == NO_MEDIA_REASON
    assert media.log == [] and fc.running == {}
    h.advance(30.0)
    assert h.gw.inbox == []
    hang_up(h)
    assert [r.kind for r in h.gw.log] == ["INVITE", "ACK", "BYE"]


def test_nothing_keyed_after_the_flash_reconnects_and_the_call_ends_cleanly() -> None:
    h, fc, media = flash_rig()
    connect(h)
    dtmf(h, "16")
    h.a.expect("200 INFO")
    h.advance(10.0)
    assert media.log == [("hold",), ("play", "recall_dial"), ("reconnect",)] and changes(h) == []
    dtmf(h, "16")  # a flash again, and the call ends during entry
    h.a.expect("200 INFO")
    hang_up(h)
    assert fc.running == {}


def test_abandoned_by_the_media_side_the_feature_ends_and_keys_pass_again() -> None:
    """A peer refused a re-offer (runtime.flash): nothing applied, no timer left."""
    h, fc, media = flash_rig()
    connect(h)
    dtmf(h, "16")
    h.a.expect("200 INFO")
    (ref,) = list(h.manager.index.calls)
    fc.abandon(ref)
    assert fc.running == {}
    assert not fc.on_key(ref, "*", "rfc4733", "192.0.2.10", h.now)
    h.advance(30.0)
    assert media.log == [("hold",), ("play", "recall_dial")] and changes(h) == []
    hang_up(h)
