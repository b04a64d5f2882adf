"""Rule 6: the fees that are not orders, as the month's own lines.

- **Storage.** Every unit on hand on a day of the month is one unit-day, counted
  from that day's snapshot (`StorageSnapshot`). A unit is *aged* on the days it
  has been on hand more than the tariff's `storage_aged_after_days` since it was
  received (age = day − received date; with 90, goods received 1 August are aged
  from 31 October). A unit-day costs `storage_unit_day_cents`, an aged one that
  times `storage_aged_multiplier`. Each day is priced by the version in force that
  day (its age threshold too); the line's amount is rounded half-up once. A day
  without a snapshot bills nothing: no evidence, no charge.
- **Receiving.** Each receipt received in the month (tenant-local) costs
  `receiving_per_receipt_cents` plus `receiving_per_unit_cents` per unit, priced
  by the version in force when it was received.
- **Recurring.** The account and support fees of the version in force at the
  month's end, once per month; 0 means no line.

None of these is an order: they get no volume discount and never count toward a
tier or a per-order minimum, but they count toward the monthly minimum (rule 7).
A month with snapshots or receipts gets its line even at a price of 0 (a version
from before these fees existed), so Finance sees what was measured.

Set-based: one grouped query per kind. The snapshots come back as one row per day
of the month (at most 31), the receipts as one sum per tariff version; no snapshot
or receipt row passes through Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum

from orders.models import Tenant

from .models import InboundReceipt, LineKind, StorageSnapshot, Tariff
from .periods import local_midnight, month_bounds, month_start, next_month
from .rules import round_half_up
from .tariffs import PricedVersion


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One month line of rule 6."""

    kind: str
    description: str
    amount_cents: int
    tariff: Tariff  # the version in force at the month's end, as on every month line
    # Every version that priced part of it (a version may change mid-month): each
    # becomes history, like the versions of the order lines.
    priced_by: frozenset[int]


def version_on(versions: list[PricedVersion], day: date, tz_name: str) -> PricedVersion:
    """The version in force on a tenant-local day (the first one also prices the days
    before it, as it does for operations)."""
    midnight = local_midnight(day, tz_name)
    chosen = versions[0]
    for version in versions[1:]:
        if version.starts_at <= midnight:
            chosen = version
    return chosen


def _days(period: date) -> list[date]:
    first, end = month_start(period), next_month(period)
    return [first + timedelta(days=n) for n in range((end - first).days)]


def aged_cutoff(day: date, tariff: Tariff) -> date:
    """Units received before this date are aged on `day`."""
    return day - timedelta(days=tariff.storage_aged_after_days)


@dataclass(frozen=True, slots=True)
class StorageUse:
    unit_days: int
    aged_unit_days: int
    exact_cents: Decimal
    priced_by: frozenset[int]


def storage_use(*, tenant: Tenant, period: date, versions: list[PricedVersion]) -> StorageUse:
    """The month's unit-days, aged unit-days and their exact price (before rounding)."""
    days = _days(period)
    priced = {day: version_on(versions, day, tenant.timezone).tariff for day in days}
    aged = Q()
    for day, tariff in priced.items():
        aged |= Q(day=day, received_on__lt=aged_cutoff(day, tariff))
    rows = (
        StorageSnapshot.objects.filter(tenant=tenant, day__gte=days[0], day__lte=days[-1])
        .order_by()
        .values("day")
        .annotate(on_hand=Sum("units"), aged_units=Sum("units", filter=aged))
        .values_list("day", "on_hand", "aged_units")
    )
    unit_days = aged_days = 0
    exact = Decimal(0)
    used = set()
    for day, units, aged_units in rows:  # one row per day of the month
        tariff = priced[day]
        used.add(tariff.pk)
        aged_units = aged_units or 0
        unit_days += units
        aged_days += aged_units
        rate = Decimal(tariff.storage_unit_day_cents)
        exact += (units - aged_units) * rate + aged_units * rate * tariff.storage_aged_multiplier
    return StorageUse(
        unit_days=unit_days, aged_unit_days=aged_days, exact_cents=exact, priced_by=frozenset(used)
    )


@dataclass(frozen=True, slots=True)
class ReceivingUse:
    receipts: int
    units: int
    cents: int
    priced_by: frozenset[int]


def receiving_use(*, tenant: Tenant, period: date, versions: list[PricedVersion]) -> ReceivingUse:
    """Receipts received in the month and their price, one sum per version in force."""
    start, end = month_bounds(period, tenant.timezone)
    bounds = [start, *(v.starts_at for v in versions[1:]), end]
    aggregates = {}
    for i in range(len(versions)):
        within = Q(received_at__gte=bounds[i], received_at__lt=bounds[i + 1])
        aggregates[f"n{i}"] = Count("id", filter=within)
        aggregates[f"u{i}"] = Sum("units", filter=within)
    sums = InboundReceipt.objects.filter(
        tenant=tenant, received_at__gte=start, received_at__lt=end
    ).aggregate(**aggregates)
    receipts = units = cents = 0
    used = set()
    for i, version in enumerate(versions):
        count, received = sums[f"n{i}"] or 0, sums[f"u{i}"] or 0
        tariff = version.tariff
        if count:
            used.add(tariff.pk)
        receipts += count
        units += received
        cents += (
            count * tariff.receiving_per_receipt_cents + received * tariff.receiving_per_unit_cents
        )
    return ReceivingUse(receipts=receipts, units=units, cents=cents, priced_by=frozenset(used))


def _aged_label(versions: list[PricedVersion]) -> str:
    thresholds = {v.tariff.storage_aged_after_days for v in versions}
    return f"aged over {thresholds.pop()} days" if len(thresholds) == 1 else "aged"


def month_fee_lines(
    *, tenant: Tenant, period: date, versions: list[PricedVersion]
) -> list[FeeLine]:
    """Rule 6's lines for the tenant's month, in invoice order."""
    period = month_start(period)
    month_tariff = versions[-1].tariff
    lines: list[FeeLine] = []
    storage = storage_use(tenant=tenant, period=period, versions=versions)
    if storage.unit_days:
        text = f"Storage: {storage.unit_days:,} unit-days"
        if storage.aged_unit_days:
            text += f" ({storage.aged_unit_days:,} {_aged_label(versions)})"
        amount = round_half_up(storage.exact_cents)
        lines.append(FeeLine(LineKind.STORAGE, text, amount, month_tariff, storage.priced_by))
    receiving = receiving_use(tenant=tenant, period=period, versions=versions)
    if receiving.receipts:
        noun = "receipt" if receiving.receipts == 1 else "receipts"
        text = f"Receiving: {receiving.receipts:,} {noun}, {receiving.units:,} units"
        lines.append(
            FeeLine(LineKind.RECEIVING, text, receiving.cents, month_tariff, receiving.priced_by)
        )
    month = f"{period:%B %Y}"
    if month_tariff.account_fee_cents:
        lines.append(
            FeeLine(
                LineKind.ACCOUNT_FEE,
                f"Account fee, {month}",
                month_tariff.account_fee_cents,
                month_tariff,
                frozenset({month_tariff.pk}),
            )
        )
    if month_tariff.support_fee_cents:
        lines.append(
            FeeLine(
                LineKind.SUPPORT_FEE,
                f"Support fee, {month}",
                month_tariff.support_fee_cents,
                month_tariff,
                frozenset({month_tariff.pk}),
            )
        )
    return lines
