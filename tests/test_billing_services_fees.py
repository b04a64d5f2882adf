"""Worked examples of rule 4's services: returns, value-added services and labels
passed through. Every expected figure is computed by hand in the test from the
default rate sheet (fixtures/default_tariff.yaml), never by the code under test:

pick 30¢, pack 20¢, label 15¢ (an order picked, packed and labelled: 65¢); 50¢
minimum per order; rush ×2, hazmat ×3; 5 % off from 100 orders.
Services: gift wrap $1 per order; photo 25¢, quality check 50¢, custom packaging $2
per event; a return 75¢ + restocking $1.50 + inspection 25¢ per unit returned; a
carrier's label cost passed through at cost + 0 % markup.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import AdjustmentStatus, Invoice, InvoiceLine, LineKind, Tariff
from billing.services import invoice_issue, invoice_refresh
from billing.tariffs import tariff_ensure_default, tariff_errors
from billing.validation import invoice_validate
from orders.models import Order, OrderEvent
from tests.billing_helpers import logged_in, order_with, orders_with
from tests.factories import TenantFactory, event_body

pytestmark = pytest.mark.django_db

NOVEMBER, DECEMBER = date(2026, 11, 1), date(2026, 12, 1)
FULL = 30 + 20 + 15  # pick + pack + label
PHOTO, QUALITY_CHECK, CUSTOM_PACKAGING, GIFT_WRAP = 25, 50, 200, 100
RETURN, RESTOCKING, INSPECTION = 75, 150, 25


def nov(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def dec(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def shipped(day: int = 3) -> list[tuple[str, datetime]]:
    return [
        ("pick_completed", nov(day, 9)),
        ("pack_completed", nov(day, 10)),
        ("ship_label_printed", nov(day, 11)),
    ]


@pytest.fixture
def tenant():
    tenant = TenantFactory(slug="demo-3pl")
    tariff_ensure_default(tenant=tenant)
    return tenant


def line_of(invoice: Invoice, external_id: str) -> InvoiceLine:
    return invoice.lines.get(kind=LineKind.ORDER, order__external_id=external_id)


def ids_of(order: Order, event_type: str) -> str:
    return " ".join(
        str(pk)
        for pk in OrderEvent.objects.filter(order=order, event_type=event_type)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sorted_ids(text: str) -> str:
    return " ".join(sorted(text.split(), key=int))


# ---------------------------------------------------------------------------- returns


def test_a_return_next_month_bills_fee_restocking_and_inspection_per_unit_without_a_minimum(
    tenant,
):
    order = order_with(
        tenant,
        "#ret",
        [
            *shipped(),
            ("returned", dec(5), "carrier", {"units_returned": 3}),
            # The WMS reports the same return when it is received: it bills once.
            ("returned", dec(6), "wms", {"units_returned": 3}),
        ],
        items=4,
        handling=["rush"],
    )

    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    december = invoice_refresh(tenant=tenant, period=DECEMBER).invoice

    assert line_of(november, "#ret").return_cents == 0
    assert line_of(november, "#ret").amount_cents == FULL * 2  # rush: 130
    line = line_of(december, "#ret")
    # 75 + 150 + 3 units × 25 = 300; not multiplied by rush, no second order minimum.
    assert (line.return_cents, line.return_units) == (300, 3)
    assert (line.operations_cents, line.order_minimum_cents, line.handling_cents) == (0, 0, 0)
    assert line.discountable_cents == 0
    assert line.amount_cents == 300
    assert line.order_first_month is False
    assert line.return_at == dec(5)
    assert sorted_ids(line.return_event_ids) == ids_of(order, "returned")


def test_a_return_without_reported_units_inspects_the_orders_units(tenant):
    order_with(tenant, "#whole", [*shipped(), ("returned", nov(20))], items=4)
    order_with(tenant, "#unknown", [*shipped(), ("returned", nov(20))], items=None)

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    # 75 + 150 + 4 × 25 = 325 beside the 65¢ of operations.
    whole = line_of(invoice, "#whole")
    assert (whole.return_units, whole.return_cents, whole.amount_cents) == (4, 325, 65 + 325)
    # Units unknown: one, as for pick. 75 + 150 + 25 = 250.
    assert line_of(invoice, "#unknown").return_cents == 250


def test_a_return_alone_is_not_topped_up_to_the_order_minimum(tenant):
    tariff = Tariff.objects.get(tenant=tenant)
    Tariff.objects.filter(pk=tariff.pk).update(order_minimum_cents=1_000)
    order_with(tenant, "#only-returned", [("returned", nov(9), "carrier", {"units_returned": 1})])

    line = line_of(invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, "#only-returned")

    assert (line.order_minimum_cents, line.amount_cents) == (0, 75 + 150 + 25)


# -------------------------------------------------------------- value-added services


@pytest.mark.parametrize(
    ("event_type", "column", "fee"),
    [
        ("photo_taken", "photo", PHOTO),
        ("quality_check_completed", "quality_check", QUALITY_CHECK),
        ("custom_packaging_applied", "custom_packaging", CUSTOM_PACKAGING),
    ],
)
def test_each_service_event_bills_its_fee_once_per_event(tenant, event_type, column, fee):
    order = order_with(
        tenant, "#svc", [*shipped(), (event_type, nov(3, 12)), (event_type, nov(3, 13))]
    )

    line = line_of(invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, "#svc")

    # Two events: two fees, beside the 65¢ of operations.
    assert getattr(line, f"{column}_cents") == 2 * fee
    assert line.amount_cents == FULL + 2 * fee
    assert getattr(line, f"{column}_at") == nov(3, 12)
    assert sorted_ids(getattr(line, f"{column}_event_ids")) == ids_of(order, event_type)


def test_services_are_added_after_the_multipliers_and_the_minimum(tenant):
    order_with(
        tenant,
        "#hazmat-pick",
        [
            ("pick_completed", nov(4, 9)),
            ("photo_taken", nov(4, 10)),
            ("quality_check_completed", nov(4, 11)),
            ("custom_packaging_applied", nov(4, 12)),
            ("gift_wrapped", nov(4, 13)),
        ],
        handling=["hazmat"],
    )

    line = line_of(invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, "#hazmat-pick")

    # Pick 30 raised to the 50¢ minimum (services do not count toward it), ×3 = 150;
    # then 25 + 50 + 200 + 100 = 375 of services, never multiplied: 525.
    assert (line.operations_cents, line.order_minimum_cents) == (30, 20)
    assert line.discountable_cents == 150
    assert (line.photo_cents, line.quality_check_cents) == (25, 50)
    assert (line.custom_packaging_cents, line.gift_wrap_cents) == (200, 100)
    assert line.amount_cents == 150 + 375


def test_each_photo_bills_in_the_month_it_was_taken(tenant):
    order_with(
        tenant, "#late-photo", [*shipped(), ("photo_taken", nov(30, 12)), ("photo_taken", dec(1))]
    )

    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    december = invoice_refresh(tenant=tenant, period=DECEMBER).invoice

    assert line_of(november, "#late-photo").amount_cents == FULL + PHOTO
    december_line = line_of(december, "#late-photo")
    assert (december_line.photo_cents, december_line.amount_cents) == (PHOTO, PHOTO)
    assert december_line.order_minimum_cents == 0


def test_gift_wrap_bills_once_whether_the_flag_the_event_or_both_say_so(tenant):
    flagged = order_with(tenant, "#flag", shipped(), handling=["gift_wrap"])
    order_with(tenant, "#event", [*shipped(), ("gift_wrapped", nov(3, 10))])
    both = order_with(
        tenant,
        "#both",
        [*shipped(), ("gift_wrapped", nov(3, 10)), ("gift_wrapped", nov(3, 10), "shopify")],
        handling=["gift_wrap"],
    )
    # Flagged and billed in November; the WMS reports the wrap in December.
    order_with(
        tenant, "#reported-late", [*shipped(), ("gift_wrapped", dec(2))], handling=["gift_wrap"]
    )

    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    december = invoice_refresh(tenant=tenant, period=DECEMBER).invoice

    for external_id in ("#flag", "#event", "#both", "#reported-late"):
        line = line_of(november, external_id)
        assert (line.gift_wrap_cents, line.amount_cents) == (GIFT_WRAP, FULL + GIFT_WRAP)
    assert line_of(november, "#flag").gift_wrap_event_ids == ""  # the flag is the evidence
    assert line_of(november, "#flag").gift_wrap_at == nov(3, 9)  # its first operation
    assert flagged.handling == ["gift_wrap"]
    assert sorted_ids(line_of(november, "#both").gift_wrap_event_ids) == ids_of(
        both, "gift_wrapped"
    )
    # The late report bills nothing more: no December line at all.
    assert not december.lines.filter(kind=LineKind.ORDER).exists()


def test_service_events_are_stored_without_moving_the_orders_stage(api):
    api.post("/ingest/events", event_body(event_id="e-pack", event_type="pack_completed"))
    response = api.post("/ingest/events", event_body(event_id="e-photo", event_type="photo_taken"))

    assert response.status_code == 202
    order = Order.objects.get()
    assert order.status == "packed"
    assert OrderEvent.objects.filter(event_type="photo_taken").count() == 1


# ------------------------------------------------------------------ labels passed through


def test_a_label_cost_is_passed_through_with_the_markup_rounded_half_up(tenant):
    Tariff.objects.filter(tenant=tenant).update(label_markup_percent=Decimal("12.50"))
    pick_pack = shipped()[:2]
    order_with(
        tenant,
        "#rush-label",
        [*pick_pack, ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": 842})],
        handling=["rush"],
    )
    order_with(
        tenant,
        "#half",
        [*pick_pack, ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": 1236})],
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    rush = line_of(invoice, "#rush-label")
    # 842 × 12.5 % = 105.25 → 105: 947, not multiplied by rush (65 × 2 = 130 is).
    assert (rush.label_cost_cents, rush.label_passthrough_cents) == (842, 947)
    assert (rush.label_cents, rush.discountable_cents) == (15, 130)
    assert rush.amount_cents == 130 + 947
    # 1236 × 12.5 % = 154.5 → 155 (half up): 1391.
    assert line_of(invoice, "#half").label_passthrough_cents == 1_391


def test_the_latest_label_with_a_cost_bills_and_bad_costs_are_ignored(tenant):
    relabelled = order_with(
        tenant,
        "#relabelled",
        [
            *shipped()[:2],
            ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": 800}),
            ("label_created", nov(4, 8), "shopify", {"label_cost_cents": 900}),
            ("label_created", nov(4, 9), "shopify", {"label_cost_cents": "a lot"}),
        ],
    )
    order_with(
        tenant,
        "#garbage",
        [
            *shipped()[:2],
            ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": -5}),
            ("label_created", nov(3, 12), "shopify", {"label_cost_cents": 12.5}),
        ],
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    line = line_of(invoice, "#relabelled")
    latest = OrderEvent.objects.get(order=relabelled, occurred_at=nov(4, 8))
    assert (line.label_cents, line.label_passthrough_cents) == (15, 900)  # label fee once
    assert line.label_passthrough_event_ids == str(latest.pk)
    assert line.label_passthrough_at == nov(4, 8)
    garbage = line_of(invoice, "#garbage")
    assert (garbage.label_passthrough_cents, garbage.amount_cents) == (0, FULL)


def test_labels_passed_through_are_neither_discounted_nor_counted_for_the_minimum(tenant):
    # 100 hazmat orders: 100 × 65 × 3 = 19,500 of operations, 5 % off = 975; the
    # 100 × $10 of labels passed through are not discounted.
    orders_with(
        tenant,
        100,
        [*shipped()[:2], ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": 1_000})],
        handling=["hazmat"],
    )

    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice

    assert invoice.discountable_cents == 19_500
    assert invoice.discount_cents == -975
    assert invoice.orders_cents == 19_500 + 100_000
    assert invoice.total_cents == 119_500 - 975


def test_ingestion_refuses_a_label_cost_or_returned_units_that_is_not_a_whole_number(api):
    for field, value in (
        ("label_cost_cents", -1),
        ("label_cost_cents", "12"),
        ("label_cost_cents", 1.5),
        ("units_returned", True),
    ):
        response = api.post(
            "/ingest/events", event_body(event_id=f"e-{field}-{value}", **{field: value})
        )
        assert response.status_code == 400, (field, value)
        assert list(response.json()["errors"]) == [field]

    accepted = api.post(
        "/ingest/events",
        event_body(event_id="e-ok", event_type="label_created", label_cost_cents=512),
    )
    assert accepted.status_code == 202
    assert OrderEvent.objects.get(event_id="e-ok").payload["label_cost_cents"] == 512


# ------------------------------------------------------------------- prices and after issue


def test_a_new_version_prices_the_services_evidenced_after_it(tenant):
    Tariff.objects.create(
        tenant=tenant,
        effective_from=date(2026, 11, 16),
        pick_first_unit_cents=30,
        pack_cents=20,
        label_cents=15,
        photo_cents=40,
        return_cents=100,
        restocking_cents=200,
        return_inspection_unit_cents=30,
        label_markup_percent=Decimal("10"),
    )
    order_with(
        tenant,
        "#across",
        [
            *shipped()[:2],
            ("ship_label_printed", nov(3, 11), "wms", {"label_cost_cents": 500}),
            ("photo_taken", nov(10)),
            ("photo_taken", nov(20)),
            ("returned", nov(25), "wms", {"units_returned": 2}),
        ],
    )

    line = line_of(invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, "#across")

    assert line.photo_cents == 25 + 40  # one photo at each version's price
    assert line.return_cents == 100 + 200 + 2 * 30  # the new version's: 360
    assert line.label_passthrough_cents == 500  # labelled before it: no markup


def test_a_return_found_after_issue_is_proposed_with_its_evidence(tenant):
    order = order_with(tenant, "#late-return", shipped())
    draft = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    issued = invoice_issue(invoice=draft, by="fin", now=dec(1, 9))
    OrderEvent.objects.create(
        tenant=tenant,
        order=order,
        source="carrier",
        event_type="returned",
        event_id="ret-late",
        occurred_at=nov(29),
        channel="event",
        payload={"event_type": "returned", "units_returned": 2},
    )

    invoice_validate(invoice=issued, now=dec(1, 9) + timedelta(days=1))

    adjustment = issued.adjustments.get(key=f"order:{order.pk}")
    assert adjustment.status == AdjustmentStatus.PROPOSED
    assert adjustment.amount_cents == 75 + 150 + 2 * 25  # 275
    assert "return fee missing for order #late-return: returned ret-late" in adjustment.rationale


def test_the_default_rate_sheet_holds_the_service_prices_and_a_markup_is_validated(tenant):
    tariff = Tariff.objects.get(tenant=tenant)
    assert (tariff.photo_cents, tariff.quality_check_cents, tariff.custom_packaging_cents) == (
        25,
        50,
        200,
    )
    assert (tariff.return_cents, tariff.restocking_cents) == (75, 150)
    assert tariff.return_inspection_unit_cents == 25
    assert tariff.label_markup_percent == Decimal(0)
    assert "label_markup_percent" in tariff_errors({"label_markup_percent": "101"}, [])
    assert "label_markup_percent" in tariff_errors({"label_markup_percent": "NaN"}, [])
    assert "photo_cents" in tariff_errors({"photo_cents": -1}, [])


def test_the_console_shows_the_services_and_their_evidence(tenant):
    order = order_with(
        tenant,
        "#console",
        [*shipped(), ("photo_taken", nov(3, 12)), ("returned", nov(20), "carrier")],
    )
    invoice = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    finance = logged_in("finance", tenant)

    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    tariff = Tariff.objects.get(tenant=tenant)
    rate_sheet = finance.get(f"/admin/billing/tariff/{tariff.pk}/change/").content.decode()

    assert ">services<" in page
    # A 25¢ photo + a $2.50 return (75 + 150 + 1 unit × 25): 2.75 of services.
    assert "2.75 USD" in page
    returned = OrderEvent.objects.get(order=order, event_type="returned")
    assert f'return <a href="/admin/orders/orderevent/{returned.pk}/change/">' in page
    assert "photo <a href=" in page
    # The version priced the invoice, so it opens read-only, fields as text.
    assert "Services, returns and labels" in rate_sheet
    assert "Label markup percent" in rate_sheet
    assert "Return inspection unit cents" in rate_sheet
