"""Business groups made and deleted in the database: the rules the portal, the
JSON API and ``b2bua groups add|remove`` share.

Theory of operation
-------------------
The groups are the rows of ``group_settings`` (:mod:`b2bua.runtime.code_settings`):
the configuration file's ``[groups.NAME]`` seed them, and a system administrator
may make more.  A name is 1 to :data:`MAX_NAME` letters, digits, ``_``, ``.`` or
``-``, starting with a letter or digit: nothing that needs quoting in a SIP
header, an HTML page, a URL path or a CSV cell (no formula's first character).

A group is deleted only when nothing belongs to it any more (:func:`uses`): no
user (moved away first: a user's group can be changed, see ``set_user``), no
account code, no group administrator or API token, no trunk or rate-plan mapping
of the configuration file.  The refusal names what still belongs.  A deleted
group is remembered in ``deleted_groups``, so the file does not seed it again
(the database wins); making a group of that name again forgets that.

Synchronous, on the caller's connection (the portal's worker thread, the command
line); each function leaves the transaction to its caller.
"""

from __future__ import annotations

import re
import time
from typing import Final

import msgspec

from dialplan.policy import GroupPolicy

from .code_settings import GroupConflict, SettingsError, SettingsStore

MAX_NAME: Final = 32
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,%d}" % (MAX_NAME - 1))
RESERVED: Final = frozenset({"new"})  # a page of the portal's (/groups/new)
SHOWN: Final = 5  # names listed in a refusal (the rest counted)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise SettingsError(f"group: {name[:40]!r}: 1 to {MAX_NAME} letters, digits, '_', '.' or '-', "
                            "starting with a letter or digit", "group")
    if name in RESERVED:
        raise SettingsError(f"group: {name!r} is reserved", "group")
    return name


def create(store: SettingsStore, name: str, settings: GroupPolicy, by: str) -> None:
    """Make group ``name`` with ``settings``."""
    check_name(name)
    if not store.config.groups:
        raise SettingsError("account codes are off: the configuration file names no [groups.NAME], so groups "
                            "made here would not be used", "group")
    if store.groups(only=name):
        raise GroupConflict(f"group: a group {name!r} exists already", "group")
    store.db.execute("DELETE FROM deleted_groups WHERE grp = ?", (name,))
    store.db.execute("INSERT INTO group_settings (grp, settings, changed_at, changed_by) VALUES (?, ?, ?, ?)",
                     (name, msgspec.json.encode(settings).decode(), time.time(), by))


def _listed(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    return f"{len(names)} {what} ({shown})"


def uses(store: SettingsStore, name: str) -> list[str]:
    """What still belongs to group ``name``, in words (empty: it may be deleted)."""
    db, config = store.db, store.config
    found = []
    users = [u.extension for u in store.users(name)]
    (codes,) = db.execute("SELECT count(*) FROM account_codes WHERE grp = ?", (name,)).fetchone()
    admins = [r[0] for r in db.execute("SELECT name FROM admins WHERE grp = ? ORDER BY name", (name,))]
    tokens = [r[0] for r in db.execute("SELECT name FROM api_tokens WHERE grp = ? ORDER BY name", (name,))]
    trunks = [t.name for t in config.trunks if t.group == name]
    for what, names in (("user(s)", users), ("group administrator(s)", admins), ("API token(s)", tokens),
                        ("trunk(s) of the configuration file", trunks)):
        if names:
            found.append(_listed(what, names))
    if codes:
        found.append(f"{codes} account code(s)")
    if name in config.billing.group_rate_plans:
        found.append(f"the configuration file's billing.group_rate_plans ({config.billing.group_rate_plans[name]})")
    return found


def delete(store: SettingsStore, name: str, by: str) -> None:
    """Delete group ``name``; refused (:class:`GroupConflict`) while anything belongs to it."""
    store.group(name)  # unknown: SettingsError naming the groups
    still = uses(store, name)
    if still:
        raise GroupConflict(f"group {name!r} is still in use: {'; '.join(still)}. Move or remove them first.",
                            "group")
    store.db.execute("DELETE FROM group_settings WHERE grp = ?", (name,))
    store.db.execute("INSERT INTO deleted_groups (grp, deleted_at, deleted_by) VALUES (?, ?, ?)"
                     " ON CONFLICT (grp) DO UPDATE SET deleted_at = excluded.deleted_at,"
                     " deleted_by = excluded.deleted_by", (name, time.time(), by))
