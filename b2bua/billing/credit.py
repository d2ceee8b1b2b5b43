"""Real-time credit control: prepaid accounts, reservations in chunks, cut-off.

Accounts and reservations live in the billing store (``BillingStore.reserve``,
``extend``, ``commit``, ``release``, ``topup``, ``balance``).  A reservation succeeds
only if the available balance (``balance - reserved``) covers it, decided by one
conditional ``UPDATE ... WHERE balance - reserved >= amount`` inside the database,
so concurrent calls, also from several server processes sharing one PostgreSQL
database, can never hold more than the balance; a ``CHECK (balance >= reserved)``
constraint guards the invariant again.  Commit charges ``min(actual cost, held)``:
an account is never charged more than was reserved for the call.

``CreditController`` (pure, one per answered call, monotonic ``now``) decides when to
reserve and when to cut the call off:

* before ringing the runtime asks ``can_start(store, account, rate, currency)``: an
  unknown account, a currency mismatch, a missing rate, an unreachable database or a
  balance that cannot cover the first chunk refuses the call (fail closed), with the
  SIP status to answer (403, 402, 503);
* on answer: ``ReserveCredit`` of the first chunk (``chunk_s`` seconds, default 60,
  priced with setup fee, minimum and increments, i.e. ``cost(rate, chunk_s)``);
* ``margin_s`` before the paid time runs out: ``ReserveCredit`` of the next chunk
  (the difference of the cumulative cost), so that what is held is always
  ``cost(rate, paid seconds)``;
* a refused reservation (or none answered before the paid time ends): ``EndCall`` at
  the end of the paid time (at once when nothing was paid);
* on hang-up: ``CommitCredit`` of the talk time's cost, but of no more seconds than
  were paid for (``charged_s``, ``charge``: a cut call's BYE takes a moment, which is
  not billed); the store returns the rest.  The call's record bills the same seconds
  (``CdrBuilder.limit``), so records and balance agree to the cent.

A mid-call code of another credit account (or another rate) moves the call
(``move(now, account=, rate=, currency=)``, b2bua.calls.midcall_credit): the first
chunk of the rest of the call is reserved on the new account, at the new code's rate
for a later segment (``rating.later_segment``: no setup fee, no minimum), under a
reservation of its own (``REF#2``, ``REF#3`` ...).  Only once that is held
(``move_result(now, True)``) is the old reservation committed for the segment so far
(its cost at the old rate, at most its paid seconds), and the controller goes on
from ``now`` on the new account and rate: paid time and cut-off counted from the
change.  A refused reservation changes nothing (fail closed: the call keeps its
code and account).  ``charged_s``/``charge`` then cover every segment;
``segment_s`` is the last one's (the record bills its last segment at most that).

The runtime executes commands with ``perform(store, command)`` and feeds the result
of a reservation back with ``reserve_result(now, ok)`` (``move_result`` for a move).
"""

from __future__ import annotations

import enum
import logging
from decimal import Decimal
from typing import Protocol, Union

import msgspec

from b2bua.billing.rating import Rate, billable_seconds, cost, later_segment

log = logging.getLogger("b2bua.billing.credit")

CHUNK_S = 60  # seconds of talk reserved at a time
MARGIN_S = 5.0  # seconds before the paid time ends at which the next chunk is reserved


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    currency: str
    balance: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance - self.reserved


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    account: str
    currency: str
    amount: Decimal  # held now (cumulative over extensions)
    state: str  # "held", "committed", "released"


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    account: str
    charged: Decimal
    released: Decimal  # held credit returned to the account
    shortfall: Decimal  # actual cost not charged because it exceeded what was held


class CreditStore(Protocol):
    """What credit control needs of the billing store (``BillingStore`` implements it)."""

    async def balance(self, account: str) -> Balance | None: ...

    async def reserve(self, account: str, amount: Decimal, *, ref: str | None = None) -> Reservation | None: ...

    async def extend(self, reservation_id: str, amount: Decimal) -> Reservation | None: ...

    async def commit(self, reservation_id: str, actual_cost: Decimal) -> Settlement | None: ...


class CreditCheck(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    reason: str
    status: int = 0  # SIP status to refuse the call with when not ok
    first_chunk: Decimal = Decimal(0)


async def can_start(
    store: CreditStore, account: str, rate: Rate | None, currency: str, *, chunk_s: int = CHUNK_S
) -> CreditCheck:
    """May a call on ``account`` at ``rate`` ring?  Fails closed on every doubt."""
    if rate is None:
        return CreditCheck(ok=False, reason="no rate for this destination", status=403)
    try:
        bal = await store.balance(account)
    except Exception:  # the database is the authority; without it, no prepaid call
        log.exception("credit check for %s failed", account)
        return CreditCheck(ok=False, reason="credit unavailable", status=503)
    if bal is None:
        return CreditCheck(ok=False, reason="unknown credit account", status=403)
    if bal.currency != currency:
        return CreditCheck(ok=False, reason=f"account is in {bal.currency}, rate in {currency}", status=403)
    first = cost(rate, chunk_s, currency)
    if bal.available < first:
        return CreditCheck(ok=False, reason="insufficient credit", status=402, first_chunk=first)
    return CreditCheck(ok=True, reason="ok", first_chunk=first)


class MoveResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of moving a call's credit to a new code (``at``: when the new
    segment starts, monotonic; the record splits there too)."""

    ok: bool
    reason: str
    at: float = 0.0


class ReserveCredit(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str  # the reservation's id: the call's ref, REF#2 ... after moves
    account: str
    amount: Decimal
    first: bool  # True: store.reserve; False: store.extend


class CommitCredit(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str  # the reservation's id
    amount: Decimal  # actual cost of the call (of its segment on this reservation)


class EndCall(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ref: str
    at: float  # monotonic: end of the paid time
    reason: str


CreditCommand = Union[ReserveCredit, CommitCredit, EndCall]


class CreditState(enum.Enum):
    IDLE = "idle"  # not answered yet
    RESERVING = "reserving"  # a reservation is in flight
    ACTIVE = "active"  # paid ahead; renews at paid end minus margin
    EXHAUSTED = "exhausted"  # no more credit; ends at paid end
    CUT = "cut"  # EndCall emitted, waiting for the hang-up
    ENDED = "ended"


class CreditController:
    """Per-call credit control on monotonic time (see the module docstring)."""

    def __init__(
        self, *, ref: str, account: str, rate: Rate, currency: str,
        chunk_s: int = CHUNK_S, margin_s: float = MARGIN_S,
    ) -> None:
        if chunk_s < 1 or not 0 <= margin_s < chunk_s:
            raise ValueError("need chunk_s >= 1 and 0 <= margin_s < chunk_s")
        self.ref, self.account, self.rate, self.currency = ref, account, rate, currency
        self.chunk_s, self.margin_s = chunk_s, margin_s
        self.state = CreditState.IDLE
        self.answered_at: float | None = None
        self.paid_s = 0  # talk seconds covered by held credit
        self.held = Decimal(0)  # == cost(rate, paid_s) once anything is held
        self._target_s = 0  # paid_s once the reservation in flight succeeds
        self._pending = False
        self._talk: float | None = None  # talk seconds, once ended
        # once settled: the seconds and the amount charged, the very numbers the call's
        # record must bill (``CdrBuilder.limit``), so that records and balance agree
        self.charged_s: int | None = None
        self.charge: Decimal | None = None
        # moves to other credit accounts (mid-call codes): the reservation held now,
        # when its segment started, and what earlier segments were charged
        self.reservation = ref
        self.start: float | None = None
        self.moves = 0
        self.earlier_s = 0
        self.earlier = Decimal(0)
        self.segment_s: int | None = None  # once settled: the last segment's charged seconds
        self._move: tuple[str, str, Rate, str] | None = None  # (reservation, account, rate, currency) in flight

    def _cost(self, seconds: int) -> Decimal:
        return cost(self.rate, seconds, self.currency)

    def _request(self) -> ReserveCredit:
        self._target_s = billable_seconds(self.paid_s + self.chunk_s, self.rate)
        self._pending = True
        amount = self._cost(self._target_s) - self.held
        return ReserveCredit(ref=self.reservation, account=self.account, amount=amount, first=self.paid_s == 0)

    @property
    def paid_until(self) -> float | None:
        """Monotonic time at which the paid talk time ends (None before answer)."""
        return None if self.start is None else self.start + self.paid_s

    def answered(self, now: float) -> list[CreditCommand]:
        if self.state is not CreditState.IDLE:
            return []
        self.answered_at = self.start = now
        self.state = CreditState.RESERVING
        return [self._request()]

    def reserve_result(self, now: float, ok: bool) -> list[CreditCommand]:
        """The outcome of the last ``ReserveCredit`` (False also when it raised)."""
        if not self._pending:
            return []
        self._pending = False
        if ok:
            self.paid_s = self._target_s
            self.held = self._cost(self.paid_s)
        if self.state is CreditState.ENDED:
            return self._settle()
        if self.state is CreditState.CUT:
            return []
        if ok:
            self.state = CreditState.ACTIVE
            return []
        self.state = CreditState.EXHAUSTED
        if self.paid_s == 0:  # not even the first chunk: end now
            return self._cut(now, "insufficient credit")
        return []

    def _cut(self, at: float, reason: str) -> list[CreditCommand]:
        self.state = CreditState.CUT
        return [EndCall(ref=self.ref, at=at, reason=reason)]

    def next_deadline(self) -> float | None:
        if self.start is None or self.state in (CreditState.CUT, CreditState.ENDED):
            return None
        end = self.start + self.paid_s
        # a move in flight defers the renewal: its answer decides which account pays on
        return end - self.margin_s if self.state is CreditState.ACTIVE and self._move is None else end

    def handle_timer(self, now: float) -> list[CreditCommand]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        if self.state is CreditState.ACTIVE and self._move is None:
            self.state = CreditState.RESERVING
            return [self._request()]
        # RESERVING past the paid time (no answer in time) or EXHAUSTED: fail closed.
        reason = "credit exhausted" if self.state is CreditState.EXHAUSTED else "credit not confirmed in time"
        return self._cut(deadline, reason)

    def ended(self, now: float) -> list[CreditCommand]:
        """The call ended (hang-up, cut-off or failure); commit what it cost."""
        if self.state is CreditState.ENDED:
            return []
        talk = 0.0 if self.start is None else max(0.0, now - self.start)
        self.state = CreditState.ENDED
        self._talk = talk
        if self._pending:
            return []  # settle when the reservation in flight answers
        return self._settle()

    @property
    def settled(self) -> bool:
        """Ended, and what the call is charged is known (``charged_s``, ``charge``)."""
        return self.charged_s is not None

    def _settle(self) -> list[CreditCommand]:
        if self._talk is None:
            return []
        # talk past the paid time (the BYE of a cut takes a moment) is not charged:
        # the charge never exceeds what is held, and it is exactly what the record bills
        self.segment_s = min(billable_seconds(round(self._talk, 3), self.rate), self.paid_s)
        charge = self._cost(self.segment_s)
        self.charged_s, self.charge = self.earlier_s + self.segment_s, self.earlier + charge
        if self.paid_s == 0:
            return []  # nothing held
        return [CommitCredit(ref=self.reservation, amount=charge)]

    # -- a mid-call code of another credit account --------------------------------------
    def move(self, now: float, *, account: str, rate: Rate, currency: str) -> ReserveCredit | None:
        """Reserve the rest of the call's first chunk on ``account`` at ``rate`` (a later
        segment's); None when the call cannot move now (not paid ahead, or busy)."""
        if self.state is not CreditState.ACTIVE or self._pending or self._move is not None:
            return None
        later = later_segment(rate)
        rid = f"{self.ref}#{self.moves + 2}"
        self._move = (rid, account, later, currency)
        seconds = billable_seconds(self.chunk_s, later)
        return ReserveCredit(ref=rid, account=account, amount=cost(later, seconds, currency), first=True)

    def move_result(self, now: float, ok: bool) -> list[CreditCommand]:
        """The outcome of the move's reservation: held, the old reservation is committed
        for the segment so far and the call goes on from ``now`` on the new account;
        refused, nothing changes.  A call that stopped meanwhile releases the new one."""
        move, self._move = self._move, None
        if move is None or not ok:
            return []
        rid, account, rate, currency = move
        if self.state is not CreditState.ACTIVE or self.start is None:
            return [CommitCredit(ref=rid, amount=Decimal(0))]  # too late: released
        charged_s = min(billable_seconds(round(now - self.start, 3), self.rate), self.paid_s)
        charge = self._cost(charged_s)
        out: list[CreditCommand] = [CommitCredit(ref=self.reservation, amount=charge)]
        self.earlier_s += charged_s
        self.earlier += charge
        self.moves += 1
        self.reservation, self.account, self.rate, self.currency = rid, account, rate, currency
        self.start = now
        self.paid_s = billable_seconds(self.chunk_s, rate)
        self.held = self._cost(self.paid_s)
        return out


async def perform(store: CreditStore, command: ReserveCredit | CommitCredit) -> bool:
    """Execute a credit command against the store; False when refused or failed."""
    try:
        if isinstance(command, ReserveCredit):
            if command.first:
                res = await store.reserve(command.account, command.amount, ref=command.ref)
            else:
                res = await store.extend(command.ref, command.amount)
            return res is not None and res.state == "held"
        await store.commit(command.ref, command.amount)
        return True
    except Exception:
        log.exception("credit command %r failed", command)
        return False
