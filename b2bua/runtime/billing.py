"""Billing in the running server: call events in, durable rated records out.

The glue between the pure billing core (``b2bua.billing``) and the server:

* at start-up the store is opened (SQLite ``billing.sqlite3`` in the data directory,
  or the configured ``postgresql://`` URL), the ``CdrWriter`` started (it replays a
  journal left by an outage) and records a killed process left open are closed,
  billed up to their last interim time and flagged ``recovered``;
* every call event of ``CallLog`` goes through ``CdrBuilder.handle`` and the writes
  into ``CdrWriter.submit``: an in-memory queue, so the call path never waits on the
  database (a slow or unreachable one fills the journal instead);
* the builder's interim updates run on the driver's single timer (``Timed``);
* at shut-down the writer is flushed and the store closed.

What a call is billed with: ``billing_for`` (:mod:`b2bua.runtime.rates`).  A code
set during the call (``CodeChanged``, b2bua.calls.midcall) splits the record there:
each segment is rated under its own code's plan (``CdrBuilder.change_code``).  On a
prepaid call a code of another credit account or plan first moves the credit
(``move_credit``), and the record's last segment bills what the new account paid for.

Prepaid calls (an account code with a ``credit_account``, calling out through a
trunk) are checked before they ring and reserve credit in chunks while they talk:
``CreditControl`` (:mod:`b2bua.runtime.prepaid`), the base of ``BillingService``.
The record of such a call bills the seconds its credit paid for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from b2bua.billing.cdr import CallBilling, Cdr, CdrBuilder, CdrClosed, attach_code
from b2bua.billing.rating import RatePlan
from b2bua.billing.backends import open_billing_store
from b2bua.billing.store import BillingStore
from b2bua.billing.writer import CdrWriter
from b2bua.calls.events import CalleeAnswered, CallEnded, CallEvent, CallRouted, CallStarted, CodeChanged
from dialplan import CodeSource, NumberingPlan

from .config import BillingConfig, Config
from .admin_db import safe_url
from .prepaid import CreditControl
from .rates import RateBook, billing_for

log = logging.getLogger("b2bua.billing")
T = TypeVar("T")

SQLITE_FILE = "billing.sqlite3"
JOURNAL_FILE = "cdr-journal.jsonl"
RECOVERY_RETRY = 5.0  # seconds between recovery attempts while the database is down


def database_url(billing: BillingConfig, data_dir: str | Path) -> str:
    """The billing database: the configured URL or path, else SQLite in the data directory."""
    return billing.database or str(Path(data_dir) / SQLITE_FILE)


def store_for(billing: BillingConfig, data_dir: str | Path) -> BillingStore:
    """An unopened store for the configured billing database."""
    return open_billing_store(database_url(billing, data_dir))


def run_with_billing_store(
    config: Config, work: Callable[[BillingStore], Awaitable[T]], db: str | None = None, schema: str | None = None
) -> T:
    """The command line's way in: run ``work(store)`` against the billing database
    ``db`` (a SQLite path or a postgresql:// URL, ``schema`` its PostgreSQL schema),
    else the configured one, in an event loop of its own."""

    async def main() -> T:
        if db:
            store = open_billing_store(db, **({"schema": schema} if schema else {}))
        else:
            store = store_for(config.billing, config.server.data_dir)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


MAX_CLOSED = 10_000  # closed records kept for a code attached after the call (calls.midcall bounds the window)

# the events that write a record or move credit (CdrBuilder.handle, _credit_event)
_BILLED = (CallStarted, CallRouted, CalleeAnswered, CallEnded, CodeChanged)


class BillingService(CreditControl):
    """Per-server billing: owns the store, the writer and the CDR builder; the
    credit of prepaid calls is its base's (``CreditControl``)."""

    def __init__(self, billing: BillingConfig, data_dir: str | Path, numbering: NumberingPlan) -> None:
        super().__init__()
        self.config = billing
        self.plans = billing.plans
        self.numbering = numbering
        self.data_dir = Path(data_dir)
        self.store = store_for(billing, data_dir)
        self.writer = CdrWriter(self.store, self.data_dir / JOURNAL_FILE)
        self.builder: CdrBuilder | None = None
        self.rates = RateBook(self.store, self.plans, self._set_plans)  # the database's plans, kept current
        self.recovered: int | None = None  # records closed by recovery; None until it ran
        self._recovery: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # durable answers: the call manager's release_answer (set by the server when
        # [billing] durable_answer holds callers' 2xx until their answer is on disk)
        self.release_answer: Callable[[str, float], object] | None = None
        self.flush: Callable[[], None] = lambda: None  # the driver's, set by the server
        self._closed: dict[str, Cdr] = {}  # recently closed records, for a code attached after the call

    async def start(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        self.started_wall = time.time()
        self.builder = CdrBuilder(
            wall_offset=self.started_wall - loop.time(), node=self.config.node,
            interim_interval=self.config.interim_interval, plans=self.plans,
            default_plan=self.config.default_rate_plan, group_plans=self.config.group_rate_plans,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self.writer.start()  # never raises for the database: it journals instead
        await self.rates.start()  # never raises: the configured plans until the database answers
        if self.writer.db_up:
            await self._recover()
        else:
            log.error("billing database %s unavailable: call records go to the journal until it is back",
                      safe_url(self.store.url))
            self._recovery = loop.create_task(self._recover_later(), name="cdr-recovery")

    async def _recover(self) -> None:
        # Only records whose last durable time precedes this process's start: records
        # of calls this process handles can never be taken for a crash's leftovers.
        closed = await self.store.recover_open_records(self.started_wall, node=self.config.node)
        self.recovered = len(closed)
        if closed:
            log.warning("closed %d call records left open by an earlier crash (flagged recovered)", len(closed))

    async def _recover_later(self) -> None:
        while True:
            await asyncio.sleep(RECOVERY_RETRY)
            if not self.writer.db_up:
                continue
            try:
                await self._recover()
                return
            except Exception:
                log.exception("crash recovery of call records failed; retrying")

    def _set_plans(self, plans: dict[str, RatePlan]) -> None:
        """The plans the next call is rated with (a call in progress keeps its rate)."""
        self.plans = plans
        if self.builder is not None:
            self.builder.plans = plans

    # -- the call path (synchronous) ----------------------------------------------
    def on_event(self, event: CallEvent) -> None:
        """CallLog subscriber: never raises, never waits."""
        builder = self.builder
        if builder is None or not isinstance(event, _BILLED):
            return  # ringing, connected, re-offers: neither the record nor credit changes
        if isinstance(event, CodeChanged):
            self._code_changed(event)
            return
        billing = None
        try:
            if isinstance(event, (CallStarted, CallRouted)):  # CallRouted: a prompted code, now known
                assert self.loop is not None
                builder.wall_offset = time.time() - self.loop.time()  # follow wall clock steps
                billing = billing_for(event, self.config, self.plans, self.numbering)
                self._prepay(event, billing)
        except Exception:  # a billing bug must not break call handling
            log.exception("billing: cannot rate %s", type(event).__name__)
        try:
            self._credit_event(event)  # first: a prepaid call's record bills what its credit paid
        except Exception:
            log.exception("credit control: cannot handle %s", type(event).__name__)
        if isinstance(event, CallEnded) and event.ref in self._closing:
            return  # closed once the reservation in flight has answered (_close_settled)
        self._record(event, billing)

    def _record(self, event: CallEvent, billing: CallBilling | None = None) -> None:
        assert self.builder is not None
        held = isinstance(event, CalleeAnswered) and self.release_answer is not None
        try:
            writes = self.builder.handle(event, billing)
            if writes and held:  # the caller's 2xx waits for this answer to be on disk
                self.writer.submit_durable(writes, lambda: self._answer_recorded(event.ref))
                return
            if writes:
                self.writer.submit(writes)
                for w in writes:  # the last word on a closed record: a code may still be attached
                    if isinstance(w, CdrClosed):
                        self._closed[w.cdr.ref] = w.cdr
                        while len(self._closed) > MAX_CLOSED:
                            self._closed.pop(next(iter(self._closed)))
        except Exception:  # a billing bug must not break call handling
            log.exception("billing: cannot record %s", type(event).__name__)
        if held:
            self._answer_recorded(event.ref)  # nothing to wait for: connect now

    def _code_changed(self, event: CodeChanged) -> None:
        """A mid-call code: the record is split there, the new segment rated under
        the code's own plan (b2bua.calls.midcall keeps a prepaid call's credit
        account and plan, so its reservation stays as it is)."""
        assert self.builder is not None
        acc = event.account
        if event.post_call:
            self._post_call(event)
            return
        try:
            writes = self.builder.change_code(
                event.ref, at=event.at, account_code=acc.code, code_source=CodeSource.of(acc.source),
                code_valid=bool(acc.valid), set_by=event.set_by, rate_plan=acc.rate_plan,
            )
            if writes:
                self.writer.submit(writes)
        except Exception:  # a billing bug must not break call handling
            log.exception("billing: cannot record the code change of %s", event.ref)

    def _post_call(self, event: CodeChanged) -> None:
        """A code attached to a call after it ended: its closed record is billed anew,
        the whole call under that code's plan, and says so (code source post_call)."""
        closed = self._closed.pop(event.ref, None)
        if closed is None:
            log.warning("billing: call %s ended too long ago to attach a code to its record", event.ref)
            return
        try:
            acc = event.account
            billing = billing_for(
                CallRouted(ref=closed.ref, at=event.at, group=closed.group, dialed=closed.dialed,
                           destination=closed.destination, route=closed.route, account=acc),
                self.config, self.plans, self.numbering,
            )
            assert self.builder is not None
            self.writer.submit([CdrClosed(attach_code(closed, billing, at=event.at + self.builder.wall_offset,
                                                     set_by=event.set_by))])
        except Exception:  # a billing bug must not break call handling
            log.exception("billing: cannot attach a code to the record of %s", event.ref)

    def running(self, ref: str, now: float) -> Cdr | None:
        """A call in progress billed up to ``now`` (monotonic; the live view)."""
        return self.builder.running(ref, now) if self.builder is not None else None

    def _answer_recorded(self, ref: str) -> None:
        assert self.release_answer is not None and self.loop is not None
        self.release_answer(ref, self.loop.time())
        self.flush()

    # Timed (driver.timed): interim updates of answered calls
    def next_deadline(self) -> float | None:
        return self._credit_deadline(self.builder.next_deadline() if self.builder is not None else None)

    def handle_timer(self, now: float) -> None:
        if self.builder is not None:
            writes = self.builder.handle_timer(now)
            if writes:
                self.writer.submit(writes)
        self._credit_timer(now)

    def status(self) -> dict[str, Any]:
        c = self.writer.counters
        return {
            "billing_db_up": self.writer.db_up,
            "billing_open_records": len(self.builder) if self.builder is not None else 0,
            "billing_pending": self.writer.pending,
            "billing_written": c["written"],
            "billing_journaled": c["journaled"],
            "billing_replayed": c["replayed"],
            "billing_quarantined": c["quarantined"],
            "billing_journal_bytes": self.writer.journal_bytes(),
            **self._credit_status(),
            "rate_plans": len(self.plans),
            "rates_version": self.rates.version,
            "rates_reloads": self.rates.reloads,
        }

    async def stop(self, timeout: float = 10.0) -> None:
        """Settle the credit of ended calls (reservations and commits in flight, for
        ``timeout`` seconds at most), then write every queued record and close."""
        if self._recovery is not None:
            self._recovery.cancel()
            self._recovery = None
        await self.rates.stop()
        await self._settle_credit(timeout)
        await self.writer.stop()
        try:
            await self.store.close()
        except Exception:
            log.exception("closing the billing database failed")

