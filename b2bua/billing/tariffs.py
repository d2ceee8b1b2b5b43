"""Rate plans as administrative data: rows, CSV import/export, plans built from rows.

Pure: no clock, no I/O.  The billing database keeps one row per rate
(``RateRow``: the plan, a prefix *or* a call class, and the ``Rate``); the running
server rates calls with ``RatePlan`` objects built from those rows
(``build_plans``), whose longest-prefix lookup is a few dict probes however many
rules a plan has.

CSV (import and export) has a header row with these columns, in any order; ``plan``,
``price_per_minute`` and one of ``prefix`` / ``call_class`` are required::

    plan,prefix,call_class,price_per_minute,setup,minimum_s,increment_s,description

A row with a prefix is a prefix rate (digits, ``*``, ``#``; a leading ``+`` is
dropped), a row with a call class (local, long_distance, ...) the plan's default for
that class.  Prices are decimal numbers (``0.05``), never rounded.  An import checks
every row first: one bad row (or the same rate twice) and nothing is imported, each
bad row reported with its line number.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Collection, Iterable, Mapping, Sequence

import msgspec

from .rating import CALL_CLASSES, Rate, RatePlan, RatingError
from .reports import CSV_LINE_END, csv_cell, csv_uncell

RATE_COLUMNS = ("plan", "prefix", "call_class", "price_per_minute", "setup", "minimum_s", "increment_s", "description")
REQUIRED = ("plan", "price_per_minute")
MAX_NAME = 64  # characters of a plan name
PLAN_NAME = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_NAME)  # also a part of a URL path
MAX_DESCRIPTION = 200
MAX_ERRORS = 100  # bad rows reported by an import (the rest counted)


class RateRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stored rate: ``call_class`` is set for a class default, else ``rate.prefix``."""

    plan: str
    call_class: str = ""
    rate: Rate

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.plan, self.rate.prefix, self.call_class)


class PlanInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A rate plan's own fields and how many rates it holds."""

    name: str
    currency: str
    rates: int = 0


def check_plan_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name:
        raise RatingError(f"{field}: a rate plan needs a name")
    if not PLAN_NAME.fullmatch(name):
        raise RatingError(f"{field}: {name[:80]!r}: at most {MAX_NAME} letters, digits, '.', '_' or '-'")
    return name


def _decimal(field: str, text: str, default: str | None = None) -> Decimal:
    text = text.strip()
    if not text and default is not None:
        text = default
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RatingError(f"{field}: {text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise RatingError(f"{field}: must be a number of at least 0, not {text!r}")
    return value


def _seconds(field: str, text: str, default: int) -> int:
    text = text.strip()
    if not text:
        return default
    if not text.isdigit() or len(text) > 6:
        raise RatingError(f"{field}: {text!r} is not a whole number of seconds")
    return int(text)


def rate_row(fields: Mapping[str, str]) -> RateRow:
    """A row from text fields (a form, a CSV row, an API body); raises RatingError
    whose message starts with the field at fault."""
    get = lambda name: (fields.get(name) or "").strip()  # noqa: E731
    plan = check_plan_name(get("plan"), "plan")
    prefix, call_class = get("prefix").lstrip("+"), get("call_class")
    if bool(prefix) == bool(call_class):
        raise RatingError("prefix: give a prefix or a call class, not both" if prefix else
                          "prefix: give a prefix or a call class")
    if call_class and call_class not in CALL_CLASSES:
        raise RatingError(f"call_class: unknown {call_class!r}; known: {', '.join(CALL_CLASSES)}")
    description = get("description")
    if len(description) > MAX_DESCRIPTION or not description.isprintable():
        raise RatingError(f"description: at most {MAX_DESCRIPTION} printable characters")
    if not get("price_per_minute"):
        raise RatingError("price_per_minute: required")
    price = _decimal("price_per_minute", get("price_per_minute"))
    setup = _decimal("setup", get("setup"), "0")
    minimum = _seconds("minimum_s", get("minimum_s"), 0)
    increment = _seconds("increment_s", get("increment_s"), 1)
    try:
        rate = Rate(prefix=prefix, price_per_minute=price, setup=setup, minimum_s=minimum, increment_s=increment,
                    description=description)
    except RatingError as err:
        field = next((f for f in RATE_COLUMNS if str(err).startswith(f)), "prefix")
        raise RatingError(f"{field}: {err}") from None
    return RateRow(plan=plan, call_class=call_class, rate=rate)


def rate_fields(row: RateRow) -> dict[str, str]:
    """The inverse of ``rate_row``: text fields (CSV export, forms, the API)."""
    r = row.rate
    return {"plan": row.plan, "prefix": r.prefix, "call_class": row.call_class,
            "price_per_minute": str(r.price_per_minute), "setup": str(r.setup), "minimum_s": str(r.minimum_s),
            "increment_s": str(r.increment_s), "description": r.description}


def parse_rates_csv(
    text: str, *, plans: Collection[str] | None = None, max_rows: int = 1_000_000
) -> tuple[list[RateRow], list[str]]:
    """(rows, errors): every row checked (its plan among ``plans`` when given);
    errors are "line N: field: message"."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _check_rows(reader, plans, max_rows)
    except csv.Error as err:  # not CSV at all (a stray quote, a NUL)
        return [], [f"line {reader.line_num + 1}: file: not CSV ({err})"]  # the record being read


def _check_rows(
    reader: csv.DictReader[str], plans: Collection[str] | None, max_rows: int
) -> tuple[list[RateRow], list[str]]:
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [f"line 1: header: missing column(s) {', '.join(missing)}; columns: {','.join(RATE_COLUMNS)}"]
    unknown = [c for c in header if c not in RATE_COLUMNS]
    if unknown:
        return [], [f"line 1: header: unknown column(s) {', '.join(map(repr, unknown))}"]
    rows: list[RateRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, str, str], int] = {}
    bad = 0
    for record in reader:
        line = reader.line_num
        if len(rows) + bad >= max_rows:
            errors.append(f"line {line}: more than {max_rows} rows")
            break
        if None in record:
            problem = "more fields than the header has columns"
        else:
            try:
                row = rate_row({k: csv_uncell(v or "") for k, v in record.items()})
            except RatingError as err:
                problem = str(err)
            else:
                first = seen.setdefault(row.key, line)
                if plans is not None and row.plan not in plans:
                    problem = f"plan: no rate plan {row.plan!r} (create it first)"
                elif first == line:
                    rows.append(row)
                    continue
                else:
                    problem = f"prefix: the same rate as line {first}"
        bad += 1
        if len(errors) < MAX_ERRORS:
            errors.append(f"line {line}: {problem}")
    if bad > len(errors):
        errors.append(f"... and {bad - len(errors)} more bad row(s)")
    return rows, errors


def export_rates_csv(rows: Iterable[RateRow]) -> str:
    """Rates as CSV (``RATE_COLUMNS``), each cell through the spreadsheet-formula guard."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=CSV_LINE_END)
    writer.writerow(RATE_COLUMNS)
    for row in rows:
        fields = rate_fields(row)
        writer.writerow([csv_cell(fields[c]) for c in RATE_COLUMNS])
    return out.getvalue()


def plan_rows(plan: RatePlan) -> list[RateRow]:
    """A configured plan's rates as rows (seeding the database from the TOML)."""
    rows = [RateRow(plan=plan.name, rate=r) for r in plan.rates]
    rows += [RateRow(plan=plan.name, call_class=c, rate=r) for c, r in plan.class_defaults.items()]
    return rows


def build_plans(plans: Sequence[PlanInfo], rows: Iterable[RateRow]) -> dict[str, RatePlan]:
    """``RatePlan`` objects from stored plans and rows (rows of unknown plans ignored)."""
    prefixes: dict[str, list[Rate]] = {p.name: [] for p in plans}
    defaults: dict[str, dict[str, Rate]] = {p.name: {} for p in plans}
    for row in rows:
        if row.plan not in prefixes:
            continue
        if row.call_class:
            defaults[row.plan][row.call_class] = row.rate
        else:
            prefixes[row.plan].append(row.rate)
    return {p.name: RatePlan(name=p.name, currency=p.currency, rates=tuple(prefixes[p.name]),
                             class_defaults=defaults[p.name]) for p in plans}
