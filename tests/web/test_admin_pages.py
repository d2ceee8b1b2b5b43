"""Administrators, API tokens and the audit log over HTTP against the real
server (no browser): system administrators only on /admins, CSRF on every
form, each field's error named, the last system administrator kept, a removed
administrator's session ended, a token shown once and never logged, group
administrators limited to their group's tokens and entries, and an audit entry
for each kind of change (portal, API, command line)."""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.configs import SERVER
from tests.test_code_settings import TOML

from .client import ROOT_PW, SALES_PW, Client, Office, call, make_token, office_fixture
from .test_rates_api import BILLING

# the rates office's server and billing, with the groups and users of the settings tests
CONFIG = SERVER + BILLING + TOML
NEW_PW = "a new password 1"

office = office_fixture("admins", CONFIG)


def entries(office: Office, *args: str) -> list[dict[str, str]]:
    """The audit log as ``b2bua audit --csv`` prints it."""
    proc = subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", "audit", "--csv", "--limit", "500",
                           "--config", str(office.tmp / "b2bua.toml"), *args],
                          cwd=office.tmp, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def has(log: list[dict[str, str]], actor: str, action: str, obj: str, group: str = "") -> bool:
    """Whether the audit log (``entries``: one CLI run serves several checks) holds this change."""
    return any(e["actor"] == actor and e["action"] == action and e["object"] == obj and e["group"] == group
               and (actor == "cli") == (e["address"] == "") for e in log)


def test_group_administrators_may_not_manage_administrators(office: Office) -> None:
    sales = office.client("sales", SALES_PW)
    csrf = sales.get("/codes").csrf
    assert 'href="/admins"' not in sales.get("/codes").body
    assert sales.get("/admins").status == 403
    assert sales.post("/admins", {"csrf": csrf, "name": "x", "role": "system", "password": NEW_PW,
                                  "password2": NEW_PW}).status == 403
    assert sales.post("/admins/root/remove", {"csrf": csrf}).status == 403
    assert sales.post("/admins/root/password", {"csrf": csrf, "password": NEW_PW, "password2": NEW_PW}).status == 403
    office.client("root", ROOT_PW)  # root's password unchanged


def test_every_form_needs_its_csrf_token(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    for path, fields in (("/admins", {"name": "nocsrf", "role": "system", "password": NEW_PW, "password2": NEW_PW}),
                         ("/admins/sales/remove", {}), ("/admins/sales/password", {"password": NEW_PW,
                                                                                   "password2": NEW_PW}),
                         ("/account", {"current": ROOT_PW, "password": NEW_PW, "password2": NEW_PW}),
                         ("/tokens", {"name": "nocsrf", "role": "system"}), ("/tokens/x/remove", {})):
        for token in ({}, {"csrf": "0" * 64}):
            r = root.post(path, fields | token)
            assert r.status == 403 and "CSRF" in html.unescape(r.body), path
    names = root.get("/admins").body
    assert "nocsrf" not in names and "<td>sales</td>" in names
    office.client("sales", SALES_PW)


@pytest.mark.parametrize("fields, field, why", [
    ({"name": "bad name"}, "name", "name: 1 to 64"),
    ({"name": "<b>x</b>"}, "name", "name: 1 to 64"),
    ({"name": "root"}, "name", "name: administrator 'root' exists already"),
    ({"group": "nope"}, "group", "group: one of default, sales"),
    ({"password": "short", "password2": "short"}, "password", "password: the password must have at least 10"),
    ({"password2": "something else 1"}, "password2", "password2: the two passwords differ"),
])
def test_add_errors_name_the_field(office: Office, fields: dict[str, str], field: str, why: str) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/admins").csrf
    good = {"csrf": csrf, "name": "newbie", "role": "group", "group": "sales", "password": NEW_PW,
            "password2": NEW_PW}
    r = root.post("/admins", good | fields)
    assert r.status == 400 and why in html.unescape(r.body), r.body[:3000]
    assert re.search(f'id="{field}" name="{field}"[^>]*aria-invalid="true"', r.body)
    assert "&lt;b&gt;" in r.body or "<b>x" not in r.body  # the name typed comes back escaped
    assert "<td>newbie</td>" not in root.get("/admins").body


def test_add_set_password_and_remove_an_administrator(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/admins").csrf
    r = root.post("/admins", {"csrf": csrf, "name": "carol", "role": "group", "group": "sales",
                              "password": NEW_PW, "password2": NEW_PW})
    assert r.status == 200 and r.url.endswith("/admins") and "Added administrator carol" in r.body
    assert re.search(r"<td>carol</td><td>group</td><td>sales</td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", r.body)
    carol = office.client("carol", NEW_PW)
    assert "/groups/sales" in carol.get("/groups").body and "/groups/default" not in carol.get("/groups").body
    r = root.post("/admins/carol/password", {"csrf": csrf, "password": "carols second 1",
                                             "password2": "carols second 1"})
    assert r.status == 200 and "Set the password of carol" in r.body
    assert Client(office.url).login("carol", NEW_PW).status == 401
    carol = office.client("carol", "carols second 1")
    assert root.post("/admins/carol/remove", {"csrf": csrf}).url.endswith("/admins")
    assert carol.get("/codes").url.endswith("/login")  # the session ended at its next request
    audit = entries(office)
    assert has(audit, "root", "admin.add", "carol", "sales") and has(audit, "root", "admin.remove", "carol", "sales")
    assert has(audit, "root", "admin.password", "carol", "sales")
    log = office.server.output()
    assert NEW_PW not in log and "carols second 1" not in log
    assert all(NEW_PW not in str(e) for e in audit)


def test_not_yourself_and_another_system_administrator_removable(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/admins").csrf
    r = root.post("/admins/root/remove", {"csrf": csrf})
    assert r.status == 400 and "name: you cannot remove yourself" in r.body
    root.post("/admins", {"csrf": csrf, "name": "deputy", "role": "system", "password": NEW_PW, "password2": NEW_PW})
    deputy = office.client("deputy", NEW_PW)
    r = deputy.post("/admins/root/remove", {"csrf": deputy.get("/admins").csrf})  # deputy remains
    assert r.status == 200 and "Removed administrator root" in r.body
    subprocess.run([sys.executable, "-m", "b2bua.runtime.cli", "admin", "add", "root", "--password-stdin", "--config",
                    str(office.tmp / "b2bua.toml")],
                   input=ROOT_PW + "\n", cwd=office.tmp, capture_output=True, text=True, timeout=60, check=True)
    root = office.client("root", ROOT_PW)
    assert root.post("/admins/deputy/remove", {"csrf": root.get("/admins").csrf}).status == 200
    assert "<td>root</td><td>system</td>" in root.get("/admins").body
    audit = entries(office)
    assert has(audit, "cli", "admin.add", "root") and has(audit, "deputy", "admin.remove", "root")


def test_own_password_needs_the_current_one(office: Office) -> None:
    sales = office.client("sales", SALES_PW)
    csrf = sales.get("/account").csrf
    r = sales.post("/account", {"csrf": csrf, "current": "not the one 1", "password": NEW_PW, "password2": NEW_PW})
    assert r.status == 400 and "current: this is not your current password" in r.body
    assert 'id="current" name="current"' in r.body and 'aria-invalid="true"' in r.body
    r = sales.post("/account", {"csrf": csrf, "current": SALES_PW, "password": "short", "password2": "short"})
    assert r.status == 400 and "password: the password must have at least 10" in r.body
    r = sales.post("/account", {"csrf": csrf, "current": SALES_PW, "password": NEW_PW, "password2": NEW_PW})
    assert r.status == 200 and "Your password is changed" in r.body
    assert Client(office.url).login("sales", SALES_PW).status == 401
    sales = office.client("sales", NEW_PW)
    csrf = sales.get("/account").csrf
    sales.post("/account", {"csrf": csrf, "current": NEW_PW, "password": SALES_PW, "password2": SALES_PW})
    office.client("sales", SALES_PW)
    assert has(entries(office), "sales", "admin.password", "sales", "sales")


def test_a_token_is_shown_once_and_works(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/tokens").csrf
    r = root.post("/tokens", {"csrf": csrf, "name": "crm", "role": "system"})
    assert r.status == 200 and "shown this once" in r.body
    token = re.search(r'id="token" value="([0-9a-f]{64})"', r.body)
    assert token is not None
    assert call(office, "GET", "/api/v1/codes", token.group(1))[0] == 200
    listing = root.get("/tokens").body
    assert "<td>crm</td>" in listing and token.group(1) not in listing
    assert token.group(1) not in office.server.output()
    assert all(token.group(1) not in str(e) for e in entries(office))
    r = root.post("/tokens", {"csrf": csrf, "name": "crm", "role": "system"})
    assert r.status == 400 and "name: API token &#39;crm&#39; exists already" in r.body
    assert root.post("/tokens/crm/remove", {"csrf": csrf}).url.endswith("/tokens")
    assert call(office, "GET", "/api/v1/codes", token.group(1))[0] == 401
    audit = entries(office)
    assert has(audit, "root", "token.add", "crm") and has(audit, "root", "token.remove", "crm")


def test_group_administrators_manage_their_groups_tokens_only(office: Office) -> None:
    make_token(office, "default-app", "default")
    sales = office.client("sales", SALES_PW)
    csrf = sales.get("/tokens").csrf
    for fields in ({"name": "mine", "role": "system"}, {"name": "mine", "role": "group", "group": "default"}):
        r = sales.post("/tokens", {"csrf": csrf} | fields)
        assert r.status in (400, 403), fields
    assert "default-app" not in sales.get("/tokens").body
    assert sales.post("/tokens/default-app/remove", {"csrf": csrf}).status == 403
    r = sales.post("/tokens", {"csrf": csrf, "name": "sales-app", "role": "group", "group": "sales"})
    assert r.status == 200 and "shown this once" in r.body
    listing = sales.get("/tokens").body
    assert "<td>sales-app</td>" in listing and "default-app" not in listing
    audit = entries(office)
    assert has(audit, "sales", "token.add", "sales-app", "sales")
    assert has(audit, "cli", "token.add", "default-app", "default")
    assert sales.post("/tokens/sales-app/remove", {"csrf": csrf}).status == 200
    assert "default-app" in office.client("root", ROOT_PW).get("/tokens").body


def test_each_kind_of_change_is_audited(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/codes").csrf
    root.post("/codes/new", {"csrf": csrf, "group": "sales", "code": "55501", "name": "Acme", "active": "yes"})
    root.post("/codes/sales/55501/active", {"csrf": csrf, "active": "no"})
    root.post("/users/1002", {"csrf": csrf, "mode": "off", "assigned_code": ""})
    root.post("/users/1002/reset", {"csrf": csrf})
    root.post("/groups/default/reset", {"csrf": csrf})
    root.post("/credit/new", {"csrf": csrf, "account": "acme", "currency": "EUR", "balance": "5"})
    root.post("/credit/acme", {"csrf": csrf, "amount": "2.50", "note": "top-up"})
    r = root.upload("/rates/import", {"csrf": csrf}, "rates.csv", b"plan,prefix,price_per_minute\noffice,44,0.05\n")
    assert r.status == 200 and "Imported 1 rate" in r.body, r.body[:3000]
    api = make_token(office, "billing")
    assert call(office, "POST", "/api/v1/codes", api, {"group": "default", "code": "66601"})[0] == 201
    assert call(office, "PUT", "/api/v1/groups/sales", api, {"mode": "optional"})[0] in (200, 422)
    assert call(office, "POST", "/api/v1/rate-plans", api, {"name": "apiplan", "currency": "USD"})[0] == 201
    assert call(office, "PUT", "/api/v1/rate-plans/apiplan", api, {"currency": "EUR"})[0] == 200
    delete = urllib.request.Request(office.url + "/api/v1/rate-plans/apiplan", method="DELETE",
                                    headers={"Authorization": f"Bearer {api}"})
    assert urllib.request.urlopen(delete, timeout=10).status == 204
    audit = entries(office)
    for actor, action, obj, group in (
        ("root", "code.add", "***01", "sales"), ("root", "code.disable", "***01", "sales"),
        ("root", "user.change", "1002", "sales"), ("root", "user.reset", "1002", "sales"),
        ("root", "group.reset", "default", "default"), ("root", "credit.create", "acme", ""),
        ("root", "credit.change", "acme +2.50", ""), ("root", "rates.import", "1 rates", ""),
        ("token:billing", "code.add", "***01", "default"), ("token:billing", "plan.add", "apiplan", ""),
        ("token:billing", "plan.change", "apiplan", ""), ("token:billing", "plan.remove", "apiplan", ""),
    ):
        assert has(audit, actor, action, obj, group), (actor, action, obj, audit[:5])
    assert all("55501" not in str(e) and "66601" not in str(e) for e in audit)  # codes masked
