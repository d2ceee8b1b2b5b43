"""JSON API of the groups' and users' account-code settings: the same operations
as the portal's pages and ``b2bua groups`` / ``b2bua users``, on the same tables
(:mod:`b2bua.runtime.code_settings`), effective on the next call.

``GET|POST /api/v1/groups`` (POST makes one: ``{"group": NAME, "settings":
{...}}``, system tokens only), ``GET|PUT|DELETE /api/v1/groups/{group}`` (the
body: every setting of the group, as ``[groups.NAME]`` in the TOML; one left out
takes its default; DELETE, system tokens only, is 409 naming what still belongs
to the group), ``GET /api/v1/users[?group=G]``, ``GET|PUT
/api/v1/users/{extension}`` (``mode``: null for the group's; ``assigned_code``:
null for none, else a code of the user's group; ``group``: move the user, system
tokens only).  Tokens and errors as :mod:`b2bua.web.api`: a group's token sees
and changes only its group (403); a bad value is 422 naming the field.  Each
change and its audit-log entry are one transaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.runtime import groups as group_rules
from b2bua.runtime.admins import Admin
from b2bua.runtime.code_settings import (
    GroupConflict, GroupRow, SettingsError, UserRow, group_from_mapping, user_from_fields,
)
from b2bua.runtime.config import Config
from dialplan.dialstring import MAX_CODE_DIGITS, MIN_CODE_DIGITS
from dialplan.policy import GroupPolicy, Mode

from .api import Document, Problem, decode_body, endpoint, error_reply, json_reply, ok_reply, schema_ref

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("b2bua.api")


class Group(msgspec.Struct, kw_only=True):
    group: str
    settings: GroupPolicy
    changed_by: str


class GroupList(msgspec.Struct, kw_only=True):
    items: list[Group]


class NewGroup(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A group to make: its name and settings (one left out: its default)."""

    group: str
    settings: dict[str, Any] = {}


class UserSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A user's code settings: a mode instead of the group's (null: the group's), an
    assigned code, and the group (null: the user's group now)."""

    mode: Mode | None = None
    assigned_code: str | None = None
    group: str | None = None


class User(msgspec.Struct, kw_only=True):
    extension: str
    display_name: str
    group: str
    mode: Mode | None
    assigned_code: str | None
    changed_by: str


class UserList(msgspec.Struct, kw_only=True):
    items: list[User]


def _group(row: GroupRow) -> Group:
    return Group(group=row.group, settings=row.settings, changed_by=row.changed_by)


def _user(row: UserRow) -> User:
    return User(extension=row.extension, display_name=row.display_name, group=row.group, mode=row.settings.mode,
                assigned_code=row.settings.assigned_code, changed_by=row.changed_by)


def _unprocessable(err: SettingsError) -> Problem:
    return Problem(409 if isinstance(err, GroupConflict) else 422, str(err), err.field)


def routes(portal: Portal) -> list[Route]:
    db = portal.db
    store = portal.settings

    def allowed(who: Admin, group: str) -> None:
        if not who.may_manage(group):
            raise Problem(403, f"this token may use the settings of group {who.group} only", "group")

    def system_only(who: Admin) -> None:
        if who.role != "system":
            raise Problem(403, "groups are made, deleted and users moved by system administrators", "group")

    async def list_groups(request: Request, who: Admin) -> Response:
        if request.method == "POST":
            system_only(who)
            new: NewGroup = decode_body(await request.body(), NewGroup)
            entry = portal.entry(request, who.name, "group.add", new.group, new.group)
            try:
                await portal.audited(entry, group_rules.create, store, new.group, group_from_mapping(new.settings),
                                     who.name)
                row = await db.run(store.group, new.group)
            except SettingsError as err:
                raise _unprocessable(err) from None
            log.info("api: %s made group %s", who.name, new.group)
            return json_reply(_group(row), 201)
        rows = await db.run(store.groups, who.group)
        return json_reply(GroupList(items=[_group(r) for r in rows]))

    async def one_group(request: Request, who: Admin) -> Response:
        name = request.path_params["group"]
        allowed(who, name)
        try:
            if request.method == "DELETE":
                system_only(who)
                await portal.audited(portal.entry(request, who.name, "group.remove", name, name), group_rules.delete,
                                     store, name, who.name)
                log.info("api: %s deleted group %s", who.name, name)
                return Response(status_code=204)
            if request.method == "PUT":
                body: dict[str, Any] = decode_body(await request.body(), dict[str, Any])
                await portal.audited(portal.entry(request, who.name, "group.change", name, name), store.set_group,
                                     name, group_from_mapping(body), who.name)
                log.info("api: %s changed the code settings of group %s", who.name, name)
            row = await db.run(store.group, name)
        except GroupConflict as err:
            raise _unprocessable(err) from None
        except SettingsError as err:
            raise (Problem(404, str(err)) if err.field == "group" else _unprocessable(err)) from None
        return json_reply(_group(row))

    async def list_users(request: Request, who: Admin) -> Response:
        group = request.query_params.get("group") or who.group
        if group is not None:
            allowed(who, group)
        rows = await db.run(store.users, group)
        return json_reply(UserList(items=[_user(r) for r in rows]))

    async def one_user(request: Request, who: Admin) -> Response:
        extension = request.path_params["extension"]
        try:
            row = await db.run(store.user, extension)
        except SettingsError as err:
            raise Problem(404, str(err)) from None
        allowed(who, row.group)
        if request.method == "PUT":
            body: UserSettings = decode_body(await request.body(), UserSettings)
            group = body.group or row.group
            if group != row.group:
                system_only(who)
            try:
                settings = user_from_fields(body.mode, body.assigned_code)
                await portal.audited(portal.entry(request, who.name, "user.change", extension, group), store.set_user,
                                     extension, settings, who.name, group)
            except SettingsError as err:
                raise _unprocessable(err) from None
            log.info("api: %s changed the code settings of user %s", who.name, extension)
            row = await db.run(store.user, extension)
        return json_reply(_user(row))

    def api(handler: Any) -> Any:
        return endpoint(portal, handler)

    return [
        Route("/api/v1/groups", api(list_groups), methods=["GET", "POST"]),
        Route("/api/v1/groups/{group}", api(one_group), methods=["GET", "PUT", "DELETE"]),
        Route("/api/v1/users", api(list_users), methods=["GET"]),
        Route("/api/v1/users/{extension}", api(one_user), methods=["GET", "PUT"]),
    ]


def document(config: Config, groups: list[str]) -> Document:
    """These operations' part of the OpenAPI document (paths, component schemas);
    ``groups``: the groups' names offered as choices."""
    _, schemas = msgspec.json.schema_components(
        [Group, GroupList, GroupPolicy, NewGroup, UserSettings, User, UserList],
        ref_template="#/components/schemas/{name}",
    )
    code = {"type": "string", "pattern": f"^[0-9]{{{MIN_CODE_DIGITS},{MAX_CODE_DIGITS}}}$"}
    name = {"type": "string", "pattern": f"^{group_rules.NAME.pattern}$"}
    schemas["UserSettings"]["properties"]["assigned_code"] = {"anyOf": [code, {"type": "null"}], "default": None}
    schemas["UserSettings"]["properties"]["group"] = {"anyOf": [name, {"type": "null"}], "default": None}
    schemas["NewGroup"]["properties"]["group"] = name
    schemas["NewGroup"]["properties"]["settings"] = schema_ref("GroupPolicy")
    extensions = sorted(u.extension for u in config.users) or ["0000"]
    common = {"401": error_reply("no or unknown token"), "403": error_reply("another group's settings")}

    def item(what: str, values: list[str], schema: str, body: str, put: str) -> dict[str, Any]:
        """A group's or a user's path: GET and PUT."""
        return {
            "parameters": [{"name": what if what == "group" else "extension", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": values}}],
            "get": {"summary": f"A {what}'s account-code settings",
                    "responses": {"200": ok_reply(f"the {what}", schema), "404": error_reply(f"no such {what}"),
                                  **common}},
            "put": {"summary": put,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": schema_ref(body)}}},
                    "responses": {"200": ok_reply("changed", schema), "400": error_reply("malformed JSON"),
                                  "404": error_reply(f"no such {what}"), "422": error_reply("a setting's value"),
                                  **common}},
        }

    one_group = item("group", groups, "Group", "GroupPolicy",
                     "Replace a group's account-code settings (a setting left out: its default)")
    one_group["delete"] = {"summary": "Delete a group (system tokens only)",
                           "responses": {"204": {"description": "deleted"}, "404": error_reply("no such group"),
                                         "409": error_reply("users, codes, administrators... still belong to it"),
                                         **common}}
    paths = {
        "/api/v1/groups": {
            "get": {"summary": "Business groups' account-code settings",
                    "responses": {"200": ok_reply("the groups", "GroupList"), **common}},
            "post": {"summary": "Make a group (system tokens only)",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": schema_ref("NewGroup")}}},
                     "responses": {"201": ok_reply("made", "Group"), "400": error_reply("malformed JSON"),
                                   "409": error_reply("the group exists"),
                                   "422": error_reply("a bad name or setting"), **common}}},
        "/api/v1/groups/{group}": one_group,
        "/api/v1/users": {"get": {
            "summary": "Users' account-code settings",
            "parameters": [{"name": "group", "in": "query", "schema": {"type": "string", "enum": groups}}],
            "responses": {"200": ok_reply("the users", "UserList"), **common}}},
        "/api/v1/users/{extension}": item("user", extensions, "User", "UserSettings",
                                          "Change a user's group (system tokens only), code mode and assigned code"),
    }
    return paths, schemas
