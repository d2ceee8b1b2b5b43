"""``b2bua audit``: the audit log (:mod:`b2bua.runtime.audit`) from the command
line, newest first, as a table or as CSV (cells guarded against formulas)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cli import SubParsers


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit import ACTIONS, MAX_PAGE, AuditLog, export_csv, when
    from .config import DEFAULT, load
    from .admin_db import open_admin_db
    from .store import StoreError

    if args.action and args.action not in ACTIONS:
        print(f"b2bua: action: one of {', '.join(ACTIONS)}", file=sys.stderr)
        return 2
    if not 1 <= args.limit <= MAX_PAGE:
        print(f"b2bua: limit: 1 to {MAX_PAGE}", file=sys.stderr)
        return 2
    config = load(args.config) if args.config else DEFAULT
    try:
        db = open_admin_db(config.server)
    except StoreError as err:
        print(f"b2bua: {err}", file=sys.stderr)
        return 1
    try:
        total, entries = AuditLog(db).search(args.group, actor=args.actor or "", action=args.action or "",
                                             offset=max(args.offset, 0), limit=args.limit)
    finally:
        db.close()
    if args.csv:
        sys.stdout.write(export_csv(entries))
        return 0
    for e in entries:
        print(f"{when(e.at)}Z  {e.actor:<20} {e.address or '-':<15} {e.action:<14} {e.object}"
              + (f"  [{e.group}]" if e.group else ""))
    if total > args.offset + len(entries):
        print(f"... {total - args.offset - len(entries)} older (--offset, --limit)", file=sys.stderr)
    return 0


def add_parser(sub: SubParsers) -> None:
    p = sub.add_parser("audit", help="who changed what: the audit log, newest first")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: embedded)")
    p.add_argument("--group", help="only this business group's entries")
    p.add_argument("--actor", help="only this administrator's (token:NAME, cli) entries")
    p.add_argument("--action", help="only this action (code.add, admin.remove, ...)")
    p.add_argument("--offset", type=int, default=0, help="skip this many newest entries")
    p.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.set_defaults(func=cmd_audit)
