"""Rates as rows and CSV (pure): every bad row named with its line and field,
export and import round trip through the spreadsheet-formula guard."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from b2bua.billing.rating import Rate, RatePlan, rate_for
from b2bua.billing.tariffs import PlanInfo, build_plans, export_rates_csv, parse_rates_csv, plan_rows

D = Decimal


def test_each_bad_row_is_named_with_its_line_and_field() -> None:
    text = ("plan,prefix,call_class,price_per_minute,setup,minimum_s,increment_s\n"
            "std,44,,0.05,,,\n"
            "std,44,,0.06,,,\n"          # the same rate again
            "std,,weekend,0.01,,,\n"     # no such call class
            "std,33,local,0.01,,,\n"     # both
            "std,34,,-1,,,\n"
            "std,35,,0.1,x,,\n"
            "std,36,,0.1,,,0\n"
            "std,37,,0.1,,,,extra\n"
            "a b,38,,0.1,,,\n"
            "other,39,,0.1,,,\n")
    rows, errors = parse_rates_csv(text, plans={"std"})
    assert [r.rate.prefix for r in rows] == ["44"]
    assert errors == [
        "line 3: prefix: the same rate as line 2",
        "line 4: call_class: unknown 'weekend'; known: local, long_distance, international, toll_free, internal,"
        " premium, emergency, service",
        "line 5: prefix: give a prefix or a call class, not both",
        "line 6: price_per_minute: must be a number of at least 0, not '-1'",
        "line 7: setup: 'x' is not a decimal number",
        "line 8: increment_s: increment_s must be at least 1 second (0)",
        "line 9: more fields than the header has columns",
        "line 10: plan: 'a b': at most 64 letters, digits, '.', '_' or '-'",
        "line 11: plan: no rate plan 'other' (create it first)",
    ]


def test_headers_and_files_that_are_not_csv() -> None:
    assert parse_rates_csv("prefix,price\n1,2\n")[1][0].startswith("line 1: header: missing column(s) plan")
    assert parse_rates_csv("plan,price_per_minute,colour\n")[1] == ["line 1: header: unknown column(s) 'colour'"]
    huge = parse_rates_csv("plan,price_per_minute\nx," + "1" * 200_000 + "\n")  # beyond csv's field limit
    assert huge[1][0].startswith("line 2: file: not CSV (field larger than field limit")


def test_export_guards_formulas_and_imports_back() -> None:
    plan = RatePlan(name="std", rates=(Rate(prefix="44", price_per_minute=D("0.05"), description="=SUM(A1)"),),
                    class_defaults={"local": Rate(price_per_minute=D("0"), increment_s=60, minimum_s=60)})
    text = export_rates_csv(plan_rows(plan))
    assert "'=SUM(A1)" in text
    rows, errors = parse_rates_csv(text)
    assert errors == [] and rows == plan_rows(plan)
    built = build_plans([PlanInfo(name="std", currency="EUR")], rows)["std"]
    assert rate_for(built, "+4420", "international").description == "=SUM(A1)"
    assert rate_for(built, "5551234", "local").increment_s == 60


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_rows_or_errors_never_an_exception(text: str) -> None:
    rows, errors = parse_rates_csv("plan,prefix,price_per_minute\n" + text)
    assert isinstance(rows, list) and isinstance(errors, list)
