"""The audit log's page (``/audit``) and its CSV export (``/audit.csv``):
entries newest first, a page at a time, filtered by actor and action.  A system
administrator sees every entry; a group administrator their group's only.
Cells of the export are guarded against spreadsheet formulas."""

from __future__ import annotations

import math
import urllib.parse
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.runtime.audit import ACTIONS, MAX_PAGE, export_csv, when

from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

PAGE_SIZE = 50


def routes(portal: Portal) -> list[Route]:
    db = portal.db

    def scope(request: Request, session: Session) -> tuple[str | None, str, str]:
        """(group, actor, action) of a request's filter (group: a group administrator's own)."""
        params = request.query_params
        action = params.get("action", "")
        return (session.admin.group if session.admin.role == "group" else None, params.get("actor", "")[:200],
                action if action in ACTIONS else "")

    async def page(request: Request, session: Session) -> Response:
        group, actor, action = scope(request, session)
        text = request.query_params.get("page", "1")
        number = int(text) if text.isdigit() and 0 < int(text) < 10**6 else 1
        total, entries = await db.run(db.audit.search, group, actor=actor, action=action,
                                      offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        actors = await db.run(db.audit.actors, group)

        def query(n: int) -> str:
            return urllib.parse.urlencode({"actor": actor, "action": action, "page": n})

        return portal.render(request, "audit.html", title="Audit log", entries=entries, total=total, page=number,
                             pages=max(1, math.ceil(total / PAGE_SIZE)), query=query, actor=actor, action=action,
                             actors=actors, actions=ACTIONS, when=when,
                             retention=portal.config.server.audit_retention_days,
                             export=urllib.parse.urlencode({"actor": actor, "action": action}))

    async def export(request: Request, session: Session) -> Response:
        group, actor, action = scope(request, session)
        entries, offset = [], 0
        while True:  # every matching entry, a page at a time
            total, part = await db.run(db.audit.search, group, actor=actor, action=action, offset=offset,
                                       limit=MAX_PAGE)
            entries.extend(part)
            offset += len(part)
            if not part or offset >= total:
                break
        return Response(export_csv(entries), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="audit.csv"'})

    return [
        Route("/audit", portal.page(page), methods=["GET"]),
        Route("/audit.csv", portal.page(export), methods=["GET"]),
    ]
