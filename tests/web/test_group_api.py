"""The groups' and users' code settings through the JSON API against the real
server: read and change, errors as JSON naming the field, a group's token
limited to its group (the OpenAPI conformance is in test_api)."""

from __future__ import annotations

from tests.configs import SERVER
from tests.test_code_settings import TOML

from .client import Office, call, make_token, office_fixture

CONFIG = SERVER + TOML

office = office_fixture("group-api", CONFIG)


def test_read_and_change_a_group(office: Office) -> None:
    token = make_token(office, "admin-tool")
    status, listing = call(office, "GET", "/api/v1/groups", token)
    assert status == 200 and [g["group"] for g in listing["items"]] == ["default", "sales"]
    status, group = call(office, "GET", "/api/v1/groups/default", token)
    assert status == 200 and group["settings"]["code_length"] == 5
    settings = group["settings"] | {"code_length": 4, "prompt": "tone"}
    status, changed = call(office, "PUT", "/api/v1/groups/default", token, settings)
    assert status == 200 and changed["settings"]["code_length"] == 4 and changed["changed_by"] == "token:admin-tool"
    assert call(office, "GET", "/api/v1/groups/default", token)[1]["settings"] == changed["settings"]
    for body, field, why in (
        (settings | {"code_length": 40}, "code_length", "code_length must be 2 to 14"),
        (settings | {"code_length": "4"}, "code_length", "Expected `int | null`"),
        (settings | {"mode": "fac", "fac": ""}, "mode", "mode 'fac' needs a fac"),
        (settings | {"required_classes": ["lunar"]}, "required_classes", "Invalid enum value 'lunar'"),
        (settings | {"prompt_attempts": 0}, "prompt_attempts", "prompt_attempts must be 1 to 10"),
    ):
        status, error = call(office, "PUT", "/api/v1/groups/default", token, body)
        assert status == 422 and error["field"] == field and why in error["error"], error
    assert call(office, "PUT", "/api/v1/groups/default", token, raw=b"{")[0] == 400
    assert call(office, "GET", "/api/v1/groups/nowhere", token)[0] == 404


def test_read_and_change_a_user(office: Office) -> None:
    token = make_token(office, "crm")
    status, users = call(office, "GET", "/api/v1/users", token)
    assert status == 200 and [(u["extension"], u["assigned_code"]) for u in users["items"]] == [
        ("1001", None), ("1002", "4321")]
    status, error = call(office, "PUT", "/api/v1/users/1001", token, {"assigned_code": "55555"})
    assert status == 422 and error["field"] == "assigned_code" and "no code 55555 in group 'default'" in error["error"]
    status, error = call(office, "PUT", "/api/v1/users/1001", token, {"mode": "sometimes"})
    assert status == 422 and error["field"] == "mode"
    assert call(office, "POST", "/api/v1/codes", token, {"group": "default", "code": "55555"})[0] == 201
    status, user = call(office, "PUT", "/api/v1/users/1001", token, {"mode": "mandatory", "assigned_code": "55555"})
    assert status == 200 and (user["mode"], user["assigned_code"], user["group"]) == ("mandatory", "55555", "default")
    assert call(office, "GET", "/api/v1/users/1999", token)[0] == 404


def test_a_group_token_is_limited_to_its_group(office: Office) -> None:
    sales = make_token(office, "sales-tool", group="sales")
    status, listing = call(office, "GET", "/api/v1/groups", sales)
    assert status == 200 and [g["group"] for g in listing["items"]] == ["sales"]
    assert call(office, "GET", "/api/v1/groups/default", sales)[0] == 403
    status, error = call(office, "PUT", "/api/v1/groups/default", sales, {"mode": "off"})
    assert status == 403 and error["field"] == "group"
    assert [u["extension"] for u in call(office, "GET", "/api/v1/users", sales)[1]["items"]] == ["1002"]
    assert call(office, "GET", "/api/v1/users?group=default", sales)[0] == 403
    assert call(office, "PUT", "/api/v1/users/1001", sales, {"mode": "off"})[0] == 403
    status, group = call(office, "PUT", "/api/v1/groups/sales", sales, {"mode": "mandatory"})
    assert status == 200 and group["settings"]["mode"] == "mandatory"
    assert call(office, "GET", "/api/v1/groups/default", make_token(office, "root-tool"))[1]["settings"]["mode"] == (
        "classes")
