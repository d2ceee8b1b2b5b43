"""The groups' and users' code-settings pages over HTTP against the real server
(no browser): each field validated with a message naming it, CSRF, group
administrators limited to their group, escaping, back to the file's values."""

from __future__ import annotations

import html

from b2bua.runtime.code_settings import group_to_form
from b2bua.runtime.config import loads
from tests.configs import SERVER
from tests.test_code_settings import TOML

from .client import ROOT_PW, SALES_PW, Office, office_fixture

CONFIG = SERVER + TOML  # groups default and sales, users 1001 and 1002
DEFAULT = group_to_form(loads(TOML).groups["default"])

office = office_fixture("groups", CONFIG)


def test_each_field_is_validated_by_name(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    csrf = root.get("/groups/default").csrf
    for field, value, why in (
        ("code_length", "20", "code_length must be 2 to 14"),
        ("code_length", "four", "code_length must be a whole number"),
        ("mode", "fac", "mode 'fac' needs a fac"),
        ("required_classes", "long_distance,lunar", "required_classes"),
        ("required_prefixes", "1900,9x", "required_prefixes: '9x' must be digits"),
        ("fac", "88", "fac must be * or # then digits"),
        ("prompt", "loud", "prompt"),
        ("prompt_attempts", "11", "prompt_attempts must be 1 to 10"),
        ("midcall_vsc", "*8#9", "midcall_vsc"),
    ):
        fields = DEFAULT | {"fac": ""} if value == "fac" else DEFAULT
        r = root.post("/groups/default", {**fields, field: value, "csrf": csrf})
        assert r.status == 400, (field, r.status)
        assert why in html.unescape(r.body), (field, r.body[:3000])
        assert f'id="{field}" name="{field}"' in r.body and 'aria-invalid="true"' in r.body
    r = root.post("/groups/default", {**DEFAULT, "code_length": "4", "csrf": csrf})
    assert r.status == 200 and r.url.endswith("/groups") and "Saved the code settings of group default" in r.body
    assert "classes; 4 digits" in r.body
    form = root.get("/groups/default").body
    assert 'value="4"' in form and 'action="/groups/default/reset"' in form
    r = root.post("/groups/default/reset", {"csrf": csrf})
    assert "classes; 5 digits" in r.body and "configuration file" in r.body


def test_a_form_without_its_csrf_token_is_refused(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    assert root.post("/groups/default", {**DEFAULT, "code_length": "3"}).status == 403
    assert root.post("/users/1001", {"mode": "off"}).status == 403
    assert "classes; 5 digits" in root.get("/groups").body


def test_group_admin_sees_and_changes_only_their_group(office: Office) -> None:
    sales = office.client("sales", SALES_PW)
    listing = sales.get("/groups").body
    assert "/groups/sales" in listing and "/groups/default" not in listing
    csrf = sales.get("/groups/sales").csrf
    assert sales.get("/groups/default").status == 403
    r = sales.post("/groups/default", {**DEFAULT, "code_length": "3", "csrf": csrf})
    assert r.status == 403 and "group sales only" in r.body
    assert sales.post("/groups/default/reset", {"csrf": csrf}).status == 403
    users = sales.get("/users").body
    assert "/users/1002" in users and "/users/1001" not in users
    assert "Bob &lt;b&gt;Sales&lt;/b&gt;" in users  # escaped, not markup
    assert sales.get("/users?group=default").status == 403
    assert sales.get("/users/1001").status == 403
    assert sales.post("/users/1001", {"mode": "off", "assigned_code": "", "csrf": csrf}).status == 403
    root = office.client("root", ROOT_PW)
    assert "classes; 5 digits" in root.get("/groups").body  # unchanged


def test_a_users_assigned_code_must_exist(office: Office) -> None:
    root = office.client("root", ROOT_PW)
    form = root.get("/users/1001")
    csrf = form.csrf
    assert 'action="/users/1001/reset"' in form.body
    r = root.post("/users/1001", {"mode": "sometimes", "assigned_code": "", "csrf": csrf})
    assert r.status == 400 and "mode must be one of" in r.body
    r = root.post("/users/1001", {"mode": "", "assigned_code": "12x", "csrf": csrf})
    assert r.status == 400 and "assigned_code must be" in r.body
    r = root.post("/users/1001", {"mode": "mandatory", "assigned_code": "24680", "csrf": csrf})
    assert r.status == 400 and "no code 24680 in group" in html.unescape(r.body)
    r = root.post("/codes/new", {"group": "default", "code": "24680", "csrf": csrf})
    assert r.status == 200
    r = root.post("/users/1001", {"mode": "mandatory", "assigned_code": "24680", "csrf": csrf})
    assert r.status == 200 and "Saved the code settings of user 1001" in r.body
    row = r.body[r.body.index("/users/1001"):]
    assert "mandatory" in row[:400] and "24680" in row[:400]
    r = root.post("/users/1001/reset", {"csrf": csrf})
    assert "configuration file" in r.body and "24680" not in r.body
