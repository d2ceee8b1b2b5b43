"""Administrators and API tokens from the browser: the operations of ``b2bua
admin`` and ``b2bua api-token`` (:mod:`b2bua.runtime.admins`), each written to
the audit log.

* ``/admins`` (system administrators only; a group administrator gets 403):
  the administrators, add one (system, or of a configured group), set one's
  password, remove one (not oneself, never the last system administrator; the
  removed one's sessions end at their next request).
* ``/account``: every administrator changes their own password, giving the
  current one.
* ``/tokens``: API tokens.  A system administrator manages every token; a
  group administrator sees, makes and revokes only tokens bound to their own
  group.  A new token is shown once, in the answer to the form that made it:
  it is kept only as its SHA-256 and never logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from b2bua.runtime.admins import NAME_RE, AdminError, check_password_rules
from b2bua.runtime.audit import Entry, when

from .group_pages import _done
from .report_query import FieldError
from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")
MAX_FIELD = 1024
T = TypeVar("T")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _passwords(form: Any) -> str:
    """The new password of a form (``password`` typed twice, ``password2``)."""
    password = _text(form, "password")
    try:
        check_password_rules(password)
    except AdminError as err:
        raise FieldError("password", f"password: {err}") from None
    if _text(form, "password2") != password:
        raise FieldError("password2", "password2: the two passwords differ")
    return password


def _name(form: Any) -> str:
    name = _text(form, "name").strip()
    if not NAME_RE.match(name):
        raise FieldError("name", "name: 1 to 64 letters, digits or _ . @ -")
    return name


def routes(portal: Portal) -> list[Route]:
    db = portal.db

    def system_only(request: Request, session: Session) -> Response | None:
        if session.admin.role != "system":
            log.warning("portal: %s refused the administrators page", session.admin.name)
            return portal.refuse(request, 403, "Only a system administrator manages administrators.")
        return None

    async def named(entry: Entry, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` and its audit-log ``entry`` in one transaction, its AdminError (a
        name taken) the name field's."""
        try:
            return await portal.audited(entry, fn, *args, **kwargs)
        except AdminError as err:
            raise FieldError("name", f"name: {err}") from None

    async def group_of(form: Any) -> str | None:
        """The group of a new administrator or token (None: system)."""
        if _text(form, "role") == "system":
            return None
        group = _text(form, "group")
        groups = await portal.group_names()
        if group not in groups:
            raise FieldError("group", f"group: one of {', '.join(groups)}")
        return group

    async def admins_page(request: Request, session: Session, *, status: int = 200, error: str = "",
                          field: str = "", fields: dict[str, str] | None = None) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        admins = await db.run(db.admins.list)
        created = await db.run(db.admins.created)
        groups = await portal.group_names()
        return portal.render(request, "admins.html", status, title="Administrators", admins=admins,
                             created=created, when=_when, groups=groups, error=error, field=field,
                             fields=fields or {"name": "", "role": "group", "group": groups[0]})

    async def list_admins(request: Request, session: Session) -> Response:
        return await admins_page(request, session)

    async def add_admin(request: Request, session: Session) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        form = request.state.form
        fields = {"name": _text(form, "name").strip(), "role": _text(form, "role"), "group": _text(form, "group")}
        try:
            name, group, password = _name(form), await group_of(form), _passwords(form)
            await named(portal.entry(request, session.admin.name, "admin.add", name, group), db.admins.add, name,
                        password, group=group)
        except FieldError as err:
            return await admins_page(request, session, status=400, error=str(err), field=err.field, fields=fields)
        log.info("portal: %s added administrator %s", session.admin.name, name)
        return _done(session, "/admins", f"Added administrator {name}.")

    async def remove_admin(request: Request, session: Session) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        name = request.path_params["name"]
        if name == session.admin.name:
            return await admins_page(request, session, status=400, error="name: you cannot remove yourself")
        target = await db.run(db.admins.get, name)
        entry = portal.entry(request, session.admin.name, "admin.remove", name, target.group if target else None)
        try:
            await portal.audited(entry, db.admins.remove, name, keep_system=True)
        except AdminError as err:
            return await admins_page(request, session, status=400, error=f"name: {err}")
        portal.sessions.end_admin(name)
        log.info("portal: %s removed administrator %s", session.admin.name, name)
        return _done(session, "/admins", f"Removed administrator {name}.")

    async def password_form(request: Request, session: Session, name: str, action: str, *, own: bool,
                            status: int = 200, error: str = "", field: str = "") -> Response:
        return portal.render(request, "admins_password.html", status, title=f"Password of {name}", name=name,
                             action=action, own=own, error=error, field=field)

    async def set_password(request: Request, session: Session) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        name = request.path_params["name"]
        target = await db.run(db.admins.get, name)
        if target is None:
            return portal.refuse(request, 404, f"No administrator {name}.")
        action = f"/admins/{name}/password"
        if request.method == "GET":
            return await password_form(request, session, name, action, own=False)
        try:
            await portal.audited(portal.entry(request, session.admin.name, "admin.password", name, target.group),
                                 db.admins.set_password, name, _passwords(request.state.form))
        except FieldError as err:
            return await password_form(request, session, name, action, own=False, status=400, error=str(err),
                                       field=err.field)
        log.info("portal: %s set the password of administrator %s", session.admin.name, name)
        return _done(session, "/admins", f"Set the password of {name}.")

    async def account(request: Request, session: Session) -> Response:
        me = session.admin.name
        if request.method == "GET":
            return await password_form(request, session, me, "/account", own=True)
        form = request.state.form
        try:
            if await db.run(db.admins.check, me, _text(form, "current")) is None:
                raise FieldError("current", "current: this is not your current password")
            await portal.audited(portal.entry(request, me, "admin.password", me, session.admin.group),
                                 db.admins.set_password, me, _passwords(form))
        except FieldError as err:
            return await password_form(request, session, me, "/account", own=True, status=400, error=str(err),
                                       field=err.field)
        log.info("portal: %s changed their password", me)
        session.flash = "Your password is changed."
        return RedirectResponse("/account", status_code=303)

    # -- API tokens --------------------------------------------------------------
    async def tokens_page(request: Request, session: Session, *, status: int = 200, error: str = "",
                          field: str = "", fields: dict[str, str] | None = None, token: str = "") -> Response:
        own = session.admin.group if session.admin.role == "group" else None
        tokens = [t for t in await db.run(db.admins.tokens) if own is None or t.group == own]
        created = await db.run(db.admins.created, True)
        choices = await portal.group_names() if own is None else [own]
        return portal.render(request, "tokens.html", status, title="API tokens", tokens=tokens, created=created,
                             when=_when, groups=choices, error=error, field=field, token=token,
                             fields=fields or {"name": "", "role": "group", "group": choices[0]})

    async def list_tokens(request: Request, session: Session) -> Response:
        return await tokens_page(request, session)

    async def add_token(request: Request, session: Session) -> Response:
        form = request.state.form
        fields = {"name": _text(form, "name").strip(), "role": _text(form, "role"), "group": _text(form, "group")}
        try:
            name, group = _name(form), await group_of(form)
            if not session.admin.may_manage(group or ""):
                return portal.refuse(request, 403, f"You may make tokens of group {session.admin.group} only.")
            token = await named(portal.entry(request, session.admin.name, "token.add", name, group),
                                db.admins.add_token, name, group=group)
        except FieldError as err:
            return await tokens_page(request, session, status=400, error=str(err), field=err.field, fields=fields)
        log.info("portal: %s made API token %s", session.admin.name, name)
        return await tokens_page(request, session, token=token, fields={**fields, "name": name})

    async def remove_token(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        found = {t.name: t for t in await db.run(db.admins.tokens)}.get(name)
        if found is None:
            return portal.refuse(request, 404, f"No API token {name}.")
        if not session.admin.may_manage(found.group or ""):
            return portal.refuse(request, 403, f"You may revoke tokens of group {session.admin.group} only.")
        await portal.audited(portal.entry(request, session.admin.name, "token.remove", name, found.group),
                             db.admins.remove_token, name)
        log.info("portal: %s revoked API token %s", session.admin.name, name)
        return _done(session, "/tokens", f"Revoked API token {name}.")

    page = portal.page
    return [
        Route("/admins", page(list_admins), methods=["GET"]),
        Route("/admins", page(add_admin), methods=["POST"]),
        Route("/admins/{name}/password", page(set_password), methods=["GET", "POST"]),
        Route("/admins/{name}/remove", page(remove_admin), methods=["POST"]),
        Route("/account", page(account), methods=["GET", "POST"]),
        Route("/tokens", page(list_tokens), methods=["GET"]),
        Route("/tokens", page(add_token), methods=["POST"]),
        Route("/tokens/{name}/remove", page(remove_token), methods=["POST"]),
    ]


def _when(at: float | None) -> str:
    return "" if at is None else when(at)
