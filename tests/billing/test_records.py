"""Record search and the report series (pure), and the charts drawn from them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from b2bua.billing.records import OTHER, RecordFilter, daily, folded, matches, search, top
from b2bua.web.charts import ranked, stacked
from tests.web.report_fixture import RECORDS

D = Decimal


def refs(cdrs: list) -> list[str]:  # type: ignore[type-arg]
    return [c.ref for c in cdrs]


def test_filters() -> None:
    assert refs([c for c in RECORDS if matches(c, RecordFilter(groups=("sales",)))]) == ["r4"]
    assert refs([c for c in RECORDS if matches(c, RecordFilter(account_code="12345"))]) == ["r1", "r3", "r5"]
    assert refs([c for c in RECORDS if matches(c, RecordFilter(disposition="BUSY"))]) == ["r3"]
    assert refs([c for c in RECORDS if matches(c, RecordFilter(extension="2001", number="4420"))]) == ["r4"]
    assert not [c for c in RECORDS if matches(c, RecordFilter(number="999"))]


def test_search_pages_newest_first() -> None:
    total, page = search(RECORDS, RecordFilter(), 4, 4)
    assert total == 6 and refs(page) == ["r2", "r1"]
    with pytest.raises(ValueError):
        search(RECORDS, RecordFilter(), 0, 201)


def test_daily_splits_segments_and_folds() -> None:
    values = daily(RECORDS, "account-code")
    assert [(v.day[-2:], v.key, v.minutes, v.cost) for v in values if v.day.endswith("03")] == [
        ("03", "12345", D("1.0"), D("0.60")), ("03", "777", D("1.1"), D("0.66"))]
    totals = {"12345": D("1.20"), "777": D("0.96"), "555": D("0.90")}
    assert top(totals, 2) == ["12345", "777"]
    f = folded(values, ["12345"])
    assert {v.key for v in f} == {"12345", OTHER}
    assert sum(v.cost for v in f) == sum(v.cost for v in values)


def test_charts_have_one_bar_per_value_and_scale_to_the_peak() -> None:
    values = daily(RECORDS, "account-code")
    chart = stacked("c", "Cost", values, ["12345", "777", "555"], "cost", "EUR")
    assert len(chart.bars) == 5  # the unanswered call's zero cost draws nothing
    tallest = max(sum(b.h for b in chart.bars if b.x == x) for x in {b.x for b in chart.bars})
    assert tallest == pytest.approx(240 - 28 - 8, abs=0.5)  # the peak day fills the plot
    assert all(b.y >= 8 and b.y + b.h <= 240 - 28 + 0.1 for b in chart.bars)
    r = ranked("t", "Top", [("12345", D("1.20")), ("555", D("0.90")), ("0", D(0))], "EUR")
    assert [b.label for b in r.bars] == ["12345: 1.20 EUR", "555: 0.90 EUR"]
    assert r.bars[1].w == pytest.approx(r.bars[0].w * 0.75, abs=0.1)
    assert stacked("e", "Empty", [], [], "cost", "EUR").bars == []
