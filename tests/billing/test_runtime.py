"""The server's billing glue: which plan and class a call is billed with, and
events in -> rated, durable records out (SQLite; real loop, no SIP)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import msgspec

from b2bua.billing.backends import open_billing_store
from b2bua.billing.cdr import CdrBuilder
from b2bua.billing.reports import export_cdrs
from b2bua.calls.admission import CreditRequest
from b2bua.calls.events import AccountInfo, CalleeAnswered, CallEnded, CallerConnected, CallStarted
from b2bua.runtime.billing import BillingService
from b2bua.runtime.rates import billing_for
from b2bua.runtime.config import loads

CONFIG = """
[numbering]
kind = "nanp"
home_area_code = "801"

[billing]
interim_interval = 0.2
default_rate_plan = "standard"
group_rate_plans = { lobby = "lobby" }

[[billing.rate_plans]]
name = "standard"
rates = [{ prefix = "212", price_per_minute = 0.12, increment_s = 6, minimum_s = 30, setup = 0.05 }]
class_defaults = { local = { price_per_minute = 0.01 }, emergency = { price_per_minute = 9 } }

[[billing.rate_plans]]
name = "lobby"
class_defaults = { long_distance = { price_per_minute = 0.50 } }

[[billing.rate_plans]]
name = "vip"
currency = "USD"
class_defaults = { long_distance = { price_per_minute = 0.02 } }
"""
CFG = loads(CONFIG)


def started(ref: str = "r1", *, dialed: str = "2125551234", group: str = "default", route: str = "trunk:out",
            account: AccountInfo = AccountInfo(), at: float = 0.0) -> CallStarted:
    return CallStarted(ref=ref, at=at, caller="1001", caller_user="1001", group=group, dialed=dialed,
                       destination=dialed, route=route, a_call_id=f"a-{ref}", source="udp:127.0.0.1:5070",
                       account=account)


def bill(ev: CallStarted | CreditRequest):  # type: ignore[no-untyped-def]
    return billing_for(ev, CFG.billing, CFG.billing.plans, CFG.numbering)


def test_code_plan_beats_group_plan_beats_default() -> None:
    assert bill(started()).rate_plan == "standard"
    assert bill(started(group="lobby")).rate_plan == "lobby"
    b = bill(started(group="lobby", account=AccountInfo(code="12345", source="shortcut", valid=True,
                                                        call_class="long_distance", rate_plan="vip")))
    assert (b.rate_plan, b.currency, b.account_code, b.code_source, b.code_valid) == ("vip", "USD", "12345", "shortcut", True)
    assert b.rate is not None and b.rate.price_per_minute == Decimal("0.02")
    # a code naming a plan the configuration no longer has falls back to its group's
    assert bill(started(group="lobby", account=AccountInfo(rate_plan="gone"))).rate_plan == "lobby"


def test_group_plan_is_honoured_by_the_runtime_and_by_the_cdr_builder() -> None:
    """One rule chooses the plan: the runtime's billing_for and the builder billing
    a CallStarted from its account alone both rate a lobby call with the lobby plan."""
    ev = started(group="lobby", account=AccountInfo(call_class="long_distance"))
    builder = CdrBuilder(wall_offset=0.0, plans=CFG.billing.plans, default_plan=CFG.billing.default_rate_plan,
                         group_plans=CFG.billing.group_rate_plans)
    [opened] = builder.handle(ev)
    runtime = bill(ev)
    assert opened.cdr.rate_plan == runtime.rate_plan == "lobby"
    assert opened.cdr.rate == runtime.rate and runtime.rate is not None
    assert runtime.rate.price_per_minute == Decimal("0.50")
    # the same account in another group gets the default plan on both paths
    other = started("r3", group="default", account=AccountInfo(call_class="long_distance"))
    [opened] = builder.handle(other)
    assert opened.cdr.rate_plan == bill(other).rate_plan == "standard"
    # a code's own plan still wins over the group's on both paths
    vip = started("r2", group="lobby", account=AccountInfo(call_class="long_distance", rate_plan="vip"))
    [opened] = builder.handle(vip)
    assert opened.cdr.rate_plan == bill(vip).rate_plan == "vip"


def test_class_from_the_policy_else_the_numbering_plan() -> None:
    assert bill(started()).call_class == "long_distance"  # classified: codes off
    assert bill(started(dialed="6424655")).call_class == "local"
    assert bill(started(account=AccountInfo(call_class="international"))).call_class == "international"
    assert bill(started(dialed="1002", route="extension")).call_class == "internal"
    b = bill(started(dialed="2125551234"))
    assert b.rate is not None and b.rate.prefix == "212"  # longest prefix before the class default
    emergency = bill(started(dialed="911"))
    assert emergency.call_class == "emergency" and emergency.rate is None  # never rated


async def test_events_become_rated_records(tmp_path: Path) -> None:
    billing = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await billing.start()
    assert billing.recovered == 0
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    billing.on_event(started("r1", at=t0))
    billing.on_event(CallerConnected(ref="r1", at=t0 + 0.5, by_server=True))  # no answer time: nothing written
    billing.on_event(CalleeAnswered(ref="r1", at=t0 + 1, b_call_id="b-r1"))
    billing.on_event(started("r2", at=t0, dialed="6424655"))
    billing.on_event(CallEnded(ref="r2", at=t0 + 2, status=486, cause="busy", hangup=""))
    assert billing.next_deadline() == t0 + 1.2
    billing.handle_timer(t0 + 1.2)  # an interim write of the answered call
    billing.on_event(CallEnded(ref="r1", at=t0 + 32.5, status=200, cause="caller hung up", hangup="caller"))
    await billing.stop()
    store = open_billing_store(str(tmp_path / "billing.sqlite3"))
    await store.open()
    try:
        r1, r2 = await store.get("r1"), await store.get("r2")
    finally:
        await store.close()
    assert r1 is not None and r2 is not None
    # 31.5 s talk -> 32 s -> increments of 6 -> 36 s; 0.05 + 36 * 0.12 / 60 = 0.122 -> 0.12
    assert (r1.status, r1.duration, r1.billable, r1.cost, r1.currency) == (200, 31.5, 36, Decimal("0.12"), "EUR")
    assert r1.call_class == "long_distance" and r1.hangup == "caller" and r1.b_call_id == "b-r1"
    assert r1.seq == 4  # opened, answered, one interim, closed
    assert (r2.status, r2.answer, r2.cost, r2.call_class) == (486, None, Decimal("0.00"), "local")


async def test_open_records_of_a_killed_process_are_recovered(tmp_path: Path) -> None:
    first = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await first.start()
    t0 = asyncio.get_running_loop().time() - 10  # the crash was a while ago
    first.on_event(started("r1", at=t0))
    first.on_event(CalleeAnswered(ref="r1", at=t0 + 1, b_call_id="b"))
    first.handle_timer(t0 + 1.2)
    await first.writer.flush()  # durable, then "killed": no stop, no close record
    assert first.writer._task is not None
    first.writer._task.cancel()
    await first.store.close()
    second = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await second.start()
    await second.stop()
    assert second.recovered == 1
    store = open_billing_store(str(tmp_path / "billing.sqlite3"))
    await store.open()
    try:
        r1 = await store.get("r1")
    finally:
        await store.close()
    assert r1 is not None and r1.recovered and r1.end is not None and r1.duration == 0.2


async def test_check_credit_takes_the_admission_request(tmp_path: Path) -> None:
    """The credit check is asked with what admission knows of a call about to start
    (no call event, no call ref yet), rated by the same plan choice as the record."""
    billing = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await billing.start()
    try:
        await billing.store.create_account("acme", "EUR", Decimal("0.20"))
        lobby = AccountInfo(call_class="long_distance", credit_account="acme")
        request = CreditRequest(caller="1001", caller_user="1001", group="lobby", dialed="2125551234",
                                destination="2125551234", route="trunk:out", account=lobby)
        assert bill(request).rate_plan == "lobby"  # billing_for reads a request like a started call
        # lobby plan: 0.50/min; the first 60 s chunk does not fit in 0.20
        refused = await billing.check_credit(request)
        assert (refused.ok, refused.status) == (False, 402)
        # the default plan (another group): 0.12/min plus 0.05 setup = 0.17 fits
        ok = await billing.check_credit(msgspec.structs.replace(request, group="default"))
        assert ok.ok, ok
        unknown = msgspec.structs.replace(request, account=AccountInfo(credit_account="ghost"))
        assert (await billing.check_credit(unknown)).status == 403
    finally:
        await billing.stop()


async def test_credit_starts_on_the_callees_answer_not_on_the_servers(tmp_path: Path) -> None:
    """A prepaid call the server answers itself (prompting) reserves nothing
    until a callee answers."""
    billing = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await billing.start()
    try:
        t0 = asyncio.get_running_loop().time()
        billing.on_event(started("p1", at=t0, account=AccountInfo(credit_account="wallet")))
        billing.on_event(CallerConnected(ref="p1", at=t0 + 1, by_server=True))
        assert "p1" not in billing.credit
        billing.on_event(CalleeAnswered(ref="p1", at=t0 + 5, b_call_id="b"))
        assert "p1" in billing.credit and billing.credit["p1"].answered_at == t0 + 5
        billing.on_event(CallEnded(ref="p1", at=t0 + 6, status=200, cause="caller hung up", hangup="caller"))
        assert "p1" not in billing.credit
    finally:
        await billing.stop()


def test_an_extension_that_looks_like_a_country_is_rated_as_internal() -> None:
    """Extension 4401 with a UK prefix rate in the plan: internal, unrated."""
    cfg = loads(CONFIG.replace('rates = [{ prefix = "212"', 'rates = [{ prefix = "44", price_per_minute = 0.30 }, { prefix = "212"'))
    ev = started(dialed="4401", route="extension", account=AccountInfo(call_class="international"))
    b = billing_for(ev, cfg.billing, cfg.billing.plans, cfg.numbering)
    assert (b.call_class, b.rate) == ("internal", None)
    builder = CdrBuilder(wall_offset=0.0, plans=cfg.billing.plans, default_plan="standard")
    [opened] = builder.handle(ev)  # rated from the event alone: the same rule
    assert opened.cdr.rate is None


async def test_internal_calls_of_a_prepaid_code_are_neither_checked_nor_charged(tmp_path: Path) -> None:
    """A code with a credit account may call an extension: no credit check, no
    reservation, the balance untouched, even where the plan rates internal calls."""
    cfg = loads(CONFIG.replace("class_defaults = { local", "class_defaults = { internal = { price_per_minute = 0.60 }, local"))
    billing = BillingService(cfg.billing, tmp_path, cfg.numbering)
    await billing.start()
    await billing.store.create_account("acme", "EUR", Decimal("1.00"))
    t0 = asyncio.get_running_loop().time()
    ev = started("x", dialed="1002", route="extension", at=t0,
                 account=AccountInfo(code="31337", valid=True, call_class="internal", credit_account="acme"))
    check = await billing.check_credit(ev)
    assert check.ok, check
    billing.on_event(ev)
    billing.on_event(CalleeAnswered(ref="x", at=t0 + 1, b_call_id="b"))
    assert billing.credit == {} and not billing._tasks
    billing.on_event(CallEnded(ref="x", at=t0 + 61, status=200, cause="caller hung up", hangup="caller"))
    bal = await billing.store.balance("acme")
    assert bal is not None and (bal.balance, bal.reserved) == (Decimal("1.00"), Decimal("0.00"))
    assert await billing.store.reservation("x") is None
    await billing.stop()


async def test_the_authorization_code_is_in_the_record_and_its_export(tmp_path: Path) -> None:
    """The description and level of the authorization code that allowed a call are
    stored with its record and exported (never the digits: admission has none to give)."""
    billing = BillingService(CFG.billing, tmp_path, CFG.numbering)
    await billing.start()
    t0 = asyncio.get_running_loop().time()
    granted = AccountInfo(authorization="Night manager", authorization_level=5)
    billing.on_event(started("a1", at=t0, account=granted))
    billing.on_event(CallEnded(ref="a1", at=t0 + 1, status=486, cause="busy", hangup=""))
    billing.on_event(started("a2", at=t0))
    billing.on_event(CallEnded(ref="a2", at=t0 + 1, status=486, cause="busy", hangup=""))
    await billing.stop()
    store = open_billing_store(str(tmp_path / "billing.sqlite3"))
    await store.open()
    try:
        a1, a2 = await store.get("a1"), await store.get("a2")
    finally:
        await store.close()
    assert a1 is not None and (a1.authorized_by, a1.authorization_level) == ("Night manager", 5)
    assert a2 is not None and (a2.authorized_by, a2.authorization_level) == ("", None)
    rows = list(csv.DictReader(io.StringIO(export_cdrs([a1, a2], "csv"))))
    assert [(r["authorized_by"], r["authorization_level"]) for r in rows] == [("Night manager", "5"), ("", "")]
    assert json.loads(export_cdrs([a1], "json"))[0]["authorization_level"] == 5
