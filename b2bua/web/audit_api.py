"""JSON API of the audit log: ``GET /api/v1/audit?actor=&action=&offset=&limit=``,
entries newest first, with the tokens and JSON errors of :mod:`b2bua.web.api`.
A group's token sees that group's entries only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.runtime.admins import Admin
from b2bua.runtime.audit import ACTIONS, MAX_PAGE, AuditEntry

from .api import ApiError, Document, Problem, endpoint, error_reply, json_reply, ok_reply

if TYPE_CHECKING:
    from .portal import Portal


class AuditPage(msgspec.Struct, kw_only=True):
    total: int
    offset: int
    limit: int
    items: list[AuditEntry]


def routes(portal: Portal) -> list[Route]:
    db = portal.db

    async def audit(request: Request, who: Admin) -> Response:
        params = request.query_params
        offset, limit = params.get("offset", "0"), params.get("limit", "50")
        if not offset.isdigit() or int(offset) > 10**9:
            raise Problem(422, "offset: a whole number", "offset")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
            raise Problem(422, f"limit: 1 to {MAX_PAGE}", "limit")
        action = params.get("action", "")
        if action and action not in ACTIONS:
            raise Problem(422, f"action: one of {', '.join(ACTIONS)}", "action")
        total, items = await db.run(db.audit.search, who.group if who.role == "group" else None,
                                    actor=params.get("actor", "")[:200], action=action, offset=int(offset),
                                    limit=int(limit))
        return json_reply(AuditPage(total=total, offset=int(offset), limit=int(limit), items=items))

    return [Route("/api/v1/audit", endpoint(portal, audit), methods=["GET"])]


def document() -> Document:
    """This module's paths and schemas of the OpenAPI document."""
    _, schemas = msgspec.json.schema_components([AuditPage, ApiError], ref_template="#/components/schemas/{name}")
    paths = {
        "/api/v1/audit": {"get": {
            "summary": "The audit log: who changed what, newest first (paging; a group's token: its group's)",
            "parameters": [
                {"name": "actor", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                {"name": "action", "in": "query", "schema": {"type": "string", "enum": list(ACTIONS)}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
            ],
            "responses": {"200": ok_reply("a page of entries", "AuditPage"),
                          "422": error_reply("a bad parameter (field names it)"),
                          "401": error_reply("no or unknown token")},
        }},
    }
    return paths, schemas
