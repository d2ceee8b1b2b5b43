"""JSON API of reports, records and live calls: the operations of
``/reports``, ``/records`` and ``/calls`` for billing systems and CTI clients,
with the tokens and JSON errors of :mod:`b2bua.web.api`.

* ``GET /api/v1/reports/{by}?from=&to=``: the report's rows and its figures
  per day and key (what the charts draw);
* ``GET /api/v1/cdrs?from=&to=&code=&extension=&number=&disposition=&limit=&after=``:
  records newest first, a page of at most ``MAX_PAGE``, each under the CDR
  export's field names (``code_changes``: the account-code segments; times in
  ``[billing] timezone``, ``utc_offset`` says which); ``next`` (``previous``)
  is the cursor to pass as ``after`` (``before``) for the next (previous)
  page; ``total`` counts up to 10000 (``total_exact`` false beyond);
  ``offset`` still skips records (the database reads what it skips);
* ``GET /api/v1/calls``: calls in progress with duration and running cost;
* ``POST /api/v1/calls/{ref}/code`` ``{"code": "12345"}``: set a live call's
  account code (200 with the call; 409 with the rule that refused it).

A group's token sees and changes that group's records and calls only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.billing.records import DISPOSITIONS, MAX_PAGE, encode
from b2bua.billing.reports import GROUPINGS, export_record
from b2bua.runtime.admins import Admin
from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS

from .api import ApiError, Document, Problem, decode_body, endpoint, error_reply, json_reply, ok_reply, schema_ref
from .call_pages import CodeRefused, set_code, visible_calls
from .report_query import BillingStoreError, FieldError, Records, paging, period, record_filter

if TYPE_CHECKING:
    from b2bua.runtime.server import Server

    from .portal import Portal


class ReportRowOut(msgspec.Struct, kw_only=True):
    key: str
    calls: int
    answered: int
    total_duration_s: int
    average_duration_s: str  # exact decimals as strings
    total_cost: str
    currency: str


class DayOut(msgspec.Struct, kw_only=True):
    day: str
    key: str
    minutes: str
    cost: str


class ReportOut(msgspec.Struct, kw_only=True):
    by: str
    start: str = msgspec.field(name="from")
    end: str = msgspec.field(name="to")
    rows: list[ReportRowOut]
    days: list[DayOut]


class CdrPage(msgspec.Struct, kw_only=True):
    total: int
    total_exact: bool
    offset: int
    limit: int
    next: str | None  # pass as ``after`` for the next (older) page
    previous: str | None  # pass as ``before`` for the previous (newer) page
    items: list[dict[str, Any]]


class LiveCallOut(msgspec.Struct, kw_only=True):
    ref: str
    caller: str
    dialed: str
    destination: str
    route: str
    group: str
    account_code: str
    state: str
    duration_s: int
    talk_s: int
    cost: str
    currency: str


class LiveCalls(msgspec.Struct, kw_only=True):
    calls: list[LiveCallOut]


class CodeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=f"^[0-9]{{{MIN_CODE_DIGITS},{MAX_CODE_DIGITS}}}$")]


def routes(portal: Portal, server: Server) -> list[Route]:
    records = Records(portal.config)

    async def report(request: Request, who: Admin) -> Response:
        params = dict(request.query_params)
        by = request.path_params["by"]
        try:
            if by not in GROUPINGS:
                raise FieldError("by", f"by: one of {', '.join(GROUPINGS)}")
            start, end = period(params, records.today())
            r = await records.report(by, start, end, who)
        except FieldError as err:
            raise Problem(422, str(err), err.field) from None
        except BillingStoreError:
            raise Problem(503, "the billing database cannot be read just now") from None
        return json_reply(ReportOut(
            by=by, start=start.isoformat(), end=end.isoformat(),
            rows=[ReportRowOut(key=x.key, calls=x.calls, answered=x.answered, total_duration_s=x.total_duration_s,
                               average_duration_s=str(x.average_duration_s), total_cost=str(x.total_cost),
                               currency=x.currency) for x in r.rows],
            days=[DayOut(day=d.day, key=d.key, minutes=str(d.minutes), cost=str(d.cost)) for d in r.days],
        ))

    async def cdrs(request: Request, who: Admin) -> Response:
        params = dict(request.query_params)
        try:
            start, end = period(params, records.today())
            f = record_filter(params, who)
            offset, limit, after, before = paging(params)
            page = await records.search(start, end, f, limit, after=after, before=before, offset=offset)
        except FieldError as err:
            raise Problem(422, str(err), err.field) from None
        except BillingStoreError:
            raise Problem(503, "the billing database cannot be read just now") from None
        return json_reply(CdrPage(
            total=page.total, total_exact=page.exact, offset=offset, limit=limit,
            next=encode(page.after) if page.after else None, previous=encode(page.before) if page.before else None,
            items=[export_record(c, records.zone) for c in page.records],
        ))

    async def calls(request: Request, who: Admin) -> Response:
        return json_reply(LiveCalls(calls=[msgspec.convert(c, LiveCallOut) for c in visible_calls(server, who)]))

    async def code(request: Request, who: Admin) -> Response:
        body: CodeRequest = decode_body(await request.body(), CodeRequest)
        ref = request.path_params["ref"]
        try:
            group = set_code(server, who, ref, body.code, request.client.host if request.client else "?")
        except CodeRefused as refused:
            raise Problem(refused.status, refused.reason, refused.field) from None
        await portal.audit(request, who.name, "call.code", ref, group)
        call = next(c for c in visible_calls(server, who) if c["ref"] == ref)
        return json_reply(msgspec.convert(call, LiveCallOut))

    return [
        Route("/api/v1/reports/{by}", endpoint(portal, report), methods=["GET"]),
        Route("/api/v1/cdrs", endpoint(portal, cdrs), methods=["GET"]),
        Route("/api/v1/calls", endpoint(portal, calls), methods=["GET"]),
        Route("/api/v1/calls/{ref}/code", endpoint(portal, code), methods=["POST"]),
    ]


def document(groups: list[str]) -> Document:
    """This module's paths and schemas of the OpenAPI document."""
    _, schemas = msgspec.json.schema_components(
        [ReportOut, CdrPage, LiveCalls, CodeRequest, LiveCallOut, ApiError], ref_template="#/components/schemas/{name}"
    )

    ref, answer, error = schema_ref, ok_reply, error_reply
    common = {"401": error("no or unknown token")}
    day = {"type": "string", "format": "date"}
    dates = [{"name": "from", "in": "query", "schema": day}, {"name": "to", "in": "query", "schema": day}]
    store = {"422": error("a bad parameter (field names it)"), "503": error("billing database unavailable")}
    text = {"type": "string", "maxLength": 64}
    cursor = {"type": "string", "maxLength": 400}
    paths = {
        "/api/v1/reports/{by}": {"get": {
            "summary": "A report by account code, department, extension or trunk (rows and per-day figures)",
            "parameters": [{"name": "by", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": list(GROUPINGS)}}, *dates],
            "responses": {"200": answer("the report", "ReportOut"), **store, **common},
        }},
        "/api/v1/cdrs": {"get": {
            "summary": "Call records (search, newest first, paging)",
            "parameters": [
                *dates, {"name": "code", "in": "query", "schema": text},
                {"name": "extension", "in": "query", "schema": text},
                {"name": "number", "in": "query", "schema": text},
                {"name": "disposition", "in": "query", "schema": {"type": "string", "enum": list(DISPOSITIONS)}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                {"name": "after", "in": "query", "schema": cursor, "description": "a page's next cursor"},
                {"name": "before", "in": "query", "schema": cursor, "description": "a page's previous cursor"},
            ],
            "responses": {"200": answer("a page of records", "CdrPage"), **store, **common},
        }},
        "/api/v1/calls": {"get": {
            "summary": "Calls in progress (duration, running cost)",
            "responses": {"200": answer("the calls", "LiveCalls"), **common},
        }},
        "/api/v1/calls/{ref}/code": {"post": {
            "summary": "Set the account code of a call in progress",
            "parameters": [{"name": "ref", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 100}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CodeRequest")}}},
            "responses": {
                "200": answer("set: the call", "LiveCallOut"), "400": error("malformed JSON"),
                "403": error("another group's call"), "404": error("no such call in progress"),
                "409": error("refused by the account-code rules (the reason says which), or not answered"),
                "422": error("a field's value"), **common,
            },
        }},
    }
    return paths, schemas
