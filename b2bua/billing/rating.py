"""Rating: which rate applies to a call, and what a call of a given length costs.

Pure: no clock, no I/O.  Money is ``decimal.Decimal`` throughout; a float never
touches an amount (durations may be floats, they are seconds, not money).

Theory of operation
-------------------
A ``RatePlan`` holds prefix rates (``rates``) and one default rate per call class
(``class_defaults``).  ``rate_for(plan, number, call_class)`` picks the rate with the
longest prefix that matches the destination number (a leading ``+`` is ignored on
both sides), else the plan's default for the call's class, else ``None`` (the caller
decides whether an unrated call is free or refused).  Internal calls (class
``internal``: to an extension) are rated with the ``internal`` default only, never by
prefix, since extension numbers share digits with country codes.  Which plan a call is rated
with is ``choose_plan``: the account code's plan, else its business group's, else
the default (one rule for the CDR builder and the runtime).

``billable_seconds(duration, rate)``: the duration is first rounded to the
millisecond (so that a monotonic-clock difference of 60.0000001 s stays 60 s), then
every started second counts; an answered call is then billed for at least
``minimum_s`` seconds, rounded up to a whole number of ``increment_s`` seconds.
A duration of zero (an unanswered attempt) bills 0 seconds.

``cost(rate, seconds, currency)`` = ``setup + billable_seconds * price_per_minute / 60``,
rounded once, to the currency's minor unit (ISO 4217 exponent: 2 for EUR/USD, 0 for
JPY, 3 for KWD ...) with ``ROUND_HALF_UP`` (half a cent goes up, as tariffs and
invoices usually do).  Zero seconds cost zero: no setup fee for an unanswered call.
``billable_seconds`` is idempotent, so ``cost`` may be given the raw duration or the
billable seconds: the result is the same.

Rate plans decode from TOML-like dicts with ``load_rate_plan``/``load_rate_plans``
(msgspec; Decimal fields accept strings or numbers; unknown keys and invalid values
are errors naming their ``$.path``).  Read TOML with ``tomllib.loads(text,
parse_float=Decimal)`` (``load_rate_plans_toml`` does) so that ``0.1`` is exactly 0.1.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Mapping

import msgspec
from msgspec.structs import force_setattr

log = logging.getLogger("b2bua.billing.rating")

INTERNAL = "internal"  # the call class of a call to an extension
CALL_CLASSES = (
    "local", "long_distance", "international", "toll_free",
    "internal", "premium", "emergency", "service",
)

# ISO 4217 minor-unit exponents that differ from the usual 2.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}

_PREFIX = re.compile(r"\+?[0-9*#]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_PREFIX_LEN = 32  # digits; longer is a typo, not a destination


class RatingError(ValueError):
    """A rate or rate plan is invalid; the message says which value and why."""


def currency_exponent(currency: str) -> int:
    """The number of decimals of the currency's minor unit (ISO 4217; default 2)."""
    return _EXPONENTS.get(currency, 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency, e.g. Decimal('0.01') for EUR."""
    return Decimal(1).scaleb(-currency_exponent(currency))


def _check_money(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise RatingError(f"{name} must be a finite number, not {value}")
    if value < 0:
        raise RatingError(f"{name} must not be negative ({value})")


class Rate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tariff: price per minute, billing increment, minimum, setup fee."""

    prefix: str = ""  # empty only for class defaults
    price_per_minute: Decimal
    increment_s: int = 1  # seconds; 1, 6, 60 ...
    minimum_s: int = 0  # seconds billed at least, once answered
    setup: Decimal = Decimal(0)  # charged once per answered call
    description: str = ""

    def __post_init__(self) -> None:
        _check_money("price_per_minute", self.price_per_minute)
        _check_money("setup", self.setup)
        if self.increment_s < 1:
            raise RatingError(f"increment_s must be at least 1 second ({self.increment_s})")
        if self.minimum_s < 0:
            raise RatingError(f"minimum_s must not be negative ({self.minimum_s})")
        if self.prefix and (len(self.prefix) > MAX_PREFIX_LEN or not _PREFIX.fullmatch(self.prefix)):
            raise RatingError(f"malformed prefix {self.prefix!r}: digits, * and # only, optional leading +")


class RatePlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, dict=True):
    """A named set of prefix rates and per-call-class defaults, in one currency."""

    name: str
    currency: str = "EUR"
    rates: tuple[Rate, ...] = ()
    class_defaults: dict[str, Rate] = {}

    def __post_init__(self) -> None:
        if not self.name:
            raise RatingError("a rate plan needs a name")
        if not _CURRENCY.fullmatch(self.currency):
            raise RatingError(f"currency must be an ISO 4217 code such as EUR, not {self.currency!r}")
        index: dict[str, Rate] = {}
        for rate in self.rates:
            if not rate.prefix:
                raise RatingError("a prefix rate needs a prefix (use class_defaults for defaults)")
            key = rate.prefix.lstrip("+")
            if key in index:
                raise RatingError(f"overlapping rates: prefix {rate.prefix!r} appears twice in plan {self.name!r}")
            index[key] = rate
        for call_class in self.class_defaults:
            if call_class not in CALL_CLASSES:
                raise RatingError(f"unknown call class {call_class!r}; known: {', '.join(CALL_CLASSES)}")
        # Longest-prefix lookup in O(len(number)) dict probes instead of a scan.
        force_setattr(self, "_index", index)
        force_setattr(self, "_longest", max((len(k) for k in index), default=0))


def choose_plan(
    plans: Mapping[str, RatePlan], *, code_plan: str = "", group: str = "",
    group_plans: Mapping[str, str] | None = None, default_plan: str = "",
) -> RatePlan | None:
    """The plan a call is rated with: the account code's plan, else the plan of the
    call's business group (``group_plans``), else ``default_plan``.  A name that
    ``plans`` does not hold (a code's plan since removed) is skipped."""
    group_plan = group_plans.get(group, "") if group_plans else ""
    for name in (code_plan, group_plan, default_plan):
        if name:
            plan = plans.get(name)
            if plan is not None:
                return plan
            log.warning("rate plan %r is not configured; trying the next one", name)
    return None


def rate_for(plan: RatePlan, number: str, call_class: str) -> Rate | None:
    """The rate with the longest prefix matching ``number``, else the class default.
    An internal call (to an extension) takes the ``internal`` default only: an
    extension ``4401`` is no UK number."""
    if call_class == INTERNAL:
        return plan.class_defaults.get(INTERNAL)
    index: dict[str, Rate] = plan._index  # type: ignore[attr-defined]
    digits = number.lstrip("+")
    for length in range(min(len(digits), plan._longest), 0, -1):  # type: ignore[attr-defined]
        rate = index.get(digits[:length])
        if rate is not None:
            return rate
    return plan.class_defaults.get(call_class)


def _whole_seconds(duration: float | int | Decimal) -> int:
    """Seconds started: round to the millisecond, then any part of a second counts."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float, Decimal)):
        raise TypeError(f"duration must be a number of seconds, not {type(duration).__name__}")
    if isinstance(duration, int):
        ms = duration * 1000
    else:
        if not math.isfinite(duration):
            raise ValueError(f"duration must be finite ({duration})")
        ms = int(Decimal(duration).scaleb(3).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if ms < 0:
        raise ValueError(f"duration must not be negative ({duration})")
    return -(-ms // 1000)


def billable_seconds(duration: float | int | Decimal, rate: Rate) -> int:
    """Seconds to bill for a call that lasted ``duration`` seconds once answered."""
    seconds = _whole_seconds(duration)
    if seconds == 0:
        return 0
    seconds = max(seconds, rate.minimum_s)
    return -(-seconds // rate.increment_s) * rate.increment_s


def cost(rate: Rate, seconds: float | int | Decimal, currency: str = "EUR") -> Decimal:
    """What an answered call of ``seconds`` costs, in ``currency`` (see module doc)."""
    billed = billable_seconds(seconds, rate)
    if billed == 0:
        return Decimal(0).quantize(minor_unit(currency))
    with localcontext() as ctx:
        ctx.prec = 50  # ample: exact for any realistic tariff before the single rounding
        amount = rate.setup + billed * rate.price_per_minute / 60
        return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def later_segment(rate: Rate) -> Rate:
    """``rate`` for a later segment of a call split by account code: the setup fee
    and minimum belong to the call and are charged in its first segment only."""
    return msgspec.structs.replace(rate, setup=Decimal(0), minimum_s=0)


def load_rate_plan(data: Mapping[str, Any]) -> RatePlan:
    """Decode one plan from a dict (TOML table); raises msgspec.ValidationError with $.path."""
    return msgspec.convert(data, RatePlan)


def load_rate_plans(data: Any) -> dict[str, RatePlan]:
    """Decode a list of plans (``[[rate_plans]]`` in TOML) into a dict by name."""
    plans = msgspec.convert(data, list[RatePlan])
    by_name: dict[str, RatePlan] = {}
    for i, plan in enumerate(plans):
        if plan.name in by_name:
            raise msgspec.ValidationError(f"duplicate rate plan name {plan.name!r} - at `$[{i}].name`")
        by_name[plan.name] = plan
    return by_name


def load_rate_plans_toml(text: str) -> dict[str, RatePlan]:
    """Decode ``[[rate_plans]]`` from TOML text, reading every float as an exact Decimal."""
    return load_rate_plans(tomllib.loads(text, parse_float=Decimal).get("rate_plans", []))
