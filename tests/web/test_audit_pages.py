"""The audit log's page, its CSV export and ``/api/v1/audit`` against the real
server: escaped entries, formula-guarded cells, paging, filters by actor and
action, group administrators and group tokens limited to their group."""

from __future__ import annotations

import csv
import io
import re
from typing import Iterator

import pytest

from b2bua.runtime.audit import AuditLog
from b2bua.runtime.store import open_database

from .client import ROOT_PW, SALES_PW, Office, call, make_token, running_office
from .test_api import CONFIG


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    for office in running_office(tmp_path_factory.mktemp("audit"), CONFIG):
        db = open_database(office.data)
        log = AuditLog(db)
        for n in range(60):  # older entries: a page and more of them
            log.record("root", "code.add", f"***{n:02d}", group="default", address="127.0.0.1", now=1e9 + n)
        log.record("root", "user.change", "<script>alert(1)</script>", group="sales", address="127.0.0.1")
        log.record("root", "credit.create", "=HYPERLINK(\"http://x\")", address="127.0.0.1")
        db.close()
        yield office


def test_the_page_escapes_pages_and_filters(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    first = root.get("/audit").body
    assert "65 entries, page 1 of 2" in first  # and the office's three administrators added with b2bua admin
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first and "<script>alert" not in first
    rows = first[first.index("<tbody>"):]
    assert rows.index("credit.create") < rows.index("user.change") < rows.index("***59")  # newest first
    second = root.get("/audit?page=2").body
    assert "***11" in second and "***00" in second and "***59" not in second
    only = root.get("/audit?action=user.change").body
    assert "1 entry" in only and "***59" not in only and "credit.create</td>" not in only
    assert "0 entries" in root.get("/audit?actor=nobody").body or "No entries" in root.get("/audit?actor=nobody").body
    assert root.get("/audit?action=bogus&page=x").status == 200  # an unknown filter shows everything


def test_the_export_guards_formulas(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    r = root.get("/audit.csv?action=credit.create")
    assert r.status == 200 and r.headers["content-type"][0].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.body)))
    assert [row["object"] for row in rows] == ["'=HYPERLINK(\"http://x\")"]
    assert len(list(csv.DictReader(io.StringIO(root.get("/audit.csv").body)))) >= 62


def test_a_group_administrator_sees_their_groups_entries_only(office: Office) -> None:
    sales = office.client("sales", SALES_PW)
    body = sales.get("/audit").body
    rows = body[body.index("<tbody>"):]
    assert "user.change" in rows and "code.add" not in rows and "credit.create" not in rows
    assert "of group sales" in body
    export = sales.get("/audit.csv").body
    assert "user.change" in export and "credit.create" not in export and "code.add" not in export


def test_the_api_pages_and_limits_a_group_token(office: Office) -> None:
    root, sales = make_token(office, "auditor"), make_token(office, "sales-auditor", "sales")
    status, page = call(office, "GET", "/api/v1/audit?limit=10&offset=0", root)
    assert status == 200 and page["limit"] == 10 and len(page["items"]) == 10 and page["total"] >= 62
    assert set(page["items"][0]) == {"id", "at", "actor", "address", "action", "object", "group"}
    status, page = call(office, "GET", "/api/v1/audit?action=token.add", root)
    assert status == 200 and {e["object"] for e in page["items"]} == {"auditor", "sales-auditor"}
    assert all(e["actor"] == "cli" and e["address"] == "" for e in page["items"])
    status, page = call(office, "GET", "/api/v1/audit?limit=500", sales)
    assert status == 200 and {e["group"] for e in page["items"]} == {"sales"}
    assert call(office, "GET", "/api/v1/audit?limit=0", root) == (422, {"error": "limit: 1 to 500", "field": "limit"})
    status, error = call(office, "GET", "/api/v1/audit?action=nope", root)
    assert status == 422 and error["field"] == "action"
    assert call(office, "GET", "/api/v1/audit")[0] == 401
    assert not re.search(r"[0-9a-f]{64}", str(call(office, "GET", "/api/v1/audit?limit=500", root)[1]))
