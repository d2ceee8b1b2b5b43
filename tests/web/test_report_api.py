"""The JSON API of reports, records and live calls against the real server,
on records written into its billing database through the billing store."""

from __future__ import annotations

from typing import Iterator

import pytest

from .client import Office, call, make_token, token_fixture
from .report_fixture import office_with_records
from .test_api import CONFIG

token = token_fixture("billing-system")

MAY = "from=2024-05-01&to=2024-05-03"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    yield from office_with_records(tmp_path_factory.mktemp("report-api"), CONFIG)


def test_report_rows_and_days(office: Office, token: str) -> None:
    status, body = call(office, "GET", f"/api/v1/reports/account-code?{MAY}", token)
    assert status == 200 and (body["by"], body["from"], body["to"]) == ("account-code", "2024-05-01", "2024-05-03")
    assert [(r["key"], r["calls"], r["total_cost"]) for r in body["rows"]] == [
        ("12345", 3, "1.20"), ("555", 1, "0.90"), ("777", 3, "0.96")]
    assert [(d["day"], d["key"], d["cost"]) for d in body["days"] if d["day"] == "2024-05-03"] == [
        ("2024-05-03", "12345", "0.60"), ("2024-05-03", "777", "0.66")]
    sales = make_token(office, "sales-reports", "sales")
    status, body = call(office, "GET", f"/api/v1/reports/department?{MAY}", sales)
    assert status == 200 and [r["key"] for r in body["rows"]] == ["=HYPERLINK(1)"]


def test_cdr_search_pages(office: Office, token: str) -> None:
    status, first = call(office, "GET", f"/api/v1/cdrs?{MAY}&limit=4", token)
    assert status == 200 and first["total"] == 6 and [c["uniqueid"] for c in first["items"]] == ["r6", "r5", "r4", "r3"]
    _, second = call(office, "GET", f"/api/v1/cdrs?{MAY}&limit=4&offset=4", token)
    assert [c["uniqueid"] for c in second["items"]] == ["r2", "r1"]
    assert first["total_exact"] and first["previous"] is None and second["next"] is None
    _, after = call(office, "GET", f"/api/v1/cdrs?{MAY}&limit=4&after={first['next']}", token)
    assert [c["uniqueid"] for c in after["items"]] == ["r2", "r1"] and after["next"] is None
    _, back = call(office, "GET", f"/api/v1/cdrs?{MAY}&limit=4&before={after['previous']}", token)
    assert [c["uniqueid"] for c in back["items"]] == ["r6", "r5", "r4", "r3"] and back["previous"] is None
    assert back["next"] == first["next"]
    _, split = call(office, "GET", f"/api/v1/cdrs?{MAY}&code=777&disposition=ANSWERED", token)
    r5 = next(c for c in split["items"] if c["uniqueid"] == "r5")
    assert [(s["accountcode"], s["code_source"], s["set_by"]) for s in r5["code_changes"]] == [
        ("12345", "shortcut", ""), ("777", "portal", "root")]


@pytest.mark.parametrize(("path", "field"), [
    (f"/api/v1/reports/colour?{MAY}", "by"), ("/api/v1/reports/trunk?from=May", "from"),
    (f"/api/v1/cdrs?{MAY}&limit=201", "limit"), (f"/api/v1/cdrs?{MAY}&code=1x", "code"),
    (f"/api/v1/cdrs?{MAY}&disposition=gone", "disposition"), (f"/api/v1/cdrs?{MAY}&after=r1", "after"),
    (f"/api/v1/cdrs?{MAY}&before=eyJ4IjoxfQ", "before"),
    ("/api/v1/reports/trunk?to=0001-01-03", "to"), ("/api/v1/cdrs?from=9999-12-31", "from"),
])
def test_errors_name_the_field(office: Office, token: str, path: str, field: str) -> None:
    status, error = call(office, "GET", path, token)
    assert status == 422 and error["field"] == field, error


def test_live_calls_and_setting_a_code_need_a_live_call(office: Office, token: str) -> None:
    assert call(office, "GET", "/api/v1/calls")[0] == 401
    assert call(office, "GET", "/api/v1/calls", token) == (200, {"calls": []})
    status, error = call(office, "POST", "/api/v1/calls/nope/code", token, {"code": "12345"})
    assert status == 404, error
    status, error = call(office, "POST", "/api/v1/calls/nope/code", token, {"code": "12a"})
    assert status == 422 and error["field"] == "code"


HONOLULU = CONFIG + '[billing]\ntimezone = "Pacific/Honolulu"\n'


@pytest.fixture(scope="module")
def honolulu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    yield from office_with_records(tmp_path_factory.mktemp("report-api-hnl"), HONOLULU)


def test_days_and_times_are_the_offices(honolulu: Office) -> None:
    """The records start at 09:00 UTC: 23:00 the day before in Honolulu (UTC-10)."""
    token = make_token(honolulu, "hnl")
    _, report = call(honolulu, "GET", f"/api/v1/reports/extension?{MAY}", token)
    assert {(d["day"], d["key"]) for d in report["days"]} == {("2024-05-01", "1001"), ("2024-05-01", "2001"),
                                                              ("2024-05-02", "1001")}
    _, page = call(honolulu, "GET", f"/api/v1/cdrs?{MAY}", token)
    assert [(c["uniqueid"], c["start"], c["utc_offset"]) for c in page["items"]][-1] == (
        "r3", "2024-05-01 23:00:03", "-10:00")
