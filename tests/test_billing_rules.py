"""Worked examples of the billing rules. Every expected figure is computed by hand in
the test from the default rate sheet (fixtures/default_tariff.yaml), never by the code
under test:

pick 30¢ first unit (+0¢ per further unit), pack 20¢ (+0¢ packaging), label 15¢,
kitting 50¢; 50¢ minimum per order, $100 per month; 5 / 10 / 15 % from 100 / 500 /
1000 orders; rush ×2, oversized ×1.5, hazmat ×3, fragile ×1.2; gift wrap $1.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError

from billing.models import Invoice, InvoiceLine, LineKind, Tariff, VolumeTier
from billing.services import invoice_refresh
from billing.tariffs import tariff_ensure_default, tier_errors
from tests.billing_helpers import order_with, orders_with
from tests.concurrency import at_once
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)
PICK, PACK, LABEL, KITTING = 30, 20, 15, 50
ORDER_MINIMUM, MONTHLY_MINIMUM, GIFT_WRAP = 50, 10_000, 100
FULL = PICK + PACK + LABEL  # 65: an order picked, packed and labelled


def nov(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def shipped(day: int = 3) -> list[tuple[str, datetime]]:
    """Pick, pack and label on one November day."""
    return [
        ("pick_completed", nov(day, 9)),
        ("pack_completed", nov(day, 10)),
        ("ship_label_printed", nov(day, 11)),
    ]


@pytest.fixture
def tenant():
    return TenantFactory(slug="demo-3pl")


def order_line(invoice: Invoice, external_id: str) -> InvoiceLine:
    return invoice.lines.get(kind=LineKind.ORDER, order__external_id=external_id)


def month_line(invoice: Invoice, kind: str) -> InvoiceLine | None:
    return invoice.lines.filter(kind=kind).first()


def test_a_quiet_month_is_topped_up_to_the_monthly_minimum(tenant):
    for n in range(3):
        order_with(tenant, f"#{n}", shipped())

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert [order_line(invoice, f"#{n}").amount_cents for n in range(3)] == [65, 65, 65]
    assert invoice.order_count == 3
    assert invoice.orders_cents == 195
    assert month_line(invoice, LineKind.VOLUME_DISCOUNT) is None
    assert month_line(invoice, LineKind.MONTHLY_MINIMUM).amount_cents == 10_000 - 195
    assert invoice.total_cents == 10_000
    assert invoice.currency == "USD"


def test_no_evidence_no_charge(tenant):
    order_with(
        tenant,
        "#paid-and-shipped",
        [("order_paid", nov(2)), ("picked_up", nov(4)), ("delivered", nov(6))],
    )
    order_with(tenant, "#picked", [("pick_completed", nov(5))])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert list(
        invoice.lines.filter(kind=LineKind.ORDER).values_list("order__external_id", flat=True)
    ) == ["#picked"]
    line = order_line(invoice, "#picked")
    # Pick only: 30¢, raised to the 50¢ order minimum.
    assert (line.pick_cents, line.pack_cents, line.label_cents) == (30, 0, 0)
    assert line.order_minimum_cents == 20
    assert line.amount_cents == 50


# Hazmat orders (×3): 65¢ → 195¢ each, so the monthly minimum never hides a tier.
@pytest.mark.parametrize(
    ("orders", "percent", "discount"),
    [
        (99, Decimal(0), 0),
        (100, Decimal(5), 975),  # 5 % of 100 × 195 = 19,500
        (499, Decimal(5), 4_865),  # 5 % of 97,305 = 4,865.25 → 4,865
        (500, Decimal(10), 9_750),  # 10 % of 97,500
        (999, Decimal(10), 19_481),  # 10 % of 194,805 = 19,480.5 → 19,481 (half up)
        (1000, Decimal(15), 29_250),  # 15 % of 195,000
    ],
)
def test_the_volume_tier_follows_the_months_order_count(tenant, orders, percent, discount):
    orders_with(tenant, orders, shipped(), handling=["hazmat"])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    operations = orders * 195
    assert invoice.order_count == orders
    assert invoice.discountable_cents == operations
    assert invoice.discount_percent == percent
    assert invoice.discount_cents == -discount
    assert invoice.total_cents == operations - discount
    assert month_line(invoice, LineKind.MONTHLY_MINIMUM) is None
    if discount:
        assert month_line(invoice, LineKind.VOLUME_DISCOUNT).amount_cents == -discount


def test_the_tier_discounts_neither_gift_wrap_nor_the_monthly_top_up(tenant):
    # 100 orders: 100 × 65 = 6,500 of operations, 100 × $1 gift wrap.
    orders_with(tenant, 100, shipped(), handling=["gift_wrap"])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert invoice.discountable_cents == 6_500
    assert invoice.discount_cents == -325  # 5 % of 6,500, not of 16,500
    assert invoice.orders_cents == 6_500 + 10_000
    assert invoice.total_cents == 16_500 - 325  # above $100: no top-up
    assert month_line(invoice, LineKind.MONTHLY_MINIMUM) is None


def test_rush_and_hazmat_multiply_the_order_once_each_and_gift_wrap_is_added_after(tenant):
    order_with(tenant, "#rush-hazmat", shipped(), handling=["rush", "hazmat"])
    order_with(
        tenant, "#rush-hazmat-pick", [("pick_completed", nov(4))], handling=["hazmat", "rush"]
    )
    order_with(tenant, "#rush-gift", shipped(), handling=["rush", "gift_wrap"])
    order_with(tenant, "#fragile-oversized", shipped(), handling=["fragile", "oversized"])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    both = order_line(invoice, "#rush-hazmat")
    assert both.multiplier == Decimal(6)
    assert both.discountable_cents == 65 * 6  # 390
    assert both.handling_cents == 390 - 65
    assert both.amount_cents == 390
    # The minimum applies before the multipliers: 30 → 50, then ×6.
    pick_only = order_line(invoice, "#rush-hazmat-pick")
    assert (pick_only.order_minimum_cents, pick_only.amount_cents) == (20, 300)
    gift = order_line(invoice, "#rush-gift")
    assert (gift.discountable_cents, gift.gift_wrap_cents, gift.amount_cents) == (130, 100, 230)
    # 65 × 1.2 × 1.5 = 117 exactly.
    assert order_line(invoice, "#fragile-oversized").amount_cents == 117


def test_rounding_is_half_up_once_per_line(tenant):
    tariff_ensure_default(tenant=tenant)
    Tariff.objects.filter(tenant=tenant).update(fragile_multiplier=Decimal("1.10"))
    # pick + pack = 50 (exactly the minimum) × 1.1 = 55; pick + label = 45 → 50 × 1.1 = 55;
    # label only 15 → 50 → 55; 65 × 1.1 = 71.5 → 72.
    order_with(tenant, "#half", shipped(), handling=["fragile"])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert order_line(invoice, "#half").amount_cents == 72


def test_additional_units_are_charged_per_unit_after_the_first(tenant):
    tariff_ensure_default(tenant=tenant)
    Tariff.objects.filter(tenant=tenant).update(pick_additional_unit_cents=10)
    order_with(tenant, "#five", [("pick_completed", nov(2))], items=5)
    order_with(tenant, "#unknown", [("pick_completed", nov(2))], items=None)
    order_with(tenant, "#zero", [("pick_completed", nov(2))], items=0)

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    five = order_line(invoice, "#five")
    assert (five.units, five.pick_cents, five.amount_cents) == (5, 30 + 4 * 10, 70)
    # No count known (or 0): one unit, 30¢, raised to the 50¢ minimum.
    for external_id in ("#unknown", "#zero"):
        line = order_line(invoice, external_id)
        assert (line.units, line.pick_cents, line.amount_cents) == (1, 30, 50)


def test_the_same_label_reported_by_two_sources_is_billed_once_and_both_are_cited(tenant):
    order = order_with(
        tenant,
        "#1001",
        [
            ("pick_completed", nov(3, 9)),
            ("pack_completed", nov(3, 10)),
            ("label_created", nov(3, 11), "shopify"),
            ("ship_label_printed", nov(3, 12), "wms"),
            ("pick_completed", nov(3, 13), "wms-rescan"),
        ],
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    line = order_line(invoice, "#1001")
    assert (line.pick_cents, line.pack_cents, line.label_cents, line.amount_cents) == (
        30,
        20,
        15,
        65,
    )
    events = {e.event_type + ":" + e.source: e.pk for e in order.events.all()}
    assert line.label_at == nov(3, 11)  # the first report
    assert sorted(map(int, line.label_event_ids.split())) == sorted(
        [events["label_created:shopify"], events["ship_label_printed:wms"]]
    )
    assert sorted(map(int, line.pick_event_ids.split())) == sorted(
        [events["pick_completed:wms"], events["pick_completed:wms-rescan"]]
    )
    assert line.pack_event_ids == str(events["pack_completed:wms"])
    assert sorted(line.event_ids) == sorted(events.values())


def test_kitting_is_billed_from_its_own_evidence(tenant):
    order_with(tenant, "#kit", [*shipped(), ("kitting_completed", nov(3, 8))])

    line = order_line(invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, "#kit")

    assert (line.kitting_cents, line.amount_cents) == (KITTING, FULL + KITTING)


def test_a_tariff_version_starting_mid_month_prices_what_happened_after_it(tenant):
    first = tariff_ensure_default(tenant=tenant)
    second = Tariff.objects.create(
        tenant=tenant,
        effective_from=date(2026, 11, 16),
        pick_first_unit_cents=40,
        pack_cents=30,
        label_cents=15,
        order_minimum_cents=0,
        monthly_minimum_cents=0,
    )
    VolumeTier.objects.create(tariff=second, min_orders=2, percent=Decimal(10))
    order_with(tenant, "#before", shipped(day=10))
    order_with(tenant, "#after", shipped(day=20))
    # Picked the day before the change, packed and labelled after it.
    order_with(
        tenant,
        "#across",
        [
            ("pick_completed", nov(15, 23)),
            ("pack_completed", nov(16, 1)),
            ("ship_label_printed", nov(16, 2)),
        ],
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert order_line(invoice, "#before").amount_cents == 30 + 20 + 15
    assert order_line(invoice, "#after").amount_cents == 40 + 30 + 15
    across = order_line(invoice, "#across")
    assert (across.pick_cents, across.pack_cents) == (30, 30)
    assert across.tariff_id == first.pk  # its first operation's version sets its minimum
    # The month's rules come from the version in force at its end: 10 % from 2 orders,
    # no monthly minimum.
    orders_total = 65 + 85 + 75
    assert invoice.tariff_id == second.pk
    assert invoice.discount_cents == -23  # 10 % of 225 = 22.5 → 23 (half up)
    assert invoice.total_cents == orders_total - 23
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.priced_at is not None and second.priced_at is not None


def test_an_operation_is_billed_in_the_month_its_first_evidence_occurred(tenant):
    order_with(
        tenant,
        "#spans",
        [
            ("pick_completed", datetime(2026, 10, 31, 22, tzinfo=UTC)),
            ("pick_completed", nov(1, 8), "rescan"),  # a second report: not billed again
            ("pack_completed", nov(1, 9)),
            ("ship_label_printed", nov(1, 10)),
        ],
    )

    october = invoice_refresh(tenant=tenant, period=date(2026, 10, 1)).invoice
    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    in_october = order_line(october, "#spans")
    assert (in_october.pick_cents, in_october.order_minimum_cents, in_october.amount_cents) == (
        30,
        20,
        50,
    )
    in_november = order_line(november, "#spans")
    # Pack and label only; the minimum was applied in October, the order's first month.
    assert (in_november.pick_cents, in_november.pack_cents, in_november.label_cents) == (0, 20, 15)
    assert (in_november.order_minimum_cents, in_november.amount_cents) == (0, 35)
    assert in_november.pick_event_ids == ""


def test_the_month_boundary_is_the_tenants_local_midnight():
    tenant = TenantFactory(slug="east", timezone="America/New_York")
    # 03:00 UTC on 1 December is 22:00 on 30 November in New York.
    order_with(tenant, "#late-nov", [("pick_completed", datetime(2026, 12, 1, 3, tzinfo=UTC))])
    # 04:30 UTC on 1 November is 00:30 on 1 November in New York (EDT, UTC−4).
    order_with(tenant, "#early-nov", [("pick_completed", datetime(2026, 11, 1, 4, 30, tzinfo=UTC))])
    # 03:30 UTC on 1 November is still 31 October in New York.
    order_with(tenant, "#late-oct", [("pick_completed", datetime(2026, 11, 1, 3, 30, tzinfo=UTC))])

    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    december = invoice_refresh(tenant=tenant, period=date(2026, 12, 1)).invoice
    october = invoice_refresh(tenant=tenant, period=date(2026, 10, 1)).invoice

    def billed(invoice: Invoice) -> set[str]:
        return set(
            invoice.lines.filter(kind=LineKind.ORDER).values_list("order__external_id", flat=True)
        )

    assert billed(november) == {"#late-nov", "#early-nov"}
    assert billed(december) == set()
    assert billed(october) == {"#late-oct"}


def test_a_rerun_changes_nothing_and_never_makes_a_second_invoice(tenant):
    order_with(tenant, "#1", shipped(), handling=["rush", "gift_wrap"])
    order_with(tenant, "#2", [("pick_completed", nov(7))])

    def snapshot(invoice: Invoice) -> list[tuple]:
        return sorted(
            invoice.lines.values_list(
                "kind",
                "order_id",
                "amount_cents",
                "discountable_cents",
                "pick_event_ids",
                "label_event_ids",
            ),
            key=repr,
        )

    first = invoice_refresh(tenant=tenant, period=NOVEMBER)
    before = snapshot(first.invoice)
    second = invoice_refresh(tenant=tenant, period=NOVEMBER)

    assert first.created and not second.created
    assert Invoice.objects.filter(tenant=tenant).count() == 1
    assert snapshot(second.invoice) == before
    assert second.invoice.total_cents == first.invoice.total_cents == 10_000
    assert InvoiceLine.objects.filter(invoice__tenant=tenant).count() == 3


def test_a_refresh_picks_up_late_evidence_while_the_invoice_is_a_draft(tenant):
    order = order_with(tenant, "#1", [("pick_completed", nov(7))])
    invoice_refresh(tenant=tenant, period=NOVEMBER)
    order_with(tenant, "#2", shipped())
    from orders.models import OrderEvent

    OrderEvent.objects.create(
        tenant=tenant,
        order=order,
        source="wms",
        event_type="pack_completed",
        event_id="late-pack",
        occurred_at=nov(7, 12),
        channel="event",
        payload={},
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert order_line(invoice, "#1").amount_cents == 50  # 30 + 20, already at the minimum
    assert order_line(invoice, "#2").amount_cents == 65
    assert invoice.order_count == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_generating_the_same_invoice_make_one_with_no_doubled_line(tenant):
    orders_with(tenant, 50, shipped())

    results = at_once(lambda: invoice_refresh(tenant=tenant, period=NOVEMBER), threads=2)

    assert sorted(r.created for r in results) == [False, True]
    invoice = Invoice.objects.get(tenant=tenant, period=NOVEMBER)
    assert invoice.lines.filter(kind=LineKind.ORDER).count() == 50
    assert invoice.lines.filter(kind=LineKind.MONTHLY_MINIMUM).count() == 1
    assert invoice.total_cents == 10_000


def test_the_default_tariff_is_the_fixtures_rate_sheet(tenant):
    tariff = tariff_ensure_default(tenant=tenant)

    assert (tariff.pick_first_unit_cents, tariff.pick_additional_unit_cents) == (30, 0)
    assert (tariff.pack_cents, tariff.packaging_cents, tariff.label_cents) == (20, 0, 15)
    assert (tariff.kitting_cents, tariff.gift_wrap_cents) == (50, 100)
    assert (tariff.order_minimum_cents, tariff.monthly_minimum_cents) == (50, 10_000)
    assert (tariff.rush_multiplier, tariff.oversized_multiplier) == (Decimal(2), Decimal("1.5"))
    assert (tariff.hazmat_multiplier, tariff.fragile_multiplier) == (Decimal(3), Decimal("1.2"))
    assert list(tariff.tiers.values_list("min_orders", "percent")) == [
        (100, Decimal(5)),
        (500, Decimal(10)),
        (1000, Decimal(15)),
    ]
    assert tariff_ensure_default(tenant=tenant) is None  # one default, once


def test_tiers_must_ascend_and_multipliers_stay_at_least_one(tenant):
    assert tier_errors([(100, Decimal(5)), (500, Decimal(10))]) == []
    assert tier_errors([(100, Decimal(10)), (500, Decimal(5))]) == [
        "The tier from 500 orders gives 5%, less than the 10% from 100: tiers must ascend."
    ]
    assert tier_errors([(100, Decimal(5)), (100, Decimal(6))]) == ["Two tiers start at 100 orders."]
    tariff = tariff_ensure_default(tenant=tenant)
    with pytest.raises(IntegrityError):
        Tariff.objects.filter(pk=tariff.pk).update(rush_multiplier=Decimal("0.50"))


def test_an_empty_month_has_only_the_monthly_minimum(tenant):
    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert invoice.order_count == 0
    assert list(invoice.lines.values_list("kind", "amount_cents")) == [
        (LineKind.MONTHLY_MINIMUM, MONTHLY_MINIMUM)
    ]


def test_lines_keep_their_sum(tenant):
    order_with(tenant, "#a", shipped(), handling=["oversized", "gift_wrap"])
    orders_with(tenant, 120, shipped(day=12), handling=["rush"])

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert sum(invoice.lines.values_list("amount_cents", flat=True)) == invoice.total_cents
    # 65 × 1.5 = 97.5 → 98, + $1 gift wrap; 120 rush orders at 130.
    assert order_line(invoice, "#a").amount_cents == 98 + 100
    operations = 98 + 120 * 130  # 15,698
    assert invoice.discount_cents == -785  # 5 % = 784.9 → 785
    assert invoice.total_cents == operations + 100 - 785
    assert timedelta(0) <= datetime.now(UTC) - invoice.refreshed_at < timedelta(minutes=5)
