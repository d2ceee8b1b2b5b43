"""Credit accounts on both backends: reservations never overspend, even concurrently
from several pools or processes; commit returns unused credit; checks fail closed."""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal

import pytest

from b2bua.billing.credit import CommitCredit, ReserveCredit, can_start, perform
from b2bua.billing.rating import Rate
from b2bua.billing.store import BillingStore, BillingStoreError

from .conftest import Backend

D = Decimal
RATE = Rate(price_per_minute=D("0.60"), setup=D("0.05"))


async def test_accounts_topup_and_balance(store: BillingStore) -> None:
    bal = await store.create_account("acme", "EUR", D("5.00"))
    assert (bal.balance, bal.reserved, bal.available) == (D("5.00"), D("0.00"), D("5.00"))
    with pytest.raises(BillingStoreError):
        await store.create_account("acme", "EUR")
    assert (await store.topup("acme", D("2.50"))).balance == D("7.50")
    assert await store.topup("ghost", D("1")) is None
    assert await store.balance("ghost") is None
    with pytest.raises(ValueError):
        await store.topup("acme", D("0.001"))  # not a whole number of cents
    assert await store.reserve("acme", D("7.00")) is not None
    with pytest.raises(ValueError, match="below its reserved credit"):
        await store.topup("acme", D("-1.00"))
    assert (await store.topup("acme", D("-0.50"))).available == D("0.00")
    jpy = await store.create_account("tokyo", "JPY", D("100"))
    assert str(jpy.balance) == "100"


async def test_reserve_extend_commit_release(store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("2.00"))
    assert await store.reserve("ghost", D("0.10")) is None  # unknown account: refused
    res = await store.reserve("acme", D("0.65"), ref="call-1")
    assert res is not None and (res.id, res.amount, res.state) == ("call-1", D("0.65"), "held")
    assert (await store.reserve("acme", D("0.65"), ref="call-1")) == res  # retried: not held twice
    assert (await store.balance("acme")).available == D("1.35")
    ext = await store.extend("call-1", D("0.60"))
    assert ext.amount == D("1.25")
    assert await store.extend("call-1", D("0.76")) is None  # 0.75 available
    assert (await store.balance("acme")).reserved == D("1.25")
    assert await store.extend("call-1", D("0.75")) is not None
    settled = await store.commit("call-1", D("1.13"))
    assert (settled.charged, settled.released, settled.shortfall) == (D("1.13"), D("0.87"), D("0.00"))
    assert await store.commit("call-1", D("1.13")) is None  # settled once only
    bal = await store.balance("acme")
    assert (bal.balance, bal.reserved) == (D("0.87"), D("0.00"))
    # charged never exceeds what was held
    await store.reserve("acme", D("0.50"), ref="call-2")
    over = await store.commit("call-2", D("0.60"))
    assert (over.charged, over.released, over.shortfall) == (D("0.50"), D("0.00"), D("0.10"))
    await store.reserve("acme", D("0.30"), ref="call-3")
    rel = await store.release("call-3")
    assert (rel.charged, rel.released) == (D("0.00"), D("0.30"))
    assert (await store.reservation("call-3")).state == "released"
    bal = await store.balance("acme")
    assert (bal.balance, bal.reserved) == (D("0.37"), D("0.00"))
    with pytest.raises(ValueError):
        await store.reserve("acme", D("-1"))


async def test_fifty_concurrent_reserves_never_overspend(store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("10.00"))
    results = await asyncio.gather(*(store.reserve("acme", D("1.00"), ref=f"r{i}") for i in range(50)))
    assert sum(r is not None for r in results) == 10
    bal = await store.balance("acme")
    assert (bal.reserved, bal.available) == (D("10.00"), D("0.00"))


async def test_two_pools_like_two_processes_never_overspend(backend: Backend, store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("10.00"))
    other = backend.store()
    await other.open()
    try:
        reserves = [(store if i % 2 else other).reserve("acme", D("0.70"), ref=f"r{i}") for i in range(50)]
        first = [r for r in await asyncio.gather(*reserves) if r is not None]
        assert len(first) == 14  # 14 * 0.70 = 9.80
        extends = [(store if i % 2 else other).extend(r.id, D("0.10")) for i, r in enumerate(first) for _ in range(3)]
        ok = [r for r in await asyncio.gather(*extends) if r is not None]
        assert len(ok) == 2  # 0.20 left
        settle = [(other if i % 2 else store).commit(r.id, D("0.50")) for i, r in enumerate(first)]
        await asyncio.gather(*settle)
    finally:
        await other.close()
    bal = await store.balance("acme")
    assert (bal.balance, bal.reserved) == (D("3.00"), D("0.00"))  # 14 calls * 0.50


CHILD = """
import asyncio, sys, time
from decimal import Decimal
from b2bua.billing.backends import open_billing_store

async def main(url, schema, start_at, n):
    store = open_billing_store(url, **({"schema": schema} if schema else {}))
    await store.open()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    got = await asyncio.gather(*(store.reserve("acme", Decimal("1.00")) for _ in range(n)))
    print(sum(r is not None for r in got))
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""


async def test_two_processes_never_overspend(backend: Backend, store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("17.00"))
    start_at = time.time() + 1.5  # both processes start reserving at the same moment
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, backend.url, backend.options.get("schema", ""), str(start_at), "25",
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sum(int(out.strip()) for out, _ in outs) == 17
    bal = await store.balance("acme")
    assert (bal.balance, bal.reserved) == (D("17.00"), D("17.00"))


async def test_can_start_fails_closed(backend: Backend, store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("0.70"))
    await store.create_account("poor", "EUR", D("0.64"))
    assert (await can_start(store, "acme", RATE, "EUR")).ok
    assert (await can_start(store, "acme", RATE, "EUR")).first_chunk == D("0.65")
    check = await can_start(store, "poor", RATE, "EUR")
    assert (check.ok, check.status, check.reason) == (False, 402, "insufficient credit")
    check = await can_start(store, "ghost", RATE, "EUR")
    assert (check.ok, check.status, check.reason) == (False, 403, "unknown credit account")
    assert (await can_start(store, "acme", None, "EUR")).status == 403
    assert (await can_start(store, "acme", RATE, "USD")).status == 403
    closed = backend.store()  # never opened: the database cannot be asked
    check = await can_start(closed, "acme", RATE, "EUR")
    assert (check.ok, check.status, check.reason) == (False, 503, "credit unavailable")


async def test_perform_executes_controller_commands(backend: Backend, store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("1.30"))
    assert await perform(store, ReserveCredit(ref="c", account="acme", amount=D("0.65"), first=True))
    assert await perform(store, ReserveCredit(ref="c", account="acme", amount=D("0.60"), first=False))
    assert not await perform(store, ReserveCredit(ref="c", account="acme", amount=D("0.60"), first=False))
    assert await perform(store, CommitCredit(ref="c", amount=D("1.00")))
    assert (await store.balance("acme")).balance == D("0.30")
    assert not await perform(backend.store(), ReserveCredit(ref="d", account="acme", amount=D("0.1"), first=True))
