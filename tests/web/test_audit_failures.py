"""An audit log that refuses writes (a trigger on the real SQLite file, as a full
disk or a locked table would): a change to the server's own database is undone
with its entry and answered 503 "not saved"; a change to the billing database
stands, is logged at ERROR (no secret) and the answer says it was not audited."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from b2bua.runtime.audit import NOT_AUDITED
from b2bua.runtime.store import DB_NAME

from .client import ROOT_PW, Office, running_office
from .test_api import call, make_token
from .test_rates_api import CONFIG


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    yield from running_office(tmp_path_factory.mktemp("audit-failures"), CONFIG)


def refuse_audit(office: Office, on: bool) -> None:
    db = sqlite3.connect(office.data / DB_NAME)
    try:
        if on:
            db.execute("CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        else:
            db.execute("DROP TRIGGER audit_full")
        db.commit()
    finally:
        db.close()


def request(office: Office, method: str, path: str, token: str, body: Any) -> tuple[int, Any, str | None]:
    req = urllib.request.Request(office.url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        resp = urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as err:
        resp = err
    return resp.status, json.loads(resp.read()), resp.headers.get("X-Audit-Failed")


def test_changes_when_the_audit_log_cannot_be_written(office: Office) -> None:
    token = make_token(office, "finance")
    assert call(office, "POST", "/api/v1/credit-accounts", token, {"account": "acme", "balance": "1"})[0] == 201
    refuse_audit(office, True)
    try:
        # the billing database's change stands, and the answer says it is not audited
        status, acct, warning = request(office, "POST", "/api/v1/credit-accounts/acme/topups", token,
                                        {"amount": "2.50", "note": "invoice 9"})
        assert status == 200 and acct["balance"] == "3.50" and warning == NOT_AUDITED
        assert call(office, "GET", "/api/v1/credit-accounts/acme", token)[1]["balance"] == "3.50"
        # the server's own database: the change is undone with its entry
        status, err, _ = request(office, "PUT", "/api/v1/groups/sales", token, {"mode": "mandatory"})
        assert status == 503 and err["error"].startswith("Not saved")
        assert call(office, "GET", "/api/v1/groups/sales", token)[1]["settings"]["mode"] == "optional"
        # the portal: a plan added (billing database) with the notice; a group change refused
        c = office.client("root", ROOT_PW)
        page = c.get("/rates")
        reply = c.post("/rates/plans", {"csrf": page.csrf, "name": "late", "currency": "EUR"})
        assert reply.status == 200 and "Added rate plan late (EUR)." in reply.body and NOT_AUDITED in reply.body
        form = c.get("/groups/sales")
        reply = c.post("/groups/sales", {"csrf": form.csrf, "mode": "mandatory", "validation": "list",
                                         "prompt": "off", "prompt_answer": "no", "prompt_attempts": "3",
                                         "post_call_window": "0", "auth_level": "0"})
        assert reply.status == 503 and "Not saved" in reply.body
    finally:
        refuse_audit(office, False)
    out = office.server.output()
    assert "ERROR b2bua.portal: audit log: the entry of token:finance's credit.change" in out
    assert "ERROR b2bua.portal: audit log: root's group.change of 'sales' not saved" in out
    assert token not in out
    assert call(office, "GET", "/api/v1/groups/sales", token)[1]["settings"]["mode"] == "optional"
