"""Reports and record search over HTTP against the real server, on records
written into its billing database through the billing store: the charts' bars
match the records, group administrators see their group only, exports are
guarded, every bad parameter is named."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Iterator

import pytest

from .client import ROOT_PW, SALES_PW, Office
from .report_fixture import office_with_records
from .test_api import CONFIG

MAY = "from=2024-05-01&to=2024-05-03"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    yield from office_with_records(tmp_path_factory.mktemp("reports"), CONFIG)


def bars(html: str, chart: str) -> list[str]:
    m = re.search(rf'<figure class="chart" id="chart-{chart}">(.*?)</figure>', html, re.S)
    assert m is not None, f"no chart {chart}"
    return re.findall(r'<rect class="bar[^>]*><title>([^<]*)</title>', m.group(1))


def test_report_by_code_has_table_and_charts(office: Office) -> None:
    r = office.client("root", ROOT_PW).get(f"/reports?by=account-code&{MAY}")
    assert r.status == 200
    cost = bars(r.body, "cost-per-day")
    assert len(cost) == 5, cost  # day 1: two codes; day 2: 555 only (12345 unanswered); day 3: both split codes
    assert "05-03 777: 0.66 EUR" in " ".join(cost).replace("2024-", "")
    assert len(bars(r.body, "minutes-per-day")) == 5
    assert [t.split(":")[0] for t in bars(r.body, "top")] == ["12345", "777", "555"]
    assert 'role="img"' in r.body and "<desc" in r.body
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td>', r.body)
    assert rows == [("12345", "3"), ("555", "1"), ("777", "3")]
    talk = re.findall(r'<tr><th scope="row">[^<]+</th><td>\d+</td><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td>', r.body)
    assert len(talk) == 3 and all(re.fullmatch(r"\d+\.\d", t) and re.fullmatch(r"\d+\.\d", a) for t, a in talk), talk
    assert "<title id=\"top-title\">Top 3 by cost (EUR)</title>" in r.body


def test_a_group_administrator_sees_their_group_only(office: Office) -> None:
    c = office.client("sales", SALES_PW)
    r = c.get(f"/reports?by=account-code&{MAY}")
    assert len(bars(r.body, "cost-per-day")) == 1 and bars(r.body, "top") == ["555: 0.90 EUR"]
    found = c.get(f"/records?{MAY}")
    assert 'id="found">1 record' in found.body
    assert c.get("/records/r1").status == 404  # another group's record
    assert c.get("/records/r4").status == 200
    exported = json.loads(c.get(f"/records?{MAY}&format=json").body)
    assert [x["uniqueid"] for x in exported] == ["r4"]


def test_exports_are_guarded_and_escaped(office: Office) -> None:
    c = office.client("root", ROOT_PW)
    r = c.get(f"/reports?by=department&{MAY}&format=csv")
    assert r.status == 200 and r.headers["content-type"][0].startswith("text/csv")
    cells = [row[0] for row in csv.reader(io.StringIO(r.body))]
    assert "'=HYPERLINK(1)" in cells and "=HYPERLINK(1)" not in cells
    assert json.loads(c.get(f"/reports?by=department&{MAY}&format=json").body)["by"] == "department"
    page = c.get(f"/reports?by=department&{MAY}").body
    assert "&lt;b&gt;Tax&lt;/b&gt;" in page and "<b>Tax</b>" not in page
    records = c.get(f"/records?{MAY}&format=csv").body
    assert "'=HYPERLINK(1)" in records


def test_record_search_pages_and_filters(office: Office) -> None:
    c = office.client("root", ROOT_PW)
    first = c.get(f"/records?{MAY}&limit=4")
    assert 'id="found">6 records, 1 to 4' in first.body
    assert re.findall(r'href="/records/(r\d)"', first.body) == ["r6", "r5", "r4", "r3"]
    nxt = re.search(r'rel="next" href="([^"]+)"', first.body)
    assert nxt is not None
    second = c.get(nxt.group(1).replace("&amp;", "&"))
    assert re.findall(r'href="/records/(r\d)"', second.body) == ["r2", "r1"] and 'rel="next"' not in second.body
    assert 'id="found">6 records, 5 to 6' in second.body
    prev = re.search(r'rel="prev" href="([^"]+)"', second.body)
    assert prev is not None and 'rel="prev"' not in first.body
    back = c.get(prev.group(1).replace("&amp;", "&"))
    assert re.findall(r'href="/records/(r\d)"', back.body) == ["r6", "r5", "r4", "r3"] and 'rel="prev"' not in back.body
    by_code = c.get(f"/records?{MAY}&code=12345")  # a segment's code counts
    assert re.findall(r'href="/records/(r\d)"', by_code.body) == ["r5", "r3", "r1"]
    busy = c.get(f"/records?{MAY}&disposition=busy&extension=1001")
    assert re.findall(r'href="/records/(r\d)"', busy.body) == ["r3"]
    assert re.findall(r'href="/records/(r\d)"', c.get(f"/records?{MAY}&number=4420794").body)


def test_a_split_call_shows_its_segments(office: Office) -> None:
    r = office.client("root", ROOT_PW).get("/records/r5")
    assert r.status == 200
    body = r.body.split('id="segments"')[1]
    rows = re.findall(r"<tr><td>(\d)</td><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>", body)
    assert rows == [("1", "12345", "", "shortcut"), ("2", "777", "root", "portal")]


@pytest.mark.parametrize(("query", "field"), [
    ("from=2024-13-01", "from"), ("from=2024-05-02&to=2024-05-01", "from"), ("from=2010-01-01&to=2024-01-01", "to"),
    ("by=colour", "by"), ("format=xls", "format"),
])
def test_bad_report_parameters_are_named(office: Office, query: str, field: str) -> None:
    r = office.client("root", ROOT_PW).get(f"/reports?{query}")
    assert r.status == 422 and f"{field}:" in r.body, r.body[-1500:]


@pytest.mark.parametrize(("query", "field"), [
    ("code=12a", "code"), ("number=1;drop", "number"), ("extension=<x>", "extension"),
    ("disposition=lost", "disposition"), ("limit=100000", "limit"), ("offset=-1", "offset"),
])
def test_bad_search_parameters_are_named(office: Office, query: str, field: str) -> None:
    r = office.client("root", ROOT_PW).get(f"/records?{MAY}&{query}")
    assert r.status == 422 and f"{field}:" in r.body, r.body[-1500:]


def test_record_exports_stream_whole_documents(office: Office) -> None:
    c = office.client("root", ROOT_PW)
    assert [r["uniqueid"] for r in json.loads(c.get(f"/records?{MAY}&format=json").body)] == [
        "r6", "r5", "r4", "r3", "r2", "r1"]
    assert json.loads(c.get(f"/records?{MAY}&format=json&code=99999").body) == []
    rows = list(csv.reader(io.StringIO(c.get(f"/records?{MAY}&format=csv&code=99999").body)))
    assert len(rows) == 1 and rows[0][0] == "uniqueid" and rows[0][-1] == "utc_offset"
