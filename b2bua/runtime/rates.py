"""The running server's rate plans: seeded from the configuration into the billing
database, rated from an in-memory copy that follows the database.

At start the plans of ``[[billing.rate_plans]]`` that the database lacks are
inserted (``BillingStore.seed_rate_plans``; a plan already stored is left alone:
the database wins), then every plan is loaded.  Every ``RATES_POLL`` seconds the
``rates_version`` counter is read; when another process (the portal, the API,
``b2bua rates``, another node on the same PostgreSQL database) changed a plan or a
rate, the plans are loaded again and handed to ``apply`` in one assignment, so the
next call is rated with them.  A call in progress keeps the rate it started with
(its record and its credit controller hold it).  Everything runs in tasks; the
database work in the store's worker thread (SQLite) or asyncpg, the building of
``RatePlan`` objects in a thread: the event loop never waits on it.

While the database cannot be read the last copy stays in use (at start: the
configured plans), and seeding is tried again at the next poll.

What a call is billed with (``billing_for``): the rate plan of its account code,
else its business group's (``[billing] group_rate_plans``), else the default plan;
the call class the account-code policy decided, else the numbering plan's class of
the dialed number (account codes off), ``internal`` for calls to an extension.
Emergency calls are never rated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Callable, Mapping, Protocol

from b2bua.billing.cdr import CallBilling
from b2bua.billing.rating import RatePlan, choose_plan, rate_for
from b2bua.billing.store import BillingStore
from b2bua.calls.events import AccountInfo
from dialplan import CallClass, CodeSource, NumberingPlan, classify

from .config import BillingConfig

log = logging.getLogger("b2bua.rates")

# seconds between looks at the rates version; bounds how long after a change a new
# call may still be rated with the old prices
RATES_POLL = 0.5


class RateBook:
    """Seeds, loads and follows the stored rate plans (see the module docstring)."""

    def __init__(
        self, store: BillingStore, configured: Mapping[str, RatePlan], apply: Callable[[dict[str, RatePlan]], None]
    ) -> None:
        self.store = store
        self.configured = dict(configured)
        self.apply = apply
        self.version: int | None = None  # of the copy in use; None: the configured plans
        self.reloads = 0
        self.plans = 0
        self._seeded = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self, poll: float = RATES_POLL) -> None:
        """Seed and load once (never raises), then follow changes every ``poll`` s."""
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._follow(poll), name="rate-plans")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, poll: float) -> None:
        while True:
            await asyncio.sleep(poll)
            await self.refresh()

    async def refresh(self) -> bool:
        """Seed if not done yet, reload if the version moved; True when reloaded."""
        try:
            if not self._seeded:
                added = await self.store.seed_rate_plans(list(self.configured.values()), time.time())
                self._seeded = True
                if added:
                    log.info("rate plans %s added to the billing database from the configuration", ", ".join(added))
            version = await self.store.rates_version()
            if version == self.version:
                return False
            plans = await self.store.rate_plans()
        except Exception as err:  # the database is down or a row unreadable: keep the copy in use
            if not self._failing:
                log.error("rate plans cannot be read from the billing database (%s): rating with the %s", err,
                          "configured plans" if self.version is None else "last plans read")
            self._failing = True
            return False
        if self._failing:
            log.warning("rate plans readable again")
        self._failing = False
        self.version = version
        self.plans = len(plans)
        self.reloads += 1
        self.apply(plans)
        return True


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
