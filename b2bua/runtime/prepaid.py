"""Prepaid calls in the running server: the shell of the credit controller
(``b2bua.billing.credit``), :class:`CreditControl`, the base of
:class:`b2bua.runtime.billing.BillingService`.

Prepaid calls (an account code with a ``credit_account``, calling out through a
trunk): before ringing the application awaits ``check_credit`` (``credit.can_start``);
from ``CalleeAnswered`` (the callee's answer; the server answering the caller itself
starts nothing) a ``CreditController`` per call reserves credit in chunks of
``credit_chunk`` seconds, its deadlines run on the billing's timer, reservations and
commits run as tasks against the store and a call whose next chunk is refused is
ended with ``end_call`` (BYE on both legs, hangup "server").  ``CallEnded`` commits
the cost of the talk time, at most the seconds paid for; the rest of the reservation
returns to the account.  The call's record bills those same seconds
(``CdrBuilder.limit``; with a reservation in flight the record closes when it
answers), so record and charge agree.  A failed commit is retried with a doubling
delay (``_commit``); one still failing at shut-down is made at the next start from
the closed record.  Internal calls (to an extension) of a code with a credit account
are neither checked nor charged (``charged_to_credit``): a prepaid code never stops
its user from calling a colleague; their record carries the plan's ``internal``
rate, if it has one, for reports only.

A mid-call code of another credit account or plan first moves the credit
(``move_credit``: the new account must hold the next chunk; then the old
reservation is committed for the segment so far), and the record's last segment
bills what the new account paid for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from b2bua.billing.cdr import CallBilling, CdrBuilder
from b2bua.billing.credit import (
    CommitCredit, CreditCheck, CreditCommand, CreditController, CreditState, EndCall, MoveResult, ReserveCredit,
    can_start, perform,
)
from b2bua.billing.rating import Rate, RatePlan, later_segment
from b2bua.billing.store import BillingStore
from b2bua.calls.admission import CreditRequest
from b2bua.calls.events import CalleeAnswered, CallEnded, CallEvent, CallRouted, CallStarted
from b2bua.calls.midcall_credit import MoveCredit
from dialplan import NumberingPlan

from .config import BillingConfig
from .rates import billing_for, charged_to_credit

log = logging.getLogger("b2bua.billing")

# a prepaid call's first reservation runs after the answer; the controller's
# deadline for it is the answer itself (nothing paid yet), so the runtime waits
# this long for the database before cutting the call ("credit not confirmed in time")
FIRST_RESERVE_GRACE = 2.0
COMMIT_RETRY_FIRST = 1.0  # seconds before a failed credit commit is tried again; doubles
COMMIT_RETRY_MAX = 60.0  # up to this


class CreditControl:
    """Credit control of prepaid calls: the base of ``BillingService``, which gives
    it the configuration, the plans, the store, the record builder and the loop,
    and records an ended call (``_record``) once its charge is known."""

    config: BillingConfig
    plans: dict[str, RatePlan]
    numbering: NumberingPlan
    store: BillingStore
    builder: CdrBuilder | None
    loop: asyncio.AbstractEventLoop | None
    flush: Callable[[], None]

    def __init__(self) -> None:
        # set by the server: end a call from here
        self.end_call: Callable[[str, float, str], object] | None = None
        self._prepaid: dict[str, tuple[str, Rate, str]] = {}  # started, not answered: account, rate, currency
        self.credit: dict[str, CreditController] = {}  # answered prepaid calls
        self._tasks: set[asyncio.Task[None]] = set()
        self._commits: set[asyncio.Task[None]] = set()  # commits not through yet
        self._closing: dict[str, tuple[CreditController, CallEnded]] = {}  # ended, charge not known yet
        self._stopping = asyncio.Event()
        self.commit_retry = (COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX)  # seconds: first delay, longest
        self.commit_failures = 0
        self.credit_cuts = 0
        self.credit_reservations = 0  # reservations asked of the credit store

    def _record(self, event: CallEvent, billing: CallBilling | None = None) -> None:
        raise NotImplementedError  # BillingService's

    def _prepay(self, event: CallStarted | CallRouted, billing: CallBilling) -> None:
        """A call rated at its start (or once its prompted code is known): a prepaid
        one's account, rate and currency wait for its answer."""
        if charged_to_credit(event) and billing.rate is not None:
            self._prepaid[event.ref] = (event.account.credit_account, billing.rate, billing.currency)

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

    def _credit_deadline(self, deadline: float | None) -> float | None:
        """The earlier of ``deadline`` and the controllers' next one."""
        for ctl in self.credit.values():
            d = _credit_deadline(ctl)
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        return deadline

    def _credit_timer(self, now: float) -> None:
        for ctl in list(self.credit.values()):
            d = _credit_deadline(ctl)
            if d is not None and d <= now:
                try:
                    self._run(ctl, ctl.handle_timer(now))
                except Exception:
                    log.exception("credit control of call %s failed", ctl.ref)

    def _credit_status(self) -> dict[str, Any]:
        return {
            "credit_calls": len(self.credit),
            "credit_cuts": self.credit_cuts,
            "credit_reservations": self.credit_reservations,
            "credit_commits_pending": len(self._commits),
            "credit_commit_failures": self.commit_failures,
        }

    async def _settle_credit(self, timeout: float) -> None:
        """Wait for the reservations and commits in flight (``timeout`` seconds at
        most; failing commits make one last attempt), then close the records of
        ended calls whose reservation never answered: they bill what was paid."""
        self._stopping.set()  # failing commits make one last attempt, then wait for the next start
        if self._tasks:  # reservations and commits in flight
            done, pending = await asyncio.wait(list(self._tasks), timeout=max(timeout, 0.0))
            if pending:
                log.error("%d credit operations unfinished at shutdown (their reservations stay held)", len(pending))
        for ctl, _ in list(self._closing.values()):  # a reservation that never answered: bill what was paid
            self._close_settled(ctl, force=True)


def _credit_deadline(ctl: CreditController) -> float | None:
    """The controller's deadline, but the first reservation gets FIRST_RESERVE_GRACE."""
    d = ctl.next_deadline()
    if d is not None and ctl.paid_s == 0 and ctl.state is CreditState.RESERVING and ctl.answered_at is not None:
        return max(d, ctl.answered_at + FIRST_RESERVE_GRACE)
    return d
