"""Rate plans' rules that reach beyond the billing database: the portal, the JSON
API and ``b2bua rates`` share them.

* A plan is deleted only when nothing names it (:func:`plan_users`): no account
  code (``rate_plan`` of the administrative database), no ``billing.group_rate_plans``
  mapping, not ``billing.default_rate_plan``.  The refusal names who uses it.  A
  plan of ``[[billing.rate_plans]]`` may be deleted: the next start seeds the
  file's version again (the way back to it).
* A plan's currency may change: the records already written keep the currency
  they were rated in; the plan's prices are kept as numbers and read in the new
  currency from the next call on (nothing is converted), so the change needs a
  confirmation (:func:`check_currency_change`) when the plan holds rates.
* ``default_rate_plan`` and ``group_rate_plans`` may name a plan that exists only
  in the database: :func:`missing_plans` checks them at start against the plans
  read from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Final

from b2bua.billing.rating import RatingError

from .config import BillingConfig, Config

if TYPE_CHECKING:
    from .admin_db import AdminDb

SHOWN: Final = 5  # codes named in a refusal (the rest counted)
REINTERPRETED: Final = ("The plan's prices are not converted: from the next call on they are read in the new "
                        "currency. Records already written keep the currency they were rated in.")


def plan_users(db: AdminDb, config: Config, name: str) -> list[str]:
    """Who names rate plan ``name``, in words (empty: it may be deleted)."""
    found = []
    billing = config.billing
    if billing.default_rate_plan == name:
        found.append("billing.default_rate_plan")
    groups = sorted(g for g, p in billing.group_rate_plans.items() if p == name)
    if groups:
        found.append(f"billing.group_rate_plans of group(s) {', '.join(groups)}")
    codes = [f"{g}/{c}" for g, c in db.execute(
        "SELECT grp, code FROM account_codes WHERE rate_plan = ? ORDER BY grp, code", (name,))]
    if codes:
        more = f" and {len(codes) - SHOWN} more" if len(codes) > SHOWN else ""
        found.append(f"{len(codes)} account code(s) ({', '.join(codes[:SHOWN])}{more})")
    return found


def check_unused(db: AdminDb, config: Config, name: str) -> None:
    """Raise a RatingError naming who uses plan ``name``, if anyone does."""
    users = plan_users(db, config, name)
    if users:
        raise RatingError(f"name: rate plan {name!r} is in use by {'; '.join(users)}: change them first")


def check_currency_change(old: str, new: str, rates: int, confirmed: bool) -> None:
    """A currency change of a plan holding rates needs ``confirmed``."""
    if old != new and rates and not confirmed:
        raise RatingError(f"confirm: changing {old} to {new} keeps the {rates} rate(s)' prices as they are. "
                          f"{REINTERPRETED} Confirm the change to make it.")


def missing_plans(billing: BillingConfig, known: Collection[str]) -> list[str]:
    """The plans ``default_rate_plan`` and ``group_rate_plans`` name that are not in ``known``."""
    out = []
    if billing.default_rate_plan and billing.default_rate_plan not in known:
        out.append(f"billing.default_rate_plan names rate plan {billing.default_rate_plan!r}")
    for group, name in sorted(billing.group_rate_plans.items()):
        if name not in known:
            out.append(f"billing.group_rate_plans: group {group!r} names rate plan {name!r}")
    return out
