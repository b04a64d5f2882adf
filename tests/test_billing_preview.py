"""A tariff change previewed against a billed month, worked by hand.

October: two orders picked, packed and labelled at 30 + 20 + 15 = 65 cents each, on a
rate sheet without a monthly minimum; and 400 unit-days of storage at 5 cents.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from billing.inventory import StorageRow, storage_days_replace
from billing.preview import tariff_preview
from billing.services import invoice_refresh, tariff_new_version
from billing.tariffs import tariff_ensure_default
from tests.billing_helpers import logged_in, order_with, shipped_on

pytestmark = pytest.mark.django_db

OCTOBER = date(2026, 10, 1)


@pytest.fixture
def billed_october(tenant):
    tariff = tariff_ensure_default(tenant=tenant)
    tariff.monthly_minimum_cents = 0
    tariff.save()
    order_with(tenant, "#1", shipped_on(5, 10))
    order_with(tenant, "#2", shipped_on(6, 10))
    return invoice_refresh(tenant=tenant, period=OCTOBER).invoice


@pytest.fixture
def dearer_packing(tenant, billed_october):
    """From December, packing costs 30 cents instead of 20."""
    version = tariff_new_version(tariff=tenant.tariffs.get(), effective_from=date(2026, 12, 1))
    version.pack_cents = 30
    version.save()
    return version


def test_the_preview_prices_the_month_by_the_version_line_by_line(
    tenant, billed_october, dearer_packing
):
    assert billed_october.total_cents == 130

    preview = tariff_preview(tariff=dearer_packing, period=OCTOBER)

    assert (preview.orders, preview.changed) == (2, 2)
    assert (preview.billed_total_cents, preview.preview_total_cents) == (130, 150)
    assert preview.difference_cents == 20
    assert [(c.billed_cents, c.preview_cents) for c in preview.changes] == [(65, 75), (65, 75)]
    billed_october.refresh_from_db()
    assert billed_october.total_cents == 130 and billed_october.lines.count() == 2


def test_the_preview_reprices_storage_too(tenant, billed_october, dearer_packing):
    storage_days_replace(
        tenant=tenant,
        days={
            date(2026, 10, 10): [StorageRow(sku="TSHIRT", received_on=date(2026, 10, 1), units=400)]
        },
    )
    billed = invoice_refresh(tenant=tenant, period=OCTOBER).invoice
    assert billed.other_fees_cents == 400 * 5
    dearer_packing.storage_unit_day_cents = 6
    dearer_packing.save()

    preview = tariff_preview(tariff=dearer_packing, period=OCTOBER)

    assert (preview.billed_fees_cents, preview.preview_fees_cents) == (2000, 2400)
    assert preview.difference_cents == 20 + 400


def test_a_month_not_billed_has_nothing_to_compare(tenant, dearer_packing):
    assert tariff_preview(tariff=dearer_packing, period=date(2026, 9, 1)).invoice is None


def test_finance_opens_the_preview_of_last_month_from_the_versions_page(
    tenant, billed_october, dearer_packing
):
    finance = logged_in("finance", tenant)
    page = finance.get(f"/admin/billing/tariff/{dearer_packing.pk}/change/")
    assert b"What this version would have billed last month" in page.content
    url = f"/admin/billing/tariff/{dearer_packing.pk}/preview/"

    with time_machine.travel(datetime(2026, 11, 6, 12, tzinfo=UTC)):  # last month: October
        preview = finance.get(url)

    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Difference: 0.20 USD" in text
    assert "2 of 2 order lines would change" in text
    assert ">#1</a>" in text and "0.75 USD" in text
    assert logged_in("viewer", tenant).get(url).status_code == 403
