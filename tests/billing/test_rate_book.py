"""The running server's copy of the rate plans: seeded from the configuration,
reloaded when another process changes the database, kept while it is down."""

from __future__ import annotations

from decimal import Decimal

from b2bua.billing.rating import Rate, RatePlan, rate_for
from b2bua.billing.tariffs import RateRow
from b2bua.runtime.rates import RateBook

from .conftest import Backend

D = Decimal
CONFIGURED = {"office": RatePlan(name="office", rates=(Rate(prefix="1", price_per_minute=D("0.02")),))}


async def test_seeds_loads_and_follows_another_process(backend: Backend) -> None:
    server, admin = backend.store(), backend.store()
    await server.open()
    await admin.open()
    applied: list[dict[str, RatePlan]] = []
    book = RateBook(server, CONFIGURED, applied.append)
    try:
        assert await book.refresh()
        assert rate_for(applied[-1]["office"], "1212", "long_distance").price_per_minute == D("0.02")
        assert not await book.refresh()  # nothing changed: no reload
        await admin.import_rates([RateRow(plan="office", rate=Rate(prefix="1", price_per_minute=D("0.03")))])
        assert await book.refresh()
        assert rate_for(applied[-1]["office"], "1212", "long_distance").price_per_minute == D("0.03")
        # a restart with the old configuration: the database wins
        again: list[dict[str, RatePlan]] = []
        assert await RateBook(server, CONFIGURED, again.append).refresh()
        assert rate_for(again[-1]["office"], "1212", "long_distance").price_per_minute == D("0.03")
    finally:
        await server.close()
        await admin.close()


async def test_a_database_that_cannot_be_read_keeps_the_copy_in_use(backend: Backend) -> None:
    store = backend.store()  # never opened: every read fails
    applied: list[dict[str, RatePlan]] = []
    book = RateBook(store, CONFIGURED, applied.append)
    assert not await book.refresh()
    assert applied == [] and book.version is None
    await store.open()
    try:
        assert await book.refresh()  # seeded at the next look
        assert list(applied[-1]) == ["office"]
    finally:
        await store.close()
