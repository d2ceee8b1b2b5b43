"""The digit collector on virtual time: every way a collection ends, the
timers, the NANP digit map, and one press from two transports counted once."""

from __future__ import annotations

import pytest

from b2bua.media.collector import (
    NANP_DIGIT_MAP,
    CollectionTimedOut,
    CollectorConfig,
    CollectorEvent,
    DigitCollector,
    DigitMap,
    DigitsCollected,
    MapMatch,
)


def feed(collector: DigitCollector, keys: str, start: float = 1.0, step: float = 0.5, source: str = "rfc4733") -> list[CollectorEvent]:
    out: list[CollectorEvent] = []
    for i, key in enumerate(keys):
        out += collector.digit(key, start + i * step, source)
    return out


def test_fixed_length_ends_by_length() -> None:
    c = DigitCollector(CollectorConfig(length=4), now=0.0)
    assert feed(c, "123") == []
    assert feed(c, "4", start=3.0) == [DigitsCollected(digits="1234", ended_by="length", sources=("rfc4733",))]
    assert c.done and c.next_deadline() is None
    assert feed(c, "5") == [] and c.digits == "1234"  # after the end, nothing


def test_max_length_ends_by_length() -> None:
    c = DigitCollector(CollectorConfig(max_length=3), now=0.0)
    assert feed(c, "987") == [DigitsCollected(digits="987", ended_by="length", sources=("rfc4733",))]


def test_the_terminator_ends_and_is_left_out() -> None:
    c = DigitCollector(CollectorConfig(), now=0.0)
    assert feed(c, "42#") == [DigitsCollected(digits="42", ended_by="terminator", sources=("rfc4733",))]
    alone = DigitCollector(CollectorConfig(min_length=4), now=0.0)
    assert feed(alone, "#") == [DigitsCollected(digits="", ended_by="terminator", sources=("rfc4733",))]
    none = DigitCollector(CollectorConfig(terminator="", max_length=3), now=0.0)
    assert feed(none, "1#2") == [DigitsCollected(digits="1#2", ended_by="length", sources=("rfc4733",))]


def test_first_digit_timeout() -> None:
    c = DigitCollector(CollectorConfig(first_digit_timeout=7.0), now=100.0)
    assert c.next_deadline() == 107.0
    assert c.handle_timer(106.99) == []
    assert c.handle_timer(107.0) == [CollectionTimedOut(first_digit=True)]
    assert c.done and c.handle_timer(200.0) == []


def test_interdigit_timeout_ends_with_enough_digits() -> None:
    c = DigitCollector(CollectorConfig(min_length=2, interdigit_timeout=3.0), now=0.0)
    feed(c, "12", start=1.0, step=1.0)
    assert c.next_deadline() == 5.0  # from the last digit
    assert c.handle_timer(5.0) == [DigitsCollected(digits="12", ended_by="timeout", sources=("rfc4733",))]


def test_interdigit_timeout_with_too_few_digits() -> None:
    c = DigitCollector(CollectorConfig(min_length=4, interdigit_timeout=3.0), now=0.0)
    feed(c, "12")
    assert c.handle_timer(c.next_deadline() or 0) == [CollectionTimedOut(first_digit=False, digits="12")]


def test_a_fixed_length_cut_short_is_no_code() -> None:
    c = DigitCollector(CollectorConfig(length=5), now=0.0)
    feed(c, "123")
    assert c.handle_timer(100.0) == [CollectionTimedOut(first_digit=False, digits="123")]


def test_non_keys_are_ignored() -> None:
    c = DigitCollector(CollectorConfig(length=2), now=0.0)
    assert feed(c, "x") == [] and c.digit("12", 1.0, "info") == [] and c.digit("", 1.0, "info") == []
    assert c.digits == "" and c.next_deadline() == 10.0


# -- duplicates ---------------------------------------------------------------------


def test_one_press_from_two_transports_counts_once() -> None:
    c = DigitCollector(CollectorConfig(length=3), now=0.0)
    assert c.digit("5", 1.00, "rfc4733") == []
    assert c.digit("5", 1.08, "info") == []  # the same press
    assert c.digit("5", 1.10, "inband") == []  # and a third transport
    assert c.digits == "5"
    assert c.digit("7", 1.60, "info") == []
    assert c.digit("7", 1.62, "rfc4733") == []
    assert c.digit("9", 2.0, "info") == [DigitsCollected(digits="579", ended_by="length", sources=("rfc4733", "info", "inband"))]


def test_a_fast_repeat_on_one_transport_is_two_presses() -> None:
    c = DigitCollector(CollectorConfig(length=2), now=0.0)
    assert c.digit("5", 1.00, "rfc4733") == []
    assert c.digit("5", 1.05, "rfc4733") == [DigitsCollected(digits="55", ended_by="length", sources=("rfc4733",))]


def test_the_same_key_on_another_transport_after_the_window_is_a_new_press() -> None:
    c = DigitCollector(CollectorConfig(length=2, dedupe_window=0.15), now=0.0)
    c.digit("5", 1.00, "rfc4733")
    assert c.digit("5", 1.16, "info") == [DigitsCollected(digits="55", ended_by="length", sources=("rfc4733", "info"))]


def test_a_second_press_on_both_transports() -> None:
    c = DigitCollector(CollectorConfig(length=3), now=0.0)
    for at, source in ((1.0, "rfc4733"), (1.05, "info"), (1.4, "rfc4733")):
        assert c.digit("5", at, source) == []
    # the INFO of the second press: its transport has not reported this press yet
    assert c.digit("5", 1.45, "info") == []
    assert c.digits == "55"


# -- the digit map ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "verdict"),
    [
        ("911", MapMatch.COMPLETE),
        ("611", MapMatch.COMPLETE),
        ("555", MapMatch.MORE),
        ("5551234", MapMatch.COMPLETE),  # 555-1 cannot start a 10-digit number
        ("2125551", MapMatch.PARTIAL),  # 7 digits, or the start of 212-555-1xxx
        ("2125551234", MapMatch.COMPLETE),
        ("12125551234", MapMatch.COMPLETE),
        ("121255512345", MapMatch.NONE),
        ("011", MapMatch.MORE),
        ("01144", MapMatch.PARTIAL),
        ("0", MapMatch.PARTIAL),
        ("9111", MapMatch.NONE),
        ("1911", MapMatch.NONE),
        ("*", MapMatch.NONE),
    ],
)
def test_the_nanp_map(digits: str, verdict: MapMatch) -> None:
    assert DigitMap.parse(NANP_DIGIT_MAP).match(digits) is verdict


def test_map_syntax() -> None:
    m = DigitMap.parse("*7[13-5]x|#.0|[0-9*#ABCD]")
    assert m.match("*731") is MapMatch.COMPLETE and m.match("*721") is MapMatch.NONE
    assert m.match("##0") is MapMatch.COMPLETE and m.match("0") is MapMatch.COMPLETE
    for bad, said in (("12T", "'T' is not supported"), (".1", "'.' must follow"), ("[2-", "without ']'"), ("1||2", "empty pattern"), ("[9-2]", "bad range")):
        with pytest.raises(ValueError, match=said):
            DigitMap.parse(bad)
    with pytest.raises(ValueError, match="not supported"):
        CollectorConfig(digit_map="1xT")


def nanp() -> DigitCollector:
    return DigitCollector(CollectorConfig(digit_map=NANP_DIGIT_MAP, max_length=18, interdigit_timeout=4.0), now=0.0)


def test_a_10_digit_number_ends_by_the_map() -> None:
    assert feed(nanp(), "2125551234", step=0.2) == [DigitsCollected(digits="2125551234", ended_by="map", sources=("rfc4733",))]


def test_911_ends_at_once() -> None:
    assert feed(nanp(), "911") == [DigitsCollected(digits="911", ended_by="map", sources=("rfc4733",))]


def test_7_digits_wait_for_the_timer() -> None:
    c = nanp()
    assert feed(c, "2125551", step=0.2) == []
    assert c.handle_timer(c.next_deadline() or 0) == [DigitsCollected(digits="2125551", ended_by="timeout", sources=("rfc4733",))]


def test_a_prefix_at_the_timer_is_no_number() -> None:
    c = nanp()
    feed(c, "21255")
    assert c.handle_timer(100.0) == [CollectionTimedOut(first_digit=False, digits="21255")]


def test_the_pound_key_ends_a_map_collection() -> None:
    assert feed(nanp(), "2125551#") == [DigitsCollected(digits="2125551", ended_by="terminator", sources=("rfc4733",))]


def test_a_mismatch_ends_at_once() -> None:
    assert feed(nanp(), "1911") == [DigitsCollected(digits="1911", ended_by="mismatch", sources=("rfc4733",))]


def test_international_up_to_15_digits() -> None:
    c = nanp()
    assert feed(c, "011" + "4" * 14) == []
    assert feed(c, "4") == [DigitsCollected(digits="011" + "4" * 15, ended_by="length", sources=("rfc4733",))]
    short = nanp()
    feed(short, "01133")
    assert short.handle_timer(100.0) == [DigitsCollected(digits="01133", ended_by="timeout", sources=("rfc4733",))]


def test_config_errors() -> None:
    for kwargs, said in (
        ({"min_length": 0}, "min_length"),
        ({"length": 30}, "length"),
        ({"terminator": "x"}, "terminator"),
        ({"interdigit_timeout": 0.0}, "positive"),
    ):
        with pytest.raises(ValueError, match=said):
            CollectorConfig(**kwargs)  # type: ignore[arg-type]
