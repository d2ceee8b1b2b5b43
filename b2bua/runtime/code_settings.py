"""Business groups' and users' account-code settings in the administrative database.

Theory of operation
-------------------
A group's settings (:class:`dialplan.policy.GroupPolicy`: mode, required
classes and prefixes, fixed or variable length, FAC, validation, prompting,
mid-call VSC, ...) are one row of ``group_settings`` (the struct as JSON); a
user's code settings (a mode instead of the group's, an assigned code) one row
of ``user_code_settings``.  Users' SIP credentials stay in the TOML file.

The TOML seeds the tables: :meth:`SettingsStore.seed` (at every start of the
server and of the command line) inserts each configured group and user that
has no row yet; a row, once there, wins over the file.  ``reset`` writes the
file's values over a row again.  The groups are the rows of ``group_settings``:
more may be made in the database, and a configured one deleted there
(``deleted_groups``) is not seeded again (:mod:`b2bua.runtime.groups`).  A
user's group is the file's unless ``user_groups`` moves them to another.

The running server reads the settings from an in-memory copy,
:class:`LiveSettings`, a follower of the account codes' reloads
(:class:`b2bua.runtime.codes.CodeStore`): read in its worker thread when the
database changed, handed over on the loop as a new frozen
:class:`CodeSettings`, which the server puts into a new admission policy.  A
call already admitted keeps what it was admitted with; the next call uses the
new copy.  A row that does not decode (not written by this module) keeps that
group's or user's previous settings and is logged.

Every change goes through :func:`group_from_mapping` / :func:`user_from_fields`,
whose errors (:class:`SettingsError`) name the field at fault.
"""

from __future__ import annotations

import logging
import re
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import msgspec

from dialplan.codes import parse_prefix_list
from dialplan.policy import GroupPolicy, Mode, UserPolicy

from .admin_schema import upsert
from .config import Config, UserConfig

if TYPE_CHECKING:
    from .admin_db import AdminDb

log = logging.getLogger("b2bua.codes")

GROUP_FIELDS: tuple[str, ...] = GroupPolicy.__struct_fields__
SEEDED_BY = "configuration file"  # changed_by of rows the TOML seeded or reset
_PATH = re.compile(r"at `\$\.([a-z_]+)")
_LISTS = ("required_classes", "required_prefixes", "auth_classes")
_NUMBERS = ("code_length", "prompt_attempts", "auth_level", "post_call_window")
_GROUP_COLUMNS = ("grp", "settings", "changed_at", "changed_by")
_USER_COLUMNS = ("extension", "mode", "assigned_code", "changed_at", "changed_by")
SEED_GROUP = f"INSERT INTO group_settings ({', '.join(_GROUP_COLUMNS)}) VALUES (?, ?, ?, ?) ON CONFLICT (grp) DO NOTHING"
SEED_USER = (f"INSERT INTO user_code_settings ({', '.join(_USER_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
             " ON CONFLICT (extension) DO NOTHING")
SET_GROUP = upsert("group_settings", _GROUP_COLUMNS, ("grp",))
SET_USER = upsert("user_code_settings", _USER_COLUMNS, ("extension",))
SET_USER_GROUP = upsert("user_groups", ("extension", "grp", "changed_at", "changed_by"), ("extension",))


class SettingsError(Exception):
    """Settings that cannot be stored; ``field`` names the one at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class GroupConflict(SettingsError):
    """The group exists already, or something still belongs to it (HTTP 409)."""


class CodeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One consistent copy: group name -> settings, extension -> code settings,
    extension -> group (the users moved from their configured group)."""

    groups: Mapping[str, GroupPolicy]
    users: Mapping[str, UserPolicy]
    user_groups: Mapping[str, str]


# -- validation: one path for the portal, the API and the command line -----------------


def group_from_mapping(data: Mapping[str, Any]) -> GroupPolicy:
    """A group's settings from JSON-like values (checked as the TOML's are)."""
    try:
        return msgspec.convert(dict(data), GroupPolicy)
    except msgspec.ValidationError as err:
        text = str(err)
        m = _PATH.search(text)
        first = re.split(r"[ :]", text, maxsplit=1)[0]  # GroupPolicy's own checks start with the field
        field = m.group(1) if m else (first if first in GROUP_FIELDS else None)
        if field is not None and not text.startswith(field):
            text = f"{field}: {text}"
        raise SettingsError(text, field) from None


def group_from_form(fields: Mapping[str, str]) -> GroupPolicy:
    """A group's settings from text fields (a form, the command line): lists
    comma-separated, yes/no, whole numbers; an empty code_length is variable."""
    data: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in GROUP_FIELDS:
            raise SettingsError(f"unknown setting {name!r}", name)
        value = value.strip()
        if name in _LISTS:
            data[name] = parse_prefix_list(value)
        elif name == "prompt_answer":
            if value not in ("yes", "no"):
                raise SettingsError("prompt_answer must be yes or no", name)
            data[name] = value == "yes"
        elif name in _NUMBERS:
            if name == "code_length" and not value:
                data[name] = None
            elif value.isascii() and value.isdigit() and len(value) < 10:
                data[name] = int(value)
            else:
                raise SettingsError(f"{name} must be a whole number, not {value[:20]!r}", name)
        else:
            data[name] = value
    return group_from_mapping(data)


def group_to_form(g: GroupPolicy) -> dict[str, str]:
    """The text fields of :func:`group_from_form` for ``g``."""
    out = {}
    for name in GROUP_FIELDS:
        value = getattr(g, name)
        if isinstance(value, (frozenset, tuple)):
            out[name] = ",".join(sorted(str(v) for v in value))
        elif isinstance(value, bool):
            out[name] = "yes" if value else "no"
        else:
            out[name] = "" if value is None else str(value)
    return out


def user_from_fields(mode: str | None, code: str | None) -> UserPolicy:
    """A user's code settings: mode ("" or None: the group's), assigned code ("": none)."""
    mode = (mode or "").strip()
    if mode and mode not in {m.value for m in Mode}:
        raise SettingsError(f"mode must be one of {', '.join(m.value for m in Mode)} (or empty: the group's)", "mode")
    try:
        return UserPolicy(mode=Mode(mode) if mode else None, assigned_code=(code or "").strip() or None)
    except ValueError as err:
        raise SettingsError(str(err), "assigned_code") from None


def describe_group(g: GroupPolicy) -> str:
    """A group's settings in a few words (lists, the command line)."""
    length = f"{g.code_length} digits" if g.code_length else "variable length"
    parts = [g.mode.value, length, f"validation {g.validation.value}"]
    if g.required_classes:
        parts.append("classes " + ",".join(sorted(c.value for c in g.required_classes)))
    if g.required_prefixes:
        parts.append("prefixes " + ",".join(g.required_prefixes))
    if g.fac:
        parts.append("FAC " + g.fac)
    parts.append(f"prompt {g.prompt.value}")
    return "; ".join(parts)


# -- the tables --------------------------------------------------------------------------


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    """A configured user and their code settings as stored."""

    extension: str
    display_name: str
    group: str
    settings: UserPolicy
    changed_at: float | None
    changed_by: str


class GroupRow(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    settings: GroupPolicy
    changed_at: float
    changed_by: str


def _mode(p: UserPolicy) -> str | None:
    return None if p.mode is None else p.mode.value  # the text: a driver may store an enum's name


def _user_seed(u: UserConfig) -> UserPolicy:
    return UserPolicy(mode=u.account_code_mode, assigned_code=u.account_code)


class SettingsStore:
    """``group_settings`` and ``user_code_settings`` for the command line and the
    portal (the running server reads them through :class:`LiveSettings`)."""

    def __init__(self, db: AdminDb, config: Config) -> None:
        self.db = db
        self.config = config
        self.users_by_ext = {u.extension: u for u in config.users}

    def seed(self) -> tuple[int, int]:
        """Insert the configured groups and users that have no row; (groups, users) added."""
        now = time.time()
        deleted = self.deleted()
        groups = [(name, msgspec.json.encode(p).decode(), now, SEEDED_BY) for name, p in self.config.groups.items()
                  if name not in deleted]
        users = [(x.extension, _mode(p), p.assigned_code, now, SEEDED_BY)
                 for x in self.config.users for p in [_user_seed(x)]]
        if not self._missing(groups, users):
            return 0, 0  # nothing to add: no write (nodes starting at once do not wait on each other)
        with self.db.transaction():
            g = self.db.executemany(SEED_GROUP, groups) if groups else 0
            u = self.db.executemany(SEED_USER, users) if users else 0
        return g, u

    def _missing(self, groups: list[tuple[Any, ...]], users: list[tuple[Any, ...]]) -> bool:
        have_groups = {r[0] for r in self.db.execute("SELECT grp FROM group_settings")}
        have_users = {r[0] for r in self.db.execute("SELECT extension FROM user_code_settings")}
        return any(g[0] not in have_groups for g in groups) or any(u[0] not in have_users for u in users)

    # groups
    def deleted(self) -> set[str]:
        """The groups deleted in the database (never seeded again)."""
        return {r[0] for r in self.db.execute("SELECT grp FROM deleted_groups")}

    def names(self) -> list[str]:
        """Every group, sorted."""
        return [r[0] for r in self.db.execute("SELECT grp FROM group_settings ORDER BY grp")]

    def groups(self, only: str | None = None) -> list[GroupRow]:
        """The groups (``only``: that one) with their stored settings."""
        if only is None:
            rows = self.db.execute("SELECT grp, settings, changed_at, changed_by FROM group_settings ORDER BY grp")
        else:
            rows = self.db.execute("SELECT grp, settings, changed_at, changed_by FROM group_settings WHERE grp = ?",
                                   (only,))
        return [GroupRow(group=name, settings=_decode_group(text), changed_at=at, changed_by=by)
                for name, text, at, by in rows]

    def group(self, name: str) -> GroupRow:
        found = self.groups(only=name)
        if not found and name in self.config.groups and name not in self.deleted():
            # configured after this database was seeded: the file's settings
            settings = msgspec.json.encode(self.config.groups[name]).decode()
            self.db.execute(SEED_GROUP, (name, settings, time.time(), SEEDED_BY))
            found = self.groups(only=name)
        if not found:
            known = ", ".join(self.names()) or "none"
            raise SettingsError(f"unknown group {name!r} (the groups: {known})", "group")
        return found[0]

    def _known_group(self, name: str) -> None:
        self.group(name)

    def set_group(self, name: str, settings: GroupPolicy, by: str) -> None:
        self._known_group(name)
        self.db.execute(SET_GROUP, (name, msgspec.json.encode(settings).decode(), time.time(), by))

    def reset_group(self, name: str) -> GroupPolicy:
        """The configuration file's settings for ``name`` again."""
        self._known_group(name)
        if name not in self.config.groups:
            raise GroupConflict(f"group {name!r} was made in the database: the configuration file has no "
                                "settings for it", "group")
        settings = self.config.groups[name]
        self.set_group(name, settings, SEEDED_BY)
        return settings

    # users
    def moved(self) -> dict[str, str]:
        """extension -> group, for the users the database moved from their configured group."""
        return {ext: grp for ext, grp in self.db.execute("SELECT extension, grp FROM user_groups")
                if ext in self.users_by_ext}

    def users(self, group: str | None = None) -> list[UserRow]:
        """The configured users (of ``group``) with their group and stored code settings."""
        rows = {r[0]: r for r in self.db.execute(
            "SELECT extension, mode, assigned_code, changed_at, changed_by FROM user_code_settings")}
        moved = self.moved()
        out = []
        for u in sorted(self.config.users, key=lambda x: (moved.get(x.extension, x.group), x.extension)):
            in_group = moved.get(u.extension, u.group)
            if group is not None and in_group != group:
                continue
            row = rows.get(u.extension)
            settings = _decode_user(row[1], row[2]) if row is not None else _user_seed(u)
            out.append(UserRow(extension=u.extension, display_name=u.display_name, group=in_group,
                               settings=settings, changed_at=row[3] if row else None,
                               changed_by=row[4] if row else ""))
        return out

    def user(self, extension: str) -> UserRow:
        if extension not in self.users_by_ext:
            raise SettingsError(f"unknown user {extension!r} (users are named in the configuration file)",
                                "extension")
        return next(r for r in self.users() if r.extension == extension)

    def set_user(self, extension: str, settings: UserPolicy, by: str, group: str | None = None) -> None:
        """Store a user's code settings (``group``: move them to that group, one of
        the database's); an assigned code must exist in the user's group."""
        row = self.user(extension)
        group = group or row.group
        if group != row.group:
            try:
                self.group(group)
            except SettingsError as err:
                raise SettingsError(f"group: {err}", "group") from None
        code = settings.assigned_code
        if code is not None and self.db.execute(
            "SELECT 1 FROM account_codes WHERE grp = ? AND code = ?", (group, code)
        ).fetchone() is None:
            raise SettingsError(f"assigned_code: no code {code} in group {group!r}", "assigned_code")
        now = time.time()
        self.db.execute(SET_USER, (extension, _mode(settings), code, now, by))
        self._place(extension, group, now, by)

    def _place(self, extension: str, group: str, now: float, by: str) -> None:
        if group == self.users_by_ext[extension].group:
            self.db.execute("DELETE FROM user_groups WHERE extension = ?", (extension,))
        else:
            self.db.execute(SET_USER_GROUP, (extension, group, now, by))

    def reset_user(self, extension: str) -> UserPolicy:
        """The configuration file's code settings and group for the user again."""
        self.user(extension)
        user = self.users_by_ext[extension]
        try:
            self.group(user.group)
        except SettingsError:
            raise GroupConflict(f"group {user.group!r} of the configuration file was deleted: move the user to "
                                "another group instead", "group") from None
        settings = _user_seed(user)
        now = time.time()
        self.db.execute(SET_USER, (extension, _mode(settings), settings.assigned_code, now, SEEDED_BY))
        self._place(extension, user.group, now, SEEDED_BY)
        return settings


def _decode_group(text: str) -> GroupPolicy:
    try:
        return msgspec.json.decode(text, type=GroupPolicy)
    except (msgspec.ValidationError, msgspec.DecodeError) as err:
        raise SettingsError(f"stored settings do not decode: {err}") from None


def _decode_user(mode: str | None, code: str | None) -> UserPolicy:
    return user_from_fields(mode, code)


# -- the running server's copy ---------------------------------------------------------


class LiveSettings:
    """The settings the running server admits calls with: a follower of the account
    codes' reloads (``CodeStore.followers``).  ``current`` is replaced, never
    changed; ``on_change`` is called with each new copy."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.current = CodeSettings(
            groups=MappingProxyType(dict(config.groups)),
            users=MappingProxyType({u.extension: _user_seed(u) for u in config.users}),
            user_groups=MappingProxyType({}),
        )
        self.on_change: list[Callable[[CodeSettings], None]] = []
        self.reloads = 0

    def read(self, db: AdminDb, /) -> CodeSettings:
        """In the reloads' worker thread: the stored groups and the settings and
        groups of the configured users (a row that does not decode: the previous
        copy's; a deleted group is gone)."""
        old = self.current
        groups = {}
        # no configured group: account codes are off, whatever the database holds
        for name, text in db.execute("SELECT grp, settings FROM group_settings") if self.config.groups else ():
            try:
                groups[name] = _decode_group(text)
            except SettingsError as err:
                log.error("group %r: %s; its previous settings stay in use", name, err)
                if name in old.groups:
                    groups[name] = old.groups[name]
        users = dict(old.users)
        configured = {u.extension for u in self.config.users}
        for ext, mode, code in db.execute("SELECT extension, mode, assigned_code FROM user_code_settings"):
            if ext not in configured:
                continue
            try:
                users[ext] = _decode_user(mode, code)
            except SettingsError as err:
                log.error("user %r: %s; their previous code settings stay in use", ext, err)
        moved = {ext: grp for ext, grp in db.execute("SELECT extension, grp FROM user_groups") if ext in configured}
        return CodeSettings(groups=MappingProxyType(groups), users=MappingProxyType(users),
                            user_groups=MappingProxyType(moved))

    def apply(self, settings: CodeSettings, /) -> None:
        if settings == self.current:
            return
        self.current = settings
        self.reloads += 1
        log.info("account-code settings of groups and users reloaded")
        for fn in self.on_change:
            fn(settings)
