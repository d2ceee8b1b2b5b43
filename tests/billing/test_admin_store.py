"""Rate plans, rates and credit top-ups in the billing database, on both backends:
seeding from the configuration, CSV-sized imports in one transaction, the version
counter that tells running servers to reload, credit adjustments with their history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from b2bua.billing.rating import Rate, RatePlan, RatingError, cost, rate_for
from b2bua.billing.store import BillingStore, BillingStoreError
from b2bua.billing.tariffs import RateRow, parse_rates_csv

from .conftest import Backend

D = Decimal
SEED = RatePlan(name="standard", currency="EUR", rates=(Rate(prefix="44", price_per_minute=D("0.05")),),
                class_defaults={"local": Rate(price_per_minute=D("0.01"))})


def generated_csv(n: int, plan: str = "bulk") -> str:
    lines = ["plan,prefix,price_per_minute,increment_s,description"]
    lines += [f"{plan},{100000 + i},0.{i % 97:02d}5,6,route {i}" for i in range(n)]
    return "\n".join(lines) + "\n"


async def test_seed_inserts_missing_plans_only_and_the_database_wins(store: BillingStore) -> None:
    v0 = await store.rates_version()
    assert await store.seed_rate_plans([SEED], 1.0) == ["standard"]
    assert await store.rates_version() > v0
    changed = RatePlan(name="standard", currency="EUR", rates=(Rate(prefix="44", price_per_minute=D("9")),))
    v1 = await store.rates_version()
    assert await store.seed_rate_plans([changed], 2.0) == []  # stored already: the database wins
    assert await store.rates_version() == v1
    plans = await store.rate_plans()
    assert rate_for(plans["standard"], "+4420", "international").price_per_minute == D("0.05")
    assert rate_for(plans["standard"], "5551234", "local").price_per_minute == D("0.01")


async def test_import_50000_rates_in_one_transaction(store: BillingStore) -> None:
    await store.save_rate_plan("bulk", "USD", 1.0, create=True)
    rows, errors = parse_rates_csv(generated_csv(50_000))
    assert errors == [] and len(rows) == 50_000
    assert await store.import_rates(rows) == 50_000
    plans = await store.rate_plans()
    rate = rate_for(plans["bulk"], "1234567", "international")  # prefix 123456 = row 23456
    assert rate is not None and rate.description == "route 23456" and rate.increment_s == 6
    assert rate.price_per_minute == D("0.795")  # 23456 % 97 = 79
    assert cost(rate, 7, "USD") == D("0.16")  # 12 s (6 s increments) * 0.795 / 60 = 0.159
    # prefixes 123450..123459, and "route 12345" (prefix 112345) by its description
    total, page = await store.search_rates("bulk", "12345", offset=0, limit=20)
    assert total == 11 and [r.rate.prefix for r in page][:3] == ["112345", "123450", "123451"]
    total, page = await store.search_rates("bulk", "", offset=49_990, limit=20)
    assert total == 50_000 and len(page) == 10
    assert len(await store.export_rates("bulk")) == 50_000


async def test_an_import_naming_an_unknown_plan_imports_nothing(store: BillingStore) -> None:
    await store.seed_rate_plans([SEED], 1.0)
    rows, _ = parse_rates_csv("plan,prefix,price_per_minute\nstandard,33,0.02\nghost,34,0.03\n")
    with pytest.raises(RatingError, match="plan: no rate plan 'ghost'"):
        await store.import_rates(rows)
    assert [r.rate.prefix for r in await store.export_rates("standard")] == ["", "44"]


async def test_replace_import_and_single_rate_changes(store: BillingStore) -> None:
    await store.seed_rate_plans([SEED], 1.0)
    rows, _ = parse_rates_csv("plan,prefix,call_class,price_per_minute\nstandard,33,,0.02\nstandard,,local,0.03\n")
    await store.import_rates(rows, replace=True)
    stored = await store.export_rates()
    assert [(r.rate.prefix, r.call_class, r.rate.price_per_minute) for r in stored] == [
        ("", "local", D("0.03")), ("33", "", D("0.02"))]
    v = await store.rates_version()
    assert await store.delete_rate("standard", "33", "")
    assert not await store.delete_rate("standard", "33", "")
    assert await store.rates_version() > v
    with pytest.raises(RatingError, match="exists"):
        await store.save_rate_plan("standard", "EUR", 2.0, create=True)
    with pytest.raises(RatingError, match="no rate plan"):
        await store.save_rate_plan("ghost", "EUR", 2.0, create=False)
    await store.save_rate_plan("standard", "USD", 2.0, create=False)
    assert [(p.name, p.currency, p.rates) for p in await store.rate_plan_infos()] == [("standard", "USD", 1)]
    assert await store.delete_rate_plan("standard")
    assert await store.rate_plans() == {} and await store.export_rates() == []


async def test_credit_adjustments_are_recorded_and_never_go_below_reservations(store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("5.00"))
    await store.create_account("beta_%", "EUR")
    bal = await store.adjust_credit("acme", D("10.00"), admin="alice", note="invoice 17", now=100.0)
    assert bal is not None and bal.balance == D("15.00")
    assert await store.reserve("acme", D("14.00"), ref="call-1") is not None
    with pytest.raises(ValueError, match="amount: .*below its reserved credit"):
        await store.adjust_credit("acme", D("-2.00"), admin="alice", note="refund", now=101.0)
    with pytest.raises(ValueError, match="note"):
        await store.adjust_credit("acme", D("1.00"), admin="alice", note=" ", now=101.0)
    with pytest.raises(ValueError, match="amount: "):
        await store.adjust_credit("acme", D("0.001"), admin="alice", note="x", now=101.0)
    assert await store.adjust_credit("ghost", D("1"), admin="cli", note="x", now=101.0) is None
    await store.adjust_credit("acme", D("-1.00"), admin="cli", note="correction", now=102.0)
    history = await store.credit_history("acme")
    assert [(h.amount, h.balance_after, h.admin, h.note, h.at) for h in history] == [
        (D("-1.00"), D("14.00"), "cli", "correction", 102.0), (D("10.00"), D("15.00"), "alice", "invoice 17", 100.0)]
    total, accounts = await store.credit_accounts()
    assert total == 2 and [(a.account, a.available) for a in accounts] == [("acme", D("0.00")), ("beta_%", D("0.00"))]
    assert (await store.credit_accounts("C_%"))[0] == 0  # wildcards are literal: no "acme"
    assert [a.account for a in (await store.credit_accounts("a_%"))[1]] == ["beta_%"]


async def test_the_creation_opens_the_history_with_who_when_and_the_balance(store: BillingStore) -> None:
    await store.create_account("acme", "EUR", D("7.25"), admin="alice", now=50.0)
    await store.create_account("quiet", "EUR", D("1.00"))  # no administrator named: nothing recorded
    await store.adjust_credit("acme", D("2.75"), admin="bob", note="invoice 18", now=60.0)
    history = await store.credit_history("acme")
    assert [(h.amount, h.balance_after, h.admin, h.at, h.opening) for h in history] == [
        (D("2.75"), D("10.00"), "bob", 60.0, False), (D("7.25"), D("7.25"), "alice", 50.0, True)]
    assert await store.credit_history("quiet") == []
    with pytest.raises(BillingStoreError):  # a second creation records nothing either
        await store.create_account("acme", "EUR", D("3.00"), admin="eve", now=70.0)
    assert len(await store.credit_history("acme")) == 2


async def test_a_second_node_sees_the_change_through_the_version(backend: Backend) -> None:
    one, two = backend.store(), backend.store()
    await one.open()
    await two.open()
    try:
        await one.seed_rate_plans([SEED], 1.0)
        seen = await two.rates_version()
        await one.import_rates([RateRow(plan="standard", rate=Rate(prefix="44", price_per_minute=D("0.07")))])
        assert await two.rates_version() != seen
        assert rate_for((await two.rate_plans())["standard"], "44", "international").price_per_minute == D("0.07")
    finally:
        await one.close()
        await two.close()


async def test_the_calls_charged_to_an_account(store: BillingStore) -> None:
    await store.create_account("firm", "EUR", D("10.00"))
    await store.create_account("other", "EUR", D("10.00"))
    for ref, held, cost in (("call-a", "2.00", "0.60"), ("call-b", "1.00", "0"), ("call-c#2", "1.00", "1.50")):
        assert await store.reserve("firm", D(held), ref=ref) is not None
        await store.commit(ref, D(cost))
    assert await store.reserve("firm", D("1.00"), ref="call-d") is not None  # still held: not a charge yet
    assert await store.reserve("other", D("1.00"), ref="call-e") is not None
    await store.commit("call-e", D("0.25"))
    charges = await store.credit_charges("firm")
    # newest first; a call that cost nothing was released, not charged; the part of a call
    # after its code moved it here is shown under the call; a charge never exceeds what was held
    assert [(c.call, c.amount, c.currency) for c in charges] == [("call-c", D("1.00"), "EUR"),
                                                                   ("call-a", D("0.60"), "EUR")]
    assert charges[0].at >= charges[1].at
    assert await store.credit_charges("ghost") == []
