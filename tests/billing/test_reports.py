"""Reports and CDR export on a small fixture set."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from b2bua.billing.cdr import Cdr, CdrClosed, CodeChange
from b2bua.billing.rating import Rate
from b2bua.billing.reports import (
    EXPORT_FIELDS, date_range, disposition, export_cdrs, render_report, summarize,
)
from b2bua.billing.store import BillingStore
from b2bua.runtime.cli import main

from .conftest import Backend

D = Decimal
MAY1 = datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()
RATE = Rate(price_per_minute=D("0.60"))


def cdr(ref: str, *, day: int, caller: str, dept: str, code: str, trunk: str, talk: float | None,
        cost: str = "0", status: int = 200, currency: str = "EUR") -> Cdr:
    start = MAY1 + (day - 1) * 86400 + 9 * 3600
    answer = start + 5 if talk is not None else None
    return Cdr(
        ref=ref, seq=3, caller=caller, caller_user=caller, department=dept, group="g", dialed="9" + ref,
        destination=ref, call_class="international", route=f"trunk:{trunk}" if trunk else "extension",
        account_code=code, code_valid=bool(code), code_source="prompt" if code else "none",
        start=start, answer=answer, end=(answer + talk) if answer is not None and talk is not None else start + 20,
        duration=talk or 0.0, billable=int(talk or 0), cost=D(cost), currency=currency,
        rate=RATE if cost != "0" else None, status=status, cause="", hangup="caller" if talk else "",
        a_call_id=f"a-{ref}", b_call_id=f"b-{ref}" if talk else "",
    )


FIXTURE = [
    cdr("1", day=1, caller="1001", dept="Litigation", code="12345", trunk="carrier", talk=61.0, cost="0.61"),
    cdr("2", day=2, caller="1001", dept="Litigation", code="12345", trunk="carrier", talk=119.5, cost="1.20"),
    cdr("3", day=2, caller="1002", dept="Tax", code="777", trunk="backup", talk=None, status=486),
    cdr("4", day=3, caller="1002", dept="Tax", code="777", trunk="backup", talk=30.0, cost="0.30"),
    cdr("5", day=31, caller="1003", dept="", code="", trunk="", talk=600.0),  # internal, unrated
    cdr("6", day=32, caller="1001", dept="Litigation", code="12345", trunk="carrier", talk=10.0, cost="0.10"),  # June 1
]


def test_summarize_by_each_grouping() -> None:
    by_code = {r.key: r for r in summarize(FIXTURE[:5], "account-code")}
    assert set(by_code) == {"12345", "777", "(none)"}
    r = by_code["12345"]
    assert (r.calls, r.answered, r.total_duration_s, r.average_duration_s, r.total_cost, r.currency) == (
        2, 2, 181, D("90.3"), D("1.81"), "EUR"
    )
    r = by_code["777"]
    assert (r.calls, r.answered, r.total_duration_s, r.average_duration_s, r.total_cost) == (2, 1, 30, D("30.0"), D("0.30"))
    assert by_code["(none)"].currency == "EUR"  # unrated call joins the only currency
    assert [(r.key, r.calls) for r in summarize(FIXTURE, "extension")] == [("1001", 3), ("1002", 2), ("1003", 1)]
    assert [(r.key, r.total_cost) for r in summarize(FIXTURE, "department")] == [
        ("(none)", D("0")), ("Litigation", D("1.91")), ("Tax", D("0.30"))
    ]
    assert [r.key for r in summarize(FIXTURE, "trunk")] == ["(no trunk)", "backup", "carrier"]
    mixed = summarize([*FIXTURE[:2], cdr("9", day=1, caller="1001", dept="L", code="12345", trunk="t", talk=1, cost="5", currency="USD")], "account-code")
    assert [(r.key, r.currency, r.total_cost) for r in mixed] == [("12345", "EUR", D("1.81")), ("12345", "USD", D("5"))]


def test_render_formats() -> None:
    rows = summarize(FIXTURE[:5], "department")
    table = render_report(rows, "table", "department")
    lines = table.splitlines()
    assert lines[0].split() == ["department", "calls", "answered", "total_duration_s", "average_duration_s", "total_cost", "currency"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[3].split() == ["Litigation", "2", "2", "0:03:01", "0:01:30", "1.81", "EUR"]
    parsed = list(csv.DictReader(io.StringIO(render_report(rows, "csv", "department"))))
    assert parsed[1] == {"department": "Litigation", "calls": "2", "answered": "2", "total_duration_s": "181",
                         "average_duration_s": "90.3", "total_cost": "1.81", "currency": "EUR"}
    data = json.loads(render_report(rows, "json", "department"))
    assert data[2] == {"department": "Tax", "calls": 2, "answered": 1, "total_duration_s": 30,
                       "average_duration_s": "30.0", "total_cost": "0.30", "currency": "EUR"}
    with pytest.raises(ValueError):
        render_report(rows, "xml", "department")


def test_export_uses_asterisk_names() -> None:
    recs = [*FIXTURE[:3]]
    recs[0] = Cdr(**{**{f: getattr(recs[0], f) for f in Cdr.__struct_fields__},
                     "code_changes": (CodeChange(at=MAY1 + 9 * 3600 + 30, account_code="12345", code_source="midcall", code_valid=True),)})
    rows = list(csv.DictReader(io.StringIO(export_cdrs(recs, "csv"))))
    assert tuple(rows[0]) == EXPORT_FIELDS
    first = rows[0]
    assert (first["accountcode"], first["src"], first["dst"], first["clid"]) == ("12345", "1001", "91", '"1001" <1001>')
    assert (first["start"], first["answer"], first["end"]) == ("2024-05-01 09:00:00", "2024-05-01 09:00:05", "2024-05-01 09:01:06")
    assert (first["duration"], first["billsec"], first["disposition"], first["amaflags"]) == ("66", "61", "ANSWERED", "BILLING")
    assert (first["trunk"], first["cost"], first["code_valid"], first["uniqueid"]) == ("carrier", "0.61", "1", "1")
    assert first["code_changes"] == "2024-05-01 09:00:30 12345 midcall 1"
    busy = rows[2]
    assert (busy["disposition"], busy["answer"], busy["billsec"], busy["amaflags"]) == ("BUSY", "", "0", "DOCUMENTATION")
    data = json.loads(export_cdrs(recs, "json"))
    assert list(data[0]) == list(EXPORT_FIELDS) and data[0]["cost"] == "0.61" and data[0]["code_valid"] is True
    assert data[0]["code_changes"][0]["accountcode"] == "12345"


@pytest.mark.parametrize(("status", "expected"), [(486, "BUSY"), (600, "BUSY"), (487, "NO ANSWER"), (480, "NO ANSWER"),
                                                  (408, "NO ANSWER"), (403, "FAILED"), (503, "FAILED"), (500, "FAILED")])
def test_disposition(status: int, expected: str) -> None:
    assert disposition(cdr("x", day=1, caller="1", dept="", code="", trunk="", talk=None, status=status)) == expected


def test_date_range_is_inclusive_days() -> None:
    start, end = date_range("2024-05-01", "2024-05-31")
    assert (start, end) == (MAY1, MAY1 + 31 * 86400)
    assert date_range(None, None) == (None, None)
    paris, _ = date_range("2024-05-01", None, "Europe/Paris")
    assert paris == MAY1 - 2 * 3600


async def test_cli_report_and_export_from_the_database(
    backend: Backend, store: BillingStore, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await store.apply([CdrClosed(c) for c in FIXTURE])
    await store.close()  # the CLI opens its own connection
    db = ["--db", backend.url] + (["--schema", backend.options["schema"]] if "schema" in backend.options else [])
    rng = ["--from", "2024-05-01", "--to", "2024-05-31"]
    # main() runs its own event loop: run it in a thread, not inside this test's loop
    import asyncio

    assert await asyncio.to_thread(main, ["report", *db, *rng, "--by", "account-code", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert list(csv.reader(io.StringIO(out)))[1:] == [
        ["(none)", "1", "1", "600", "600.0", "0", "EUR"],
        ["12345", "2", "2", "181", "90.3", "1.81", "EUR"],
        ["777", "2", "1", "30", "30.0", "0.30", "EUR"],
    ]
    assert await asyncio.to_thread(main, ["cdr", "export", *db, "--from", "2024-06-01", "--format", "json"]) == 0
    assert [r["uniqueid"] for r in json.loads(capsys.readouterr().out)] == ["6"]
    assert await asyncio.to_thread(main, ["report", "--db", str(Path("/proc/nope/x.db"))]) == 1
    assert "b2bua: billing database:" in capsys.readouterr().err
    # the office's days: 09:00 UTC is 23:00 the day before in Honolulu (record 1 is April's, 6 May's)
    config = tmp_path / "hnl.toml"
    config.write_text('[billing]\ntimezone = "Pacific/Honolulu"\n')
    assert await asyncio.to_thread(main, ["report", "--config", str(config), *db, *rng, "--format", "csv"]) == 0
    assert [row[:2] + row[5:6] for row in csv.reader(io.StringIO(capsys.readouterr().out))][1:] == [
        ["(none)", "1", "0"], ["12345", "2", "1.30"], ["777", "2", "0.30"]]
    assert await asyncio.to_thread(main, ["report", "--config", str(config), "--tz", "UTC", *db, *rng]) == 0
    assert "1.81" in capsys.readouterr().out
    last = ["--from", "2024-05-31", "--to", "2024-05-31"]
    assert await asyncio.to_thread(main, ["cdr", "export", "--config", str(config), *db, *last, "--format", "json"]) == 0
    (june,) = json.loads(capsys.readouterr().out)
    assert (june["uniqueid"], june["start"], june["utc_offset"]) == ("6", "2024-05-31 23:00:00", "-10:00")
    await store.open()  # the fixture closes it again


# -- spreadsheet formula injection (OWASP "CSV injection") ---------------------------------

FORMULAS = ("=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tfoo", "\rbar")


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    """Every text cell starting with = + - @ tab or CR gets a leading ' (OWASP);
    numbers, also signed ones as text, stay numbers."""
    recs = [
        msgspec.structs.replace(FIXTURE[0], caller=f, caller_user=f, department=f, dialed=f, cause=f, account_code=f)
        for f in FORMULAS
    ]
    recs.append(msgspec.structs.replace(FIXTURE[0], dialed="+442079460000", cost=D("-0.50"), cause="-12.5"))
    rows = list(csv.DictReader(io.StringIO(export_cdrs(recs, "csv"))))
    for f, row in zip(FORMULAS, rows):
        for field in ("src", "caller_user", "department", "dst", "cause", "accountcode"):
            assert row[field] == "'" + f, (field, row[field])
        assert row["clid"].startswith('"')  # not a trigger: left alone
    last = rows[-1]
    assert (last["dst"], last["cost"], last["cause"], last["billsec"]) == ("+442079460000", "-0.50", "-12.5", "61")
    report = list(csv.reader(io.StringIO(render_report(summarize(recs[:1], "department"), "csv", "department"))))
    assert report[1][0] == "'" + FORMULAS[0]
    for cell in (c for row in csv.reader(io.StringIO(export_cdrs(recs, "csv"))) for c in row):
        assert not cell or cell[0] not in "=+-@\t\r" or _is_number(cell), cell


def _is_number(cell: str) -> bool:
    try:
        Decimal(cell)
    except ArithmeticError:
        return False
    return cell.lstrip("+-")[:1].isdigit()
