"""Groups' and users' account-code settings pages: the groups (list, make one,
delete one, edit a group's settings, back to the configuration file's), and
each group's users (a user's group, code mode and assigned code).  They write
the same tables as ``b2bua groups`` and ``b2bua users``
(:mod:`b2bua.runtime.code_settings`, :mod:`b2bua.runtime.groups`: their
validation, whose errors name the field), so a change applies to the next call.
Each change and its audit-log entry are one transaction.

A system administrator manages every group; a group administrator only their
own (a page or form naming another group, or another group's user, is 403) and
neither makes nor deletes groups nor moves users.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from b2bua.runtime import groups as group_rules
from b2bua.runtime.code_settings import (
    SettingsError, UserRow, describe_group, group_from_form, group_to_form, user_from_fields,
)
from dialplan.numbering import OUTSIDE_CLASSES
from dialplan.policy import GroupPolicy, Mode, Prompt, Validation

from .sessions import Session

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.portal")

# the group form: (field, label, choices or None for text, hint)
GROUP_FORM: tuple[tuple[str, str, tuple[str, ...] | None, str], ...] = (
    ("mode", "Mode (when a code is required)", tuple(m.value for m in Mode), ""),
    ("code_length", "Code length (digits)", None, "2 to 14; empty: variable length, ended by #"),
    ("validation", "Validation", tuple(v.value for v in Validation), "list: must exist; flag: unknown ones "
     "flagged; length: digit count only"),
    ("required_classes", "Required call classes (mode classes)", None,
     "comma-separated: " + ", ".join(sorted(c.value for c in OUTSIDE_CLASSES))),
    ("required_prefixes", "Required prefixes (mode prefixes)", None, "comma-separated digits, e.g. 1900,900"),
    ("fac", "Feature access code (FAC)", None, "* or # then digits, e.g. *88; empty: none"),
    ("prompt", "Prompting", tuple(p.value for p in Prompt), ""),
    ("prompt_answer", "Answer the caller before prompting", ("no", "yes"), ""),
    ("prompt_attempts", "Codes a prompted caller may try", None, "1 to 10"),
    ("minimal_access", "Minimal-prompt access number", None, "e.g. *90; empty: none"),
    ("midcall_vsc", "Mid-call code VSC", None, "e.g. *89; empty: off"),
    ("post_call_window", "Seconds after a call to attach a code", None, "0: off"),
    ("auth_fac", "Authorization code FAC", None, "e.g. *77; empty: none"),
    ("auth_classes", "Call classes needing an authorization code", None, "comma-separated"),
    ("auth_level", "Lowest authorization level accepted", None, ""),
)
MODES = ("", *(m.value for m in Mode))  # a user's mode: "" is the group's


def routes(portal: Portal) -> list[Route]:
    db = portal.db
    store = portal.settings

    def forbidden(request: Request, session: Session, group: str) -> Response:
        log.warning("portal: %s refused access to the settings of group %r", session.admin.name, group)
        return portal.refuse(request, 403, f"You may manage the settings of group {session.admin.group} only.")

    def visible(session: Session) -> str | None:
        """The one group a group administrator sees (None: every group)."""
        return session.admin.group if session.admin.role == "group" else None

    async def list_groups(request: Request, session: Session, *, status: int = 200, error: str = "") -> Response:
        only = visible(session)
        rows = await db.run(store.groups, only)
        return portal.render(request, "groups.html", status, title="Groups' code settings", rows=rows,
                             describe=describe_group, error=error, configured=portal.config.groups)

    def group_form(request: Request, group: str, fields: dict[str, str], *, status: int = 200,
                   error: str = "", field: str = "", new: bool = False) -> Response:
        title = "A new group" if new else f"Group {group}: code settings"
        return portal.render(request, "groups_form.html", status, title=title, group=group, fields=fields,
                             form=GROUP_FORM, error=error, field=field, new=new,
                             configured=group in portal.config.groups)

    def system_only(request: Request, session: Session) -> Response | None:
        if session.admin.role == "system":
            return None
        log.warning("portal: %s refused making or deleting a group", session.admin.name)
        return portal.refuse(request, 403, "Only a system administrator makes and deletes groups.")

    async def new_group(request: Request, session: Session) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        if request.method == "GET":
            return group_form(request, "", group_to_form(GroupPolicy()), new=True)
        form = request.state.form
        name = str(form.get("group") or "").strip()[:100]
        fields = {name: str(form.get(name) or "")[:1000] for name, *_ in GROUP_FORM}
        entry = portal.entry(request, session.admin.name, "group.add", name, name)
        try:
            settings = group_from_form(fields)
            await portal.audited(entry, group_rules.create, store, name, settings, session.admin.name)
        except SettingsError as err:
            return group_form(request, name, fields, status=400, error=str(err), field=err.field or "", new=True)
        log.info("portal: %s made group %s", session.admin.name, name)
        return _done(session, "/groups", f"Made group {name}.")

    async def delete_group(request: Request, session: Session) -> Response:
        refused = system_only(request, session)
        if refused is not None:
            return refused
        group = request.path_params["group"]
        entry = portal.entry(request, session.admin.name, "group.remove", group, group)
        try:
            await portal.audited(entry, group_rules.delete, store, group, session.admin.name)
        except group_rules.GroupConflict as err:
            return await list_groups(request, session, status=409, error=str(err))
        except SettingsError as err:
            return portal.refuse(request, 404, str(err))
        log.info("portal: %s deleted group %s", session.admin.name, group)
        return _done(session, "/groups", f"Deleted group {group}.")

    async def edit_group(request: Request, session: Session) -> Response:
        group = request.path_params["group"]
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        try:
            row = await db.run(store.group, group)
        except SettingsError as err:
            return portal.refuse(request, 404, str(err))
        if request.method == "GET":
            return group_form(request, group, group_to_form(row.settings))
        form = request.state.form
        fields = {name: str(form.get(name) or "")[:1000] for name, *_ in GROUP_FORM}
        try:
            settings = group_from_form(fields)
            await portal.audited(portal.entry(request, session.admin.name, "group.change", group, group),
                                 store.set_group, group, settings, session.admin.name)
        except SettingsError as err:
            return group_form(request, group, fields, status=400, error=str(err), field=err.field or "")
        log.info("portal: %s changed the code settings of group %s", session.admin.name, group)
        return _done(session, "/groups", f"Saved the code settings of group {group}.")

    async def reset_group(request: Request, session: Session) -> Response:
        group = request.path_params["group"]
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        try:
            await portal.audited(portal.entry(request, session.admin.name, "group.reset", group, group),
                                 store.reset_group, group)
        except group_rules.GroupConflict as err:
            return portal.refuse(request, 409, str(err))
        except SettingsError as err:
            return portal.refuse(request, 404, str(err))
        log.info("portal: %s reset the code settings of group %s", session.admin.name, group)
        return _done(session, "/groups", f"Group {group} has the configuration file's settings again.")

    async def list_users(request: Request, session: Session) -> Response:
        group = request.query_params.get("group", "")
        if group and not session.admin.may_manage(group):
            return forbidden(request, session, group)
        rows = await db.run(store.users, group or visible(session))
        groups = await db.run(store.names) if visible(session) is None else [session.admin.group]
        return portal.render(request, "groups_users.html", title="Users' code settings", rows=rows, group=group,
                             groups=groups)

    async def user_of(request: Request, session: Session, extension: str) -> UserRow | Response:
        """The user, or the refusal: unknown (404), another group's (403)."""
        try:
            row = await db.run(store.user, extension)
        except SettingsError as err:
            return portal.refuse(request, 404, str(err))
        if not session.admin.may_manage(row.group):
            return forbidden(request, session, row.group)
        return row

    async def edit_user(request: Request, session: Session) -> Response:
        extension = request.path_params["extension"]
        row = await user_of(request, session, extension)
        if isinstance(row, Response):
            return row
        groups = await db.run(store.names) if visible(session) is None else [row.group]
        context: dict[str, Any] = {"title": f"User {extension}: code settings", "user": row, "modes": MODES,
                                   "groups": groups}
        if request.method == "GET":
            fields = {"mode": row.settings.mode or "", "assigned_code": row.settings.assigned_code or "",
                      "group": row.group}
            return portal.render(request, "groups_user_form.html", fields=fields, field="", **context)
        form = request.state.form
        fields = {name: str(form.get(name) or "")[:100] for name in ("mode", "assigned_code", "group")}
        group = fields["group"] or row.group
        if not session.admin.may_manage(group):
            return forbidden(request, session, group)
        entry = portal.entry(request, session.admin.name, "user.change", extension, group)
        try:
            settings = user_from_fields(fields["mode"], fields["assigned_code"])
            await portal.audited(entry, store.set_user, extension, settings, session.admin.name, group)
        except SettingsError as err:
            return portal.render(request, "groups_user_form.html", 400, fields=fields, error=str(err),
                                 field=err.field or "", **context)
        moved = f" (moved from group {row.group} to {group})" if group != row.group else ""
        log.info("portal: %s changed the code settings of user %s%s", session.admin.name, extension, moved)
        return _done(session, "/users?" + urllib.parse.urlencode({"group": group}),
                     f"Saved the code settings of user {extension}{moved}.")

    async def reset_user(request: Request, session: Session) -> Response:
        extension = request.path_params["extension"]
        row = await user_of(request, session, extension)
        if isinstance(row, Response):
            return row
        configured = store.users_by_ext[extension].group
        if not session.admin.may_manage(configured):
            return forbidden(request, session, configured)
        try:
            await portal.audited(portal.entry(request, session.admin.name, "user.reset", extension, configured),
                                 store.reset_user, extension)
        except SettingsError as err:
            return portal.refuse(request, 409, str(err))
        log.info("portal: %s reset the code settings of user %s", session.admin.name, extension)
        return _done(session, "/users?" + urllib.parse.urlencode({"group": configured}),
                     f"User {extension} has the configuration file's code settings again.")

    page = portal.page
    return [
        Route("/groups", page(list_groups), methods=["GET"]),
        Route("/groups/new", page(new_group), methods=["GET", "POST"]),
        Route("/groups/{group}", page(edit_group), methods=["GET", "POST"]),
        Route("/groups/{group}/reset", page(reset_group), methods=["POST"]),
        Route("/groups/{group}/delete", page(delete_group), methods=["POST"]),
        Route("/users", page(list_users), methods=["GET"]),
        Route("/users/{extension}", page(edit_user), methods=["GET", "POST"]),
        Route("/users/{extension}/reset", page(reset_user), methods=["POST"]),
    ]


def _done(session: Session, to: str, notice: str) -> Response:
    """Back to a list, which shows ``notice`` once."""
    session.flash = notice
    return RedirectResponse(to, status_code=303)
