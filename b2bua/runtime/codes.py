"""Account codes in the database, managed by the business-group administrator.

Codes live in the ``account_codes`` table of the server's database (created by
its migrations, ``b2bua.runtime.store``), one row per (group, code); the running server reads them on every call, so a change
made with ``b2bua codes ...`` applies to the next call without a restart.

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

import csv
import datetime
import io
import sqlite3
from typing import Iterable, Iterator

import msgspec

from dialplan.codes import AccountCode, parse_prefix_list
from dialplan.numbering import CallClass

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
    """A code or a CSV row that cannot be stored; the message says why."""


def _date(text: str | None) -> datetime.date | None:
    if not text:
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise CodeError(f"bad date {text!r} (YYYY-MM-DD)") from None


def _int(text: str | None, what: str) -> int | None:
    if text is None or not str(text).strip():
        return None
    t = str(text).strip()
    if not t.isdigit():
        raise CodeError(f"{what} must be a whole number, not {t!r}")
    return int(t)


def _bool(text: str | None) -> bool:
    if text is None or not text.strip():
        return True
    t = text.strip().lower()
    if t in ("yes", "y", "true", "1", "active"):
        return True
    if t in ("no", "n", "false", "0", "inactive", "disabled"):
        return False
    raise CodeError(f"active must be yes or no, not {text!r}")


def _classes(text: str | None) -> frozenset[CallClass]:
    out = set()
    for name in parse_prefix_list(text or ""):
        try:
            out.add(CallClass(name.lower()))
        except ValueError:
            valid = ", ".join(c.value for c in CallClass)
            raise CodeError(f"unknown call class {name!r} (one of {valid})") from None
    return frozenset(out)


def code_from_fields(fields: dict[str, str | None]) -> AccountCode:
    """Build (and validate) an AccountCode from text fields as in the CSV."""
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise CodeError(f"unknown column(s): {', '.join(sorted(unknown))}")
    code = (fields.get("code") or "").strip()
    if not code:
        raise CodeError("code is empty")
    try:
        return AccountCode(
            code=code,
            name=(fields.get("name") or "").strip(),
            department=(fields.get("department") or "").strip(),
            active=_bool(fields.get("active")),
            active_from=_date(fields.get("active_from")),
            active_until=_date(fields.get("active_until")),
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
        raise CodeError(f"code {code!r}: {err}") from None


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

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db  # opened by runtime.store.open_database (the table is a migration)

    def get(self, group: str, code: str) -> AccountCode | None:
        row = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM account_codes WHERE grp = ? AND code = ?", (group, code)
        ).fetchone()
        if row is None:
            return None
        return code_from_fields({k: None if v is None else str(v) for k, v in zip(COLUMNS, row)} | {
            "active": "yes" if row[3] else "no"
        })

    def for_group(self, group: str) -> "GroupCodes":
        return GroupCodes(self, group)

    def add(self, group: str, code: AccountCode, *, replace: bool = False) -> None:
        f = code_to_fields(code)
        values = [group, *(f[c] if c != "active" else int(code.active) for c in COLUMNS)]
        for i, c in enumerate(COLUMNS, start=1):
            if c in ("min_digits", "max_digits", "active_from", "active_until", "rate_plan", "credit_account"):
                values[i] = values[i] or None
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        try:
            self.db.execute(
                f"{verb} INTO account_codes (grp, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
                values,
            )
        except sqlite3.IntegrityError:
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
        out = []
        for row in self.db.execute(sql + " ORDER BY grp, code", args):
            fields = {k: None if v is None else str(v) for k, v in zip(COLUMNS, row[1:])}
            fields["active"] = "yes" if row[4] else "no"
            out.append((row[0], code_from_fields(fields)))
        return out

    def import_csv(self, group: str, text: str, *, skip_bad: bool = False) -> tuple[int, list[str]]:
        """Import rows; returns (imported, errors).  Without ``skip_bad`` a file
        with any bad row imports nothing."""
        codes, errors = parse_csv(text)
        if errors and not skip_bad:
            return 0, errors
        self.db.execute("BEGIN")
        try:
            for code in codes:
                self.add(group, code, replace=True)
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(codes), errors

    def export_csv(self, group: str | None = None) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        for _, code in self.list(group):
            w.writerow(code_to_fields(code))
        return buf.getvalue()


class GroupCodes:
    """CodeLookup for one group.  A database error propagates: the policy
    treats a lookup that raises as "cannot check", and refuses the call."""

    __slots__ = ("store", "group")

    def __init__(self, store: CodeStore, group: str) -> None:
        self.store = store
        self.group = group

    def get(self, code: str, /) -> AccountCode | None:
        return self.store.get(self.group, code)


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
        fields = {k.strip(): v for k, v in row.items() if k is not None}
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


def table(rows: Iterable[tuple[str, AccountCode]]) -> Iterator[str]:
    yield f"{'group':<10} {'code':<15} {'active':<6} {'name':<24} {'department':<14} restrictions"
    for group, c in rows:
        r = []
        if c.blocked_prefixes:
            r.append("blocks " + ",".join(c.blocked_prefixes))
        if c.allowed_numbers or c.allowed_prefixes:
            r.append("only " + ",".join(c.allowed_numbers + c.allowed_prefixes))
        if c.allowed_classes:
            r.append("classes " + ",".join(sorted(x.value for x in c.allowed_classes)))
        if c.min_digits or c.max_digits:
            r.append(f"digits {c.min_digits or ''}-{c.max_digits or ''}")
        active = "yes" if c.active else "no"
        yield f"{group:<10} {c.code:<15} {active:<6} {c.name[:24]:<24} {c.department[:14]:<14} {'; '.join(r)}"
