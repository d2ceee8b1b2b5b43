"""Chart geometry for the report pages: pure, numbers in, rectangles out.  The
template ``report_chart.html`` draws them as inline SVG (``role="img"``, a
``<title>`` and ``<desc>``, each bar with its own ``<title>``), next to a table
of the same figures, so the page needs no script and no outside resource.

``stacked``: one column per day, a segment per key (a series), for cost or
minutes over time.  ``ranked``: one horizontal bar per key, largest first (top
codes).  Zero values get no bar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

import msgspec

from b2bua.billing.records import DayValue

WIDTH, HEIGHT = 640, 240  # the SVG's coordinate system (it scales to the page)
LEFT, BOTTOM, TOP = 56, 28, 8  # room for the value axis, the day labels, and above
SERIES_CLASSES = 6  # CSS classes s0..s5 colour the series


class Bar(msgspec.Struct, frozen=True, kw_only=True):
    x: float
    y: float
    w: float
    h: float
    series: int  # index into the chart's keys (its colour: s{series % SERIES_CLASSES})
    label: str  # what the bar shows, in words (its <title>)


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    x: float
    y: float
    text: str
    anchor: str = "end"  # SVG text-anchor: start, middle, end


class Chart(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    desc: str
    keys: list[str]  # the series, in colour order (the legend)
    bars: list[Bar]
    ticks: list[Tick]  # axis labels
    width: int = WIDTH
    height: int = HEIGHT


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def stacked(id: str, title: str, values: Sequence[DayValue], keys: Sequence[str], measure: str,
            unit: str) -> Chart:
    """Columns per day, stacked by key; ``measure`` is ``minutes`` or ``cost``."""
    days = sorted({v.day for v in values})
    per_day = {d: Decimal(0) for d in days}
    for v in values:
        per_day[v.day] += getattr(v, measure)
    peak = max(per_day.values(), default=Decimal(0))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    bars: list[Bar] = []
    ticks = [Tick(x=LEFT - 4, y=TOP + 4, text=f"{_fmt(peak)} {unit}"), Tick(x=LEFT - 4, y=TOP + plot_h, text="0")]
    order = {k: i for i, k in enumerate(keys)}
    for i, day in enumerate(days):
        x = LEFT + i * slot + slot * 0.15
        base = float(TOP + plot_h)
        for v in sorted((v for v in values if v.day == day), key=lambda v: order.get(v.key, len(order))):
            amount = getattr(v, measure)
            if amount <= 0 or peak <= 0:
                continue
            h = float(amount / peak) * plot_h
            base -= h
            bars.append(Bar(x=round(x, 1), y=round(base, 1), w=round(slot * 0.7, 1), h=round(h, 1),
                            series=order.get(v.key, 0), label=f"{day} {v.key}: {_fmt(amount)} {unit}"))
        ticks.append(Tick(x=round(x + slot * 0.35, 1), y=HEIGHT - 8, text=day[5:], anchor="middle"))
    total = sum(per_day.values(), Decimal(0))
    desc = (f"{len(days)} day{'s' if len(days) != 1 else ''}, {_fmt(total)} {unit} in all, "
            f"at most {_fmt(peak)} {unit} a day; the table below gives every figure.")
    return Chart(id=id, title=title, desc=desc, keys=list(keys), bars=bars, ticks=ticks)


def ranked(id: str, title: str, totals: Sequence[tuple[str, Decimal]], unit: str) -> Chart:
    """One horizontal bar per key, in the order given (largest first)."""
    shown = [(k, v) for k, v in totals if v > 0]
    peak = max((v for _, v in shown), default=Decimal(0))
    row = 24
    height = max(TOP * 2 + row * len(shown), 48)
    left = 120
    bars, ticks = [], []
    for i, (key, value) in enumerate(shown):
        y = TOP + i * row
        w = float(value / peak) * (WIDTH - left - 90)
        bars.append(Bar(x=left, y=y, w=round(w, 1), h=row - 6, series=i, label=f"{key}: {_fmt(value)} {unit}"))
        ticks.append(Tick(x=left - 6, y=y + row - 10, text=key[:16]))
        ticks.append(Tick(x=round(left + w + 6, 1), y=y + row - 10, text=f"{_fmt(value)} {unit}", anchor="start"))
    desc = f"{len(shown)} largest, from {_fmt(peak)} {unit}" if shown else "nothing to show"
    return Chart(id=id, title=title, desc=desc, keys=[k for k, _ in shown], bars=bars, ticks=ticks, height=height)
