"""What a tariff version would have billed: last month's evidence priced by the
version, line by line against what was billed.

Before a new rate sheet prices anything, Finance sees its effect on a real month:
the same rules (`rules.priced_order_lines`) run with only this version in force,
compared order by order with the month's invoice, plus the month's storage,
receiving and monthly fees, discount and minimum top-up recomputed. SLA credits and
adjustments are left out: they follow the breaches and Finance's decisions, not the
rates. Nothing is written; the order lines stream, and only the first differences
are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone

from .inventory_fees import month_fee_lines
from .models import Invoice, InvoiceStatus, Tariff
from .periods import local_date, month_bounds, month_start, previous_month
from .rules import month_totals
from .tariffs import PricedVersion
from .validation import line_pairs

SHOWN_DIFFERENCES = 100


@dataclass(frozen=True, slots=True)
class LineChange:
    order_id: int
    billed_cents: int
    preview_cents: int

    @property
    def difference_cents(self) -> int:
        return self.preview_cents - self.billed_cents


@dataclass(slots=True)
class TariffPreview:
    tariff: Tariff
    period: date
    invoice: Invoice | None
    orders: int = 0
    billed_orders_cents: int = 0
    preview_orders_cents: int = 0
    billed_fees_cents: int = 0  # storage, receiving, monthly fees (rule 6)
    preview_fees_cents: int = 0
    billed_month_cents: int = 0  # discount + top-up as billed
    preview_month_cents: int = 0
    changed: int = 0
    changes: list[LineChange] = field(default_factory=list)

    @property
    def billed_total_cents(self) -> int:
        return self.billed_orders_cents + self.billed_fees_cents + self.billed_month_cents

    @property
    def preview_total_cents(self) -> int:
        return self.preview_orders_cents + self.preview_fees_cents + self.preview_month_cents

    @property
    def difference_cents(self) -> int:
        return self.preview_total_cents - self.billed_total_cents

    def summary(self) -> list[tuple[str, int, int]]:
        """(what, billed, this version) for the month's parts and its total."""
        return [
            (f"{self.orders} orders", self.billed_orders_cents, self.preview_orders_cents),
            ("Storage, receiving, monthly fees", self.billed_fees_cents, self.preview_fees_cents),
            (
                "Volume discount and minimum top-up",
                self.billed_month_cents,
                self.preview_month_cents,
            ),
            (
                "Total before credits and adjustments",
                self.billed_total_cents,
                self.preview_total_cents,
            ),
        ]


def preview_period(tariff: Tariff) -> date:
    """Last month, in the tenant's time zone."""
    today = local_date(timezone.now(), tariff.tenant.timezone)
    return previous_month(month_start(today))


def tariff_preview(*, tariff: Tariff, period: date | None = None) -> TariffPreview:
    """`period`'s orders (default: last month) priced by `tariff` alone, against the
    month's invoice (a voided one counts as nothing billed)."""
    period = month_start(period or preview_period(tariff))
    invoice = (
        Invoice.objects.select_related("tenant")
        .filter(tenant=tariff.tenant, period=period)
        .exclude(status=InvoiceStatus.VOID)
        .first()
    )
    preview = TariffPreview(tariff=tariff, period=period, invoice=invoice)
    if invoice is None:
        return preview
    start, _end = month_bounds(period, tariff.tenant.timezone)
    version = PricedVersion(
        tariff=tariff,
        starts_at=start,
        tiers=tuple(sorted(tariff.tiers.values_list("min_orders", "percent"))),
    )
    discountable = 0
    for old, new in line_pairs(invoice, [version]):
        billed = old["amount_cents"] if old else 0
        priced = new["amount_cents"] if new else 0
        preview.billed_orders_cents += billed
        preview.preview_orders_cents += priced
        if new is not None:
            preview.orders += 1
            discountable += new["discountable_cents"]
        if billed != priced:
            preview.changed += 1
            if len(preview.changes) < SHOWN_DIFFERENCES:
                row = old or new
                assert row is not None
                preview.changes.append(LineChange(row["order_id"], billed, priced))
    fees = month_fee_lines(tenant=tariff.tenant, period=period, versions=[version])
    preview.billed_fees_cents = invoice.other_fees_cents
    preview.preview_fees_cents = sum(fee.amount_cents for fee in fees)
    totals = month_totals(
        order_count=preview.orders,
        orders_cents=preview.preview_orders_cents,
        discountable_cents=discountable,
        month_version=version,
        other_fees_cents=preview.preview_fees_cents,
    )
    preview.billed_month_cents = invoice.discount_cents + invoice.minimum_topup_cents
    preview.preview_month_cents = totals.discount_cents + totals.minimum_topup_cents
    return preview
