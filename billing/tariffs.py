"""Tariff versions: the default rate sheet, the rules a version must keep, and which
versions price a month."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from orders.models import Tenant

from .models import HANDLING_MULTIPLIER_FIELDS, Tariff, VolumeTier
from .models.tariff import (
    CREDIT_PERCENT_FIELDS,
    CREDIT_THRESHOLD_FIELDS,
    FEE_FIELDS,
    LABEL_MARKUP_FIELD,
    MAX_AGED_AFTER_DAYS,
    MAX_LABEL_MARKUP_PERCENT,
    MAX_MULTIPLIER,
    STORAGE_AGED_AFTER_FIELD,
    STORAGE_AGED_MULTIPLIER_FIELD,
)
from .periods import local_midnight, month_bounds, next_month

DEFAULT_TARIFF_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "default_tariff.yaml"
# The default version prices everything a tenant ever sends, backfills included.
DEFAULT_EFFECTIVE_FROM = date(2000, 1, 1)


class TariffHistory(Exception):
    """A version that has priced an invoice; add a new version instead of editing it."""


def read_default_tariff(path: Path = DEFAULT_TARIFF_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def tier_errors(tiers: Iterable[tuple[int, Decimal]]) -> list[str]:
    """Tiers must rise together: more orders, a larger (never smaller) percentage."""
    errors: list[str] = []
    ordered = sorted(tiers)
    for (low_orders, low_pct), (high_orders, high_pct) in pairwise(ordered):
        if low_orders == high_orders:
            errors.append(f"Two tiers start at {low_orders} orders.")
        elif high_pct < low_pct:
            errors.append(
                f"The tier from {high_orders} orders gives {high_pct}%, less than the "
                f"{low_pct}% from {low_orders}: tiers must ascend."
            )
    for orders_from, pct in ordered:
        if orders_from < 1:
            errors.append("A tier starts at 1 order or more.")
        if not Decimal(0) < pct <= Decimal(100):
            errors.append(f"A tier's percentage is above 0 and at most 100 (got {pct}).")
    return errors


def tariff_errors(values: dict[str, Any], tiers: Iterable[tuple[int, Decimal]]) -> dict[str, str]:
    """Field → message for a proposed version (fees, multipliers, tiers)."""
    errors: dict[str, str] = {}
    for field in (*FEE_FIELDS, *CREDIT_THRESHOLD_FIELDS):
        value = values.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errors[field] = "An amount is a whole number of cents, 0 or more."
    for field in CREDIT_PERCENT_FIELDS.values():
        value = values.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            errors[field] = "A credit is a whole percentage from 0 to 100."
    auto, review = (values.get(field, 0) for field in CREDIT_THRESHOLD_FIELDS)
    if not errors.keys() & set(CREDIT_THRESHOLD_FIELDS) and auto > review:
        errors["credit_review_above_cents"] = (
            "The review threshold is at least the auto-approval one "
            f"({auto} cents); credits between them are approved and listed for review."
        )
    aged_after = values.get(STORAGE_AGED_AFTER_FIELD, 90)
    if (
        not isinstance(aged_after, int)
        or isinstance(aged_after, bool)
        or not 1 <= aged_after <= MAX_AGED_AFTER_DAYS
    ):
        errors[STORAGE_AGED_AFTER_FIELD] = (
            f"Units are aged after a whole number of days from 1 to {MAX_AGED_AFTER_DAYS}."
        )
    for field in (*HANDLING_MULTIPLIER_FIELDS.values(), STORAGE_AGED_MULTIPLIER_FIELD):
        try:
            value = Decimal(str(values.get(field, "1")))
        except InvalidOperation:
            errors[field] = "A multiplier is a number such as 1.5."
            continue
        if not Decimal(1) <= value <= MAX_MULTIPLIER:
            errors[field] = f"A multiplier is between 1 and {MAX_MULTIPLIER} (got {value})."
    try:
        markup = Decimal(str(values.get(LABEL_MARKUP_FIELD, "0")))
        in_range = Decimal(0) <= markup <= MAX_LABEL_MARKUP_PERCENT
    except InvalidOperation:  # not a number, or NaN (which does not compare)
        errors[LABEL_MARKUP_FIELD] = "A markup is a percentage such as 7.5."
    else:
        if not in_range:
            errors[LABEL_MARKUP_FIELD] = (
                f"A markup is from 0 to {MAX_LABEL_MARKUP_PERCENT} % (got {markup})."
            )
    problems = tier_errors(tiers)
    if problems:
        errors["volume_tiers"] = " ".join(problems)
    return errors


def default_tariff_values(data: dict[str, Any] | None = None) -> tuple[dict[str, Any], list]:
    data = data or read_default_tariff()
    values: dict[str, Any] = {"name": data.get("name", "")}
    values.update({field: int(data["fees"][field]) for field in FEE_FIELDS})
    for flag, field in HANDLING_MULTIPLIER_FIELDS.items():
        values[field] = Decimal(str(data["multipliers"][flag]))
    values[LABEL_MARKUP_FIELD] = Decimal(str(data.get(LABEL_MARKUP_FIELD, "0")))
    storage = data["storage"]
    values[STORAGE_AGED_AFTER_FIELD] = int(storage["aged_after_days"])
    values[STORAGE_AGED_MULTIPLIER_FIELD] = Decimal(str(storage["aged_multiplier"]))
    credits = data["sla_credits"]
    for severity, field in CREDIT_PERCENT_FIELDS.items():
        values[field] = int(credits["percent_by_severity"][severity])
    values.update({field: int(credits[field]) for field in CREDIT_THRESHOLD_FIELDS})
    tiers = [(int(t["min_orders"]), Decimal(str(t["percent"]))) for t in data["volume_tiers"]]
    return values, tiers


@transaction.atomic
def tariff_ensure_default(*, tenant: Tenant) -> Tariff | None:
    """Give a tenant with no tariff the default rate sheet; None if it has one already."""
    if Tariff.objects.filter(tenant=tenant).exists():
        return None
    values, tiers = default_tariff_values()
    errors = tariff_errors(values, tiers)
    if errors:  # the fixture is ours: a broken one must fail loudly, not bill wrongly
        raise ValueError(f"{DEFAULT_TARIFF_FILE.name}: {errors}")
    tariff, created = Tariff.objects.get_or_create(
        tenant=tenant, effective_from=DEFAULT_EFFECTIVE_FROM, defaults=values
    )
    if created:
        VolumeTier.objects.bulk_create(
            VolumeTier(tariff=tariff, min_orders=orders, percent=pct) for orders, pct in tiers
        )
    return tariff


@dataclass(frozen=True, slots=True)
class PricedVersion:
    """A version and the instant (UTC) it takes over within a month."""

    tariff: Tariff
    starts_at: datetime
    tiers: tuple[tuple[int, Decimal], ...]

    def tier_percent(self, order_count: int) -> Decimal:
        percent = Decimal(0)
        for orders_from, pct in self.tiers:
            if order_count >= orders_from:
                percent = pct
        return percent


def versions_for_month(*, tenant: Tenant, period: date) -> list[PricedVersion]:
    """The versions that price some instant of the month, oldest first.

    The first is the one in force at the month's start (or, if the tenant's oldest
    version starts later in the month, that one: it prices what came before it too).
    """
    start, _end = month_bounds(period, tenant.timezone)
    rows = list(
        Tariff.objects.filter(tenant=tenant, effective_from__lt=next_month(period))
        .prefetch_related("tiers")
        .order_by("effective_from")
    )
    in_force = [t for t in rows if local_midnight(t.effective_from, tenant.timezone) <= start]
    later = [t for t in rows if local_midnight(t.effective_from, tenant.timezone) > start]
    chosen = ([in_force[-1]] if in_force else []) + later
    return [
        PricedVersion(
            tariff=t,
            starts_at=max(start, local_midnight(t.effective_from, tenant.timezone)),
            tiers=tuple(sorted((tier.min_orders, tier.percent) for tier in t.tiers.all())),
        )
        for t in chosen
    ]
