"""Command line of the groups' and users' account-code settings
(:mod:`b2bua.runtime.code_settings`), effective on the next call:

``b2bua groups list|show NAME|set NAME --field value ...|reset NAME|add NAME
[--field value ...]|remove NAME`` and ``b2bua users list [--group G]|set EXT
[--group G] [--mode M] [--code C]|reset EXT``.  ``set`` changes only the
settings named; ``reset`` writes the configuration file's values over the
database's; ``remove`` is refused while anything belongs to the group
(:mod:`b2bua.runtime.groups`).  Each change and its audit-log entry are one
transaction.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, TypeAlias

from .config import DEFAULT, load

if TYPE_CHECKING:
    from .code_settings import SettingsStore

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

CLI_USER = "command line"  # changed_by of a change made here


def _store(args: argparse.Namespace) -> SettingsStore | None:
    from .code_settings import SettingsStore
    from .admin_db import open_admin_db
    from .store import StoreError

    config = load(args.config) if args.config else DEFAULT
    try:
        store = SettingsStore(open_admin_db(config.server), config)
        store.seed()
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return None
    return store


def _when(at: float | None, by: str) -> str:
    if at is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) + (f" by {by}" if by else "")


def _run(args: argparse.Namespace, action: Callable[[SettingsStore, argparse.Namespace], int]) -> int:
    from .code_settings import SettingsError

    store = _store(args)
    if store is None:
        return 1
    try:
        return action(store, args)
    except SettingsError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1


def _audited(store: SettingsStore, action: str, obj: str, group: str, change: Callable[..., Any], *args: Any) -> Any:
    """``change(*args)`` and its audit-log entry, in one transaction."""
    from .audit import CLI, AuditLog, Entry

    return AuditLog(store.db).atomic(lambda: change(*args), Entry(actor=CLI, action=action, object=obj, group=group))


def _groups(store: SettingsStore, args: argparse.Namespace) -> int:
    from . import groups
    from .code_settings import describe_group, group_from_form, group_to_form
    from dialplan.policy import GroupPolicy

    if args.action == "list":
        for row in store.groups():
            print(f"{row.group:<12} {describe_group(row.settings)}")
        return 0
    if args.action == "add":
        fields = group_to_form(GroupPolicy())
        changes = {k: v for k, v in vars(args).items() if k in fields and v is not None}
        _audited(store, "group.add", args.group, args.group, groups.create, store, args.group,
                 group_from_form(fields | changes), CLI_USER)
        print(f"group {args.group}: made")
        return 0
    if args.action == "remove":
        _audited(store, "group.remove", args.group, args.group, groups.delete, store, args.group, CLI_USER)
        print(f"group {args.group}: deleted")
        return 0
    row = store.group(args.group)
    if args.action == "show":
        print(f"{'group:':<18}{row.group}")
        for key, value in group_to_form(row.settings).items():
            print(f"{key + ':':<18}{value}")
        print(f"{'changed:':<18}{_when(row.changed_at, row.changed_by)}")
    elif args.action == "set":
        fields = group_to_form(row.settings)
        changes = {k: v for k, v in vars(args).items() if k in fields and v is not None}
        if not changes:
            print("b2bua: nothing to set (see b2bua groups set --help)", file=sys.stderr)
            return 1
        _audited(store, "group.change", args.group, args.group, store.set_group, args.group,
                 group_from_form(fields | changes), CLI_USER)
        print(f"group {args.group}: {', '.join(sorted(changes))} set")
    else:
        _audited(store, "group.reset", args.group, args.group, store.reset_group, args.group)
        print(f"group {args.group}: the configuration file's settings again")
    return 0


def _users(store: SettingsStore, args: argparse.Namespace) -> int:
    from .code_settings import user_from_fields

    if args.action == "list":
        print(f"{'extension':<10} {'group':<12} {'mode':<10} {'code':<15} changed")
        for u in store.users(args.group):
            mode = u.settings.mode.value if u.settings.mode else "(group's)"
            print(f"{u.extension:<10} {u.group:<12} {mode:<10} {u.settings.assigned_code or '':<15} "
                  f"{_when(u.changed_at, u.changed_by)}")
    elif args.action == "set":
        row = store.user(args.extension)
        mode = args.mode if args.mode is not None else (row.settings.mode or "")
        code = args.code if args.code is not None else (row.settings.assigned_code or "")
        group = args.group or row.group
        _audited(store, "user.change", args.extension, group, store.set_user, args.extension,
                 user_from_fields(mode, code), CLI_USER, group)
        print(f"user {args.extension}: code settings set" + (f", moved to group {group}" if group != row.group else ""))
    else:
        group = store.users_by_ext[args.extension].group if args.extension in store.users_by_ext else ""
        _audited(store, "user.reset", args.extension, group, store.reset_user, args.extension)
        print(f"user {args.extension}: the configuration file's code settings again")
    return 0


def cmd_groups(args: argparse.Namespace) -> int:
    return _run(args, _groups)


def cmd_users(args: argparse.Namespace) -> int:
    return _run(args, _users)


# text options of `groups set`, as the fields of the portal's form
GROUP_OPTIONS: dict[str, str] = {
    "mode": "off, optional, mandatory, classes, prefixes or fac",
    "code_length": "fixed length (2-14); empty: variable, ended by #",
    "validation": "list, flag or length",
    "required_classes": "call classes needing a code (mode classes), comma-separated",
    "required_prefixes": "destination prefixes needing a code (mode prefixes), comma-separated",
    "fac": "feature access code, e.g. *88 (empty: none)",
    "prompt": "off, announcement or tone",
    "prompt_answer": "yes: answer the caller before prompting",
    "prompt_attempts": "codes a prompted caller may try (1-10)",
    "minimal_access": "the minimal-prompt access number (empty: none)",
    "midcall_vsc": "the mid-call VSC, e.g. *89 (empty: none)",
    "post_call_window": "seconds after a call its code may still be attached",
    "auth_fac": "authorization codes' FAC (empty: none)",
    "auth_classes": "call classes needing an authorization code",
    "auth_level": "lowest authorization level accepted",
}


def add_parsers(sub: SubParsers) -> None:
    def config(q: Any) -> None:
        q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")

    p = sub.add_parser("groups", help="business groups' account-code settings (effective on the next call)")
    acts = p.add_subparsers(dest="action", required=True)
    config(acts.add_parser("list", help="list the groups and their settings"))
    for name, text in (("show", "show a group's settings"), ("set", "change a group's settings"),
                       ("reset", "the configuration file's settings again"),
                       ("add", "make a group (settings not named: their defaults)"),
                       ("remove", "delete a group nothing belongs to any more")):
        q = acts.add_parser(name, help=text)
        q.add_argument("group", metavar="GROUP")
        config(q)
        if name in ("set", "add"):
            for option, why in GROUP_OPTIONS.items():
                q.add_argument("--" + option.replace("_", "-"), dest=option, metavar="VALUE", help=why)
    p.set_defaults(func=cmd_groups)

    p = sub.add_parser("users", help="users' account-code settings (effective on the next call)")
    acts = p.add_subparsers(dest="action", required=True)
    q = acts.add_parser("list", help="list users and their code settings")
    q.add_argument("--group", metavar="GROUP", help="only this group's users")
    config(q)
    q = acts.add_parser("set", help="change a user's group, code mode or assigned code")
    q.add_argument("extension", metavar="EXTENSION")
    q.add_argument("--group", metavar="GROUP", help="move the user to this group (one of `b2bua groups list`)")
    q.add_argument("--mode", metavar="MODE", help="a mode instead of the group's (empty: the group's)")
    q.add_argument("--code", metavar="CODE", help="the code every call of the user carries (empty: none)")
    config(q)
    q = acts.add_parser("reset", help="the configuration file's code settings again")
    q.add_argument("extension", metavar="EXTENSION")
    config(q)
    p.set_defaults(func=cmd_users)
