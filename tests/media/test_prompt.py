"""The prompt session on virtual time: announcement and tone modes, barge-in,
retries, exhaustion, timeouts, stale and late inputs, and the table itself."""

from __future__ import annotations

import pytest

from b2bua.media.collector import CollectorConfig
from b2bua.media.prompt import (
    TRANSITIONS,
    CodeChecked,
    CodeCollected,
    Command,
    DigitReceived,
    Play,
    PlaybackFinished,
    PromptConfig,
    PromptFailed,
    PromptSession,
    PromptStateError,
    PromptSucceeded,
    State,
    StopPlayback,
    Trigger,
)

FIVE = CollectorConfig(length=5, first_digit_timeout=8.0, interdigit_timeout=4.0)


def session(**kw: object) -> PromptSession:
    kw.setdefault("collector", FIVE)
    return PromptSession(PromptConfig(**kw))  # type: ignore[arg-type]


def keys(s: PromptSession, digits: str, now: float, source: str = "rfc4733", step: float = 0.3) -> list[Command]:
    out: list[Command] = []
    for i, d in enumerate(digits):
        out += s.handle(DigitReceived(digit=d, source=source), now + i * step)
    return out


def finish(s: PromptSession, commands: list[Command], now: float) -> list[Command]:
    """Report the end of the last Play in ``commands``."""
    play = [c for c in commands if isinstance(c, Play)][-1]
    return s.handle(PlaybackFinished(play_id=play.play_id), now)


def test_announcement_mode_first_time_right() -> None:
    s = session()
    out = s.start(0.0)
    assert out == [Play(media_name="enter_code_5", loop=False, play_id=1)] and s.state is State.PROMPTING
    assert s.next_deadline() == 60.0  # the announcement's safety limit only
    assert finish(s, out, 4.7) == [] and s.state is State.COLLECTING
    assert s.next_deadline() == pytest.approx(12.7)  # the first-digit timer starts when the prompt ends
    assert keys(s, "12345", 6.0) == [CodeCollected(digits="12345", sources=("rfc4733",))]
    assert s.state is State.VALIDATING and s.next_deadline() == pytest.approx(7.2 + 10.0)
    out = s.handle(CodeChecked(valid=True), 7.5)
    assert out == [Play(media_name="thank_you", loop=False, play_id=2)] and s.state is State.CONFIRMING
    assert finish(s, out, 8.1) == [PromptSucceeded(code="12345", sources=("rfc4733",), attempts=1)]
    assert s.state is State.DONE and s.next_deadline() is None


def test_barge_in_stops_the_announcement_and_counts_the_digit() -> None:
    s = session()
    s.start(0.0)
    assert s.handle(DigitReceived(digit="9", source="rfc4733"), 1.0) == [StopPlayback(play_id=1)]
    assert s.state is State.COLLECTING
    assert s.handle(DigitReceived(digit="9", source="info"), 1.05) == []  # the same press by INFO
    assert keys(s, "8765", 1.5) == [CodeCollected(digits="98765", sources=("rfc4733", "info"))]
    assert s.handle(PlaybackFinished(play_id=1), 1.1) == []  # stopped: a late report is stale


def test_a_variable_length_code_with_the_pound_key() -> None:
    s = session(collector=CollectorConfig())
    assert s.start(0.0) == [Play(media_name="enter_code", loop=False, play_id=1)]
    keys(s, "4", 1.0)
    assert keys(s, "2#", 1.5) == [CodeCollected(digits="42", sources=("rfc4733",))]


def test_an_invalid_code_is_retried_then_accepted() -> None:
    s = session()
    finish(s, s.start(0.0), 4.0)
    keys(s, "11111", 5.0)
    out = s.handle(CodeChecked(valid=False), 7.0)
    assert out == [Play(media_name="invalid_code", loop=False, play_id=2)] and s.state is State.RETRY
    out = finish(s, out, 9.5)
    assert out == [Play(media_name="enter_code_5", loop=False, play_id=3)] and s.state is State.PROMPTING
    finish(s, out, 14.0)
    assert keys(s, "12345", 15.0) == [CodeCollected(digits="12345", sources=("rfc4733",))]
    finish(s, s.handle(CodeChecked(valid=True), 17.0), 18.0)
    assert s.state is State.DONE and s.attempts == 2


def test_barge_in_during_the_retry_announcement() -> None:
    s = session()
    finish(s, s.start(0.0), 4.0)
    keys(s, "11111", 5.0)
    s.handle(CodeChecked(valid=False), 7.0)
    assert s.handle(DigitReceived(digit="5", source="inband"), 7.5) == [StopPlayback(play_id=2)]
    assert s.state is State.COLLECTING and s.attempts == 2
    assert keys(s, "4321", 8.0, source="inband") == [CodeCollected(digits="54321", sources=("inband",))]


def test_retries_exhausted_fail_with_the_goodbye() -> None:
    s = session()
    out = s.start(0.0)
    for attempt in range(1, 4):
        finish(s, out, 10.0 * attempt)
        keys(s, "00000", 10.0 * attempt + 1)
        out = s.handle(CodeChecked(valid=False), 10.0 * attempt + 3)
        if attempt < 3:
            assert [c.media_name for c in out if isinstance(c, Play)] == ["invalid_code"]
            out = finish(s, out, 10.0 * attempt + 5)
    assert out == [Play(media_name="code_failed", loop=False, play_id=6)] and s.state is State.FAILED
    assert keys(s, "1", 34.0) == []  # too late
    assert finish(s, out, 38.0) == [PromptFailed(reason="invalid_code", attempts=3)]
    assert s.state is State.DONE


def test_no_input_reprompts_then_fails() -> None:
    s = session(max_attempts=2)
    finish(s, s.start(0.0), 4.0)
    out = s.handle_timer(12.0)  # 8 s after the prompt, no digit
    assert out == [Play(media_name="enter_code_5", loop=False, play_id=2)] and s.state is State.PROMPTING
    finish(s, out, 16.0)
    keys(s, "12", 17.0)
    assert s.next_deadline() == pytest.approx(21.3)
    out = s.handle_timer(21.3)  # stopped after two digits
    assert out == [Play(media_name="code_failed", loop=False, play_id=3)]
    assert finish(s, out, 25.0) == [PromptFailed(reason="no_input", attempts=2)]


def test_no_answer_from_the_validation_fails_closed() -> None:
    s = session()
    finish(s, s.start(0.0), 4.0)
    keys(s, "12345", 5.0)
    assert s.handle_timer(16.2) == [Play(media_name="code_failed", loop=False, play_id=2)]
    assert s.handle(CodeChecked(valid=True), 16.5) == []  # the late answer changes nothing
    assert s.handle_timer(16.2 + 60.0) == [StopPlayback(play_id=2), PromptFailed(reason="validation_timeout", attempts=1)]


def test_an_announcement_never_reported_finished_is_cut_at_its_limit() -> None:
    s = session(media_timeout=20.0)
    s.start(0.0)
    assert s.handle_timer(20.0) == [StopPlayback(play_id=1)] and s.state is State.COLLECTING
    assert s.next_deadline() == 28.0


def test_the_pound_key_alone_is_an_invalid_attempt_without_a_check() -> None:
    s = session(collector=CollectorConfig())
    finish(s, s.start(0.0), 4.0)
    assert keys(s, "#", 5.0) == [Play(media_name="invalid_code", loop=False, play_id=2)]
    assert s.state is State.RETRY


def test_without_confirmation_success_is_immediate() -> None:
    s = session(confirm=False)
    finish(s, s.start(0.0), 4.0)
    keys(s, "12345", 5.0)
    assert s.handle(CodeChecked(valid=True), 7.0) == [PromptSucceeded(code="12345", sources=("rfc4733",), attempts=1)]


def test_stale_and_foreign_inputs_are_ignored() -> None:
    s = session()
    out = s.start(0.0)
    assert s.handle(PlaybackFinished(play_id=99), 1.0) == []
    assert s.handle(CodeChecked(valid=True), 1.0) == []  # nothing asked
    assert s.handle(DigitReceived(digit="z", source="info"), 1.0) == [] and s.state is State.PROMPTING
    assert finish(s, out, 4.0) == []
    assert s.handle(PlaybackFinished(play_id=1), 4.1) == []  # reported twice


# -- tone mode ---------------------------------------------------------------------------


def test_tone_mode_first_time_right() -> None:
    s = session(mode="tone")
    assert s.start(0.0) == [Play(media_name="tone:recall_dial", loop=True, play_id=1)]
    assert s.next_deadline() == 8.0  # the first-digit timer runs from the tone's start
    assert keys(s, "1", 2.0) == [StopPlayback(play_id=1)]
    assert keys(s, "2345", 2.5) == [CodeCollected(digits="12345", sources=("rfc4733",))]
    out = s.handle(CodeChecked(valid=True), 4.0)
    assert out == [Play(media_name="tone:confirmation", loop=False, play_id=2)]
    assert finish(s, out, 4.6) == [PromptSucceeded(code="12345", sources=("rfc4733",), attempts=1)]


def test_tone_mode_retry_is_a_burst_of_reorder_then_the_tone_again() -> None:
    s = session(mode="tone", retry_tone_seconds=1.0, fail_tone_seconds=3.0, max_attempts=2)
    s.start(0.0)
    keys(s, "11111", 1.0)
    assert s.handle(CodeChecked(valid=False), 3.0) == [Play(media_name="tone:reorder", loop=True, play_id=2)]
    assert s.next_deadline() == 4.0
    assert s.handle_timer(4.0) == [StopPlayback(play_id=2), Play(media_name="tone:recall_dial", loop=True, play_id=3)]
    assert s.state is State.PROMPTING and s.next_deadline() == 12.0
    out = s.handle_timer(12.0)  # no digit: attempts exhausted
    assert out == [StopPlayback(play_id=3), Play(media_name="tone:reorder", loop=True, play_id=4)]
    assert s.handle_timer(15.0) == [StopPlayback(play_id=4), PromptFailed(reason="no_input", attempts=2)]


def test_tone_mode_with_a_beep() -> None:
    s = session(mode="tone", prompt_tone="beep")
    out = s.start(0.0)
    assert out == [Play(media_name="tone:beep", loop=False, play_id=1)]
    assert finish(s, out, 0.2) == [] and s.state is State.COLLECTING
    assert s.next_deadline() == 8.0  # counted from the start of the beep
    assert s.handle_timer(8.0) == [Play(media_name="tone:beep", loop=False, play_id=2)]


# -- the table ------------------------------------------------------------------------------


def test_the_table_is_complete_and_only_done_is_final() -> None:
    assert set(TRANSITIONS) == set(State)
    assert {t for row in TRANSITIONS.values() for t in row.values()} <= set(State)
    assert [s for s, row in TRANSITIONS.items() if not row] == [State.DONE]
    reachable = {State.IDLE}
    todo = [State.IDLE]
    while todo:
        for target in TRANSITIONS[todo.pop()].values():
            if target not in reachable:
                reachable.add(target)
                todo.append(target)
    assert reachable == set(State)


def test_a_trigger_the_table_refuses_is_a_bug() -> None:
    s = session()
    with pytest.raises(PromptStateError, match="VALID is not allowed in IDLE"):
        s._fire(Trigger.VALID, 0.0)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        PromptConfig(max_attempts=0)
    with pytest.raises(ValueError, match="no tone 'howler'"):
        PromptConfig(prompt_tone="howler")
