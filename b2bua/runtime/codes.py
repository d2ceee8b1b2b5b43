"""Account codes in the database, managed by the business-group administrator.

Codes live in the ``account_codes`` table of the administrative database
(:mod:`b2bua.runtime.admin_db`: the server's SQLite file, or PostgreSQL), one row
per (group, code).  The running server looks codes up in an in-memory copy
(``CodeStore.start``): loaded at start, and reloaded in a worker thread whenever
the data changed (the ``admin_version`` counter every write bumps, read every
``CODES_POLL`` seconds off the event loop), so a change made with ``b2bua codes
...``, the portal or the API, on this node or another one sharing the database,
applies to the next call without a restart, and the call path never waits on the
database.  While the database cannot be read (PostgreSQL restarting, the network
down) the copy loaded last stays in use, the failure is logged once and the
poller keeps trying; only before the first load does every lookup fail (the
policy refuses what needs a code, 503).  Other administrative data follows the
same reloads (``CodeStore.followers``: the authorization codes, the groups' and
users' code settings): each is read in the same worker thread on the same
connection and handed over on the loop, so one poller serves them all.

CSV (import and export) has a header row with these columns, in any order;
only ``code`` is required::

    code,name,department,active,active_from,active_until,min_digits,max_digits,
    blocked_prefixes,allowed_numbers,allowed_prefixes,allowed_classes,
    rate_plan,credit_account

List columns hold comma-separated values inside one (quoted) CSV field, e.g.
``"801,004,920988"``; ``allowed_classes`` names call classes (local,
long_distance, international, toll_free, premium, internal); dates are
YYYY-MM-DD; ``active`` is yes/no (default yes).  An import checks every row
first: a file with a bad row imports nothing and each bad row is reported
with its line number (``--skip-bad`` imports the good rows instead).
"""

from __future__ import annotations

import asyncio
import builtins
import csv
import datetime
import io
import logging
import re
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, Sequence

import msgspec

from b2bua.billing.reports import CSV_LINE_END, csv_cell, csv_uncell
from dialplan.codes import AccountCode, parse_prefix_list
from dialplan.numbering import CallClass

from .admin_schema import upsert

if TYPE_CHECKING:
    from .admin_db import AdminDb

log = logging.getLogger("b2bua.codes")

# seconds between looks for a change another process made (``b2bua codes``); it
# bounds how long after the command a call may still see the old code list
CODES_POLL = 0.1

COLUMNS = (
    "code",
    "name",
    "department",
    "active",
    "active_from",
    "active_until",
    "min_digits",
    "max_digits",
    "blocked_prefixes",
    "allowed_numbers",
    "allowed_prefixes",
    "allowed_classes",
    "rate_plan",
    "credit_account",
)

class CodeError(Exception):
    """A code or a CSV row that cannot be stored; the message says why, and
    ``field`` names the column at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CodesUnavailable(LookupError):
    """The code list cannot be read: the policy refuses calls that need a code."""


class Follower(Protocol):
    """Administrative data kept in memory along with the account codes."""

    def read(self, db: AdminDb, /) -> Any:
        """In the worker thread, on the reader's connection: the data as stored now."""

    def apply(self, data: Any, /) -> None:
        """On the event loop: take what ``read`` returned (replace, never mutate,
        what a call in progress may hold)."""


def _date(text: str | None, what: str) -> datetime.date | None:
    if not text or not text.strip():
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise CodeError(f"{what}: bad date {text!r} (YYYY-MM-DD)", what) from None


def _int(text: str | None, what: str) -> int | None:
    if text is None or not str(text).strip():
        return None
    t = str(text).strip()
    if not t.isdigit():
        raise CodeError(f"{what} must be a whole number, not {t!r}", what)
    return int(t)


def _bool(text: str | None) -> bool:
    if text is None or not text.strip():
        return True
    t = text.strip().lower()
    if t in ("yes", "y", "true", "1", "active"):
        return True
    if t in ("no", "n", "false", "0", "inactive", "disabled"):
        return False
    raise CodeError(f"active must be yes or no, not {text!r}", "active")


def _classes(text: str | None) -> frozenset[CallClass]:
    out = set()
    for name in parse_prefix_list(text or ""):
        try:
            out.add(CallClass(name.lower()))
        except ValueError:
            valid = ", ".join(c.value for c in CallClass)
            raise CodeError(f"unknown call class {name!r} (one of {valid})", "allowed_classes") from None
    return frozenset(out)


def code_from_fields(fields: dict[str, str | None]) -> AccountCode:
    """Build (and validate) an AccountCode from text fields as in the CSV."""
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise CodeError(f"unknown column(s): {', '.join(sorted(unknown))}")
    code = (fields.get("code") or "").strip()
    if not code:
        raise CodeError("code is empty", "code")
    try:
        return AccountCode(
            code=code,
            name=(fields.get("name") or "").strip(),
            department=(fields.get("department") or "").strip(),
            active=_bool(fields.get("active")),
            active_from=_date(fields.get("active_from"), "active_from"),
            active_until=_date(fields.get("active_until"), "active_until"),
            min_digits=_int(fields.get("min_digits"), "min_digits"),
            max_digits=_int(fields.get("max_digits"), "max_digits"),
            blocked_prefixes=parse_prefix_list(fields.get("blocked_prefixes") or ""),
            allowed_numbers=parse_prefix_list(fields.get("allowed_numbers") or ""),
            allowed_prefixes=parse_prefix_list(fields.get("allowed_prefixes") or ""),
            allowed_classes=_classes(fields.get("allowed_classes")),
            rate_plan=(fields.get("rate_plan") or "").strip() or None,
            credit_account=(fields.get("credit_account") or "").strip() or None,
        )
    except (ValueError, msgspec.ValidationError) as err:
        # AccountCode's checks start with the field they are about ("min_digits is above ...")
        m = re.match(r"(?:Expected .* - at `\$\.)?([a-z_]+)", str(err))
        field = m.group(1) if m and m.group(1) in COLUMNS else None
        raise CodeError(f"code {code!r}: {err}", field) from None


def _code_of(row: Sequence[object]) -> AccountCode:
    """A code from its ``COLUMNS`` values as stored."""
    fields = {k: None if v is None else str(v) for k, v in zip(COLUMNS, row)}
    fields["active"] = "yes" if row[COLUMNS.index("active")] else "no"
    return code_from_fields(fields)


def code_to_fields(c: AccountCode) -> dict[str, str]:
    return {
        "code": c.code,
        "name": c.name,
        "department": c.department,
        "active": "yes" if c.active else "no",
        "active_from": c.active_from.isoformat() if c.active_from else "",
        "active_until": c.active_until.isoformat() if c.active_until else "",
        "min_digits": "" if c.min_digits is None else str(c.min_digits),
        "max_digits": "" if c.max_digits is None else str(c.max_digits),
        "blocked_prefixes": ",".join(c.blocked_prefixes),
        "allowed_numbers": ",".join(c.allowed_numbers),
        "allowed_prefixes": ",".join(c.allowed_prefixes),
        "allowed_classes": ",".join(sorted(x.value for x in c.allowed_classes)),
        "rate_plan": c.rate_plan or "",
        "credit_account": c.credit_account or "",
    }


class CodeStore:
    """The account_codes table; ``for_group(g)`` is the policy's CodeLookup."""

    def __init__(self, db: AdminDb) -> None:
        self.db = db  # opened by runtime.admin_db.open_admin_db (the table is a migration)
        self._codes: dict[str, dict[str, AccountCode | CodeError]] = {}  # group -> code ->
        self._error: str | None = "account codes not loaded"  # None once a copy is loaded
        self._failing = False  # the last reload failed (logged once)
        self._seen: int | None = None  # admin_version of the loaded copy
        self._poller: asyncio.Task[None] | None = None
        self.reloads = 0
        # more data of the same database, reloaded with the account codes
        self.followers: builtins.list[Follower] = []

    @property
    def loaded(self) -> int:
        """Codes in the running server's copy (status: a change is in effect once counted)."""
        return sum(len(codes) for codes in self._codes.values())

    def get(self, group: str, code: str) -> AccountCode | None:
        """The code as stored now (the command line; the server uses ``for_group``)."""
        row = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM account_codes WHERE grp = ? AND code = ?", (group, code)
        ).fetchone()
        return None if row is None else _code_of(row)

    def for_group(self, group: str) -> "GroupCodes":
        """The policy's CodeLookup for ``group``, answered from the in-memory copy."""
        return GroupCodes(self, group)

    # -- the running server's copy, kept current off the event loop -----------------

    async def start(self, poll: float = CODES_POLL) -> None:
        """Load the codes, then follow changes every ``poll`` seconds."""
        await self.refresh()
        self._poller = asyncio.get_running_loop().create_task(self._follow(poll), name="account-codes")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
            self._poller = None

    async def _follow(self, poll: float) -> None:
        while True:
            await asyncio.sleep(poll)
            await self.refresh()

    async def refresh(self) -> bool:
        """Reload the copy if the database changed since the last load (always
        after a failed one); True when reloaded.  A failure keeps the copy in use."""
        try:
            loaded = await asyncio.to_thread(self._load_if_changed)
        except (self.db.Error, OSError) as err:
            if not self._failing:
                log.error("account codes cannot be read from the database (%s): %s", " ".join(str(err).split()),
                          "calls that need a code are refused" if self._error else "the copy read last stays in use")
            self._failing = True
            if self._error is not None:
                self._error = f"account codes unreadable: {err}"
            return False
        if loaded is None:
            return False
        self._seen, self._codes, followed = loaded
        for follower, data in zip(self.followers, followed):
            follower.apply(data)
        if self._failing:
            log.warning("account codes readable again")
        self._error = None
        self._failing = False
        self.reloads += 1
        return True

    def _load_if_changed(
        self,
    ) -> tuple[int, dict[str, dict[str, AccountCode | CodeError]], builtins.list[Any]] | None:
        """In a worker thread: the data version, every code and what each follower
        read, or None when unchanged."""
        version = self.db.version()  # first: a change after it is seen by the next poll
        if version == self._seen and self._error is None and not self._failing:
            return None
        codes: dict[str, dict[str, AccountCode | CodeError]] = {}
        for row in self.db.execute(f"SELECT grp, {', '.join(COLUMNS)} FROM account_codes").fetchall():
            try:
                entry: AccountCode | CodeError = _code_of(row[1:])
            except CodeError as err:  # a row the command line would not have written: that code fails closed
                entry = err
            codes.setdefault(row[0], {})[row[1]] = entry
        return version, codes, [f.read(self.db) for f in self.followers]

    def lookup(self, group: str, code: str) -> AccountCode | None:
        """From the in-memory copy; raises when the list cannot be read (fail closed)."""
        if self._error is not None:
            raise CodesUnavailable(self._error)
        entry = self._codes.get(group, {}).get(code)
        if isinstance(entry, CodeError):
            raise entry
        return entry

    def add(self, group: str, code: AccountCode, *, replace: bool = False) -> None:
        f = code_to_fields(code)
        values: builtins.list[str | int | None] = [group, *(f[c] if c != "active" else int(code.active) for c in COLUMNS)]
        for i, c in enumerate(COLUMNS, start=1):
            if c in ("min_digits", "max_digits", "active_from", "active_until", "rate_plan", "credit_account"):
                values[i] = values[i] or None
        sql = upsert("account_codes", ("grp", *COLUMNS), ("grp", "code"))
        if not replace:
            sql = sql[:sql.index(" ON CONFLICT")]
        try:
            self.db.execute(sql, values)
        except self.db.IntegrityError:
            raise CodeError(f"code {code.code} already exists in group {group!r}") from None

    def set_active(self, group: str, code: str, active: bool) -> None:
        cur = self.db.execute(
            "UPDATE account_codes SET active = ? WHERE grp = ? AND code = ?", (int(active), group, code)
        )
        if cur.rowcount == 0:
            raise CodeError(f"no code {code} in group {group!r}")

    def list(self, group: str | None = None) -> list[tuple[str, AccountCode]]:
        sql = f"SELECT grp, {', '.join(COLUMNS)} FROM account_codes"
        args: tuple[str, ...] = ()
        if group is not None:
            sql += " WHERE grp = ?"
            args = (group,)
        return [(row[0], _code_of(row[1:])) for row in self.db.execute(sql + " ORDER BY grp, code", args)]

    def search(
        self, groups: Sequence[str] | None, text: str = "", *, offset: int = 0, limit: int = 50
    ) -> tuple[int, builtins.list[tuple[str, AccountCode]]]:
        """(how many match, one page of them): codes of ``groups`` (None: every
        group) whose code, name or department contains ``text``."""
        where: builtins.list[str] = []
        args: builtins.list[str | int] = []
        if groups is not None:
            if not groups:
                return 0, []
            where.append(f"grp IN ({', '.join('?' * len(groups))})")
            args.extend(groups)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(lower(code) LIKE lower(?) ESCAPE '\\' OR lower(name) LIKE lower(?) ESCAPE '\\'"
                         " OR lower(department) LIKE lower(?) ESCAPE '\\')")
            args.extend([pattern] * 3)
        cond = f" WHERE {' AND '.join(where)}" if where else ""
        (total,) = self.db.execute(f"SELECT count(*) FROM account_codes{cond}", args).fetchone()
        rows = self.db.execute(
            f"SELECT grp, {', '.join(COLUMNS)} FROM account_codes{cond} ORDER BY grp, code LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return int(total), [(row[0], _code_of(row[1:])) for row in rows]

    def groups(self) -> builtins.list[str]:
        """The groups that have codes."""
        return [row[0] for row in self.db.execute("SELECT DISTINCT grp FROM account_codes ORDER BY grp")]

    def import_csv(self, group: str, text: str, *, skip_bad: bool = False) -> tuple[int, builtins.list[str]]:
        """Import rows; returns (imported, errors).  Without ``skip_bad`` a file
        with any bad row imports nothing."""
        codes, errors = parse_csv(text)
        if errors and not skip_bad:
            return 0, errors
        with self.db.transaction():
            for code in codes:
                self.add(group, code, replace=True)
        return len(codes), errors

    def export_csv(self, group: str | None = None) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator=CSV_LINE_END)
        w.writeheader()
        for _, code in self.list(group):  # spreadsheet-safe cells; parse_csv undoes it
            w.writerow({k: csv_cell(v) for k, v in code_to_fields(code).items()})
        return buf.getvalue()


class GroupCodes:
    """CodeLookup for one group.  An unreadable code list raises: the policy
    treats a lookup that raises as "cannot check", and refuses the call."""

    __slots__ = ("store", "group")

    def __init__(self, store: CodeStore, group: str) -> None:
        self.store = store
        self.group = group

    def get(self, code: str, /) -> AccountCode | None:
        return self.store.lookup(self.group, code)


def parse_csv(text: str) -> tuple[list[AccountCode], list[str]]:
    """Rows -> codes; errors as 'line N: why' (line numbers as in the file)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return [], ["line 1: empty file (a header row naming the columns is needed)"]
    header = [h.strip() for h in reader.fieldnames]
    if "code" not in header:
        return [], ["line 1: no 'code' column in the header"]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        return [], [f"line 1: unknown column(s): {', '.join(unknown)}"]
    codes: list[AccountCode] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more fields than columns")
            continue
        fields = {k.strip(): v if v is None else csv_uncell(v) for k, v in row.items() if k is not None}
        if not any((v or "").strip() for v in fields.values()):
            continue
        try:
            code = code_from_fields(fields)
        except CodeError as err:
            errors.append(f"line {line}: {err}")
            continue
        if code.code in seen:
            errors.append(f"line {line}: code {code.code} repeats line {seen[code.code]}")
            continue
        seen[code.code] = line
        codes.append(code)
    return codes, errors


def describe(group: str, c: AccountCode) -> Iterator[str]:
    yield f"code:             {c.code}"
    yield f"group:            {group}"
    for key, value in code_to_fields(c).items():
        if key != "code" and value:
            yield f"{key + ':':<18}{value}"


def restrictions(c: AccountCode) -> str:
    """A code's restrictions in a few words (``b2bua codes list``, the portal)."""
    r = []
    if c.blocked_prefixes:
        r.append("blocks " + ",".join(c.blocked_prefixes))
    if c.allowed_numbers or c.allowed_prefixes:
        r.append("only " + ",".join(c.allowed_numbers + c.allowed_prefixes))
    if c.allowed_classes:
        r.append("classes " + ",".join(sorted(x.value for x in c.allowed_classes)))
    if c.min_digits or c.max_digits:
        r.append(f"digits {c.min_digits or ''}-{c.max_digits or ''}")
    return "; ".join(r)


def table(rows: Iterable[tuple[str, AccountCode]]) -> Iterator[str]:
    yield f"{'group':<10} {'code':<15} {'active':<6} {'name':<24} {'department':<14} restrictions"
    for group, c in rows:
        active = "yes" if c.active else "no"
        yield f"{group:<10} {c.code:<15} {active:<6} {c.name[:24]:<24} {c.department[:14]:<14} {restrictions(c)}"
