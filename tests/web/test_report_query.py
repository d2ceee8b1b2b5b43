"""A report's table and charts from its sums (b2bua.web.report_query.build_report):
the top chart's title counts the bars it draws, and the table's total talk is as
precise as its average."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

from b2bua.billing.reports import PartSum
from b2bua.web.charts import Chart
from b2bua.web.report_query import TOP, build_report

DAY = (datetime.date(2024, 5, 1) - datetime.date(1970, 1, 1)).days
MAY = datetime.date(2024, 5, 1), datetime.date(2024, 5, 1)


def part(key: str, *, ms: int, cost: str, calls: int = 1, answered: int = 1, currency: str = "EUR") -> PartSum:
    return PartSum(day=DAY, key=key, currency=currency, calls=calls, answered=answered, talk_ms=ms, cost=D(cost))


def top_chart(parts: list[PartSum]) -> Chart:
    (chart,) = [c for c in build_report(parts, "account-code", *MAY).charts if c.id == "top"]
    return chart


def test_the_top_chart_counts_only_the_keys_it_draws() -> None:
    chart = top_chart([part("12345", ms=60_000, cost="0.60"), part("777", ms=30_000, cost="0.30"),
                       part("free", ms=5_000, cost="0"), part("missed", ms=0, cost="0", answered=0)])
    assert chart.title == "Top 2 by cost (EUR)" and chart.keys == ["12345", "777"] and len(chart.bars) == 2


def test_the_top_chart_by_minutes_counts_the_keys_that_talked() -> None:
    chart = top_chart([part("a", ms=90_000, cost="0.90", currency="EUR"), part("b", ms=30_000, cost="1", currency="USD"),
                       part("c", ms=0, cost="0", answered=0, currency="USD")])
    assert chart.title == "Top 2 by minutes" and chart.keys == ["a", "b"] and len(chart.bars) == 2


def test_the_top_chart_stops_at_its_size() -> None:
    chart = top_chart([part(f"k{i:02}", ms=1000 * (i + 1), cost=f"0.{i + 1:02}") for i in range(TOP + 3)])
    assert chart.title == f"Top {TOP} by cost (EUR)" and len(chart.bars) == TOP


def test_nothing_to_rank_says_so() -> None:
    chart = top_chart([part("missed", ms=0, cost="0", answered=0)])
    assert chart.title == "Top 0 by cost (EUR)" and chart.bars == [] and chart.desc == "nothing to show"


def test_total_and_average_talk_share_their_precision() -> None:
    (row,) = build_report([part("777", ms=300, cost="0.01", calls=2, answered=1)], "account-code", *MAY).rows
    assert (row.talk_s, row.average_duration_s) == (D("0.3"), D("0.3"))
    assert row.total_duration_s == 0  # the API's and exports' whole seconds keep their type
    (row,) = build_report([part("777", ms=125_250, cost="1", calls=3, answered=2)], "account-code", *MAY).rows
    assert (row.talk_s, row.average_duration_s, row.total_duration_s) == (D("125.3"), D("62.6"), 125)
