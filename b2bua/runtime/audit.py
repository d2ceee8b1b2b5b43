"""The audit log: who changed what, when and from where, in the ``audit_log``
table of the administrative database (:mod:`b2bua.runtime.admin_db`).

An entry names its actor (an administrator's name, ``token:NAME`` for an API
token, or ``cli`` for the command line), the source address (empty for the
command line), an action from :data:`ACTIONS` and the object it was done to
(a code masked as in the logs, a group, a user, an administrator, a call...).
Entries never hold a password, a token or another secret: callers pass names
only.  An entry may belong to a business group (its group administrators see
it); one without a group is seen by system administrators only.

A change to the administrative database and its entry are one transaction
(:meth:`AuditLog.atomic`): both are kept or neither.  A change elsewhere (rates
and credit in the billing database, a live call) stands when its entry cannot be
written; the caller logs that and says so (:data:`NOT_AUDITED`).

Entries older than ``server.audit_retention_days`` are deleted
(:meth:`AuditLog.prune`, at start and daily, off the event loop; 0 keeps them).

Synchronous: the portal calls it in a worker thread, the command line directly.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Callable, Final, TypeVar

import msgspec

from b2bua.billing.reports import CSV_LINE_END, csv_cell

if TYPE_CHECKING:
    from .admin_db import AdminDb
    from .config import ServerConfig

T = TypeVar("T")

CLI: Final = "cli"  # the actor of a change made on the command line
MAX_PAGE: Final = 500
ACTIONS: Final = (
    "code.add", "code.change", "code.enable", "code.disable", "code.import",
    "group.add", "group.remove", "group.change", "group.reset", "user.change", "user.reset",
    "admin.add", "admin.remove", "admin.password", "token.add", "token.remove",
    "call.code", "call.end",
    "plan.add", "plan.change", "plan.remove", "rate.change", "rate.remove", "rates.import",
    "credit.create", "credit.change",
)
MAX_TEXT: Final = 200  # characters kept of an actor, address or object
DAY: Final = 86400.0
NOT_AUDITED: Final = "The change was saved, but it could not be written to the audit log."

NOT_SAVED: Final = "Not saved: the change or its audit-log entry cannot be written to the database. Try again later."


class NotSaved(Exception):
    """A change to the server's database was undone with its audit-log entry (:data:`NOT_SAVED`)."""


class Entry(msgspec.Struct, kw_only=True, frozen=True):
    """An entry to write: who did what to which object, from where."""

    actor: str
    action: str
    object: str
    group: str | None = None
    address: str = ""


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    at: float  # seconds since the epoch
    actor: str
    address: str
    action: str
    object: str
    group: str | None = None


class AuditLog:
    def __init__(self, db: AdminDb) -> None:
        self.db = db

    def record(self, actor: str, action: str, obj: str, *, group: str | None = None, address: str = "",
               now: float | None = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        self.db.execute(
            "INSERT INTO audit_log (at, actor, address, action, object, grp) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time() if now is None else now, actor[:MAX_TEXT], address[:MAX_TEXT], action,
             obj[:MAX_TEXT], group),
        )

    def atomic(self, change: Callable[[], T], entry: Entry | Callable[[T], Entry | None]) -> T:
        """``change()`` (on this connection) and ``entry`` (or the entry made of its
        result; None: nothing changed) in one transaction: an entry that cannot be
        written undoes the change, and the error is raised."""
        with self.db.transaction():
            result = change()
            made = entry if isinstance(entry, Entry) else entry(result)
            if made is not None:
                self.record(made.actor, made.action, made.object, group=made.group, address=made.address)
        return result

    def prune(self, days: int, now: float | None = None) -> int:
        """Delete the entries older than ``days`` days (0: none); how many went."""
        if days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - days * DAY
        return int(self.db.execute("DELETE FROM audit_log WHERE at < ?", (cutoff,)).rowcount)

    def search(self, group: str | None = None, *, actor: str = "", action: str = "", offset: int = 0,
               limit: int = 50) -> tuple[int, list[AuditEntry]]:
        """Entries newest first (``group``: that group's only; ``actor``,
        ``action``: exact matches when given), and how many match in all."""
        where, args = [], []
        for column, value in (("grp", group), ("actor", actor), ("action", action)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        (total,) = self.db.execute(f"SELECT count(*) FROM audit_log{clause}", args).fetchone()
        rows = self.db.execute(
            f"SELECT id, at, actor, address, action, object, grp FROM audit_log{clause}"
            " ORDER BY id DESC LIMIT ? OFFSET ?", [*args, min(limit, MAX_PAGE), offset])
        return int(total), [AuditEntry(id=r[0], at=r[1], actor=r[2], address=r[3], action=r[4], object=r[5],
                                       group=r[6]) for r in rows]

    def actors(self, group: str | None = None) -> list[str]:
        """Every actor with an entry (of ``group`` when given), for a filter's choices."""
        if group:
            rows = self.db.execute("SELECT DISTINCT actor FROM audit_log WHERE grp = ? ORDER BY actor", (group,))
        else:
            rows = self.db.execute("SELECT DISTINCT actor FROM audit_log ORDER BY actor")
        return [r[0] for r in rows]


def when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def export_csv(entries: list[AuditEntry]) -> str:
    """Entries as CSV, every cell guarded against spreadsheet formulas."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator=CSV_LINE_END)
    w.writerow(["time_utc", "actor", "address", "action", "object", "group"])
    for e in entries:
        w.writerow([csv_cell(v) for v in (when(e.at), e.actor, e.address, e.action, e.object, e.group or "")])
    return out.getvalue()


def prune_audit(server: ServerConfig, days: int) -> int:
    """Delete entries older than ``days`` days (own connection to the administrative database)."""
    from .admin_db import open_admin_db

    db = open_admin_db(server)
    try:
        return AuditLog(db).prune(days)
    finally:
        db.close()


def note_cli(server: ServerConfig, action: str, obj: str, group: str | None = None) -> None:
    """Record a command-line change (its own connection to the administrative database)."""
    from .admin_db import open_admin_db

    db = open_admin_db(server)
    try:
        AuditLog(db).record(CLI, action, obj, group=group)
    finally:
        db.close()
