"""JSON API of the groups' and users' account-code settings: the same operations
as the portal's pages and ``b2bua groups`` / ``b2bua users``, on the same tables
(:mod:`b2bua.runtime.code_settings`), effective on the next call.

``GET /api/v1/groups``, ``GET|PUT /api/v1/groups/{group}`` (the body: every
setting of the group, as ``[groups.NAME]`` in the TOML; one left out takes its
default), ``GET /api/v1/users[?group=G]``, ``GET|PUT /api/v1/users/{extension}``
(``mode``: null for the group's; ``assigned_code``: null for none, else a code
of the user's group).  Tokens and errors as :mod:`b2bua.web.api`: a group's
token sees and changes only its group (403); a bad value is 422 naming the field.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from b2bua.runtime.admins import Admin
from b2bua.runtime.code_settings import (
    GroupRow, SettingsError, SettingsStore, UserRow, group_from_mapping, user_from_fields,
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


class UserSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A user's code settings: a mode instead of the group's (null: the group's), an assigned code."""

    mode: Mode | None = None
    assigned_code: str | None = None


class User(UserSettings, kw_only=True):
    extension: str
    display_name: str
    group: str
    changed_by: str


class UserList(msgspec.Struct, kw_only=True):
    items: list[User]


def _group(row: GroupRow) -> Group:
    return Group(group=row.group, settings=row.settings, changed_by=row.changed_by)


def _user(row: UserRow) -> User:
    return User(extension=row.extension, display_name=row.display_name, group=row.group, mode=row.settings.mode,
                assigned_code=row.settings.assigned_code, changed_by=row.changed_by)


def _unprocessable(err: SettingsError) -> Problem:
    return Problem(422, str(err), err.field)


def routes(portal: Portal) -> list[Route]:
    db = portal.db
    store = SettingsStore(db.db, portal.config)

    def allowed(who: Admin, group: str) -> None:
        if not who.may_manage(group):
            raise Problem(403, f"this token may use the settings of group {who.group} only", "group")

    async def list_groups(request: Request, who: Admin) -> Response:
        rows = await db.run(store.groups, who.group)
        return json_reply(GroupList(items=[_group(r) for r in rows]))

    async def one_group(request: Request, who: Admin) -> Response:
        name = request.path_params["group"]
        allowed(who, name)
        try:
            if request.method == "PUT":
                body: dict[str, Any] = decode_body(await request.body(), dict[str, Any])
                await db.run(store.set_group, name, group_from_mapping(body), who.name)
                log.info("api: %s changed the code settings of group %s", who.name, name)
                await portal.audit(request, who.name, "group.change", name, name)
            row = await db.run(store.group, name)
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
            try:
                settings = user_from_fields(body.mode, body.assigned_code)
                await db.run(store.set_user, extension, settings, who.name)
            except SettingsError as err:
                raise _unprocessable(err) from None
            log.info("api: %s changed the code settings of user %s", who.name, extension)
            await portal.audit(request, who.name, "user.change", extension, row.group)
            row = await db.run(store.user, extension)
        return json_reply(_user(row))

    def api(handler: Any) -> Any:
        return endpoint(portal, handler)

    return [
        Route("/api/v1/groups", api(list_groups), methods=["GET"]),
        Route("/api/v1/groups/{group}", api(one_group), methods=["GET", "PUT"]),
        Route("/api/v1/users", api(list_users), methods=["GET"]),
        Route("/api/v1/users/{extension}", api(one_user), methods=["GET", "PUT"]),
    ]


def document(config: Config) -> Document:
    """These operations' part of the OpenAPI document (paths, component schemas)."""
    _, schemas = msgspec.json.schema_components(
        [Group, GroupList, GroupPolicy, UserSettings, User, UserList], ref_template="#/components/schemas/{name}"
    )
    code = {"type": "string", "pattern": f"^[0-9]{{{MIN_CODE_DIGITS},{MAX_CODE_DIGITS}}}$"}
    schemas["UserSettings"]["properties"]["assigned_code"] = {"anyOf": [code, {"type": "null"}], "default": None}
    groups = sorted(config.groups) or ["default"]
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

    paths = {
        "/api/v1/groups": {"get": {"summary": "Business groups' account-code settings",
                                   "responses": {"200": ok_reply("the groups", "GroupList"), **common}}},
        "/api/v1/groups/{group}": item("group", groups, "Group", "GroupPolicy",
                                       "Replace a group's account-code settings (a setting left out: its default)"),
        "/api/v1/users": {"get": {
            "summary": "Users' account-code settings",
            "parameters": [{"name": "group", "in": "query", "schema": {"type": "string", "enum": groups}}],
            "responses": {"200": ok_reply("the users", "UserList"), **common}}},
        "/api/v1/users/{extension}": item("user", extensions, "User", "UserSettings",
                                          "Change a user's code mode and assigned code"),
    }
    return paths, schemas
