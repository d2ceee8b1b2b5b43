"""Live calls: calls in progress with caller, number dialed, destination,
account code, state and duration, refreshed without reloading (the page polls
``/calls.json`` every ``POLL_MS``; a small script of our own, no inline code,
fills the table with text only).  An administrator may end a call (BYE on both
legs, hangup "server", cause "ended by administrator NAME"; a group
administrator only their group's calls).

Read on the event loop from the call log's ``live`` table (no I/O).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from b2bua.runtime.calllog import LiveCall

from .sessions import Session

if TYPE_CHECKING:
    from b2bua.runtime.server import Server

    from .portal import Portal

log = logging.getLogger("b2bua.portal")
POLL_MS = 2000


def call_view(call: LiveCall, now: float) -> dict[str, Any]:
    s = call.started
    answered = call.answered_at
    return {
        "ref": s.ref,
        "caller": s.caller,
        "dialed": s.dialed,
        "destination": s.destination,
        "route": s.route,
        "group": s.group,
        "account_code": s.account.code,
        "state": "answered" if answered is not None else "setting up",
        "duration_s": int(now - s.at),
        "talk_s": int(now - answered) if answered is not None else 0,
    }


def routes(portal: Portal, server: Server) -> list[Route]:
    def visible(session: Session) -> list[dict[str, Any]]:
        now = server.loop.time()
        return [
            call_view(c, now)
            for c in sorted(server.calllog.live.values(), key=lambda c: c.started.at)
            if session.admin.may_manage(c.started.group)
        ]

    async def page(request: Request, session: Session) -> Response:
        return portal.render(request, "calls.html", title="Calls in progress", calls=visible(session),
                             poll_ms=POLL_MS)

    async def data(request: Request, session: Session) -> Response:
        return JSONResponse({"calls": visible(session)})

    async def end(request: Request, session: Session) -> Response:
        ref = request.path_params["ref"]
        call = server.calllog.live.get(ref)
        if call is None:
            session.flash = "That call has ended already."
            return RedirectResponse("/calls", status_code=303)
        if not session.admin.may_manage(call.started.group):
            return portal.refuse(request, 403, f"You may manage the calls of group {session.admin.group} only.")
        cause = f"ended by administrator {session.admin.name}"
        if server.app.calls.end_call(ref, server.loop.time(), cause) and server.driver is not None:
            server.driver.flush()  # the BYEs out now
        log.info("portal: %s ended call %s", session.admin.name, ref)
        session.flash = f"Call {ref} from {call.started.caller} ended."
        return RedirectResponse("/calls", status_code=303)

    return [
        Route("/calls", portal.page(page), methods=["GET"]),
        Route("/calls.json", portal.page(data), methods=["GET"]),
        Route("/calls/{ref}/end", portal.page(end), methods=["POST"]),
    ]
