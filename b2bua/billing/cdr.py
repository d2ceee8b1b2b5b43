"""Call detail records, built from call events.  Pure: no clock, no I/O.

Theory of operation
-------------------
``CdrBuilder`` consumes the call events of ``b2bua.calls.events`` (``CallStarted``,
``CallRinging``, ``CalleeAnswered``, ``CallEnded``; times in loop-monotonic seconds) plus
what the runtime knows about the call (``CallBilling``: account code and how it was
obtained, call class, rate), and returns write operations for the store:

* ``CdrOpened`` - a durable record of the attempt, when it starts (``open_at="start"``,
  the default: a crash while ringing still leaves a record) or when it is answered
  (``open_at="answer"``: fewer writes, unanswered attempts then only get their final);
* ``CdrInterim`` - an update of an open record: at answer, on a code change, and every
  ``interim_interval`` seconds of an answered call (``next_deadline``/``handle_timer``,
  one timer for all calls).  ``last_interim`` is what crash recovery bills up to;
* ``CdrClosed`` - the final record.  Every attempt gets exactly one, answered or not.

Every operation carries the whole record with a sequence number ``seq`` that grows
with each write of that call; the store keeps the write with the highest ``seq`` per
``ref``, so replays and reordering (journal replay after an outage) never duplicate a
record nor bring a closed record back to open.

Times in a ``Cdr`` are wall-clock UTC seconds since the Unix epoch (floats, as
``time.time()``): the builder adds ``wall_offset`` (``time.time() - loop.time()``,
given by the runtime, updatable) to the event times.  Durations are computed from the
monotonic times, so a wall clock step during a call does not change what it costs.
``duration`` is the talk time (answer to end) in seconds, rounded to the millisecond;
``billable`` the seconds rated (increments, minimum), ``cost`` their price.  A prepaid
call is billed no more seconds than its credit paid for (``limit``): its record's
cost is exactly what was taken from the account.
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Literal, Mapping, Union

import msgspec

from b2bua.billing.rating import (
    INTERNAL, Rate, RatePlan, billable_seconds, choose_plan, cost, later_segment, minor_unit, rate_for,
)
from b2bua.calls.events import CalleeAnswered, CallEnded, CallEvent, CallRouted, CallStarted
from dialplan.policy import CodeSource

RECOVERED_CAUSE = "recovered after restart"


class CodeChange(msgspec.Struct, frozen=True, kw_only=True):
    """An account code given or changed while the call was up, and the segment
    of the call it covers: from ``at`` to the next change (or the end).

    Once a call's code changes, ``Cdr.code_changes`` starts with the code the
    call was answered with (``at`` = the answer; the start for an unanswered
    call), so that the entries are the call's segments in order.  Each is
    rated under its own code's plan (``rate``); ``duration``, ``billable``
    and ``cost`` are its share, filled at every interim and at the end.
    Records written before segments existed have no rates here: they are
    reported as one segment (:func:`segmented`)."""

    at: float  # wall clock, epoch seconds
    account_code: str
    code_source: CodeSource  # how: info_package, info, target_dialog, dtmf_info, ...
    code_valid: bool
    set_by: str = ""  # who: the authenticated user ("" for the code the call started with)
    rate_plan: str = ""
    rate: Rate | None = None
    duration: float = 0.0  # talk seconds in this segment
    billable: int = 0
    cost: Decimal = Decimal(0)


class Cdr(msgspec.Struct, frozen=True, kw_only=True):
    """One call attempt's billing record (see the module docstring for units)."""

    ref: str  # the call's id, unique; the store's key
    seq: int = 0  # write sequence number for this ref; highest wins
    node: str = ""  # server instance that handles the call (crash recovery scope)
    caller: str  # extension, or the trunk's caller number
    caller_user: str = ""  # authenticated user, or "trunk:NAME"
    department: str = ""
    group: str = ""  # business group
    dialed: str = ""  # as dialed
    destination: str = ""  # number or extension after routing
    call_class: str = ""  # local, long_distance, international, ... (rating.CALL_CLASSES)
    route: str = ""  # "extension", "trunk:NAME" or "none"
    source: str = ""  # where the A leg came from, "udp:192.0.2.1:5060"
    account_code: str = ""  # the code in force at the end of the call
    code_valid: bool = False
    code_source: CodeSource = CodeSource.NONE
    code_changes: tuple[CodeChange, ...] = ()
    start: float  # wall clock, epoch seconds
    answer: float | None = None
    end: float | None = None  # None while the record is open
    last_interim: float | None = None
    duration: float = 0.0  # talk seconds, millisecond precision
    billable: int = 0  # seconds rated
    cost: Decimal = Decimal(0)
    currency: str = ""
    rate_plan: str = ""
    rate: Rate | None = None  # snapshot of the tariff applied
    status: int = 0  # final SIP status; 0 while open
    cause: str = ""
    hangup: str = ""  # "caller", "callee", "server" or ""
    a_call_id: str = ""
    b_call_id: str = ""
    recovered: bool = False  # closed by crash recovery, not by the call's end
    authorized_by: str = ""  # the description of the authorization code that allowed it (never its digits)
    authorization_level: int | None = None  # that code's level
    code_entry: str = ""  # how a prompted code was keyed: rfc4733, info, inband ("" otherwise)


class CdrOpened(msgspec.Struct, frozen=True, tag=True):
    cdr: Cdr


class CdrInterim(msgspec.Struct, frozen=True, tag=True):
    cdr: Cdr


class CdrClosed(msgspec.Struct, frozen=True, tag=True):
    cdr: Cdr


CdrWrite = Union[CdrOpened, CdrInterim, CdrClosed]


class CallBilling(msgspec.Struct, frozen=True, kw_only=True):
    """What the runtime adds to a call's events: account code, class and tariff."""

    account_code: str = ""
    code_valid: bool = False
    code_source: CodeSource = CodeSource.NONE
    call_class: str = ""
    rate_plan: str = ""
    currency: str = ""
    rate: Rate | None = None
    authorized_by: str = ""
    authorization_level: int | None = None
    code_entry: str = ""

    def __post_init__(self) -> None:
        # a name outside the vocabulary is a bug of the caller: ValueError
        msgspec.structs.force_setattr(self, "code_source", CodeSource(self.code_source))


def call_billing(
    plan: RatePlan | None, destination: str, call_class: str, *,
    account_code: str = "", code_valid: bool = False, code_source: CodeSource = CodeSource.NONE,
) -> CallBilling:
    """A ``CallBilling`` with the rate of ``plan`` for this destination and class."""
    return CallBilling(
        account_code=account_code, code_valid=code_valid, code_source=code_source,
        call_class=call_class, rate_plan=plan.name if plan else "",
        currency=plan.currency if plan else "",
        rate=rate_for(plan, destination, call_class) if plan else None,
    )


def billing_from_event(
    event: CallStarted | CallRouted, plans: Mapping[str, RatePlan], default_plan: str = "",
    group_plans: Mapping[str, str] | None = None,
) -> CallBilling | None:
    """The billing attributes a ``CallStarted`` carries in its ``account`` (the dial
    plan's decision: code, source, validity, call class, rate plan name), rated with
    the plan ``choose_plan`` picks; a call routed to an extension is ``internal``.
    None without ``account``."""
    acc = getattr(event, "account", None)
    if acc is None:
        return None
    plan = choose_plan(
        plans, code_plan=acc.rate_plan, group=event.group, group_plans=group_plans, default_plan=default_plan
    )
    call_class = INTERNAL if event.route == "extension" else acc.call_class
    return msgspec.structs.replace(call_billing(
        plan, event.destination, call_class, account_code=acc.code, code_valid=bool(acc.valid),
        code_source=CodeSource.of(acc.source),
    ), code_entry=acc.entry)


def _talk(seconds: float) -> float:
    return max(0.0, round(seconds, 3))


def segmented(cdr: Cdr) -> bool:
    """Is the record split by code (its first code change is the code it was
    answered with)?  Records of calls whose code never changed are not."""
    ch = cdr.code_changes
    return bool(ch) and cdr.answer is not None and ch[0].at <= cdr.answer


def _split(cdr: Cdr, talk: float, last_s: int | None = None) -> Cdr:
    """Rate each segment under its own code's rate: the setup fee and minimum
    belong to the call and are charged in its first segment only; later
    segments are billed by their rate's increments.  The record's billable
    seconds and cost are the sums (one currency assumed across the plans).
    ``last_s``: the last segment billed for at most so many seconds (a prepaid
    call moved to another credit account: what that account paid for)."""
    assert cdr.answer is not None
    end = cdr.answer + talk
    changes = cdr.code_changes
    currency = cdr.currency or "EUR"
    out: list[CodeChange] = []
    total_b, total_c = 0, Decimal(0)
    for i, ch in enumerate(changes):
        start = max(ch.at, cdr.answer)
        stop = min(changes[i + 1].at if i + 1 < len(changes) else end, end)
        seconds = _talk(stop - start)
        billable, price = 0, Decimal(0)
        rate = ch.rate
        if rate is not None and seconds > 0:
            if i > 0:
                rate = later_segment(rate)
            billable = billable_seconds(seconds, rate)
            if last_s is not None and i == len(changes) - 1:
                billable = min(billable, last_s)
            price = cost(rate, billable, currency)
        out.append(msgspec.structs.replace(ch, duration=seconds, billable=billable, cost=price))
        total_b += billable
        total_c += price
    return msgspec.structs.replace(
        cdr, code_changes=tuple(out), duration=_talk(talk), billable=total_b,
        cost=total_c.quantize(minor_unit(currency)),
    )


def priced(cdr: Cdr, talk: float, limit_s: int | None = None, *, last_segment: bool = False) -> Cdr:
    """``cdr`` with duration, billable seconds and cost for ``talk`` seconds; at most
    ``limit_s`` seconds billed (a prepaid call: the seconds its credit paid for).
    A record split by code (:func:`segmented`) is rated segment by segment; a
    prepaid one only when its credit moved with the code (``last_segment``: then
    ``limit_s`` bounds its last segment), else it keeps one credit account and plan."""
    talk = _talk(talk)
    if segmented(cdr) and (limit_s is None or last_segment):
        return _split(cdr, talk, limit_s)
    if cdr.rate is None:
        return msgspec.structs.replace(cdr, duration=talk, billable=0, cost=Decimal(0))
    currency = cdr.currency or "EUR"
    billable = billable_seconds(talk, cdr.rate)
    if limit_s is not None:
        billable = min(billable, limit_s)
    return msgspec.structs.replace(cdr, duration=talk, billable=billable, cost=cost(cdr.rate, billable, currency))


def within(cdr: Cdr, amount: Decimal) -> Cdr:
    """``cdr`` billing at most ``amount`` (what its prepaid account is charged): the
    longest billable time that costs no more.  The record itself when it already does."""
    rate = cdr.rate
    if rate is None or cdr.cost <= amount:
        return cdr
    currency = cdr.currency or "EUR"
    seconds = cdr.billable
    if rate.price_per_minute > 0:  # start near the answer, not hours of increments above it
        # (an amount just under half a minor unit more still rounds down to ``amount``)
        reach = amount - rate.setup + minor_unit(currency) / 2
        seconds = min(seconds, max(0, int(reach * 60 / rate.price_per_minute) + rate.increment_s))
    while seconds > 0 and cost(rate, seconds, currency) > amount:
        seconds -= rate.increment_s
    limit = billable_seconds(max(seconds, 0), rate)
    return priced(msgspec.structs.replace(cdr, seq=cdr.seq + 1), cdr.duration, limit)


def attach_code(cdr: Cdr, billing: CallBilling, *, at: float, set_by: str = "") -> Cdr:
    """A closed record with a code attached after the call (``at``, wall clock): the
    whole call billed under it, the change logged (code source ``post_call``).  A
    record split by code mid-call is not re-rated this way (the call layer refuses)."""
    change = CodeChange(at=at, account_code=billing.account_code, code_source=CodeSource.POST_CALL,
                        code_valid=billing.code_valid, set_by=set_by, rate_plan=billing.rate_plan, rate=billing.rate)
    currency = billing.currency or cdr.currency
    updated = msgspec.structs.replace(
        cdr, seq=cdr.seq + 1, account_code=billing.account_code, code_valid=billing.code_valid,
        code_source=CodeSource.POST_CALL, rate_plan=billing.rate_plan, rate=billing.rate, currency=currency,
        call_class=billing.call_class or cdr.call_class, code_changes=cdr.code_changes + (change,),
    )
    return priced(updated, cdr.duration, None)


def recover(cdr: Cdr) -> Cdr:
    """Close a record left open by a crash, billed up to its last interim time.

    The end is the latest durable time known: the last interim, else the answer,
    else the start.  Such records are flagged ``recovered``.
    """
    end = max(t for t in (cdr.start, cdr.answer, cdr.last_interim) if t is not None)
    talk = end - cdr.answer if cdr.answer is not None else 0.0
    closed = msgspec.structs.replace(
        cdr, seq=cdr.seq + 1, end=end, status=200 if cdr.answer is not None else 500,
        cause=RECOVERED_CAUSE, hangup="server", recovered=True,
    )
    return priced(closed, talk)


class _Call:
    """A call in progress: its record so far and its monotonic times."""

    __slots__ = ("cdr", "started_at", "answered_at", "opened", "limit_s", "limit_last")

    def __init__(self, cdr: Cdr, started_at: float) -> None:
        self.cdr = cdr
        self.started_at = started_at
        self.answered_at: float | None = None
        self.opened = False
        self.limit_s: int | None = None  # billable seconds at most (CdrBuilder.limit)
        self.limit_last = False  # limit_s bounds the last segment only


class CdrBuilder:
    """Turns call events into CDR write operations (see the module docstring)."""

    def __init__(
        self, *, wall_offset: float, node: str = "", interim_interval: float = 60.0,
        open_at: Literal["start", "answer"] = "start",
        plans: Mapping[str, RatePlan] | None = None, default_plan: str = "",
        group_plans: Mapping[str, str] | None = None,
    ) -> None:
        if interim_interval <= 0:
            raise ValueError("interim_interval must be positive")
        self.wall_offset = wall_offset  # time.time() - loop.time(); the runtime may refresh it
        self.node = node
        self.interim_interval = interim_interval
        self.open_at = open_at
        self.plans: Mapping[str, RatePlan] = plans or {}  # for billing_from_event
        self.default_plan = default_plan
        self.group_plans: Mapping[str, str] = group_plans or {}
        self._calls: dict[str, _Call] = {}
        self._due: list[tuple[float, str]] = []  # (monotonic due time, ref); lazily pruned

    def __len__(self) -> int:
        return len(self._calls)

    def _wall(self, at: float) -> float:
        return at + self.wall_offset

    def _bump(self, call: _Call, **changes: object) -> Cdr:
        call.cdr = msgspec.structs.replace(call.cdr, seq=call.cdr.seq + 1, **changes)
        return call.cdr

    def handle(self, event: CallEvent, billing: CallBilling | None = None) -> list[CdrWrite]:
        """Feed one call event.  ``billing`` may come with any event; without it a
        ``CallStarted`` is billed from its ``account`` and ``plans``."""
        if isinstance(event, CallStarted):
            return self._started(event, billing)
        call = self._calls.get(event.ref)
        if call is None:  # unknown or already closed: a duplicate must not write twice
            return []
        if isinstance(event, CallRouted):  # a held (prompted) call placed: where, and its code
            return self._routed(call, event, billing)
        if billing is not None:
            self._bill(call, billing)
        if isinstance(event, CalleeAnswered):  # the answer time: the callee's, never the server's
            return self._answered(call, event)
        if isinstance(event, CallEnded):
            return self._ended(call, event)
        return []  # ringing, the caller connected, the server's re-offers: nothing to write

    def _routed(self, call: _Call, ev: CallRouted, billing: CallBilling | None) -> list[CdrWrite]:
        call.cdr = msgspec.structs.replace(call.cdr, dialed=ev.dialed, destination=ev.destination, route=ev.route)
        if billing is None:
            billing = billing_from_event(ev, self.plans, self.default_plan, self.group_plans)
        if billing is not None:
            self._bill(call, billing)
        return [CdrInterim(self._bump(call))] if call.opened else []

    def _bill(self, call: _Call, b: CallBilling) -> None:
        currency = b.currency or call.cdr.currency
        call.cdr = msgspec.structs.replace(
            call.cdr, account_code=b.account_code, code_valid=b.code_valid, code_source=b.code_source,
            call_class=b.call_class, rate_plan=b.rate_plan, currency=currency, rate=b.rate,
            authorized_by=b.authorized_by, authorization_level=b.authorization_level, code_entry=b.code_entry,
            cost=Decimal(0).quantize(minor_unit(currency or "EUR")),
        )

    def annotate(self, ref: str, billing: CallBilling) -> None:
        """Set or replace a call's billing attributes before it is answered."""
        call = self._calls.get(ref)
        if call is not None:
            self._bill(call, billing)

    def _started(self, ev: CallStarted, billing: CallBilling | None) -> list[CdrWrite]:
        if ev.ref in self._calls:
            return []
        cdr = Cdr(
            ref=ev.ref, node=self.node, caller=ev.caller, caller_user=ev.caller_user,
            department=ev.department, group=ev.group, dialed=ev.dialed, destination=ev.destination,
            route=ev.route, source=ev.source, a_call_id=ev.a_call_id, start=self._wall(ev.at),
        )
        call = self._calls[ev.ref] = _Call(cdr, ev.at)
        if billing is None:
            billing = billing_from_event(ev, self.plans, self.default_plan, self.group_plans)
        if billing is not None:
            self._bill(call, billing)
        if self.open_at == "start":
            call.opened = True
            return [CdrOpened(self._bump(call))]
        return []

    def _answered(self, call: _Call, ev: CalleeAnswered) -> list[CdrWrite]:
        if call.answered_at is not None:
            return []
        call.answered_at = ev.at
        wall = self._wall(ev.at)
        cdr = self._bump(call, answer=wall, last_interim=wall, b_call_id=ev.b_call_id)
        call.cdr = priced(cdr, 0.0)
        heapq.heappush(self._due, (ev.at + self.interim_interval, call.cdr.ref))
        if call.opened:
            return [CdrInterim(call.cdr)]
        call.opened = True
        return [CdrOpened(call.cdr)]

    def _ended(self, call: _Call, ev: CallEnded) -> list[CdrWrite]:
        del self._calls[call.cdr.ref]
        talk = ev.at - call.answered_at if call.answered_at is not None else 0.0
        cdr = self._bump(
            call, end=self._wall(ev.at), status=ev.status, cause=ev.cause, hangup=ev.hangup,
            b_call_id=ev.b_call_id or call.cdr.b_call_id,
        )
        return [CdrClosed(priced(cdr, talk, call.limit_s, last_segment=call.limit_last))]

    def limit(self, ref: str, seconds: int, *, last_segment: bool = False) -> None:
        """Bill the call for at most ``seconds`` (before its ``CallEnded``): a prepaid
        call is billed the seconds its credit was charged for (``CreditController.
        charged_s``), so that the record's cost is the amount taken from the account.
        ``last_segment``: the bound of the last segment (``CreditController.segment_s``)
        of a call whose credit moved with its code; the earlier ones were charged as rated."""
        call = self._calls.get(ref)
        if call is not None:
            call.limit_s = seconds
            call.limit_last = last_segment

    def running(self, ref: str, now: float) -> Cdr | None:
        """The record of a call in progress as if it ended at ``now`` (monotonic):
        talk time and cost so far, each code's segment at its own rate (the live
        view's running cost); None for a call not in progress.  Changes nothing."""
        call = self._calls.get(ref)
        if call is None or call.answered_at is None:
            return None if call is None else call.cdr
        return priced(call.cdr, now - call.answered_at, call.limit_s)

    def change_code(
        self, ref: str, *, at: float, account_code: str, code_source: CodeSource, code_valid: bool,
        set_by: str = "", rate_plan: str | None = None,
    ) -> list[CdrWrite]:
        """A code given or changed during the call (``at`` monotonic): logged and made
        current; the record is split there (:class:`CodeChange`).  ``rate_plan``: the
        new code's own plan ("" for none), chosen as at set-up (``choose_plan``: else
        the group's, else the default); None keeps the rate in force."""
        code_source = CodeSource(code_source)  # ValueError outside the vocabulary
        call = self._calls.get(ref)
        if call is None:
            return []
        old = call.cdr
        plan_name, rate, currency = old.rate_plan, old.rate, old.currency
        if rate_plan is not None:
            plan = choose_plan(self.plans, code_plan=rate_plan, group=old.group, group_plans=self.group_plans,
                               default_plan=self.default_plan)
            plan_name = plan.name if plan is not None else ""
            currency = plan.currency if plan is not None else currency
            rate = None
            if plan is not None and old.call_class != "emergency":
                rate = rate_for(plan, old.destination, old.call_class)
        # times of one record are its answer plus monotonic differences, so that the
        # segments add up to the talk time whatever the wall clock did meanwhile
        if call.answered_at is not None and old.answer is not None:
            wall = old.answer + max(0.0, at - call.answered_at)
        else:
            wall = self._wall(at)
        changes = old.code_changes
        if not changes:  # the first change: the code the call had until now is the first segment
            changes = (CodeChange(
                at=old.answer if old.answer is not None else old.start, account_code=old.account_code,
                code_source=old.code_source, code_valid=old.code_valid, rate_plan=old.rate_plan, rate=old.rate,
            ),)
        change = CodeChange(
            at=wall, account_code=account_code, code_source=code_source, code_valid=code_valid, set_by=set_by,
            rate_plan=plan_name, rate=rate,
        )
        cdr = self._bump(
            call, account_code=account_code, code_source=code_source, code_valid=code_valid,
            code_changes=changes + (change,), rate_plan=plan_name, rate=rate, currency=currency,
        )
        if not call.opened:
            return []  # open_at="answer" and not answered: the final record carries it
        return [CdrInterim(self._interim(call, at) if call.answered_at is not None else cdr)]

    def _interim(self, call: _Call, now: float) -> Cdr:
        assert call.answered_at is not None
        cdr = self._bump(call, last_interim=self._wall(now))
        call.cdr = priced(cdr, now - call.answered_at, call.limit_s, last_segment=call.limit_last)
        return call.cdr

    def next_deadline(self) -> float | None:
        """Monotonic time of the next interim write, or None when no call is answered."""
        while self._due and self._due[0][1] not in self._calls:
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def handle_timer(self, now: float) -> list[CdrWrite]:
        """Interim writes for every answered call whose interval has elapsed."""
        out: list[CdrWrite] = []
        while self._due and self._due[0][0] <= now:
            _, ref = heapq.heappop(self._due)
            call = self._calls.get(ref)
            if call is None:
                continue
            out.append(CdrInterim(self._interim(call, now)))
            heapq.heappush(self._due, (now + self.interim_interval, ref))
        return out
