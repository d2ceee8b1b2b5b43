"""Call-accounting reports and CDR export.  Pure: records in, text out (the command
line, ``b2bua report`` and ``b2bua cdr export``, is in ``b2bua.runtime.cli``).

Reports (``summarize`` + ``render_report``) group the closed records whose start lies
in a date range by ``account-code``, ``department``, ``extension`` (the caller) or
``trunk`` and give per group and currency: ``calls`` (attempts), ``answered``,
``total_duration_s`` (talk seconds), ``average_duration_s`` (per answered call),
``total_cost``.  Formats: ``table`` (aligned text), ``csv``, ``json`` (amounts as
strings, exact).  Dates are inclusive days in ``tz`` (default UTC): ``--from
2024-05-01 --to 2024-05-31`` is the whole of May.

CDR export (``export_cdrs``, csv or json, one object per record) uses Asterisk's CDR
field names where the meaning is the same:

=============  ==========================================================
uniqueid       the call's ``ref`` (unique, stable across both legs)
accountcode    the account code in force at the end of the call
src            caller extension (or the trunk's caller number)
dst            the number as dialed
clid           ``"caller_user" <src>``
start          attempt start, ``YYYY-MM-DD HH:MM:SS`` in ``tz`` (UTC by default;
               ``utc_offset`` says which)
answer         answer time, empty when not answered
end            end time
duration       seconds from start to end (integer, rounded)
billsec        seconds from answer to end (integer, rounded)
disposition    ANSWERED, NO ANSWER (408, 480, 487: no answer or cancelled),
               BUSY (486, 600), FAILED (anything else)
amaflags       BILLING when a rate was applied, else DOCUMENTATION
=============  ==========================================================

and then this server's own fields: ``caller_user``, ``department``,
``business_group``, ``destination`` (number after routing), ``call_class``,
``route``, ``trunk``, ``code_valid``, ``code_source``, ``code_changes`` (csv:
``time code source valid`` items separated by ``;``; json: the account-code
segments, each with ``set_by``, ``rate_plan``, ``billsec``, ``billable`` and
``cost``), ``billable`` (rated seconds),
``cost``, ``currency``, ``rate_plan``, ``status`` (final SIP status), ``cause``,
``hangup``, ``a_call_id``, ``b_call_id``, ``recovered``, ``authorized_by`` (the
description of the authorization code that allowed the call, never its digits) and
``authorization_level`` (empty without one), ``code_entry`` (how a prompted code was
keyed: ``rfc4733``, ``info`` or ``inband``), ``utc_offset`` (the offset from UTC of
the local time at the start, ``+02:00``: the times are local times of ``tz``; a call
across a daylight-saving change has its answer and end in the offset then in force).  Asterisk's ``dcontext``,
``channel``, ``dstchannel``, ``lastapp``, ``lastdata`` and ``userfield`` have no
counterpart here and are left out rather than filled with look-alikes.

``export_segments`` (``b2bua cdr export --by-segment``) writes one row per
account-code segment instead (``SEGMENT_FIELDS``): a call whose code changed
during the call has one row per code with that segment's times, talk seconds
and cost; by account code, reports count each segment under its code.

Every CSV this project writes (reports, CDR export, ``b2bua codes export``) goes
through ``csv_cell``: a text cell a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, tab or CR) gets a leading ``'`` (OWASP, "CSV injection");
numbers stay numbers, also a signed number written as text (``-0.50``,
``+442079460000``), since no formula can hide in digits.  ``csv_uncell`` takes the
quote off again (``b2bua codes import``).  Rows end with CRLF (RFC 4180), so that a
cell holding a CR is quoted like one holding a LF.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

import msgspec

from b2bua.billing.cdr import Cdr, CodeChange, segmented

GROUPINGS: dict[str, Callable[[Cdr], str]] = {
    "account-code": lambda c: c.account_code or "(none)",
    "department": lambda c: c.department or "(none)",
    "extension": lambda c: c.caller,
    "trunk": lambda c: trunk_of(c) or "(no trunk)",
}
FORMATS = ("table", "csv", "json")
REPORT_COLUMNS = ("calls", "answered", "total_duration_s", "average_duration_s", "total_cost", "currency")
EXPORT_FIELDS = (
    "uniqueid", "accountcode", "src", "dst", "clid", "start", "answer", "end", "duration", "billsec",
    "disposition", "amaflags", "caller_user", "department", "business_group", "destination", "call_class",
    "route", "trunk", "code_valid", "code_source", "code_changes", "billable", "cost", "currency",
    "rate_plan", "status", "cause", "hangup", "a_call_id", "b_call_id", "recovered", "authorized_by",
    "authorization_level", "code_entry", "utc_offset",
)


class ReportRow(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    calls: int
    answered: int
    total_duration_s: int
    average_duration_s: Decimal
    total_cost: Decimal
    currency: str
    talk_s: Decimal  # the total talk to a tenth of a second, as precise as the average (the portal shows it)


def trunk_of(cdr: Cdr) -> str:
    return cdr.route[len("trunk:"):] if cdr.route.startswith("trunk:") else ""


def _seconds(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tenths(seconds: Decimal) -> Decimal:
    return seconds.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def record_parts(cdr: Cdr, by: str) -> list[tuple[str, float, Decimal]]:
    """(group key, talk seconds, cost) of a record: by account code, a record split
    where its code changed (:func:`~b2bua.billing.cdr.segmented`) gives each code its
    segments' duration and cost; otherwise the whole record goes to one key."""
    if by == "account-code" and segmented(cdr):
        merged: dict[str, tuple[float, Decimal]] = {}
        for ch in cdr.code_changes:
            d, c = merged.get(ch.account_code or "(none)", (0.0, Decimal(0)))
            merged[ch.account_code or "(none)"] = (d + ch.duration, c + ch.cost)
        return [(k, d, c) for k, (d, c) in merged.items()]
    return [(GROUPINGS[by](cdr), cdr.duration, cdr.cost)]


class PartSum(msgspec.Struct, frozen=True, kw_only=True):
    """The sums of the record parts (:func:`record_parts`) that share a day, a key and
    a currency: what both the Python path (:func:`part_sums`) and the databases'
    aggregate (``b2bua.billing.record_sql``) give, so that :func:`totals` and
    ``b2bua.billing.records.day_values`` make the same figures from either."""

    day: int  # days from 1970-01-01 to the local day (in the report's time zone) of the start
    key: str
    currency: str
    calls: int
    answered: int
    talk_ms: int  # the answered parts' talk, each rounded to the millisecond
    cost: Decimal


EPOCH_DAY = date(1970, 1, 1)


def part_sums(cdrs: Iterable[Cdr], by: str, tz: ZoneInfo | timezone = timezone.utc) -> list[PartSum]:
    """Records summed per (local day, group key, currency), by day, key and currency."""
    GROUPINGS[by]  # KeyError for an unknown grouping
    acc: dict[tuple[int, str, str], list[Any]] = {}
    for c in cdrs:
        day = (datetime.fromtimestamp(c.start, tz).date() - EPOCH_DAY).days
        for key, talk, price in record_parts(c, by):
            s = acc.setdefault((day, key, c.currency), [0, 0, 0, Decimal(0)])
            s[0] += 1
            if c.answer is not None:
                s[1] += 1
                s[2] += round(talk * 1000)
            s[3] += price
    return [PartSum(day=d, key=k, currency=cur, calls=n, answered=a, talk_ms=ms, cost=money)
            for (d, k, cur), (n, a, ms, money) in sorted(acc.items())]


def totals(parts: Iterable[PartSum]) -> list[ReportRow]:
    """Report rows from part sums: totals per group and currency.  Unrated calls (no
    currency) count with the only currency of the records when they use just one."""
    parts = list(parts)
    currencies = {p.currency for p in parts if p.currency}
    default = currencies.pop() if len(currencies) == 1 else ""
    groups: dict[tuple[str, str], list[Any]] = {}
    for p in parts:
        g = groups.setdefault((p.key, p.currency or default), [0, 0, 0, Decimal(0)])
        g[0], g[1], g[2], g[3] = g[0] + p.calls, g[1] + p.answered, g[2] + p.talk_ms, g[3] + p.cost
    rows = []
    for (key, currency), (calls, answered, total_ms, cost) in sorted(groups.items()):
        avg = (Decimal(total_ms) / 1000 / answered) if answered else Decimal(0)
        rows.append(ReportRow(
            key=key, calls=calls, answered=answered, total_duration_s=_seconds(total_ms / 1000),
            average_duration_s=_tenths(avg), total_cost=cost, currency=currency,
            talk_s=_tenths(Decimal(total_ms) / 1000),
        ))
    return rows


def summarize(cdrs: Iterable[Cdr], by: str) -> list[ReportRow]:
    """Totals per group and currency (:func:`totals`).  By account code, a call
    whose code changed counts once under each of its codes, with the talk time and
    cost of that code's segments."""
    return totals(part_sums(cdrs, by))


def _hms(seconds: int | Decimal) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], right: set[int]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [str(x).rjust(w) if i in right else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_LINE_END = "\r\n"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def csv_cell(value: Any) -> Any:
    """``value`` made safe to open in a spreadsheet (see the module docstring)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_uncell(text: str) -> str:
    """The value ``csv_cell`` guarded, from the text of its cell."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(text[1:]):
        return text[1:]
    return text


def _csv(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator=CSV_LINE_END)
    if header is not None:
        w.writerow(header)
    w.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


def render_report(rows: Sequence[ReportRow], fmt: str, by: str) -> str:
    """``rows`` as a table, csv or json (money as exact strings in json)."""
    header = (by, *REPORT_COLUMNS)
    if fmt == "json":
        return json.dumps([
            {by: r.key, "calls": r.calls, "answered": r.answered, "total_duration_s": r.total_duration_s,
             "average_duration_s": str(r.average_duration_s), "total_cost": str(r.total_cost), "currency": r.currency}
            for r in rows
        ], indent=2) + "\n"
    values = [(r.key, r.calls, r.answered, r.total_duration_s, r.average_duration_s, r.total_cost, r.currency) for r in rows]
    if fmt == "csv":
        return _csv(header, values)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    shown = [(k, n, a, _hms(t), _hms(avg), cost, cur) for k, n, a, t, avg, cost, cur in values]
    return _table(header, shown, right={1, 2, 3, 4, 5})


def disposition(cdr: Cdr) -> str:
    """Asterisk's disposition for the record's outcome."""
    if cdr.answer is not None:
        return "ANSWERED"
    if cdr.status in (486, 600):
        return "BUSY"
    if cdr.status in (408, 480, 487):
        return "NO ANSWER"
    return "FAILED"


def _when(t: float | None, tz: ZoneInfo | timezone) -> str:
    return "" if t is None else datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M:%S")


def utc_offset(t: float, tz: ZoneInfo | timezone) -> str:
    """The offset from UTC of ``tz``'s local time at ``t``: ``+02:00``."""
    minutes = int((datetime.fromtimestamp(t, tz).utcoffset() or timedelta(0)).total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def export_record(cdr: Cdr, tz: ZoneInfo | timezone = timezone.utc) -> dict[str, Any]:
    """One record under the export field names (see the module docstring)."""
    end = cdr.end if cdr.end is not None else cdr.start
    return {
        "uniqueid": cdr.ref, "accountcode": cdr.account_code, "src": cdr.caller, "dst": cdr.dialed,
        "clid": f'"{cdr.caller_user}" <{cdr.caller}>', "start": _when(cdr.start, tz),
        "answer": _when(cdr.answer, tz), "end": _when(cdr.end, tz),
        "duration": _seconds(end - cdr.start), "billsec": _seconds(cdr.duration),
        "disposition": disposition(cdr), "amaflags": "BILLING" if cdr.rate is not None else "DOCUMENTATION",
        "caller_user": cdr.caller_user, "department": cdr.department, "business_group": cdr.group,
        "destination": cdr.destination, "call_class": cdr.call_class, "route": cdr.route, "trunk": trunk_of(cdr),
        "code_valid": cdr.code_valid, "code_source": cdr.code_source,
        "code_changes": [
            {"at": _when(ch.at, tz), "accountcode": ch.account_code, "code_source": ch.code_source,
             "code_valid": ch.code_valid, "set_by": ch.set_by, "rate_plan": ch.rate_plan, "billsec": ch.duration,
             "billable": ch.billable, "cost": str(ch.cost)}
            for ch in cdr.code_changes
        ],
        "billable": cdr.billable, "cost": str(cdr.cost), "currency": cdr.currency, "rate_plan": cdr.rate_plan,
        "status": cdr.status, "cause": cdr.cause, "hangup": cdr.hangup, "a_call_id": cdr.a_call_id,
        "b_call_id": cdr.b_call_id, "recovered": cdr.recovered, "authorized_by": cdr.authorized_by,
        "authorization_level": cdr.authorization_level, "code_entry": cdr.code_entry,
        "utc_offset": utc_offset(cdr.start, tz),
    }


def export_cdrs(cdrs: Iterable[Cdr], fmt: str, tz: ZoneInfo | timezone = timezone.utc) -> str:
    """Records as csv or json, fields in ``EXPORT_FIELDS`` order."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}; csv or json")
    records = list(cdrs)
    return export_piece(records, fmt, tz, first=True) + export_end(fmt, first=not records)


def export_piece(cdrs: Iterable[Cdr], fmt: str, tz: ZoneInfo | timezone, *, first: bool) -> str:
    """The text of ``export_cdrs`` a chunk of records at a time (an export that
    streams): ``first`` for the first chunk that holds records (csv: the header
    row comes first), then :func:`export_end`."""
    records = [export_record(c, tz) for c in cdrs]
    if fmt == "json":
        return ("[\n" if first else ",\n") + json.dumps(records, indent=2)[2:-2] if records else ""
    for r in records:
        r["code_changes"] = ";".join(
            f"{ch['at']} {ch['accountcode']} {ch['code_source']} {int(ch['code_valid'])}" for ch in r["code_changes"]
        )
        r["code_valid"], r["recovered"] = int(r["code_valid"]), int(r["recovered"])
    return _csv(EXPORT_FIELDS if first else None, ([r[f] for f in EXPORT_FIELDS] for r in records))


def export_end(fmt: str, *, first: bool) -> str:
    """What closes an export (``first``: no records were written)."""
    if fmt == "json":
        return "[]\n" if first else "\n]\n"
    return _csv(EXPORT_FIELDS, []) if first else ""


SEGMENT_FIELDS = (
    "uniqueid", "segment", "accountcode", "code_source", "set_by", "start", "end", "billsec", "billable", "cost",
    "currency", "rate_plan", "code_valid", "src", "dst", "destination", "call_class", "caller_user", "department",
    "business_group",
)


def segment_rows(cdr: Cdr, tz: ZoneInfo | timezone = timezone.utc) -> list[dict[str, Any]]:
    """A record as one row per account-code segment (``SEGMENT_FIELDS``): a call
    whose code never changed is one segment, answer to end."""
    answer = cdr.answer if cdr.answer is not None else cdr.start
    end = cdr.end if cdr.end is not None else answer + cdr.duration
    if segmented(cdr):
        changes = cdr.code_changes
    else:
        changes = (CodeChange(at=answer, account_code=cdr.account_code, code_source=cdr.code_source,
                              code_valid=cdr.code_valid, rate_plan=cdr.rate_plan, duration=cdr.duration,
                              billable=cdr.billable, cost=cdr.cost),)
    rows = []
    for i, ch in enumerate(changes):
        stop = changes[i + 1].at if i + 1 < len(changes) else end
        rows.append({
            "uniqueid": cdr.ref, "segment": i + 1, "accountcode": ch.account_code, "code_source": ch.code_source,
            "set_by": ch.set_by, "start": _when(max(ch.at, answer), tz), "end": _when(stop, tz),
            "billsec": ch.duration, "billable": ch.billable, "cost": str(ch.cost), "currency": cdr.currency,
            "rate_plan": ch.rate_plan, "code_valid": ch.code_valid, "src": cdr.caller, "dst": cdr.dialed,
            "destination": cdr.destination, "call_class": cdr.call_class, "caller_user": cdr.caller_user,
            "department": cdr.department, "business_group": cdr.group,
        })
    return rows


def export_segments(cdrs: Iterable[Cdr], fmt: str, tz: ZoneInfo | timezone = timezone.utc) -> str:
    """Records as one row per account-code segment (``b2bua cdr export --by-segment``)."""
    rows = [r for c in cdrs for r in segment_rows(c, tz)]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; csv or json")
    for r in rows:
        r["code_valid"] = int(r["code_valid"])
    return _csv(SEGMENT_FIELDS, ([r[f] for f in SEGMENT_FIELDS] for r in rows))


def date_range(from_day: str | None, to_day: str | None, tz: str = "UTC") -> tuple[float | None, float | None]:
    """Inclusive days (``YYYY-MM-DD``) in ``tz`` as ``[start, end)`` epoch seconds."""
    zone = ZoneInfo(tz)

    def midnight(day: date) -> float:
        return datetime.combine(day, time(0), zone).timestamp()

    start = midnight(date.fromisoformat(from_day)) if from_day else None
    end = midnight(date.fromisoformat(to_day) + timedelta(days=1)) if to_day else None
    return start, end

