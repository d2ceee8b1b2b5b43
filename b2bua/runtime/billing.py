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

What a call is billed with (``billing_for``): the rate plan of its account code,
else its business group's (``[billing] group_rate_plans``), else the default plan;
the call class the account-code policy decided, else the numbering plan's class of
the dialed number (account codes off), ``internal`` for calls to an extension.
Emergency calls are never rated.  A code set during the call (``CodeChanged``,
b2bua.calls.midcall) splits the record there: each segment is rated under its own
code's plan (``CdrBuilder.change_code``).  On a prepaid call a code of another
credit account or plan first moves the credit (``move_credit``: the new account
must hold the next chunk; then the old reservation is committed for the segment so
far), and the record's last segment bills what the new account paid for.

Prepaid calls (an account code with a ``credit_account``, calling out through a
trunk): before ringing the application awaits ``check_credit`` (``credit.can_start``);
from ``CalleeAnswered`` (the callee's answer; the server answering the caller itself
starts nothing) a ``CreditController`` per call reserves credit in chunks of
``credit_chunk`` seconds, its deadlines run on the same timer, reservations and commits
run as tasks against the store and a call whose next chunk is refused is ended with
``end_call`` (BYE on both legs, hangup "server").  ``CallEnded`` commits the cost of
the talk time, at most the seconds paid for; the rest of the reservation returns to
the account.  The call's record bills those same seconds (``CdrBuilder.limit``; with
a reservation in flight the record closes when it answers), so record and charge
agree.  A failed commit is retried with a doubling delay (``_commit``); one still
failing at shut-down is made at the next start from the closed record.  Internal calls (to an extension) of a code with a
credit account are neither checked nor charged (``charged_to_credit``): a prepaid code
never stops its user from calling a colleague; their record carries the plan's
``internal`` rate, if it has one, for reports only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from b2bua.billing.cdr import CallBilling, Cdr, CdrBuilder, CdrClosed, attach_code
from b2bua.billing.credit import (
    CommitCredit, CreditCheck, CreditCommand, CreditController, CreditState, EndCall, MoveResult, ReserveCredit,
    can_start, perform,
)
from b2bua.billing.rating import Rate, RatePlan, choose_plan, later_segment, rate_for
from b2bua.billing.backends import open_billing_store
from b2bua.billing.store import BillingStore
from b2bua.billing.writer import CdrWriter
from b2bua.calls.admission import CreditRequest
from b2bua.calls.midcall_credit import MoveCredit
from b2bua.calls.events import AccountInfo, CalleeAnswered, CallEnded, CallEvent, CallRouted, CallStarted, CodeChanged
from dialplan import CallClass, CodeSource, NumberingPlan, classify

from .config import BillingConfig, Config
from .admin_db import safe_url
from .rates import RateBook

log = logging.getLogger("b2bua.billing")
T = TypeVar("T")

SQLITE_FILE = "billing.sqlite3"
JOURNAL_FILE = "cdr-journal.jsonl"
RECOVERY_RETRY = 5.0  # seconds between recovery attempts while the database is down
# a prepaid call's first reservation runs after the answer; the controller's
# deadline for it is the answer itself (nothing paid yet), so the runtime waits
# this long for the database before cutting the call ("credit not confirmed in time")
FIRST_RESERVE_GRACE = 2.0
COMMIT_RETRY_FIRST = 1.0  # seconds before a failed credit commit is tried again; doubles
COMMIT_RETRY_MAX = 60.0  # up to this


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


class Billable(Protocol):
    """What billing reads of a call: a started call (``CallStarted``) or one
    about to start (``CreditRequest``, for its credit check)."""

    @property
    def account(self) -> AccountInfo: ...
    @property
    def route(self) -> str: ...
    @property
    def dialed(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def group(self) -> str: ...


def billing_for(
    call: Billable, billing: BillingConfig, plans: dict[str, RatePlan], numbering: NumberingPlan
) -> CallBilling:
    """A call's billing attributes (see the module docstring)."""
    acc = call.account
    call_class = acc.call_class
    if call.route == "extension":
        call_class = CallClass.INTERNAL.value
    elif not call_class:
        found = classify(call.dialed, numbering).call_class
        call_class = "" if found is CallClass.INVALID else found.value
    plan = choose_plan(plans, code_plan=acc.rate_plan, group=call.group,
                       group_plans=billing.group_rate_plans, default_plan=billing.default_rate_plan)
    rate = None
    if plan is not None and call_class != CallClass.EMERGENCY.value:
        rate = rate_for(plan, call.destination, call_class)
    return CallBilling(
        account_code=acc.code,
        code_valid=bool(acc.valid),
        code_source=CodeSource.of(acc.source),
        call_class=call_class,
        rate_plan=plan.name if plan is not None else "",
        currency=plan.currency if plan is not None else billing.currency,
        rate=rate,
        authorized_by=acc.authorization,
        authorization_level=acc.authorization_level,
        code_entry=acc.entry,
    )


def charged_to_credit(event: Billable) -> bool:
    """Is this call paid from its code's credit account?  Not when it goes nowhere,
    nor when it is internal (to an extension): those are never checked nor charged."""
    return bool(event.account.credit_account) and event.route not in ("none", "extension")


MAX_CLOSED = 10_000  # closed records kept for a code attached after the call (calls.midcall bounds the window)

# the events that write a record or move credit (CdrBuilder.handle, _credit_event)
_BILLED = (CallStarted, CallRouted, CalleeAnswered, CallEnded, CodeChanged)


class BillingService:
    """Per-server billing: owns the store, the writer and the CDR builder."""

    def __init__(self, billing: BillingConfig, data_dir: str | Path, numbering: NumberingPlan) -> None:
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
        # credit control: set by the server (end a call from here; flush the driver)
        self.end_call: Callable[[str, float, str], object] | None = None
        # durable answers: the call manager's release_answer (set by the server when
        # [billing] durable_answer holds callers' 2xx until their answer is on disk)
        self.release_answer: Callable[[str, float], object] | None = None
        self.flush: Callable[[], None] = lambda: None
        self._prepaid: dict[str, tuple[str, Rate, str]] = {}  # started, not answered: account, rate, currency
        self.credit: dict[str, CreditController] = {}  # answered prepaid calls
        self._tasks: set[asyncio.Task[None]] = set()
        self._commits: set[asyncio.Task[None]] = set()  # commits not through yet
        self._closing: dict[str, tuple[CreditController, CallEnded]] = {}  # ended, charge not known yet
        self._stopping = asyncio.Event()
        self.commit_retry = (COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX)  # seconds: first delay, longest
        self.commit_failures = 0
        self.credit_cuts = 0
        self._closed: dict[str, Cdr] = {}  # recently closed records, for a code attached after the call
        self.credit_reservations = 0  # reservations asked of the credit store

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
                if charged_to_credit(event) and billing.rate is not None:
                    self._prepaid[event.ref] = (event.account.credit_account, billing.rate, billing.currency)
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

    # -- credit control ---------------------------------------------------------------
    async def check_credit(self, request: CreditRequest) -> CreditCheck:
        """May this prepaid call ring?  Its first chunk, at the rate it will be billed
        with, must fit in what its credit account has available."""
        if not charged_to_credit(request):
            return CreditCheck(ok=True, reason="not charged to a credit account")
        b = billing_for(request, self.config, self.plans, self.numbering)
        return await can_start(self.store, request.credit_account, b.rate, b.currency,
                               chunk_s=self.config.credit_chunk)

    async def move_credit(self, move: MoveCredit) -> MoveResult:
        """A prepaid call's new mid-call code names another credit account or plan: the
        next chunk is reserved on it at the code's rate before the old reservation is
        settled (``CreditController.move``); refused, the call stays where it was."""
        ctl = self.credit.get(move.ref)
        if ctl is None:
            return MoveResult(ok=False, reason="the call is not paid from a credit account")
        b = billing_for(move.request, self.config, self.plans, self.numbering)
        check = await can_start(self.store, move.request.credit_account,
                                 later_segment(b.rate) if b.rate is not None else None, b.currency,
                                 chunk_s=self.config.credit_chunk)
        if not check.ok:
            return MoveResult(ok=False, reason=check.reason)
        assert self.loop is not None and b.rate is not None
        cmd = ctl.move(self.loop.time(), account=move.request.credit_account, rate=b.rate, currency=b.currency)
        if cmd is None:
            return MoveResult(ok=False, reason="credit busy, try again")
        self.credit_reservations += 1
        ok = await perform(self.store, cmd)
        at = self.loop.time()
        before = ctl.reservation
        try:
            self._run(ctl, ctl.move_result(at, ok))
        finally:
            self.flush()
        if ctl.reservation == before:
            return MoveResult(ok=False, reason="insufficient credit" if not ok else "call ended")
        log.info("call %s: credit moved to account %s", move.ref, move.request.credit_account)
        return MoveResult(ok=True, reason="ok", at=at)

    def _credit_event(self, event: CallEvent) -> None:
        if isinstance(event, CalleeAnswered):
            info = self._prepaid.pop(event.ref, None)
            if info is None:
                return
            account, rate, currency = info
            ctl = CreditController(ref=event.ref, account=account, rate=rate, currency=currency,
                                   chunk_s=self.config.credit_chunk)
            self.credit[event.ref] = ctl
            self._run(ctl, ctl.answered(event.at))
        elif isinstance(event, CallEnded):
            self._prepaid.pop(event.ref, None)
            done = self.credit.pop(event.ref, None)
            if done is not None:
                commands = done.ended(event.at)
                if not done.settled:  # a reservation is in flight: its answer decides the charge
                    self._closing[event.ref] = (done, event)
                elif self.builder is not None and done.charged_s is not None:
                    self._limit(done)  # the record bills what is charged
                self._run(done, commands)

    def _close_settled(self, ctl: CreditController, *, force: bool = False) -> None:
        """Close the record of an ended prepaid call once its charge is known."""
        if ctl.ref not in self._closing or not (ctl.settled or force):
            return
        _, event = self._closing.pop(ctl.ref)
        if self.builder is not None:
            self._limit(ctl)
        self._record(event)

    def _limit(self, ctl: CreditController) -> None:
        """The record bills what the credit was charged: in all, or (a call whose
        credit moved with its code) in its last segment, the earlier ones as rated."""
        assert self.builder is not None  # unsettled (a reservation never answered): what was paid
        if ctl.moves:
            self.builder.limit(ctl.ref, ctl.segment_s if ctl.segment_s is not None else ctl.paid_s, last_segment=True)
        else:
            self.builder.limit(ctl.ref, ctl.charged_s if ctl.charged_s is not None else ctl.paid_s)

    def _run(self, ctl: CreditController, commands: list[CreditCommand]) -> None:
        for cmd in commands:
            if isinstance(cmd, EndCall):
                self.credit_cuts += 1
                log.info("call %s: %s, ending it", cmd.ref, cmd.reason)
                if self.end_call is not None:
                    assert self.loop is not None
                    self.end_call(cmd.ref, max(self.loop.time(), cmd.at), f"credit: {cmd.reason}")
            elif isinstance(cmd, CommitCredit):
                self._spawn(self._commit(cmd), self._commits)
            else:
                self.credit_reservations += 1
                self._spawn(self._reserve(ctl, cmd))

    async def _reserve(self, ctl: CreditController, cmd: ReserveCredit) -> None:
        ok = await perform(self.store, cmd)
        assert self.loop is not None
        try:
            commands = ctl.reserve_result(self.loop.time(), ok)
            self._close_settled(ctl)
            self._run(ctl, commands)
        finally:
            self.flush()  # new deadlines, BYEs to send

    async def _commit(self, cmd: CommitCredit) -> None:
        """Commit until the store takes it, retrying with a doubling delay.

        Idempotent by the call's ref: a commit that went through although its answer
        was lost finds nothing held the next time and is done.  Durable: the call's
        closed record (database or CDR journal) bills exactly ``cmd.amount``, and a
        reservation still held at a restart is committed by the start-up recovery at
        its closed record's cost (``BillingStore.recover_open_records``).
        """
        delay, longest = self.commit_retry
        while not await perform(self.store, cmd):
            self.commit_failures += 1
            if self._stopping.is_set():
                log.error("credit commit of call %s (%s) left for the next start", cmd.ref, cmd.amount)
                return
            log.warning("credit commit of call %s failed; retrying in %.1f s", cmd.ref, delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, longest)

    def _spawn(self, coro: Any, also: set[asyncio.Task[None]] | None = None) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if also is not None:
            also.add(task)
            task.add_done_callback(also.discard)

    # Timed (driver.timed): interim updates of answered calls
    def next_deadline(self) -> float | None:
        deadline = self.builder.next_deadline() if self.builder is not None else None
        for ctl in self.credit.values():
            d = _credit_deadline(ctl)
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        return deadline

    def handle_timer(self, now: float) -> None:
        if self.builder is not None:
            writes = self.builder.handle_timer(now)
            if writes:
                self.writer.submit(writes)
        for ctl in list(self.credit.values()):
            d = _credit_deadline(ctl)
            if d is not None and d <= now:
                try:
                    self._run(ctl, ctl.handle_timer(now))
                except Exception:
                    log.exception("credit control of call %s failed", ctl.ref)

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
            "credit_calls": len(self.credit),
            "credit_cuts": self.credit_cuts,
            "credit_reservations": self.credit_reservations,
            "billing_journal_bytes": self.writer.journal_bytes(),
            "credit_commits_pending": len(self._commits),
            "credit_commit_failures": self.commit_failures,
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
        self._stopping.set()  # failing commits make one last attempt, then wait for the next start
        if self._tasks:  # reservations and commits in flight
            done, pending = await asyncio.wait(list(self._tasks), timeout=max(timeout, 0.0))
            if pending:
                log.error("%d credit operations unfinished at shutdown (their reservations stay held)", len(pending))
        for ctl, _ in list(self._closing.values()):  # a reservation that never answered: bill what was paid
            self._close_settled(ctl, force=True)
        await self.writer.stop()
        try:
            await self.store.close()
        except Exception:
            log.exception("closing the billing database failed")


def _credit_deadline(ctl: CreditController) -> float | None:
    """The controller's deadline, but the first reservation gets FIRST_RESERVE_GRACE."""
    d = ctl.next_deadline()
    if d is not None and ctl.paid_s == 0 and ctl.state is CreditState.RESERVING and ctl.answered_at is not None:
        return max(d, ctl.answered_at + FIRST_RESERVE_GRACE)
    return d
