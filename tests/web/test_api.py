"""The JSON API against the real server: token authentication, group limits,
errors as JSON naming the field, and schemathesis against the served OpenAPI
document (every documented operation, generated requests, responses checked
against the schema)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .client import Office, running_office

CONFIG = """
[server]
data_dir = "{data}"
[groups.default]
mode = "optional"
[groups.sales]
mode = "optional"
[[users]]
extension = "1001"
password = "pw1001"
[[users]]
extension = "1002"
password = "pw1002"
group = "sales"
"""


def make_token(office: Office, name: str, group: str | None = None) -> str:
    args = [sys.executable, "-m", "b2bua.runtime.cli", "api-token", "add", name, "--config",
            str(office.tmp / "b2bua.toml")]
    if group is not None:
        args += ["--group", group]
    proc = subprocess.run(args, cwd=office.tmp, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    yield from running_office(tmp_path_factory.mktemp("api"), CONFIG)


@pytest.fixture(scope="module")
def token(office: Office) -> str:
    return make_token(office, "billing-system")


def call(office: Office, method: str, path: str, token: str | None = None, body: Any = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(office.url + path, data=data, method=method, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as err:
        resp = err
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.status, json.loads(resp.read())


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
        "GET /api/v1/groups", "GET /api/v1/groups/{group}", "PUT /api/v1/groups/{group}",
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
