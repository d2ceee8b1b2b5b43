"""JSON API for integration (billing systems, CTI clients): account codes, the
same operations as the portal and ``b2bua codes``, on the same table.

Authentication: ``Authorization: Bearer TOKEN``, a token made with ``b2bua
api-token add NAME [--group G]`` (stored as its SHA-256: tokens are 32 random
bytes, nothing to guess); a token of a group may use only that group's codes
(403).  No cookies, so no CSRF: a browser cannot send the header cross-site.

Errors are JSON: ``{"error": "why", "field": "min_digits"}`` (``field`` when one
field is at fault), with 400 (malformed JSON), 401, 403, 404, 409 (exists
already), 413, 422 (a field's value).  The OpenAPI 3.1 document is served at
``/api/openapi.json``.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import TYPE_CHECKING, Annotated, Any, Awaitable, Callable, Sequence

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.runtime.admins import Admin
from b2bua.runtime.audit import NOT_AUDITED, NotSaved
from b2bua.runtime.codes import COLUMNS, CodeError, code_from_fields, code_to_fields
from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS, mask_code
from dialplan.numbering import CallClass

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.api")
MAX_LIMIT = 500
AUDIT_HEADER = "X-Audit-Failed"  # on an answer whose change stands without its audit-log entry

Text = Annotated[str, msgspec.Meta(max_length=1000)]
# digits only, as dialplan.codes.AccountCode checks them
Digits = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,18}$")]
Items = Annotated[list[Digits], msgspec.Meta(max_length=1000)]
Classes = Annotated[list[CallClass], msgspec.Meta(max_length=20)]
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
CodeText = Annotated[str, msgspec.Meta(pattern=f"^[0-9]{{{MIN_CODE_DIGITS},{MAX_CODE_DIGITS}}}$")]
DigitCount = Annotated[int, msgspec.Meta(ge=1, le=18)]


class CodeFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An account code's settings (as in the CSV: ``b2bua codes import``)."""

    name: Text = ""
    department: Text = ""
    active: bool = True
    active_from: datetime.date | None = None
    active_until: datetime.date | None = None
    # shortest and longest number the code may call (min_digits <= max_digits)
    min_digits: DigitCount | None = None
    max_digits: DigitCount | None = None
    blocked_prefixes: Items = []
    allowed_numbers: Items = []
    allowed_prefixes: Items = []
    allowed_classes: Classes = []
    rate_plan: Text | None = None
    credit_account: Text | None = None


class NewCode(CodeFields, kw_only=True, forbid_unknown_fields=True):
    group: GroupName = "default"
    code: CodeText


class Code(CodeFields, kw_only=True):
    group: str
    code: str


class CodePage(msgspec.Struct, kw_only=True):
    total: int
    items: list[Code]


class ApiError(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    field: str | None = None


class Problem(Exception):
    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


def json_reply(value: Any, status: int = 200) -> Response:
    """``value`` (a msgspec Struct, list or dict) as a JSON response."""
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def _problem(p: Problem) -> Response:
    return json_reply(ApiError(error=p.error, field=p.field), p.status)


def _text_fields(body: CodeFields, code: str) -> dict[str, str | None]:
    """The CSV-style fields codes.py validates (one validation path for all)."""
    fields: dict[str, str | None] = {}
    for name in COLUMNS:
        value = code if name == "code" else getattr(body, name)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, (datetime.date, int)):
            value = str(value)
        fields[name] = value
    return fields


def _out(group: str, fields: dict[str, str]) -> Code:
    def items(v: str) -> list[str]:
        return [x for x in v.split(",") if x]

    return Code(
        group=group, code=fields["code"], name=fields["name"], department=fields["department"],
        active=fields["active"] == "yes",
        active_from=datetime.date.fromisoformat(fields["active_from"]) if fields["active_from"] else None,
        active_until=datetime.date.fromisoformat(fields["active_until"]) if fields["active_until"] else None,
        min_digits=int(fields["min_digits"]) if fields["min_digits"] else None,
        max_digits=int(fields["max_digits"]) if fields["max_digits"] else None,
        blocked_prefixes=items(fields["blocked_prefixes"]), allowed_numbers=items(fields["allowed_numbers"]),
        allowed_prefixes=items(fields["allowed_prefixes"]),
        allowed_classes=[CallClass(c) for c in items(fields["allowed_classes"])],
        rate_plan=fields["rate_plan"] or None, credit_account=fields["credit_account"] or None,
    )


_PATH = re.compile(r"at `\$\.([a-z_]+)|missing required field `([a-z_]+)`")


def decode_body(data: bytes, kind: type[Any]) -> Any:
    """A request body decoded as JSON of type ``kind``: a :class:`Problem` 400
    for malformed JSON, 422 naming the field for a value of the wrong kind."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as err:
        m = _PATH.search(str(err))
        raise Problem(422, str(err), (m.group(1) or m.group(2)) if m else None) from None
    except msgspec.DecodeError as err:
        raise Problem(400, f"malformed JSON: {err}") from None


async def client(portal: Portal, request: Request) -> Admin:
    """The API client of a request's token (401 without a known one)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "an API token is needed: Authorization: Bearer TOKEN")
    who = await portal.db.run(portal.db.admins.token_client, token.strip())
    if who is None:
        raise Problem(401, "unknown API token")
    return who


Handler = Callable[[Request, Admin], Awaitable[Response]]


def endpoint(portal: Portal, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An API endpoint: ``handler(request, client)`` for a known token; a
    :class:`Problem` (or a code's CodeError, 422) answered as JSON."""

    async def run(request: Request) -> Response:
        try:
            response = await handler(request, await client(portal, request))
            if getattr(request.state, "unaudited", False):
                response.headers[AUDIT_HEADER] = NOT_AUDITED
            return response
        except Problem as p:
            return _problem(p)
        except CodeError as err:
            return _problem(Problem(422, str(err), err.field))
        except NotSaved as err:
            return _problem(Problem(503, str(err)))

    return run


def routes(portal: Portal, more: Sequence[Document] = ()) -> list[Route]:
    """The codes' API, and the OpenAPI document of it and of ``more`` (other
    modules' paths and schemas)."""
    db = portal.db
    document = openapi(portal.groups_at_start, more)

    async def known(group: str) -> None:
        groups = await portal.group_names()
        if group not in groups:
            raise Problem(422, f"unknown group {group!r} (one of {', '.join(groups)})", "group")

    def allowed(who: Admin, group: str) -> None:
        if not who.may_manage(group):
            raise Problem(403, f"this token may use the codes of group {who.group} only", "group")

    def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return endpoint(portal, handler)

    async def list_codes(request: Request, who: Admin) -> Response:
        params = request.query_params
        group = params.get("group", "")
        if group:
            allowed(who, group)
        q = params.get("q", "")[:100]
        offset, limit = params.get("offset", "0"), params.get("limit", "50")
        if not offset.isdigit() or int(offset) > 10**9:
            raise Problem(422, "offset must be a whole number", "offset")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise Problem(422, f"limit must be 1 to {MAX_LIMIT}", "limit")
        scope = [group] if group else ([who.group] if who.group is not None else None)
        total, rows = await db.run(db.codes.search, scope, q, offset=int(offset), limit=int(limit))
        return json_reply(CodePage(total=total, items=[_out(g, code_to_fields(c)) for g, c in rows]))

    async def add_code(request: Request, who: Admin) -> Response:
        body: NewCode = decode_body(await request.body(), NewCode)
        allowed(who, body.group)
        await known(body.group)
        code = code_from_fields(_text_fields(body, body.code))
        try:
            await portal.audited(portal.entry(request, who.name, "code.add", mask_code(body.code), body.group),
                                 db.codes.add, body.group, code)
        except CodeError as err:
            raise Problem(409, str(err), "code") from None
        log.info("api: %s added a code to group %s", who.name, body.group)
        return json_reply(_out(body.group, code_to_fields(code)), 201)

    async def one_code(request: Request, who: Admin) -> Response:
        group, number = request.path_params["group"], request.path_params["code"]
        allowed(who, group)
        current = await db.run(db.codes.get, group, number)
        if current is None:
            raise Problem(404, f"no code {number} in group {group}")
        if request.method == "GET":
            return json_reply(_out(group, code_to_fields(current)))
        body: CodeFields = decode_body(await request.body(), CodeFields)
        code = code_from_fields(_text_fields(body, number))
        await portal.audited(portal.entry(request, who.name, "code.change", mask_code(number), group),
                             db.codes.add, group, code, replace=True)
        log.info("api: %s changed a code of group %s", who.name, group)
        return json_reply(_out(group, code_to_fields(code)))

    async def serve_openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    return [
        Route("/api/openapi.json", serve_openapi, methods=["GET"]),
        Route("/api/v1/codes", api(list_codes), methods=["GET"]),
        Route("/api/v1/codes", api(add_code), methods=["POST"]),
        Route("/api/v1/codes/{group}/{code}", api(one_code), methods=["GET", "PUT"]),
    ]


def schema_ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_reply(why: str) -> dict[str, Any]:
    """An OpenAPI response: an ApiError."""
    return {"description": why, "content": {"application/json": {"schema": schema_ref("ApiError")}}}


def ok_reply(why: str, name: str) -> dict[str, Any]:
    """An OpenAPI response: the schema ``name``."""
    return {"description": why, "content": {"application/json": {"schema": schema_ref(name)}}}


Document = tuple[dict[str, Any], dict[str, Any]]  # (paths, component schemas) of the OpenAPI document


def openapi(groups: list[str], more: Sequence[Document] = ()) -> bytes:
    """The OpenAPI 3.1 document (the groups are this server's configured ones)."""
    _, components = msgspec.json.schema_components(
        [NewCode, CodeFields, Code, CodePage, ApiError], ref_template="#/components/schemas/{name}"
    )

    common = {"401": error_reply("no or unknown token"), "403": error_reply("another group's codes")}
    components["NewCode"]["properties"]["group"]["enum"] = groups
    path_params = [
        {"name": "group", "in": "path", "required": True, "schema": {"type": "string", "enum": groups}},
        {"name": "code", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": f"^[0-9]{{{MIN_CODE_DIGITS},{MAX_CODE_DIGITS}}}$"}},
    ]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "b2bua API", "version": "1"},
        "security": [{"token": []}],
        "paths": {
            "/api/v1/codes": {
                "get": {
                    "summary": "Account codes (search, paging)",
                    "parameters": [
                        {"name": "group", "in": "query", "schema": {"type": "string", "enum": groups}},
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
                    ],
                    "responses": {"200": ok_reply("a page of codes", "CodePage"), "422": error_reply("a bad parameter"),
                                  **common},
                },
                "post": {
                    "summary": "Add an account code",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": schema_ref("NewCode")}}},
                    "responses": {"201": ok_reply("added", "Code"), "400": error_reply("malformed JSON"),
                                  "409": error_reply("the code exists in that group"), "422": error_reply("a field's value"),
                                  **common},
                },
            },
            "/api/v1/codes/{group}/{code}": {
                "parameters": path_params,
                "get": {"summary": "One account code",
                        "responses": {"200": ok_reply("the code", "Code"), "404": error_reply("no such code"), **common}},
                "put": {
                    "summary": "Change an account code's settings (active: false disables it)",
                    "requestBody": {"required": True,
                                    "content": {"application/json": {"schema": schema_ref("CodeFields")}}},
                    "responses": {"200": ok_reply("changed", "Code"), "400": error_reply("malformed JSON"),
                                  "404": error_reply("no such code"), "422": error_reply("a field's value"), **common},
                },
            },
        },
        "components": {"schemas": components,
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }
    for paths, schemas in more:
        doc["paths"].update(paths)
        components.update(schemas)
    return msgspec.json.encode(doc)

