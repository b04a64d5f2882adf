"""A stage's deadline from its policy, calendar and the order: pure, explained.

`plan_deadline` turns (stage, clock start, order facts, policy, calendar) into the
allowed time, `due_at`, `warn_at` and a sentence an operations lead can check by
hand, e.g. "pick due Mon 30 Nov 11:00 = 120 min × 1.5 weekend = 180 min, warehouse
hours Mon–Fri 08:00–18:00 Europe/Berlin". Nothing here touches the database.

Multipliers apply to the warehouse stages (pick, pack, ship): the day the clock
starts on (a holiday replaces the weekend one, they never stack), the tenant's
volume when it starts, a peak season, and the order's handling flags; they
multiply. Delivery is promised in whole days per service level; only a peak
season stretches it (rounded up to a whole day).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from . import business_time as bt
from .models import ClockMode, DeliveryClockMode, SlaPolicy, Stage

WAREHOUSE_STAGES = (Stage.PICK, Stage.PACK, Stage.SHIP)
HANDLING_MULTIPLIERS = {
    "oversized": "oversized_multiplier",
    "hazmat": "hazmat_multiplier",
    "fragile": "fragile_multiplier",
}


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What of an order a deadline depends on besides its stage times."""

    warehouse: str
    service_level: str
    handling: frozenset[str]


@dataclass(frozen=True, slots=True)
class Factor:
    name: str  # "weekend", "hazmat", …
    multiplier: Decimal
    why: str


Explained = tuple[str, dict[str, Any]]  # (explanation, detail) of a deadline


def no_words() -> Explained:
    """No words: what a plan built without them says ("" keeps a clock row's stored
    explanation when it is saved, see slas.services.clock_rows.memo_clock)."""
    return "", {}


@dataclass(frozen=True, slots=True)
class DeadlinePlan:
    stage: str
    started_at: datetime
    business_time: bool
    allowed_minutes: int
    due_at: datetime
    warn_at: datetime
    # The words are worked out when first asked for: most ingested events need only
    # the deadline (the words go on a clock row, which the worker mostly writes), and
    # building them was about a tenth of the ingest hook's time.
    explain: Callable[[], Explained] = field(default=no_words, repr=False, compare=False)

    @property
    def explanation(self) -> str:
        return self.explain()[0]

    @property
    def detail(self) -> dict[str, Any]:
        return self.explain()[1]


def day_factor(policy: SlaPolicy, cal: bt.WorkingCalendar, start: datetime) -> Factor | None:
    if bt.is_holiday(cal, start):
        return Factor(
            "holiday",
            policy.holiday_multiplier,
            f"starts on a holiday ({bt.local_date(cal, start)})",
        )
    if bt.is_weekend(cal, start):
        return Factor(
            "weekend", policy.weekend_multiplier, f"starts on a {bt.local_date(cal, start):%A}"
        )
    return None


def peak_factor(policy: SlaPolicy, day: date) -> Factor | None:
    for season in policy.peak_seasons.all():
        if season.starts_on <= day <= season.ends_on:
            return Factor(
                "peak_season", policy.peak_season_multiplier, f"peak season {season.name}"
            )
    return None


_factor_cache: dict[tuple, list[Factor]] = {}
_FACTOR_CACHE_SIZE = 4096


def forget_factors() -> None:
    _factor_cache.clear()


def warehouse_factors(
    policy: SlaPolicy,
    cal: bt.WorkingCalendar,
    start: datetime,
    facts: OrderFacts,
    high_volume: bool,
) -> list[Factor]:
    """The multipliers of a warehouse stage starting at `start` (cached per local day:
    every clock a tenant starts on one day shares them)."""
    key = (
        policy.pk,
        policy.updated_at,
        cal,
        bt.local_date(cal, start),
        frozenset(facts.handling & HANDLING_MULTIPLIERS.keys()),
        high_volume,
    )
    found = _factor_cache.get(key)
    if found is None:
        if len(_factor_cache) >= _FACTOR_CACHE_SIZE:
            _factor_cache.clear()
        found = _factor_cache[key] = _warehouse_factors(policy, cal, start, facts, high_volume)
    return found


def _warehouse_factors(
    policy: SlaPolicy,
    cal: bt.WorkingCalendar,
    start: datetime,
    facts: OrderFacts,
    high_volume: bool,
) -> list[Factor]:
    factors = [f for f in (day_factor(policy, cal, start),) if f]
    if high_volume:
        factors.append(
            Factor(
                "high_volume",
                policy.high_volume_multiplier,
                f"over {policy.high_volume_orders_per_hour} paid orders in the hour before",
            )
        )
    peak = peak_factor(policy, bt.local_date(cal, start))
    if peak:
        factors.append(peak)
    for flag, field_name in HANDLING_MULTIPLIERS.items():
        if flag in facts.handling:
            factors.append(Factor(flag, getattr(policy, field_name), f"order flagged {flag}"))
    return [f for f in factors if f.multiplier != 1]


def plan_deadline(
    *,
    stage: str,
    started_at: datetime,
    facts: OrderFacts,
    policy: SlaPolicy,
    calendar: bt.WorkingCalendar,
    always_open: bt.WorkingCalendar,
    high_volume: bool,
) -> DeadlinePlan:
    """The deadline of `stage` whose clock started at `started_at`."""
    if stage == Stage.DELIVERY:
        return _plan_delivery(started_at, facts, policy, calendar, always_open)
    base = getattr(policy, f"{stage}_minutes")
    business = getattr(policy, f"{stage}_clock") == ClockMode.BUSINESS
    cal = calendar if business else always_open
    factors = warehouse_factors(policy, calendar, started_at, facts, high_volume)
    product = math.prod((f.multiplier for f in factors), start=Decimal(1))
    allowed = max(1, math.ceil(Decimal(base) * product))
    due = bt.add_business_minutes(cal, started_at, allowed)
    warn = bt.add_business_minutes(cal, started_at, allowed * policy.warn_percent / 100)

    def explain() -> Explained:
        formula = _formula(f"{base} min", factors, f"{allowed} min")
        described = bt.describe(cal)
        hours = f"warehouse hours {described}" if business else f"calendar time ({described})"
        text = f"{stage} due {_local(cal, due)} = {formula}, {hours}"
        return text, _detail(base, "min", factors, allowed, cal, business, policy)

    return DeadlinePlan(
        stage=stage,
        started_at=started_at,
        business_time=business,
        allowed_minutes=allowed,
        due_at=due,
        warn_at=min(warn, due),
        explain=cache(explain),
    )


def _plan_delivery(
    start: datetime,
    facts: OrderFacts,
    policy: SlaPolicy,
    calendar: bt.WorkingCalendar,
    always_open: bt.WorkingCalendar,
) -> DeadlinePlan:
    base_days = policy.delivery_days(facts.service_level)
    factors = [f for f in (peak_factor(policy, bt.local_date(calendar, start)),) if f]
    days = math.ceil(
        Decimal(base_days) * math.prod((f.multiplier for f in factors), start=Decimal(1))
    )
    business = policy.delivery_clock == DeliveryClockMode.BUSINESS_DAYS
    if business:
        due = bt.add_business_days(calendar, start, days)
        unit = "business days (Mon–Fri" + (
            f", {len(calendar.holidays)} holidays)" if calendar.holidays else ")"
        )
    else:
        due = bt.add_business_days(always_open, start, days, weekdays=frozenset(range(7)))
        unit = "calendar days"
    allowed = max(1, math.ceil((due - start).total_seconds() / 60))
    warn = start + timedelta(minutes=allowed * policy.warn_percent / 100)

    def explain() -> Explained:
        level = facts.service_level or "standard"
        formula = _formula(f"{base_days} {unit} ({level})", factors, f"{days} days")
        text = f"delivery due {_local(calendar, due)} = {formula} after handover, {calendar.tz.key}"
        if calendar.fallback:  # warehouse stages say it through describe()
            text += f" (fallback: {calendar.fallback})"
        return text, _detail(base_days, "days", factors, days, calendar, business, policy)

    return DeadlinePlan(
        stage=Stage.DELIVERY,
        started_at=start,
        business_time=False,
        allowed_minutes=allowed,
        due_at=due,
        warn_at=min(warn, due),
        explain=cache(explain),
    )


def _formula(base: str, factors: list[Factor], total: str) -> str:
    """ "120 min × 1.5 weekend × 2 hazmat = 360 min" (just the base without factors)."""
    if not factors:
        return base
    terms = (f"{f.multiplier.normalize()} {f.name.replace('_', ' ')}" for f in factors)
    return " × ".join([base, *terms]) + f" = {total}"


def _local(cal: bt.WorkingCalendar, instant: datetime) -> str:
    return instant.astimezone(cal.tz).strftime("%a %d %b %H:%M")


def _detail(
    base: int,
    unit: str,
    factors: list[Factor],
    allowed: int,
    cal: bt.WorkingCalendar,
    business: bool,
    policy: SlaPolicy,
) -> dict[str, Any]:
    return {
        "base": base,
        "unit": unit,
        "multipliers": [
            {"name": f.name, "value": str(f.multiplier), "why": f.why} for f in factors
        ],
        "allowed": allowed,
        "calendar": bt.describe(cal),
        "business_time": business,
        "policy": {
            "id": policy.pk,
            "name": policy.name,
            "effective_from": policy.effective_from.isoformat(),
        },
    }


def inputs_key(
    *,
    stage: str,
    started_at: datetime,
    policy_id: int,
    calendar_id: int | None,
    facts: OrderFacts,
    high_volume: bool,
) -> str:
    """A fingerprint of what a deadline was computed from.

    Editing a policy version in place does not change it on purpose: running
    clocks keep their deadline until `sla_recompute` is asked to move them.
    """
    raw = "|".join(
        [
            stage,
            started_at.isoformat(),
            str(policy_id),
            str(calendar_id),
            facts.warehouse,
            facts.service_level,
            ",".join(sorted(facts.handling & HANDLING_MULTIPLIERS.keys())),
            "hv" if high_volume else "",
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
