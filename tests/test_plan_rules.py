"""Rate plans' rules beyond the billing database: who uses a plan (so it is not
deleted), a currency change confirmed, the plans the configuration names
checked against those the database holds; and the audit log's retention."""

from __future__ import annotations

import pytest

from b2bua.billing.rating import RatingError
from b2bua.runtime.audit import DAY, AuditLog
from b2bua.runtime.codes import CodeStore
from b2bua.runtime.config import loads
from b2bua.runtime.plan_rules import check_currency_change, check_unused, missing_plans, plan_users
from dialplan.codes import AccountCode
from tests.conftest import AdminBackend

TOML = """
[groups.default]
mode = "optional"
[billing]
default_rate_plan = "base"
group_rate_plans = {default = "db-only"}
[[billing.rate_plans]]
name = "seeded"
currency = "EUR"
"""


def test_who_uses_a_plan(admin_backend: AdminBackend) -> None:
    db, config = admin_backend.open(), loads(TOML)  # names plans the file does not define: accepted
    codes = CodeStore(db)
    for n in range(7):
        codes.add("default", AccountCode(code=f"1000{n}", rate_plan="db-only"))
    assert plan_users(db, config, "base") == ["billing.default_rate_plan"]
    users = plan_users(db, config, "db-only")
    assert users[0] == "billing.group_rate_plans of group(s) default"
    assert users[1] == "7 account code(s) (default/10000, default/10001, default/10002, default/10003, " \
                       "default/10004 and 2 more)"
    assert plan_users(db, config, "seeded") == []  # the file seeds it again at the next start
    assert plan_users(db, config, "other") == []
    check_unused(db, config, "other")
    with pytest.raises(RatingError, match="name: rate plan 'base' is in use by billing.default_rate_plan"):
        check_unused(db, config, "base")


def test_a_currency_change_of_a_plan_with_rates_is_confirmed() -> None:
    check_currency_change("EUR", "USD", 0, False)  # no rates: nothing to reinterpret
    check_currency_change("EUR", "EUR", 5, False)
    with pytest.raises(RatingError, match="^confirm: .*5 rate"):
        check_currency_change("EUR", "USD", 5, False)
    check_currency_change("EUR", "USD", 5, True)


def test_the_configured_names_are_checked_against_the_database() -> None:
    billing = loads(TOML).billing
    assert missing_plans(billing, {"base", "db-only"}) == []
    assert missing_plans(billing, {"seeded"}) == [
        "billing.default_rate_plan names rate plan 'base'",
        "billing.group_rate_plans: group 'default' names rate plan 'db-only'",
    ]


def test_audit_entries_past_the_retention_are_deleted(admin_backend: AdminBackend) -> None:
    log = AuditLog(admin_backend.open())
    now = 1_800_000_000.0
    for age in (500, 401, 399, 1):
        log.record("root", "group.change", f"{age} days", now=now - age * DAY)
    assert log.prune(0, now=now) == 0  # keep forever
    assert log.prune(400, now=now) == 2
    assert [e.object for e in log.search()[1]] == ["1 days", "399 days"]
