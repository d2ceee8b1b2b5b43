"""Billing storage: the async interface both backends implement, and the row mapping.

Backends: SQLite (``b2bua.billing.sqlite``, the default; a path or ``sqlite:///path``)
and PostgreSQL (``b2bua.billing.postgres``, ``postgresql://...`` via asyncpg);
``b2bua.billing.backends.open_billing_store(url)`` picks one.

Schema (same tables and columns on both; created on first start, versioned in
``billing_migrations``):

``cdr``  one row per call attempt, primary key ``ref``.  Columns are the ``Cdr``
    fields, renamed where SQL reserves the word: ``start_time``, ``answer_time``,
    ``end_time`` (epoch seconds, UTC; ``end_time IS NULL`` = open), ``business_group``;
    ``cost`` exact (NUMERIC on PostgreSQL, decimal text on SQLite); ``code_changes`` and
    ``rate`` as JSON.  Writes are upserts keeping the highest ``seq``: idempotent.
``credit_accounts``  ``account`` (key), ``currency``, ``balance`` and ``reserved`` in
    integer minor units (cents), with ``CHECK (reserved >= 0 AND balance >= reserved)``.
``credit_reservations``  ``id`` (the call's ref), ``account``, ``amount`` held,
    ``state`` (held, committed, released), ``charged``, ``created``, ``settled``.
``rate_plans``, ``rates``, ``rates_version``, ``credit_topups``  rate plans and credit
    history as administrators manage them (``b2bua.billing.admin_sql``).

Indexes of ``cdr`` for the record search (``b2bua.billing.record_sql``, newest first by
``(start_time, ref)``): ``cdr_start_ref``, ``cdr_group_start`` (``business_group``
first) and ``cdr_caller_start`` (``caller`` first); ``cdr_open`` for open records.

Crash recovery (``recover_open_records``) closes the records that a killed process
left open, billed up to their last interim time and flagged ``recovered``, then
settles held credit reservations whose call record is closed (``settle_closed``: at
the record's cost, the record billed down to the held amount if it exceeds it, so
record and charge agree; also how a commit that failed until shut-down is made).
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Sequence

import msgspec

from b2bua.billing.cdr import Cdr, CdrClosed, CdrInterim, CdrOpened, CdrWrite, CodeChange, recover, within
from b2bua.billing.credit import Balance, Reservation, Settlement
from b2bua.billing.rating import Rate, RatePlan, currency_exponent
from b2bua.billing.tariffs import PlanInfo, RateRow, build_plans
from dialplan.policy import CodeSource

if TYPE_CHECKING:
    from b2bua.billing.admin_sql import Charge, TopUp
    from b2bua.billing.records import RecordFilter, RecordQuery
    from b2bua.billing.reports import PartSum


class BillingStoreError(Exception):
    """The billing database cannot be opened, migrated or written."""


class RecordRejected(BillingStoreError):
    """The database is up but refuses these records (a constraint, a value out of
    range, a type it cannot store): writing them again will not help."""


_PYTHON_RECORD_ERRORS = (TypeError, ValueError, OverflowError)  # raised converting or binding a value


def as_rejection(err: Exception, record_errors: tuple[type[BaseException], ...]) -> Exception:
    """``err`` as :class:`RecordRejected` when it (or the driver error a
    ``BillingStoreError`` wraps) is about the records; else ``err`` unchanged."""
    cause = err.__cause__ if isinstance(err, BillingStoreError) and err.__cause__ is not None else err
    if isinstance(err, RecordRejected) or not isinstance(cause, (*record_errors, *_PYTHON_RECORD_ERRORS)):
        return err
    rejected = RecordRejected(str(err) if cause is not err else f"billing database refused a record: {err!r}")
    rejected.__cause__ = cause
    return rejected


# (Cdr field, column) in table order; the same on both backends.
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (f, {"group": "business_group", "start": "start_time", "answer": "answer_time", "end": "end_time"}.get(f, f))
    for f in Cdr.__struct_fields__
)
COLUMN_NAMES = tuple(c for _, c in COLUMNS)
_JSON_FIELDS = {"code_changes", "rate"}
_changes_decoder = msgspec.json.Decoder(tuple[CodeChange, ...])
_rate_decoder = msgspec.json.Decoder(Rate)


def cdr_to_row(cdr: Cdr) -> list[Any]:
    """Column values in ``COLUMN_NAMES`` order (JSON fields as text)."""
    row: list[Any] = []
    for field, _ in COLUMNS:
        value = getattr(cdr, field)
        if field in _JSON_FIELDS:
            value = msgspec.json.encode(value).decode() if value is not None else None
        row.append(value)
    return row


def row_to_cdr(row: Sequence[Any]) -> Cdr:
    """The inverse of ``cdr_to_row`` (accepts SQLite ints for booleans, text for cost)."""
    values = dict(zip((f for f, _ in COLUMNS), row))
    values["code_changes"] = _changes_decoder.decode(values["code_changes"] or "[]")
    values["rate"] = _rate_decoder.decode(values["rate"]) if values["rate"] else None
    values["code_valid"] = bool(values["code_valid"])
    values["recovered"] = bool(values["recovered"])
    values["cost"] = Decimal(values["cost"])
    values["code_source"] = CodeSource(values["code_source"])
    return Cdr(**values)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount as integer minor units; refuses what the currency cannot hold exactly."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"amounts are finite Decimals, not {amount!r}")
    minor = amount.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of {currency} minor units")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    exp = currency_exponent(currency)
    return Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp))


def new_reservation_id() -> str:
    return uuid.uuid4().hex


def settlement(res: Reservation, charged: int, held: int, actual: int) -> Settlement:
    """The outcome of a commit, from minor units."""
    cur = res.currency
    return Settlement(
        id=res.id, account=res.account, charged=from_minor(charged, cur),
        released=from_minor(held - charged, cur), shortfall=from_minor(actual - charged, cur),
    )


def latest_per_ref(writes: Sequence[CdrWrite]) -> list[Cdr]:
    """The records to upsert: per ref only the write with the highest seq counts."""
    best: dict[str, Cdr] = {}
    for w in writes:
        cur = best.get(w.cdr.ref)
        if cur is None or w.cdr.seq > cur.seq:
            best[w.cdr.ref] = w.cdr
    return list(best.values())


class BillingStore(abc.ABC):
    """CDR storage and credit accounts; see the module docstring for the schema."""

    url: str

    # -- lifecycle -------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema or migrate it; raises BillingStoreError."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; the store may be opened again."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool: ...

    # -- CDRs ------------------------------------------------------------------------

    @abc.abstractmethod
    async def apply(self, writes: Sequence[CdrWrite]) -> None:
        """Upsert records in one transaction, keeping the highest ``seq`` per ref."""

    async def upsert_start(self, cdr: Cdr) -> None:
        await self.apply([CdrOpened(cdr)])

    async def update_interim(self, cdr: Cdr) -> None:
        await self.apply([CdrInterim(cdr)])

    async def close_record(self, cdr: Cdr) -> None:
        await self.apply([CdrClosed(cdr)])

    @abc.abstractmethod
    async def get(self, ref: str) -> Cdr | None: ...

    @abc.abstractmethod
    async def query(
        self, *, start_from: float | None = None, start_to: float | None = None, include_open: bool = False
    ) -> list[Cdr]:
        """Records whose start is in ``[start_from, start_to)`` (epoch seconds), by start."""

    @abc.abstractmethod
    async def search_records(self, query: RecordQuery) -> list[Cdr]:
        """One page of closed records, newest first (``b2bua.billing.record_sql``)."""

    @abc.abstractmethod
    async def count_records(self, query: RecordQuery, cap: int) -> int:
        """How many closed records the query's filter and range select, ``cap`` at most."""

    @abc.abstractmethod
    async def record_sums(self, by: str, f: RecordFilter, start_from: float | None, start_to: float | None,
                          offsets: tuple[Sequence[float], Sequence[int]]) -> list[PartSum]:
        """The report's sums per local day, key and currency (``record_sql.sums``;
        ``offsets``: ``records.utc_offsets`` of the report's time zone)."""

    @abc.abstractmethod
    async def open_records(self, node: str | None = None) -> list[Cdr]:
        """Records not closed yet (of one node, or all)."""

    async def recover_open_records(
        self, now_wall: float, *, node: str | None = None, stale_after: float = 0.0
    ) -> list[Cdr]:
        """Close records a crash left open, billed up to their last interim time.

        Only records of ``node`` (all when None) whose last durable time is at least
        ``stale_after`` seconds before ``now_wall`` are closed: with several servers
        on one database, each recovers its own node at start-up.  Returns the closed
        records.  Held credit of closed calls is then committed at their cost.
        """
        closed = [
            recover(cdr) for cdr in await self.open_records(node)
            if max(t for t in (cdr.start, cdr.answer, cdr.last_interim) if t is not None) <= now_wall - stale_after
        ]
        if closed:
            await self.apply([CdrClosed(c) for c in closed])
        for ref, _ in await self.held_reservations_of_closed_calls():
            await self.settle_closed(ref)
        return closed

    async def settle_closed(self, ref: str) -> None:
        """Commit the held credit of call ``ref``, whose record is closed, at the record's
        cost; a record costing more than was held (a crash closed it at an interim past
        the paid time) is first billed down to the held amount: record and charge agree."""
        cdr, res = await self.get(ref), await self.reservation(ref)
        if cdr is None or res is None or res.state != "held":
            return
        billed = within(cdr, res.amount)
        if billed is not cdr:
            await self.apply([CdrClosed(billed)])
        await self.commit(ref, billed.cost)

    @abc.abstractmethod
    async def held_reservations_of_closed_calls(self) -> list[tuple[str, Decimal]]:
        """(reservation id, call cost) for held reservations whose CDR is closed."""

    # -- credit ----------------------------------------------------------------------

    @abc.abstractmethod
    async def create_account(self, account: str, currency: str, balance: Decimal = Decimal(0), *,
                             admin: str | None = None, now: float = 0.0) -> Balance:
        """Create a credit account; raises BillingStoreError if it exists.  With ``admin``
        (who opens it) the same transaction records the creation at ``now``, with its
        opening balance, as the first entry of the account's history."""

    @abc.abstractmethod
    async def topup(self, account: str, amount: Decimal) -> Balance | None:
        """Add ``amount`` (negative: a correction, never below what is reserved)."""

    @abc.abstractmethod
    async def balance(self, account: str) -> Balance | None: ...

    @abc.abstractmethod
    async def reserve(self, account: str, amount: Decimal, *, ref: str | None = None) -> Reservation | None:
        """Hold ``amount`` if the available balance covers it, atomically; else None.

        ``ref`` (the call's ref) names the reservation; reserving an existing ``ref``
        again returns it unchanged (a retried request does not hold twice).
        """

    @abc.abstractmethod
    async def extend(self, reservation_id: str, amount: Decimal) -> Reservation | None:
        """Hold ``amount`` more on a held reservation, atomically; None if not covered."""

    @abc.abstractmethod
    async def commit(self, reservation_id: str, actual_cost: Decimal) -> Settlement | None:
        """Charge ``min(actual_cost, held)`` and return the rest; None if not held."""

    async def release(self, reservation_id: str) -> Settlement | None:
        """Return all held credit (an unanswered or free call)."""
        return await self.commit(reservation_id, Decimal(0))

    @abc.abstractmethod
    async def reservation(self, reservation_id: str) -> Reservation | None: ...


    # -- rate plans and credit, as administrators manage them (b2bua.billing.admin_sql) --

    @abc.abstractmethod
    async def rates_version(self) -> int:
        """The counter every change of a plan or a rate increments."""

    @abc.abstractmethod
    async def rate_plan_infos(self) -> list[PlanInfo]:
        """Every stored plan (name, currency, how many rates), by name."""

    @abc.abstractmethod
    async def rate_rows(self) -> list[RateRow]:
        """Every stored rate (``build_plans`` makes them the server's plans)."""

    async def rate_plans(self) -> dict[str, RatePlan]:
        """The stored plans, built (in a worker thread: tens of thousands of rates)."""
        infos, rows = await self.rate_plan_infos(), await self.rate_rows()
        return await asyncio.to_thread(build_plans, infos, rows)

    @abc.abstractmethod
    async def seed_rate_plans(self, plans: Sequence[RatePlan], now: float) -> list[str]:
        """Insert the plans the database lacks (by name), with their rates, in one
        transaction; a plan already stored is left as it is.  Returns the inserted names."""

    @abc.abstractmethod
    async def save_rate_plan(self, name: str, currency: str, now: float, *, create: bool) -> None:
        """Create a plan (``create``; RatingError if it exists) or change its currency
        (RatingError if it does not exist)."""

    @abc.abstractmethod
    async def delete_rate_plan(self, name: str) -> bool:
        """Remove a plan and its rates; False if there was none."""

    @abc.abstractmethod
    async def import_rates(self, rows: Sequence[RateRow], *, replace: bool = False) -> int:
        """Upsert ``rows`` in one transaction (``replace``: the plans named first lose
        their other rates).  RatingError naming the plan if one is not stored."""

    @abc.abstractmethod
    async def delete_rate(self, plan: str, prefix: str, call_class: str) -> bool: ...

    @abc.abstractmethod
    async def search_rates(self, plan: str, text: str, *, offset: int, limit: int) -> tuple[int, list[RateRow]]:
        """(how many match, one page): rates of ``plan`` ('' = all) whose prefix starts
        with ``text``, whose call class is ``text`` or whose description contains it."""

    @abc.abstractmethod
    async def export_rates(self, plan: str = "") -> list[RateRow]: ...

    @abc.abstractmethod
    async def credit_accounts(self, text: str = "", *, offset: int = 0, limit: int = 100) -> tuple[int, list[Balance]]:
        """(how many match, one page): accounts whose name contains ``text``."""

    @abc.abstractmethod
    async def adjust_credit(self, account: str, amount: Decimal, *, admin: str, note: str, now: float) -> Balance | None:
        """Add ``amount`` (negative: a correction) and record who did it and why, in one
        transaction; None for an unknown account; ValueError when the balance would
        fall below what is reserved (the CHECK stays) or the note is missing."""

    @abc.abstractmethod
    async def credit_history(self, account: str, limit: int = 100) -> list[TopUp]:
        """The latest administrative changes of ``account``, newest first."""

    @abc.abstractmethod
    async def credit_charges(self, account: str, limit: int = 100) -> list[Charge]:
        """The latest calls charged to ``account`` (committed reservations), newest first."""
