"""Live calls: calls in progress with caller, number dialed, destination,
account code, state, duration and running cost, refreshed without reloading
(the page polls ``/calls.json`` every ``POLL_MS``; a small script of our own, no
inline code, fills the table with text only).  An administrator may end a call
(BYE on both legs, hangup "server", cause "ended by administrator NAME") or set
its account code (``set_code``: the operation of a business set's request,
``MidCallCodes.apply``, code source ``portal``, set by the administrator's
name; the same checks, so a refused code is answered with the rule and the call
keeps its code).  A group administrator manages only their group's calls.

The running cost is the call's record billed up to now by the CDR builder
(each code's segment at its own rate, as the record will be).  Read on the
event loop from the call log's ``live`` table and the builder (no I/O).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from b2bua.billing.cdr import Cdr
from b2bua.runtime.admins import Admin
from b2bua.runtime.calllog import LiveCall
from dialplan import CodeSource
from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS

from .sessions import Session

if TYPE_CHECKING:
    from b2bua.runtime.server import Server

    from .portal import Portal

log = logging.getLogger("b2bua.portal")
POLL_MS = 2000


def call_view(call: LiveCall, now: float, billed: Cdr | None = None) -> dict[str, Any]:
    s = call.started
    answered = call.answered_at
    return {
        "ref": s.ref,
        "caller": s.caller,
        "dialed": s.dialed,
        "destination": s.destination,
        "route": s.route,
        "group": s.group,
        "account_code": call.account.code,
        "state": "answered" if answered is not None else "setting up",
        "duration_s": int(now - s.at),
        "talk_s": int(now - answered) if answered is not None else 0,
        "cost": str(billed.cost) if billed is not None else "0",
        "currency": billed.currency if billed is not None else "",
    }


class CodeRefused(Exception):
    """The code was not set: ``status`` (422 a malformed code, 403 another
    group's call, 404 no such call, 409 refused by the rules or not answered) and why."""

    def __init__(self, status: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.field = status, reason, field


def visible_calls(server: Server, admin: Admin) -> list[dict[str, Any]]:
    """The calls in progress ``admin`` may see, oldest first."""
    now = server.loop.time()
    billing = server.billing
    return [
        call_view(c, now, billing.running(c.started.ref, now) if billing is not None else None)
        for c in sorted(server.calllog.live.values(), key=lambda c: c.started.at)
        if admin.may_manage(c.started.group)
    ]


def set_code(server: Server, admin: Admin, ref: str, code: str, address: str) -> str | None:
    """Make ``code`` the account code of live call ``ref`` (see the module
    docstring); the call's group; raises :class:`CodeRefused`."""
    if not (MIN_CODE_DIGITS <= len(code) <= MAX_CODE_DIGITS and code.isascii() and code.isdigit()):
        raise CodeRefused(422, f"code: {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS} digits", "code")
    live = server.calllog.live.get(ref)
    if live is None:
        raise CodeRefused(404, "That call has ended already.")
    if not admin.may_manage(live.started.group):
        raise CodeRefused(403, f"You may manage the calls of group {admin.group} only.")
    midcall = server.app.midcall
    call = server.app.calls.index.calls.get(ref)
    if midcall is None or call is None or live.answered_at is None:
        raise CodeRefused(409, "Only an answered call's code can be set.")
    status, reason = midcall.apply(call, code, CodeSource.PORTAL, admin.name, address, server.loop.time())
    if server.driver is not None:
        server.driver.flush()  # the change to billing and the call log now
    if status != 200:  # the rule that refused it (the call keeps its code)
        raise CodeRefused(409, reason)
    log.info("portal: %s set the account code of call %s", admin.name, ref)
    return live.started.group


def routes(portal: Portal, server: Server) -> list[Route]:
    def visible(session: Session) -> list[dict[str, Any]]:
        return visible_calls(server, session.admin)

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
        await portal.audit(request, session.admin.name, "call.end", ref, call.started.group)
        session.flash = f"Call {ref} from {call.started.caller} ended."
        return RedirectResponse("/calls", status_code=303)

    async def code(request: Request, session: Session) -> Response:
        ref = request.path_params["ref"]
        value = request.state.form.get("code")
        try:
            group = set_code(server, session.admin, ref, value.strip() if isinstance(value, str) else "",
                     request.client.host if request.client else "?")
        except CodeRefused as refused:
            if refused.status == 403:
                return portal.refuse(request, 403, refused.reason)
            session.flash = f"Account code not set: {refused.reason}"
            return RedirectResponse("/calls", status_code=303)
        await portal.audit(request, session.admin.name, "call.code", ref, group)
        session.flash = f"Call {ref}: account code set."
        return RedirectResponse("/calls", status_code=303)

    return [
        Route("/calls", portal.page(page), methods=["GET"]),
        Route("/calls/{ref}/code", portal.page(code), methods=["POST"]),
        Route("/calls.json", portal.page(data), methods=["GET"]),
        Route("/calls/{ref}/end", portal.page(end), methods=["POST"]),
    ]
