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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Callable, Mapping

from b2bua.billing.rating import RatePlan
from b2bua.billing.store import BillingStore

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
