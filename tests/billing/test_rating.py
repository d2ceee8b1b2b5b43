"""Rating tables and properties: increments, minimums, setup fees, prefixes, classes."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2bua.billing.rating import (
    CALL_CLASSES, Rate, RatePlan, RatingError, billable_seconds, cost, load_rate_plan, load_rate_plans,
    load_rate_plans_toml, rate_for,
)

D = Decimal


def rate(price: str, inc: int = 1, minimum: int = 0, setup: str = "0", prefix: str = "") -> Rate:
    return Rate(prefix=prefix, price_per_minute=D(price), increment_s=inc, minimum_s=minimum, setup=D(setup))


@pytest.mark.parametrize(
    ("inc", "minimum", "duration", "billed"),
    [
        (1, 0, 0, 0), (1, 0, 0.001, 1), (1, 0, 1, 1), (1, 0, 59.2, 60), (1, 0, 61, 61),
        (6, 0, 1, 6), (6, 0, 6, 6), (6, 0, 7, 12), (6, 0, 61, 66), (6, 30, 1, 30), (6, 30, 31, 36),
        (60, 0, 1, 60), (60, 0, 60, 60), (60, 0, 60.0004, 60), (60, 0, 60.0006, 120), (60, 0, 121, 180),
        (60, 60, 5, 60), (1, 60, 5, 60), (1, 60, 0, 0), (30, 45, 10, 60),
    ],
)
def test_billable_seconds(inc: int, minimum: int, duration: float, billed: int) -> None:
    assert billable_seconds(duration, rate("1", inc, minimum)) == billed


@pytest.mark.parametrize(
    ("r", "seconds", "expected"),
    [
        (rate("0.60"), 61, "0.61"),  # 1 s increments: 61 s at 1 cent/s
        (rate("0.60", 60), 61, "1.20"),  # 60 s increments: two minutes
        (rate("0.60", 6), 61, "0.66"),  # 6 s increments: 66 s
        (rate("0.60", 6, 30), 10, "0.30"),  # minimum 30 s
        (rate("0.60", 60, 0, "0.15"), 1, "0.75"),  # setup fee + first minute
        (rate("0.60", 60, 0, "0.15"), 0, "0.00"),  # unanswered: no setup either
        (rate("0.01", 1), 30, "0.01"),  # 0.005 rounds half up
        (rate("0.01", 1), 29, "0.00"),  # 0.00483 rounds down
        (rate("0.0125"), 1, "0.00"),  # 0.000208...
        (rate("0.09"), 10, "0.02"),  # 0.015 -> 0.02 (half up, not half even)
        (rate("0"), 3600, "0.00"),
    ],
)
def test_cost_table(r: Rate, seconds: int, expected: str) -> None:
    got = cost(r, seconds, "EUR")
    assert got == D(expected) and str(got) == expected


def test_cost_minor_units_per_currency() -> None:
    r = rate("1.5")
    assert str(cost(r, 61, "JPY")) == "2"  # 1.525 yen -> 2
    assert str(cost(r, 61, "KWD")) == "1.525"
    assert str(cost(r, 61, "USD")) == "1.53"


def test_cost_of_billable_seconds_equals_cost_of_duration() -> None:
    r = rate("0.37", 6, 30, "0.05")
    for d in (1, 29, 31, 59.9, 61, 3601):
        assert cost(r, d) == cost(r, billable_seconds(d, r))


def test_seed_rates_by_prefix_and_class() -> None:
    """Seed 001: a cost per country, area code or specific number; seed 003: the longest
    matching prefix, 1 s or 60 s increments and a setup cost; seed 004: local, long
    distance and international rules."""
    plan = RatePlan(
        name="office", currency="USD",
        rates=(
            Rate(prefix="44", price_per_minute=D("0.10"), increment_s=60),
            Rate(prefix="4420", price_per_minute=D("0.05"), increment_s=1, setup=D("0.02"), description="London"),
            Rate(prefix="442079460000", price_per_minute=D("0"), description="client, free"),
            Rate(prefix="+1900", price_per_minute=D("2.99"), increment_s=60, minimum_s=60),
        ),
        class_defaults={
            "local": rate("0.01"), "long_distance": rate("0.03", 6, 30),
            "international": rate("0.50", 60), "emergency": rate("0"),
        },
    )
    assert rate_for(plan, "441612345678", "international").prefix == "44"
    london = rate_for(plan, "442071234567", "international")
    assert london.description == "London"
    assert rate_for(plan, "+442079460000", "international").price_per_minute == 0
    assert rate_for(plan, "19005551234", "premium").prefix == "+1900"  # '+' ignored on both sides
    assert rate_for(plan, "33123456789", "international").price_per_minute == D("0.50")
    assert rate_for(plan, "5551234", "local").price_per_minute == D("0.01")
    assert rate_for(plan, "5551234", "toll_free") is None
    assert cost(london, 61, plan.currency) == D("0.07")  # 0.02 + 0.0508 = 0.0708
    assert cost(rate_for(plan, "441612345678", "international"), 61, "USD") == D("0.20")
    assert cost(rate_for(plan, "5551234", "long_distance"), 7, "USD") == D("0.02")  # 30 s minimum: 0.015


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price_per_minute": D("-0.01")}, "price_per_minute must not be negative"),
        ({"price_per_minute": D("NaN")}, "finite"),
        ({"price_per_minute": D(1), "setup": D("-1")}, "setup must not be negative"),
        ({"price_per_minute": D(1), "increment_s": 0}, "increment_s must be at least 1"),
        ({"price_per_minute": D(1), "increment_s": -6}, "increment_s must be at least 1"),
        ({"price_per_minute": D(1), "minimum_s": -1}, "minimum_s must not be negative"),
        ({"price_per_minute": D(1), "prefix": "44a"}, "malformed prefix"),
        ({"price_per_minute": D(1), "prefix": "4 4"}, "malformed prefix"),
        ({"price_per_minute": D(1), "prefix": "++44"}, "malformed prefix"),
    ],
)
def test_rate_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(RatingError, match=message):
        Rate(**kwargs)


def test_plan_validation() -> None:
    with pytest.raises(RatingError, match=r"overlapping rates: prefix '\+44' appears twice"):
        RatePlan(name="p", rates=(rate("1", prefix="44"), rate("2", prefix="+44")))
    with pytest.raises(RatingError, match="unknown call class 'mobile'"):
        RatePlan(name="p", class_defaults={"mobile": rate("1")})
    with pytest.raises(RatingError, match="needs a prefix"):
        RatePlan(name="p", rates=(rate("1"),))
    with pytest.raises(RatingError, match="ISO 4217"):
        RatePlan(name="p", currency="euro")
    assert set(CALL_CLASSES) >= {"local", "long_distance", "international", "toll_free", "internal", "premium", "emergency", "service"}


def test_load_from_dicts_reports_the_path() -> None:
    plan = load_rate_plan({
        "name": "std", "currency": "EUR",
        "rates": [{"prefix": "49", "price_per_minute": "0.021", "increment_s": 60}, {"prefix": "33", "price_per_minute": 0.05}],
        "class_defaults": {"local": {"price_per_minute": 0, "setup": "0.01"}},
    })
    assert plan.rates[0].price_per_minute == D("0.021")
    assert plan.rates[1].price_per_minute == D("0.05")  # from a number, exactly
    assert isinstance(plan.class_defaults["local"].setup, Decimal)
    with pytest.raises(msgspec.ValidationError, match=r"negative.*\$\[0\]\.rates\[1\]"):
        load_rate_plans([{"name": "a", "rates": [{"prefix": "1", "price_per_minute": 1}, {"prefix": "2", "price_per_minute": -1}]}])
    with pytest.raises(msgspec.ValidationError, match=r"unknown field `increment`.*\$\.rates\[0\]"):
        load_rate_plan({"name": "a", "rates": [{"prefix": "1", "price_per_minute": 1, "increment": 6}]})
    with pytest.raises(msgspec.ValidationError, match="overlapping"):
        load_rate_plan({"name": "a", "rates": [{"prefix": "1", "price_per_minute": 1}, {"prefix": "1", "price_per_minute": 2}]})
    with pytest.raises(msgspec.ValidationError, match="duplicate rate plan name"):
        load_rate_plans([{"name": "a"}, {"name": "a"}])


def test_load_toml_floats_are_exact() -> None:
    plans = load_rate_plans_toml(
        """
        [[rate_plans]]
        name = "std"
        currency = "USD"
        [[rate_plans.rates]]
        prefix = "1"
        price_per_minute = 0.1
        setup = 0.3
        [rate_plans.class_defaults.international]
        price_per_minute = 0.7
        increment_s = 6
        """
    )
    std = plans["std"]
    assert std.rates[0].price_per_minute == D("0.1") and std.rates[0].setup == D("0.3")
    assert cost(std.rates[0], 60, "USD") == D("0.40")


# -- properties --------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False)
rates = st.builds(
    Rate, price_per_minute=prices, increment_s=st.sampled_from([1, 6, 10, 30, 60]),
    minimum_s=st.integers(0, 120), setup=st.decimals(min_value=0, max_value=5, places=3),
)
durations = st.one_of(st.integers(0, 100_000), st.floats(0, 100_000, allow_nan=False))


@given(rates, durations, durations, st.sampled_from(["EUR", "JPY", "KWD"]))
def test_cost_never_decreases_with_duration(r: Rate, a: float, b: float, currency: str) -> None:
    lo, hi = sorted((a, b))
    assert cost(r, lo, currency) <= cost(r, hi, currency)


@given(rates, durations)
def test_increments_and_minimums_honoured(r: Rate, d: float) -> None:
    billed = billable_seconds(d, r)
    if billed == 0:
        assert d <= 0.0005  # rounds to 0 ms: nothing to bill
        return
    assert billed % r.increment_s == 0
    assert billed >= r.minimum_s
    assert billed >= d - 0.0005
    assert billed - max(d, r.minimum_s) < r.increment_s + 1  # never a whole increment too many
    assert billable_seconds(billed, r) == billed  # idempotent


@given(rates, durations, st.sampled_from(["EUR", "JPY", "KWD"]))
def test_cost_is_exact_money(r: Rate, d: float, currency: str) -> None:
    c = cost(r, d, currency)
    assert type(c) is Decimal
    exponent = {"EUR": -2, "JPY": 0, "KWD": -3}[currency]
    assert c.as_tuple().exponent == exponent
    billed = billable_seconds(d, r)
    exact = (r.setup + billed * r.price_per_minute / 60) if billed else Decimal(0)
    assert abs(c - exact) <= Decimal(1).scaleb(exponent) / 2


def test_internal_calls_take_the_internal_class_rate_never_a_prefix() -> None:
    """An extension 4401 is not a UK number: internal calls are rated with the
    plan's internal class default only (none: unrated), whatever prefix matches."""
    uk = Rate(prefix="44", price_per_minute=D("0.10"), increment_s=60)
    plan = RatePlan(name="office", rates=(uk,), class_defaults={"international": rate("0.50")})
    assert rate_for(plan, "4401", "internal") is None
    assert rate_for(plan, "441612345678", "international") == uk
    inside = RatePlan(name="office", rates=(uk,), class_defaults={"internal": rate("0.001")})
    assert rate_for(inside, "4401", "internal") == rate("0.001")
