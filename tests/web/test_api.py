"""The JSON API against the real server: token authentication, group limits,
errors as JSON naming the field, and schemathesis against the served OpenAPI
document (every documented operation, generated requests, responses checked
against the schema)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.configs import GROUPS, SERVER, USERS

from .client import Office, call, make_token, office_fixture, token_fixture

CONFIG = SERVER + GROUPS + USERS

office = office_fixture("api", CONFIG)
token = token_fixture("billing-system")


def test_a_token_is_needed(office: Office) -> None:
    assert call(office, "GET", "/api/v1/codes") == (401, {"error": "an API token is needed: Authorization: Bearer TOKEN"})
    status, body = call(office, "GET", "/api/v1/codes", token="f" * 64)
    assert status == 401 and body["error"] == "unknown API token"


def test_add_read_change_and_list(office: Office, token: str) -> None:
    status, added = call(office, "POST", "/api/v1/codes", token, {
        "group": "default", "code": "12345", "name": "Acme", "blocked_prefixes": ["900", "1900"],
        "allowed_classes": ["local", "long_distance"], "active_until": "2030-12-31"})
    assert status == 201, added
    assert added["blocked_prefixes"] == ["900", "1900"] and added["active_until"] == "2030-12-31"
    assert call(office, "GET", "/api/v1/codes/default/12345", token) == (200, added)
    status, changed = call(office, "PUT", "/api/v1/codes/default/12345", token, {"name": "Acme Ltd", "active": False})
    assert status == 200 and changed["active"] is False and changed["blocked_prefixes"] == []
    status, page = call(office, "GET", "/api/v1/codes?q=Acme&limit=10", token)
    assert status == 200 and page["total"] == 1 and page["items"] == [changed]
    assert call(office, "POST", "/api/v1/codes", token, {"code": "12345"})[0] == 409


def test_errors_name_the_field(office: Office, token: str) -> None:
    for body, field in (
        ({"code": "1"}, "code"),
        ({"code": "55555", "min_digits": 9, "max_digits": 3}, "min_digits"),
        ({"code": "55555", "blocked_prefixes": ["80x"]}, "blocked_prefixes"),
        ({"code": "55555", "allowed_classes": ["galactic"]}, "allowed_classes"),
        ({"code": "55555", "group": "nope"}, "group"),
        ({"code": "55555", "active_from": "someday"}, "active_from"),
        ({"code": "55555", "colour": "red"}, None),
        ({"code": "55555", "min_digits": "ten"}, "min_digits"),
    ):
        status, error = call(office, "POST", "/api/v1/codes", token, body)
        assert status == 422 and error.get("field") == field, (body, error)
    assert call(office, "POST", "/api/v1/codes", token, raw=b"{not json")[0] == 400
    assert call(office, "GET", "/api/v1/codes?limit=0", token) == (422, {"error": "limit must be 1 to 500", "field": "limit"})


def test_a_group_token_is_limited_to_its_group(office: Office, token: str) -> None:
    sales = make_token(office, "sales-crm", "sales")
    assert call(office, "POST", "/api/v1/codes", token, {"group": "sales", "code": "77777"})[0] == 201
    assert call(office, "POST", "/api/v1/codes", token, {"group": "default", "code": "77778"})[0] == 201
    status, page = call(office, "GET", "/api/v1/codes?q=7777", sales)
    assert status == 200 and [c["code"] for c in page["items"]] == ["77777"]
    assert call(office, "GET", "/api/v1/codes/default/77778", sales)[0] == 403
    assert call(office, "PUT", "/api/v1/codes/default/77778", sales, {"active": False})[0] == 403
    assert call(office, "GET", "/api/v1/codes?group=default", sales)[0] == 403
    status, error = call(office, "POST", "/api/v1/codes", sales, {"group": "default", "code": "77779"})
    assert status == 403 and error["field"] == "group"


def test_api_conforms_to_its_openapi_document(office: Office, token: str) -> None:
    """schemathesis: requests generated from the served document, for every
    operation; each answer checked (no server error, a documented status and
    content type, a body matching its schema).  (Its pytest plugin's
    ``from_fixture`` does not run under pytest 9, so the strategies are driven
    here with hypothesis directly.)"""
    schema = schemathesis.openapi.from_url(office.url + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} == {
        "GET /api/v1/codes", "POST /api/v1/codes", "GET /api/v1/codes/{group}/{code}",
        "PUT /api/v1/codes/{group}/{code}",
        "GET /api/v1/groups", "POST /api/v1/groups", "GET /api/v1/groups/{group}", "PUT /api/v1/groups/{group}",
        "DELETE /api/v1/groups/{group}",
        "GET /api/v1/users", "GET /api/v1/users/{extension}", "PUT /api/v1/users/{extension}",
        "GET /api/v1/reports/{by}", "GET /api/v1/cdrs", "GET /api/v1/calls",
        "POST /api/v1/calls/{ref}/code",
        "GET /api/v1/rate-plans", "POST /api/v1/rate-plans", "GET /api/v1/rate-plans/{name}",
        "PUT /api/v1/rate-plans/{name}", "DELETE /api/v1/rate-plans/{name}", "GET /api/v1/rates", "POST /api/v1/rates",
        "POST /api/v1/rates/import", "GET /api/v1/rates/export", "GET /api/v1/credit-accounts",
        "POST /api/v1/credit-accounts", "GET /api/v1/credit-accounts/{account}",
        "POST /api/v1/credit-accounts/{account}/topups", "GET /api/v1/audit",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def conforms(case: Any) -> None:
            # schema-valid data may still be refused 422 for rules across fields
            # (min_digits above max_digits, active_from after active_until)
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                   excluded_checks=[positive_data_acceptance])

        conforms()
