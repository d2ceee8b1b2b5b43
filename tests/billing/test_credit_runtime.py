"""Prepaid calls in the billing runtime on SQLite and PostgreSQL: the record of a call
bills exactly what its credit account was charged, and a failed commit is retried
(and survives a restart) until the account is charged once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from b2bua.billing.store import BillingStoreError
from b2bua.billing.writer import CdrWriter
from b2bua.calls.events import AccountInfo, CalleeAnswered, CallEnded, CallStarted
from b2bua.runtime.billing import JOURNAL_FILE, BillingService
from b2bua.runtime.config import loads

from .conftest import Backend

D = Decimal
CONFIG = """
[numbering]
kind = "nanp"
home_area_code = "801"

[billing]
credit_chunk = 60
default_rate_plan = "prepaid"

[[billing.rate_plans]]
name = "prepaid"
class_defaults = { long_distance = { price_per_minute = 0.60, increment_s = 6 } }
"""
CFG = loads(CONFIG)
WALLET = AccountInfo(code="40404", valid=True, source="shortcut", call_class="long_distance", credit_account="wallet")


def service(backend: Backend, data: Path) -> BillingService:
    billing = BillingService(CFG.billing, data, CFG.numbering)
    billing.store = backend.store()
    billing.writer = CdrWriter(billing.store, data / JOURNAL_FILE)
    billing.commit_retry = (0.01, 0.04)
    return billing


def call(ref: str, at: float) -> CallStarted:
    return CallStarted(ref=ref, at=at, caller="1001", caller_user="1001", dialed="2125551234",
                       destination="2125551234", route="trunk:out", a_call_id=f"a-{ref}",
                       source="udp:127.0.0.1:5070", account=WALLET)


async def settle(billing: BillingService) -> None:
    while billing._tasks:
        await asyncio.wait(list(billing._tasks))


async def answered(backend: Backend, data: Path, ref: str, balance: str) -> tuple[BillingService, float]:
    """A started service, the wallet holding ``balance``, and call ``ref`` answered now
    (its first chunk reserved); returns the service and the answer time."""
    billing = service(backend, data)
    await billing.start()
    await billing.store.create_account("wallet", "EUR", D(balance))
    t0 = asyncio.get_running_loop().time()
    billing.on_event(call(ref, t0))
    billing.on_event(CalleeAnswered(ref=ref, at=t0, b_call_id="b"))
    await settle(billing)
    return billing, t0


async def record_and_balance(backend: Backend, ref: str) -> tuple[Decimal, int, Decimal, str]:
    """(record cost, record billable seconds, balance, reservation state), read afresh."""
    store = backend.store()
    await store.open()
    try:
        cdr, bal, res = await store.get(ref), await store.balance("wallet"), await store.reservation(ref)
    finally:
        await store.close()
    assert cdr is not None and cdr.end is not None and bal is not None and res is not None
    assert bal.reserved == 0
    return cdr.cost, cdr.billable, bal.balance, res.state


async def test_a_cut_call_is_recorded_at_what_was_charged(backend: Backend, tmp_path: Path) -> None:
    """One chunk of credit (60 s = 0.60), the renewal refused, the call cut at the end of
    the paid time; its BYE takes 0.4 s more.  Before: the record billed 66 s (0.66)
    while 0.60 was charged.  Now record and balance say the same."""
    billing, t0 = await answered(backend, tmp_path, "cut", "0.60")
    billing.handle_timer(t0 + 55)  # the renewal: nothing left
    await settle(billing)
    billing.handle_timer(t0 + 60)  # cut
    assert billing.credit_cuts == 1
    billing.on_event(CallEnded(ref="cut", at=t0 + 60.4, status=200, cause="credit: credit exhausted", hangup="server"))
    await settle(billing)
    await billing.stop()
    cost, billable, balance, state = await record_and_balance(backend, "cut")
    assert (state, cost, billable) == ("committed", D("0.60"), 60)
    assert balance == D("0.60") - cost == D("0.00")  # the record's cost is what the account paid


async def test_a_hangup_while_a_renewal_is_in_flight_is_recorded_when_it_answers(
    backend: Backend, tmp_path: Path
) -> None:
    billing, t0 = await answered(backend, tmp_path, "mid", "0.60")
    billing.handle_timer(t0 + 55)  # a renewal in flight ...
    billing.on_event(CallEnded(ref="mid", at=t0 + 61.0, status=200, cause="caller hung up", hangup="caller"))
    await settle(billing)  # ... refused; the record closes with the charge
    await billing.stop()
    cost, billable, balance, state = await record_and_balance(backend, "mid")
    assert (state, cost, billable) == ("committed", D("0.60"), 60)  # 61 s talked, 60 s paid for
    assert balance == D("0.60") - cost


async def test_a_failed_commit_is_retried_until_the_account_is_charged_once(backend: Backend, tmp_path: Path) -> None:
    billing, t0 = await answered(backend, tmp_path, "r", "5.00")
    real = billing.store.commit
    failures = [3]

    async def flaky(ref: str, amount: Decimal):  # type: ignore[no-untyped-def]
        if failures[0]:
            failures[0] -= 1
            raise BillingStoreError("database unreachable")
        return await real(ref, amount)

    billing.store.commit = flaky  # type: ignore[method-assign]
    billing.on_event(CallEnded(ref="r", at=t0 + 30.5, status=200, cause="caller hung up", hangup="caller"))
    await asyncio.wait_for(settle(billing), 5.0)
    assert billing.commit_failures == 3 and billing.status()["credit_commits_pending"] == 0
    await billing.stop()
    cost, billable, balance, state = await record_and_balance(backend, "r")
    assert (state, billable, cost) == ("committed", 36, D("0.36"))
    assert balance == D("5.00") - cost


async def test_a_commit_still_failing_at_shutdown_is_made_at_the_next_start(backend: Backend, tmp_path: Path) -> None:
    first, t0 = await answered(backend, tmp_path, "r", "5.00")

    async def down(ref: str, amount: Decimal):  # type: ignore[no-untyped-def]
        raise BillingStoreError("database unreachable")

    first.store.commit = down  # type: ignore[method-assign]
    first.on_event(CallEnded(ref="r", at=t0 + 30.5, status=200, cause="caller hung up", hangup="caller"))
    while first.commit_failures < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(first.stop(), 5.0)  # the commit is not through: still held
    store = backend.store()
    await store.open()
    res = await store.reservation("r")
    await store.close()
    assert res is not None and res.state == "held"
    second = service(backend, tmp_path)
    await second.start()  # recovery commits held reservations of closed records at their cost
    await second.stop()
    cost, billable, balance, state = await record_and_balance(backend, "r")
    assert (state, billable, cost) == ("committed", 36, D("0.36"))
    assert balance == D("5.00") - cost


async def test_a_code_of_another_credit_account_moves_the_call(backend: Backend, tmp_path: Path) -> None:
    """A mid-call code on account ``other``: refused while it cannot hold the next chunk
    (the call stays on the wallet), then moved once it can; each account pays its own
    segment and the record's segments add up to what both paid."""
    from b2bua.calls.commands import CreditRequest
    from b2bua.calls.events import CodeChanged
    from b2bua.calls.midcall_credit import MoveCredit

    billing, t0 = await answered(backend, tmp_path, "mv", "1.00")
    other = AccountInfo(code="50505", valid=True, source="info_package", call_class="long_distance",
                        credit_account="other")
    move = MoveCredit(ref="mv", request=CreditRequest(
        caller="1001", caller_user="1001", group="", dialed="2125551234", destination="2125551234",
        route="trunk:out", account=other))
    assert (await billing.move_credit(move)).reason == "unknown credit account"
    await billing.store.create_account("other", "EUR", D("0.59"))  # a 60 s chunk costs 0.60
    refused = await billing.move_credit(move)
    assert (refused.ok, refused.reason) == (False, "insufficient credit")
    assert billing.credit["mv"].account == "wallet"
    await billing.store.topup("other", D("1.41"))
    moved = await billing.move_credit(move)
    assert moved.ok and moved.at >= t0
    billing.on_event(CodeChanged(ref="mv", at=moved.at, account=other, set_by="1001"))
    billing.on_event(CallEnded(ref="mv", at=moved.at + 30, status=200, cause="caller hung up", hangup="caller"))
    await settle(billing)
    await billing.stop()
    store = backend.store()
    await store.open()
    try:
        cdr, wallet, acct = await store.get("mv"), await store.balance("wallet"), await store.balance("other")
    finally:
        await store.close()
    assert cdr is not None and wallet is not None and acct is not None
    # the wallet: the moments before the move, one 6 s step (0.06); the other account 30 s (0.30)
    assert (wallet.balance, wallet.reserved, acct.balance, acct.reserved) == (D("0.94"), 0, D("1.70"), 0)
    assert [c.cost for c in cdr.code_changes] == [D("0.06"), D("0.30")] and cdr.cost == D("0.36")
