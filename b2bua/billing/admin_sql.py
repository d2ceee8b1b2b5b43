"""Rate plans, rates and credit top-ups in the billing database: the SQL both
backends run (PostgreSQL ``$n`` placeholders; the SQLite store rewrites them to
its ``?n``), the schema step that creates the tables, and the row mapping.

Tables (billing migration step 4):

``rate_plans``  ``name`` (key), ``currency``, ``updated`` (epoch seconds).
``rates``  ``(plan, prefix, call_class)`` key: a prefix rate has ``call_class = ''``,
    a class default ``prefix = ''``; prices as exact decimals (text on SQLite,
    NUMERIC on PostgreSQL), ``minimum_s``, ``increment_s``, ``description``.
``rates_version``  one row, ``version`` incremented by every transaction that
    changes a plan or a rate: the running servers poll it and reload their
    in-memory copy when it moved (CDR writes, which commit all the time, leave it
    alone, unlike SQLite's ``PRAGMA data_version``).
``credit_topups``  the history of every balance change an administrator made:
    ``account``, ``amount`` and ``balance_after`` in minor units, ``admin`` (the
    administrator's name, an API token's administrator, or ``cli``), ``at``
    (epoch seconds), ``note``; ``opening`` (migration step 6) is 1 on the row that
    records the account's creation: who opened it, when, and its opening balance
    (``amount`` = ``balance_after``).  Accounts created before step 6 have none.

What calls spent is read from ``credit_reservations`` (see b2bua.billing.store):
a committed reservation is one call's charge (its id the call's ref, or
``REF#N`` for the part of a call whose code moved it to another account).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Sequence

import msgspec

from .credit import Balance
from .rating import Rate
from .store import from_minor, to_minor
from .tariffs import PlanInfo, RateRow

MAX_NOTE = 500  # characters of a top-up's note
OPENING_NOTE = "account created"


class TopUp(msgspec.Struct, frozen=True, kw_only=True):
    """One administrative change of a credit account's balance."""

    account: str
    currency: str
    amount: Decimal
    balance_after: Decimal
    admin: str
    at: float
    note: str
    opening: bool = False  # the account's creation, with its opening balance


class Charge(msgspec.Struct, frozen=True, kw_only=True):
    """What one call (or the part of it after its code moved the credit) cost an account."""

    account: str
    currency: str
    call: str  # the call's ref: its record is /records/REF
    amount: Decimal
    at: float  # when it was settled


def migration(serial: str, money: str, real: str) -> list[str]:
    """Billing migration step 4 for a backend (its autoincrement key, exact decimal
    and floating-point types)."""
    return [
        f"CREATE TABLE rate_plans (name TEXT PRIMARY KEY, currency TEXT NOT NULL, updated {real} NOT NULL)",
        f"""CREATE TABLE rates (
            plan TEXT NOT NULL REFERENCES rate_plans (name), prefix TEXT NOT NULL, call_class TEXT NOT NULL,
            price_per_minute {money} NOT NULL, setup {money} NOT NULL, minimum_s INTEGER NOT NULL,
            increment_s INTEGER NOT NULL, description TEXT NOT NULL,
            PRIMARY KEY (plan, prefix, call_class), CHECK ((prefix = '') <> (call_class = ''))
        )""",
        "CREATE TABLE rates_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        "INSERT INTO rates_version (id, version) VALUES (1, 0)",
        f"""CREATE TABLE credit_topups (
            id {serial}, account TEXT NOT NULL REFERENCES credit_accounts (account),
            amount BIGINT NOT NULL, balance_after BIGINT NOT NULL, admin TEXT NOT NULL,
            at {real} NOT NULL, note TEXT NOT NULL
        )""",
        "CREATE INDEX credit_topups_account ON credit_topups (account, id)",
    ]


# billing migration step 6: the history records who opened an account, and with what balance
OPENING_MIGRATION = ["ALTER TABLE credit_topups ADD COLUMN opening INTEGER NOT NULL DEFAULT 0"]


RATE_COLS = "plan, prefix, call_class, price_per_minute, setup, minimum_s, increment_s, description"
VERSION = "SELECT version FROM rates_version WHERE id = 1"
BUMP = "UPDATE rates_version SET version = version + 1 WHERE id = 1"
PLANS = ("SELECT p.name, p.currency, (SELECT count(*) FROM rates r WHERE r.plan = p.name)"
         " FROM rate_plans p ORDER BY p.name")
PLAN_NAMES = "SELECT name FROM rate_plans"
INSERT_PLAN = "INSERT INTO rate_plans (name, currency, updated) VALUES ($1, $2, $3)"
UPDATE_PLAN = "UPDATE rate_plans SET currency = $2, updated = $3 WHERE name = $1"
DELETE_PLAN_RATES = "DELETE FROM rates WHERE plan = $1"
DELETE_PLAN = "DELETE FROM rate_plans WHERE name = $1"
ALL_RATES = f"SELECT {RATE_COLS} FROM rates"
UPSERT_RATE = (
    f"INSERT INTO rates ({RATE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (plan, prefix, call_class)"
    " DO UPDATE SET price_per_minute = excluded.price_per_minute, setup = excluded.setup,"
    " minimum_s = excluded.minimum_s, increment_s = excluded.increment_s, description = excluded.description"
)
DELETE_RATE = "DELETE FROM rates WHERE plan = $1 AND prefix = $2 AND call_class = $3"
# rates of a plan ($1, '' = every plan) whose prefix starts with $2 or whose description
# contains it ($3: the LIKE pattern of it, lower case); one page ($4 rows from $5)
_SEARCH_WHERE = (
    " WHERE ($1 = '' OR plan = $1) AND ($2 = '' OR substr(prefix, 1, length($2)) = $2"
    " OR lower(description) LIKE $3 ESCAPE '!' OR call_class = $2)"
)
SEARCH_COUNT = "SELECT count(*) FROM rates" + _SEARCH_WHERE
SEARCH = (f"SELECT {RATE_COLS} FROM rates" + _SEARCH_WHERE
          + " ORDER BY plan, call_class = '', call_class, prefix LIMIT $4 OFFSET $5")
EXPORT = f"SELECT {RATE_COLS} FROM rates WHERE ($1 = '' OR plan = $1) ORDER BY plan, call_class = '', call_class, prefix"

LIST_ACCOUNTS = ("SELECT account, currency, balance, reserved FROM credit_accounts"
                 " WHERE ($1 = '' OR lower(account) LIKE $2 ESCAPE '!') ORDER BY account LIMIT $3 OFFSET $4")
COUNT_ACCOUNTS = "SELECT count(*) FROM credit_accounts WHERE ($1 = '' OR lower(account) LIKE $2 ESCAPE '!')"
ADJUST = "UPDATE credit_accounts SET balance = balance + $2 WHERE account = $1"
RECORD_TOPUP = ("INSERT INTO credit_topups (account, amount, balance_after, admin, at, note)"
                " VALUES ($1, $2, (SELECT balance FROM credit_accounts WHERE account = $1), $3, $4, $5)")
RECORD_OPENING = ("INSERT INTO credit_topups (account, amount, balance_after, admin, at, note, opening)"
                  f" VALUES ($1, $2, $2, $3, $4, '{OPENING_NOTE}', 1)")
TOPUPS = ("SELECT t.account, a.currency, t.amount, t.balance_after, t.admin, t.at, t.note, t.opening"
          " FROM credit_topups t"
          " JOIN credit_accounts a ON a.account = t.account WHERE t.account = $1 ORDER BY t.id DESC LIMIT $2")

CHARGES = ("SELECT r.account, a.currency, r.id, r.charged, r.settled FROM credit_reservations r"
           " JOIN credit_accounts a ON a.account = r.account WHERE r.account = $1 AND r.state = 'committed'"
           " ORDER BY r.settled DESC LIMIT $2")


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards escaped (ESCAPE '!')."""
    return "%" + re.sub(r"([!%_])", r"!\1", text.lower()) + "%"


def rate_values(row: RateRow, money: type = str) -> list[Any]:
    """Column values in ``RATE_COLS`` order (``money``: how the backend binds a price)."""
    r = row.rate
    return [row.plan, r.prefix, row.call_class, money(r.price_per_minute), money(r.setup), r.minimum_s,
            r.increment_s, r.description]


def row_to_rate(row: Sequence[Any]) -> RateRow:
    plan, prefix, call_class, price, setup, minimum, increment, description = row
    return RateRow(plan=plan, call_class=call_class, rate=Rate(
        prefix=prefix, price_per_minute=Decimal(price), setup=Decimal(setup), minimum_s=minimum,
        increment_s=increment, description=description))


def row_to_plan(row: Sequence[Any]) -> PlanInfo:
    return PlanInfo(name=row[0], currency=row[1], rates=int(row[2]))


ACCOUNT_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # a credit account created by an administrator


def check_account_name(name: str) -> str:
    if not ACCOUNT_NAME.fullmatch(name):
        raise ValueError(f"account: {name[:80]!r}: 1 to 64 letters, digits, '.', '_', '@' or '-'")
    return name


def check_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise ValueError("note: say why the balance changes")
    if len(note) > MAX_NOTE or not note.isprintable():
        raise ValueError(f"note: at most {MAX_NOTE} printable characters")
    return note


def row_to_balance(row: Sequence[Any]) -> Balance:
    account, cur, balance, reserved = row
    return Balance(account=account, currency=cur, balance=from_minor(balance, cur), reserved=from_minor(reserved, cur))


def row_to_topup(row: Sequence[Any]) -> TopUp:
    account, cur, amount, after, admin, at, note, opening = row
    return TopUp(account=account, currency=cur, amount=from_minor(amount, cur), balance_after=from_minor(after, cur),
                 admin=admin, at=float(at), note=note, opening=bool(opening))


def row_to_charge(row: Sequence[Any]) -> Charge:
    account, cur, rid, charged, settled = row
    return Charge(account=account, currency=cur, call=str(rid).split("#", 1)[0], amount=from_minor(charged, cur),
                  at=float(settled))


def minor_amount(amount: Decimal, currency: str) -> int:
    """A change of balance in minor units; ValueError naming the amount when the
    currency cannot hold it exactly."""
    try:
        return to_minor(amount, currency)
    except (TypeError, ValueError) as err:
        raise ValueError(f"amount: {err}") from None


def below_reserved(amount: Decimal, bal: Balance) -> str:
    return (f"amount: a correction of {amount} {bal.currency} would leave {bal.account!r} below its reserved credit"
            f" ({bal.reserved}; balance {bal.balance})")
