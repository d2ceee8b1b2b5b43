"""Command line: ``b2bua serve``, ``b2bua check-config``, account codes
(``b2bua codes``), groups' and users' code settings (``b2bua groups``, ``b2bua
users``: :mod:`b2bua.runtime.settings_cli`), the audit log (``b2bua audit``:
:mod:`b2bua.runtime.audit_cli`), billing (``b2bua report``, ``b2bua cdr export``
in :mod:`b2bua.runtime.report_cli`; ``b2bua rates`` and ``b2bua credit`` in
:mod:`b2bua.runtime.rates_cli`; ``--db URL`` reports on any billing database,
without a configuration).

Exit status 2 means the configuration (or a command-line value) is unusable;
the message names what is wrong.  ``b2bua status`` exits 3 when the server is
not running (stopped cleanly, killed, or hung), still printing its last counters.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeAlias, TypeVar

from .config import DEFAULT, Config, ConfigError, load, with_http_listen, with_listen
from .audit_cli import add_parser as audit_parser
from .report_cli import register as report_parsers
from .settings_cli import add_parsers as settings_parsers

if TYPE_CHECKING:  # the billing modules load only for the billing commands
    from .admin_db import AdminDb

EXIT_CONFIG = 2
T = TypeVar("T")
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _load(path: str | None, listen: list[str] | None) -> Config:
    config = load(path) if path else DEFAULT
    if listen:
        config = with_listen(config, listen)
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config, args.listen)
    if args.http_listen:
        config = with_http_listen(config, args.http_listen)
    logging.basicConfig(
        level=config.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvloop

    from b2bua.media.sounds import SoundError
    from b2bua.web.http import TlsError

    from .server import serve
    from .store import StoreError

    try:
        uvloop.run(serve(config))
    except (StoreError, TlsError) as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    except SoundError as err:  # [media] sounds_dir: a missing directory, a file not 8 kHz mono 16-bit
        print(f"b2bua: announcements: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"b2bua: cannot listen: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load(args.file)
    print(f"{args.file}: ok ({len(config.server.listen)} listen addresses)")
    return 0


def cmd_registrations(args: argparse.Namespace) -> int:
    from .store import StoreError, load_registrations, open_database

    config = _load(args.config, None)
    try:
        db = open_database(config.server.data_dir)
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    rows = load_registrations(db)
    if not rows:
        print("no live registrations")
        return 0
    print(f"{'extension':<10} {'expires':>7}  {'source':<28} contact")
    for aor, contact, source, left, ua in rows:
        print(f"{aor:<10} {left:>6}s  {source:<28} {contact}" + (f"  ({ua})" if ua else ""))
    return 0


EXIT_NOT_RUNNING = 3  # `status` of a stopped server (the LSB init-script convention)
STATUS_STALE = 10.0  # seconds without a rewrite of status.json (every second) before it is not believed


def _not_running(status: dict[str, object], written: float, now: float) -> str | None:
    """Why status.json does not describe a running server, or None if it does."""
    import os

    def when(t: object) -> str:
        stamp = float(t) if isinstance(t, (int, float)) else written
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))

    if status.get("running") is False:
        return f"stopped at {when(status.get('stopped'))}"
    pid = status.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"process {pid} is gone without a clean stop (last seen {when(status.get('updated'))})"
        except PermissionError:
            pass  # alive, another user's
    if now - written > STATUS_STALE:
        return f"its status was last written {now - written:.0f} s ago (at {when(status.get('updated'))})"
    return None


def cmd_status(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    config = _load(args.config, None)
    path = Path(config.server.data_dir) / "status.json"
    try:
        text = path.read_text()
        written = path.stat().st_mtime
        status = json.loads(text)
    except (OSError, ValueError):
        print(f"b2bua: no status in {path}: is the server running?", file=sys.stderr)
        return 1
    updated = status.get("updated")
    why = _not_running(status, float(updated) if isinstance(updated, (int, float)) else written, time.time())
    if why is not None:
        print(f"b2bua is not running: {why}")
        print("last counters before it stopped:")
    for key, value in status.items():
        print(f"  {key}: {value}" if why is not None else f"{key}: {value}")
    return EXIT_NOT_RUNNING if why is not None else 0


def _open_store(args: argparse.Namespace, make: Callable[[Any], T]) -> T | None:
    """``make(the administrative database)`` for a command, or None (said why)."""
    from .admin_db import open_admin_db
    from .store import StoreError

    config = _load(args.config, None)
    try:
        return make(open_admin_db(config.server))
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return None


def _audit(db: AdminDb, action: str, obj: str, group: str | None = None) -> None:
    """An audit-log entry of a command's change (:mod:`b2bua.runtime.audit`)."""
    from .audit import CLI, AuditLog

    AuditLog(db).record(CLI, action, obj, group=group)


def cmd_codes(args: argparse.Namespace) -> int:
    from dialplan.dialstring import mask_code

    from .codes import CodeError, CodeStore, code_from_fields, describe, table

    store = _open_store(args, CodeStore)
    if store is None:
        return 1
    group = args.group
    try:
        if args.action == "add":
            fields = {
                "code": args.code, "name": args.name, "department": args.department,
                "active": "no" if args.inactive else "yes", "active_from": args.active_from,
                "active_until": args.active_until, "min_digits": args.min_digits, "max_digits": args.max_digits,
                "blocked_prefixes": args.blocked, "allowed_numbers": args.allow_numbers,
                "allowed_prefixes": args.allow_prefixes, "allowed_classes": args.classes,
                "rate_plan": args.rate_plan, "credit_account": args.credit_account,
            }
            code = code_from_fields(fields)
            store.add(group, code, replace=args.replace)
            _audit(store.db, "code.change" if args.replace else "code.add", mask_code(code.code), group)
            print(f"added code {code.code} to group {group}")
        elif args.action == "list":
            for line in table(store.list(None if args.all else group)):
                print(line)
        elif args.action == "show":
            c = store.get(group, args.code)
            if c is None:
                print(f"b2bua: no code {args.code} in group {group!r}", file=sys.stderr)
                return 1
            for line in describe(group, c):
                print(line)
        elif args.action in ("disable", "enable"):
            store.set_active(group, args.code, args.action == "enable")
            _audit(store.db, f"code.{args.action}", mask_code(args.code), group)
            print(f"code {args.code} {args.action}d in group {group}")
        elif args.action == "import":
            try:
                text = open(args.file, encoding="utf-8-sig").read()
            except OSError as err:
                print(f"b2bua: cannot read {args.file}: {err.strerror}", file=sys.stderr)
                return 1
            n, errors = store.import_csv(group, text, skip_bad=args.skip_bad)
            if n:
                _audit(store.db, "code.import", f"{n} codes", group)
            for e in errors:
                print(f"{args.file}: {e}", file=sys.stderr)
            if errors and not args.skip_bad:
                print(f"b2bua: nothing imported: {len(errors)} bad row(s); fix them or use --skip-bad",
                      file=sys.stderr)
                return 1
            print(f"imported {n} code(s) into group {group}" + (f", skipped {len(errors)} bad row(s)" if errors else ""))
        elif args.action == "export":
            sys.stdout.write(store.export_csv(None if args.all else group))
    except CodeError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_authcodes(args: argparse.Namespace) -> int:
    from .authcodes import AuthCodeError, AuthCodeStore, describe

    store = _open_store(args, AuthCodeStore)
    if store is None:
        return 1
    try:
        if args.action == "add":
            # "-" (the default): read the digits from standard input, so they stay
            # out of the shell history and the process list
            code = sys.stdin.readline().strip() if args.code == "-" else args.code
            n = store.add(code, args.description, level=args.level, classes=args.classes)
            print(f"added authorization code {n} ({args.description}); a running server applies it to the next call")
        elif args.action == "list":
            for line in describe(store.list()):
                print(line)
        else:
            store.set_active(args.id, args.action == "enable")
            print(f"authorization code {args.id} {args.action}d; a running server applies it to the next call")
    except AuthCodeError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """From standard input (``--password-stdin``: one line) or asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_admin(args: argparse.Namespace) -> int:
    """``b2bua admin`` (portal administrators) and ``b2bua api-token`` (API clients):
    the same roles, the same table file."""
    from .admins import Admin, AdminError, AdminStore

    config = _load(args.config, None)
    store = _open_store(args, AdminStore)
    if store is None:
        return 1
    tokens = args.command == "api-token"
    try:
        if args.action == "add":
            if args.group is not None and config.groups:
                from .code_settings import SettingsStore

                groups = SettingsStore(store.db, config)
                groups.seed()
                if args.group not in groups.names():
                    raise AdminError(f"group {args.group!r} is not defined in the configuration's groups "
                                     f"nor made in the database ({', '.join(groups.names())})")
            if tokens:
                token = store.add_token(args.name, group=args.group)
                _audit(store.db, "token.add", args.name, args.group)
                print(f"API token {args.name} (shown this once; send it as Authorization: Bearer TOKEN):",
                      file=sys.stderr)
                print(token)
            else:
                admin = store.add(args.name, _read_password(args), group=args.group)
                _audit(store.db, "admin.add", admin.name, admin.group)
                what = f"administrator of group {admin.group}" if admin.group is not None else "system administrator"
                print(f"added {what} {admin.name}")
        elif args.action == "list":
            print(f"{'name':<24} {'role':<8} group")
            found: list[Admin] = store.tokens() if tokens else store.list()
            for a in found:
                print(f"{a.name:<24} {a.role:<8} {a.group or ''}")
        else:
            (store.remove_token if tokens else store.remove)(args.name)
            _audit(store.db, "token.remove" if tokens else "admin.remove", args.name)
            print(f"removed {'API token' if tokens else 'administrator'} {args.name}")
    except (AdminError, ValueError) as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    except EOFError:
        print("b2bua: no password given", file=sys.stderr)
        return 1
    return 0


def _admin_parser(sub: SubParsers) -> None:
    p = sub.add_parser("admin", help="portal administrators (system, or of one business group)")
    acts = p.add_subparsers(dest="action", required=True)
    q = acts.add_parser("add", help="add an administrator (asks for the password)")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    q.add_argument("name")
    q.add_argument("--group", help="a business-group administrator of this group (default: system administrator)")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q = acts.add_parser("list", help="list administrators")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    q = acts.add_parser("remove", help="remove an administrator (their sessions end at their next request)")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    q.add_argument("name")
    p.set_defaults(func=cmd_admin)
    p = sub.add_parser("api-token", help="tokens of JSON API clients (system, or of one business group)")
    acts = p.add_subparsers(dest="action", required=True)
    for name, text in (("add", "make a token (printed once)"), ("list", "list tokens (names only)"),
                       ("remove", "revoke a token")):
        q = acts.add_parser(name, help=text)
        q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        if name != "list":
            q.add_argument("name")
        if name == "add":
            q.add_argument("--group", help="limit the token to this business group")
    p.set_defaults(func=cmd_admin)


def _authcodes_parser(sub: SubParsers) -> None:
    p = sub.add_parser("authcodes", help="manage authorization codes (stored hashed; shown by description)")
    acts = p.add_subparsers(dest="action", required=True)
    q = acts.add_parser("add", help="add a code (its digits from standard input unless given)")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    q.add_argument("code", nargs="?", default="-", help="the digits, or - (default) to read them from stdin")
    q.add_argument("--description", required=True, help="what records and lists call it")
    q.add_argument("--level", type=int, default=0, help="authorization level 0-255")
    q.add_argument("--classes", default="", metavar="CLASSES", help="call classes it authorizes (default: all)")
    q = acts.add_parser("list", help="list codes (descriptions only)")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    for name in ("disable", "enable"):
        q = acts.add_parser(name, help=f"{name} a code by id")
        q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        q.add_argument("id", type=int)
    p.set_defaults(func=cmd_authcodes)


def _codes_parser(sub: SubParsers) -> None:
    p = sub.add_parser("codes", help="manage account codes (effective on the next call)")
    acts = p.add_subparsers(dest="action", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        q.add_argument("--group", default="default", help="business group (default: default)")

    q = acts.add_parser("add", help="add a code")
    common(q)
    q.add_argument("code")
    q.add_argument("--name", default="", help="client / matter / project")
    q.add_argument("--department", default="")
    q.add_argument("--inactive", action="store_true", help="add it disabled")
    q.add_argument("--from", dest="active_from", metavar="YYYY-MM-DD")
    q.add_argument("--until", dest="active_until", metavar="YYYY-MM-DD")
    q.add_argument("--min-digits", help="shortest number this code may call")
    q.add_argument("--max-digits", help="longest number this code may call")
    q.add_argument("--blocked", default="", metavar="PREFIXES", help="e.g. 801,004,920988")
    q.add_argument("--allow-numbers", default="", metavar="NUMBERS", help="only these numbers")
    q.add_argument("--allow-prefixes", default="", metavar="PREFIXES", help="only these prefixes")
    q.add_argument("--classes", default="", metavar="CLASSES", help="only these call classes, e.g. local,long_distance")
    q.add_argument("--rate-plan", default="")
    q.add_argument("--credit-account", default="")
    q.add_argument("--replace", action="store_true", help="overwrite an existing code")
    for name, text in (("list", "list codes"), ("export", "write codes as CSV to standard output")):
        q = acts.add_parser(name, help=text)
        common(q)
        q.add_argument("--all", action="store_true", help="every group")
    for name in ("show", "disable", "enable"):
        q = acts.add_parser(name, help=f"{name} a code")
        common(q)
        q.add_argument("code")
    q = acts.add_parser("import", help="import codes from a CSV file (see README)")
    common(q)
    q.add_argument("file")
    q.add_argument("--skip-bad", action="store_true", help="import the good rows of a file with bad ones")
    p.set_defaults(func=cmd_codes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="b2bua", description="SIP B2BUA with account codes and billing")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    p.add_argument(
        "--listen",
        action="append",
        metavar="PROTO:HOST:PORT",
        help="udp:HOST:PORT or tcp:HOST:PORT (IPv6: udp:[::1]:5060); repeat; overrides the file",
    )
    p.add_argument(
        "--http-listen", metavar="HOST:PORT",
        help="the portal's and /metrics' address (port 0: any free port; off: none); overrides [http] listen",
    )
    p.set_defaults(func=cmd_serve)
    for name, func, text in (
        ("registrations", cmd_registrations, "list the live registrations"),
        ("status", cmd_status, "show the running server's counters (exit 3: not running, last counters)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
        p.set_defaults(func=func)
    _codes_parser(sub)
    settings_parsers(sub)
    _authcodes_parser(sub)
    _admin_parser(sub)
    audit_parser(sub)
    report_parsers(sub)
    p = sub.add_parser("check-config", help="check a configuration file and exit")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    import sqlite3

    import psycopg

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"b2bua: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (sqlite3.Error, psycopg.Error) as err:  # the database went away during the command
        print(f"b2bua: administrative database ([server] database): {' '.join(str(err).split())}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
