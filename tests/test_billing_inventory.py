"""Storage, receiving and recurring fees (rule 6), worked by hand; the WMS's two
endpoints and `import_storage`, including everything they refuse.

Default tariff: 5¢ per unit-day, ×2 for units on hand more than 90 days since
received; $25 per receipt and 10¢ per unit received; $100 monthly minimum; 5 % off
from 100 orders. Tenant in Berlin, so the month's bounds are not UTC's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client

from billing.inventory import StorageRow, storage_days_replace
from billing.models import InboundReceipt, Invoice, LineKind, StorageSnapshot, Tariff
from billing.services import invoice_issue, invoice_refresh
from billing.tariffs import tariff_ensure_default
from orders.scopes import ApiKeyScope
from tests.billing_helpers import order_with, orders_with
from tests.factories import TenantFactory, api_key_for

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)
AFTER_NOVEMBER = datetime(2026, 12, 2, 9, tzinfo=UTC)
STORAGE_URL = "/api/billing/storage"
RECEIPTS_URL = "/api/billing/receipts"


@pytest.fixture
def tenant():
    return TenantFactory(slug="demo-3pl", timezone="Europe/Berlin")


def november_days(first: int = 1, last: int = 30) -> list[date]:
    return [date(2026, 11, d) for d in range(first, last + 1)]


def stock(tenant, days, sku, received_on, units) -> None:
    """`units` of `sku` received on `received_on`, on hand on each of `days`."""
    for day in days:
        existing = [
            StorageRow(sku=s.sku, received_on=s.received_on, units=s.units)
            for s in StorageSnapshot.objects.filter(tenant=tenant, day=day)
        ]
        storage_days_replace(
            tenant=tenant,
            days={day: [*existing, StorageRow(sku=sku, received_on=received_on, units=units)]},
        )


def receipt(tenant, reference, received_at, units, cartons=1) -> InboundReceipt:
    return InboundReceipt.objects.create(
        tenant=tenant, reference=reference, received_at=received_at, units=units, cartons=cartons
    )


def month_lines(invoice: Invoice) -> dict[str, tuple[str, int]]:
    return {
        line.kind: (line.description, line.amount_cents)
        for line in invoice.lines.exclude(kind=LineKind.ORDER)
    }


def draft(tenant) -> Invoice:
    return invoice_refresh(tenant=tenant, period=NOVEMBER).invoice


def key(tenant, scopes=(ApiKeyScope.INGEST,)) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(tenant, scopes=scopes)}"}


def post(url: str, body, auth) -> object:
    return Client().post(url, body, content_type="application/json", **auth)


# ------------------------------------------------------------------- storage


def test_storage_across_the_90_day_line(tenant):
    # SKU A, 10 units received 15 August, on hand all November. 13 November is day 90
    # since receipt (16 days left in August + 30 + 31 + 13): not aged yet; from
    # 14 November (day 91) to the 30th, 17 days, aged.
    stock(tenant, november_days(), "A", date(2026, 8, 15), 10)
    # SKU B, 4 units received 2 November, on hand from then: 29 days, never aged.
    stock(tenant, november_days(2), "B", date(2026, 11, 2), 4)

    invoice = draft(tenant)

    unit_days = 30 * 10 + 29 * 4  # 416
    aged = 17 * 10  # 170
    storage = (unit_days - aged) * 5 + aged * 5 * 2  # 1,230 + 1,700 = 2,930
    assert month_lines(invoice)[LineKind.STORAGE] == (
        "Storage: 416 unit-days (170 aged over 90 days)",
        storage,
    )
    assert invoice.other_fees_cents == 2_930
    # No orders: the storage counts toward the $100 minimum, which tops up the rest.
    assert month_lines(invoice)[LineKind.MONTHLY_MINIMUM][1] == 10_000 - 2_930
    assert invoice.order_count == 0
    assert invoice.total_cents == 10_000


def test_units_received_august_1st_are_aged_from_october_31st(tenant):
    # 30 October is day 90 since 1 August; 31 October day 91. Only October and
    # November snapshots of the 31st count in different months.
    october_30, october_31 = date(2026, 10, 30), date(2026, 10, 31)
    stock(tenant, [october_30, october_31], "A", date(2026, 8, 1), 3)
    october = invoice_refresh(tenant=tenant, period=date(2026, 10, 1)).invoice
    # 3 unit-days at 5¢ on the 30th, 3 aged unit-days at 10¢ on the 31st.
    assert month_lines(october)[LineKind.STORAGE] == (
        "Storage: 6 unit-days (3 aged over 90 days)",
        3 * 5 + 3 * 10,
    )


def test_lots_of_one_sku_with_the_same_received_date_are_summed(tenant):
    day = date(2026, 11, 3)
    storage_days_replace(
        tenant=tenant,
        days={
            day: [
                StorageRow(sku="A", received_on=date(2026, 8, 1), units=3),
                StorageRow(sku="A", received_on=date(2026, 8, 1), units=4),
                StorageRow(sku="A", received_on=date(2026, 10, 1), units=5),
            ]
        },
    )
    rows = StorageSnapshot.objects.filter(tenant=tenant, day=day).order_by("received_on")
    assert [(r.sku, r.received_on, r.units) for r in rows] == [
        ("A", date(2026, 8, 1), 7),
        ("A", date(2026, 10, 1), 5),
    ]


def test_storage_is_priced_by_the_version_in_force_each_day(tenant):
    tariff_ensure_default(tenant=tenant)
    Tariff.objects.create(
        tenant=tenant,
        effective_from=date(2026, 11, 16),
        storage_unit_day_cents=8,
        storage_aged_after_days=90,
        monthly_minimum_cents=0,
    )
    stock(tenant, november_days(), "B", date(2026, 11, 1), 1)
    invoice = draft(tenant)
    # 15 days at 5¢ (default version), 15 days at 8¢ (from the 16th).
    assert month_lines(invoice)[LineKind.STORAGE][1] == 15 * 5 + 15 * 8
    # Both versions priced the month: both are history now.
    assert not Tariff.objects.filter(tenant=tenant, priced_at__isnull=True).exists()


def test_reimporting_a_day_replaces_it(tenant):
    auth = key(tenant)
    first = {
        "day": "2026-11-03",
        "rows": [
            {"sku": "A", "units": 10, "received_on": "2026-08-01"},
            {"sku": "B", "units": 5, "received_on": "2026-11-01"},
        ],
    }
    other_day = {
        "day": "2026-11-04",
        "rows": [{"sku": "B", "units": 5, "received_on": "2026-11-01"}],
    }
    assert post(STORAGE_URL, first, auth).status_code == 200
    assert post(STORAGE_URL, other_day, auth).status_code == 200

    again = {"day": "2026-11-03", "rows": [{"sku": "A", "units": 7, "received_on": "2026-08-01"}]}
    response = post(STORAGE_URL, again, auth)

    assert response.status_code == 200
    assert response.json() == {"day": "2026-11-03", "rows": 1, "skus": 1, "units": 7, "replaced": 2}
    by_day = {(s.day.day, s.sku): s.units for s in StorageSnapshot.objects.filter(tenant=tenant)}
    assert by_day == {(3, "A"): 7, (4, "B"): 5}  # B is gone from the 3rd, the 4th untouched


def test_storage_bad_input_is_a_400_naming_each_row_and_writes_nothing(tenant):
    auth = key(tenant)
    good = {"day": "2026-11-03", "rows": [{"sku": "A", "units": 10, "received_on": "2026-08-01"}]}
    assert post(STORAGE_URL, good, auth).status_code == 200
    bad = {
        "day": "2026-11-03",
        "rows": [
            {"sku": "A", "units": 3, "received_on": "2026-08-01"},
            {"sku": "B", "received_on": "2026-08-01"},  # units missing
            {"sku": "C", "units": -1, "received_on": "2026-08-01"},
            {"sku": "D", "units": 1, "received_on": "2026-11-04"},  # after the day
            {"sku": "E", "units": 1, "received_on": "2026-13-01"},  # no such date
            {"sku": "", "units": 1, "received_on": "2026-08-01"},
        ],
    }
    response = post(STORAGE_URL, bad, auth)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    errors = body["errors"]["rows"]
    assert set(errors) == {"1", "2", "4", "5"}
    assert set(errors["1"]) == {"units"}
    assert "greater than or equal to 0" in errors["2"]["units"][0]
    assert "wrong format" in errors["4"]["received_on"][0]
    assert set(errors["5"]) == {"sku"}
    # Row 3 (received after the day) is judged once every row parses.
    fixed = dict(bad, rows=[bad["rows"][0], bad["rows"][3]])
    response = post(STORAGE_URL, fixed, auth)
    assert response.status_code == 400
    assert "after the snapshot's day" in response.json()["errors"]["rows"]["1"]["received_on"][0]
    # The day's first import stands.
    assert list(StorageSnapshot.objects.values_list("sku", "units")) == [("A", 10)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": []}, "day"),
        ({"day": "2026-11-03"}, "rows"),
        ({"day": "03.11.2026", "rows": []}, "day"),
        ({"day": "2099-01-01", "rows": []}, "day"),  # the future
        ({"day": "2026-11-03", "rows": "A,10"}, "rows"),
    ],
)
def test_storage_envelope_errors(tenant, body, field):
    response = post(STORAGE_URL, body, key(tenant))
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_storage_needs_the_ingest_scope(tenant):
    body = {"day": "2026-11-03", "rows": []}
    response = post(STORAGE_URL, body, key(tenant, scopes=[ApiKeyScope.FINANCE]))
    assert response.status_code == 403
    assert response.json()["required_scope"] == "ingest"
    assert post(STORAGE_URL, body, {}).status_code == 401


def test_storage_of_an_issued_month_cannot_change(tenant):
    stock(tenant, [date(2026, 11, 3)], "A", date(2026, 8, 1), 10)
    invoice_issue(invoice=draft(tenant), by="fin", now=AFTER_NOVEMBER)
    body = {"day": "2026-11-03", "rows": []}
    response = post(STORAGE_URL, body, key(tenant))
    assert response.status_code == 409
    assert response.json()["code"] == "period_closed"
    assert StorageSnapshot.objects.filter(tenant=tenant).count() == 1


def test_the_database_refuses_impossible_snapshots(tenant):
    for units, received_on in ((-1, date(2026, 11, 1)), (1, date(2026, 11, 4))):
        with pytest.raises(IntegrityError), transaction.atomic():
            StorageSnapshot.objects.create(
                tenant=tenant, day=date(2026, 11, 3), sku="A", received_on=received_on, units=units
            )


# ------------------------------------------------------------------- receiving


def test_a_receipt_costs_a_fee_per_receipt_and_per_unit(tenant):
    receipt(tenant, "ASN-1", datetime(2026, 11, 5, 10, tzinfo=UTC), 100)
    receipt(tenant, "ASN-2", datetime(2026, 11, 20, 10, tzinfo=UTC), 250)
    # 23:30 UTC on 31 October is 00:30 on 1 November in Berlin: November's.
    receipt(tenant, "ASN-3", datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 50)
    # 22:30 UTC on 31 October is 23:30 in Berlin: October's.
    receipt(tenant, "ASN-0", datetime(2026, 10, 31, 22, 30, tzinfo=UTC), 999)

    invoice = draft(tenant)

    fees = 3 * 2_500 + (100 + 250 + 50) * 10  # 7,500 + 4,000
    assert month_lines(invoice)[LineKind.RECEIVING] == ("Receiving: 3 receipts, 400 units", fees)
    # Above the $100 minimum by itself: no top-up.
    assert LineKind.MONTHLY_MINIMUM not in month_lines(invoice)
    assert invoice.total_cents == 11_500


def test_receipts_are_not_orders_for_the_tier_or_the_order_minimum(tenant):
    # 99 orders with only a label (15¢, raised to the 50¢ order minimum each) and two
    # receipts: 101 "things", but 99 orders, under the 100-order tier.
    at = datetime(2026, 11, 3, 9, tzinfo=UTC)
    orders_with(tenant, 99, [("ship_label_printed", at)])
    receipt(tenant, "ASN-1", at, 10)
    receipt(tenant, "ASN-2", at, 10)

    invoice = draft(tenant)

    assert invoice.order_count == 99
    assert invoice.discount_cents == 0
    assert invoice.orders_cents == 99 * 50
    assert month_lines(invoice)[LineKind.RECEIVING][1] == 2 * 2_500 + 20 * 10
    assert invoice.lines.filter(kind=LineKind.ORDER).count() == 99


def test_the_volume_discount_is_off_the_orders_only_and_the_minimum_counts_the_fees(tenant):
    at = datetime(2026, 11, 3, 9, tzinfo=UTC)
    orders_with(tenant, 100, [("ship_label_printed", at)])  # 100 × 50¢ after the minimum
    receipt(tenant, "ASN-1", at, 10)  # $25 + 10 × 10¢

    invoice = draft(tenant)

    orders = 100 * 50  # 5,000
    discount = -(orders * 5 // 100)  # 5 % of the orders only: -250
    receiving = 2_500 + 100  # 2,600
    topup = 10_000 - (orders + discount + receiving)  # 2,650
    assert invoice.discount_cents == discount
    assert invoice.other_fees_cents == receiving
    assert invoice.minimum_topup_cents == topup
    assert invoice.total_cents == 10_000
    assert sum(invoice.lines.values_list("amount_cents", flat=True)) == invoice.total_cents


def test_a_receipt_by_the_api_and_again(tenant):
    auth = key(tenant)
    body = {"reference": "ASN-7", "received_at": "2026-11-05T10:00:00Z", "units": 40, "cartons": 2}

    created = post(RECEIPTS_URL, body, auth)
    assert created.status_code == 201
    assert created.json()["results"][0]["status"] == "created"
    stored = InboundReceipt.objects.get(tenant=tenant, reference="ASN-7")
    assert (stored.received_at, stored.units, stored.cartons) == (
        datetime(2026, 11, 5, 10, tzinfo=UTC),
        40,
        2,
    )

    # The same facts, written differently (the offset): a duplicate.
    same = dict(body, received_at="2026-11-05T11:00:00+01:00")
    duplicate = post(RECEIPTS_URL, same, auth)
    assert duplicate.status_code == 200
    assert duplicate.json() == {
        "created_count": 0,
        "duplicate_count": 1,
        "results": [{"reference": "ASN-7", "status": "duplicate", "id": stored.pk}],
    }

    conflict = post(RECEIPTS_URL, dict(body, units=41), auth)
    assert conflict.status_code == 409
    answer = conflict.json()
    assert answer["code"] == "receipt_conflict"
    assert answer["conflicts"][0]["stored"]["units"] == 40
    assert answer["conflicts"][0]["sent"]["units"] == 41
    assert InboundReceipt.objects.get(pk=stored.pk).units == 40


def test_a_receipt_without_an_offset_is_read_in_the_tenants_zone(tenant):
    body = {"reference": "ASN-8", "received_at": "2026-11-01T00:30:00", "units": 1}
    assert post(RECEIPTS_URL, body, key(tenant)).status_code == 201
    stored = InboundReceipt.objects.get(reference="ASN-8")
    assert stored.received_at == datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert stored.cartons == 0


def test_a_batch_with_one_conflict_writes_nothing(tenant):
    auth = key(tenant)
    receipt(tenant, "ASN-1", datetime(2026, 11, 5, 10, tzinfo=UTC), 100)
    batch = {
        "receipts": [
            {"reference": "ASN-2", "received_at": "2026-11-06T10:00:00Z", "units": 5},
            {"reference": "ASN-1", "received_at": "2026-11-05T10:00:00Z", "units": 99},
        ]
    }
    response = post(RECEIPTS_URL, batch, auth)
    assert response.status_code == 409
    assert [c["reference"] for c in response.json()["conflicts"]] == ["ASN-1"]
    assert not InboundReceipt.objects.filter(reference="ASN-2").exists()

    batch["receipts"][1].update(units=100, cartons=1)  # the stored facts: a duplicate
    response = post(RECEIPTS_URL, batch, auth)
    assert response.status_code == 201
    assert [(r["reference"], r["status"]) for r in response.json()["results"]] == [
        ("ASN-2", "created"),
        ("ASN-1", "duplicate"),
    ]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"received_at": "2026-11-05T10:00:00Z", "units": 1}, {"reference"}),
        ({"reference": "A", "units": 1}, {"received_at"}),
        ({"reference": "A", "received_at": "2026-11-05T10:00:00Z"}, {"units"}),
        ({"reference": "A", "received_at": "2026-11-05T10:00:00Z", "units": -1}, {"units"}),
        (
            {"reference": "A", "received_at": "2026-11-05T10:00:00Z", "units": 1, "cartons": -2},
            {"cartons"},
        ),
        ({"reference": "A", "received_at": "5 Nov 2026", "units": 1}, {"received_at"}),
        ({"reference": "A", "received_at": "2099-11-05T10:00:00Z", "units": 1}, {"received_at"}),
        ({"reference": "", "received_at": "2026-11-05T10:00:00Z", "units": 1}, {"reference"}),
        ({"receipts": []}, {"receipts"}),
    ],
)
def test_receipt_bad_input_is_a_400(tenant, body, errors):
    response = post(RECEIPTS_URL, body, key(tenant))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == errors
    assert not InboundReceipt.objects.exists()


def test_a_batch_names_its_bad_receipt_by_position(tenant):
    batch = {
        "receipts": [
            {"reference": "A", "received_at": "2026-11-05T10:00:00Z", "units": 1},
            {"reference": "B", "received_at": "2026-11-05T10:00:00Z", "units": -5},
            {"reference": "A", "received_at": "2026-11-05T10:00:00Z", "units": 2},
        ]
    }
    response = post(RECEIPTS_URL, batch, key(tenant))
    assert response.status_code == 400
    assert set(response.json()["errors"]["receipts"]) == {"1"}
    batch["receipts"][1]["units"] = 5
    response = post(RECEIPTS_URL, batch, key(tenant))  # "A" twice, different facts
    assert response.status_code == 400
    assert "earlier in this batch" in response.json()["errors"]["receipts"]["2"]["reference"][0]
    assert not InboundReceipt.objects.exists()


def test_receipts_need_the_ingest_scope_and_the_keys_tenant(tenant):
    body = {"reference": "A", "received_at": "2026-11-05T10:00:00Z", "units": 1}
    response = post(RECEIPTS_URL, body, key(tenant, scopes=[ApiKeyScope.READ]))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    other = TenantFactory(slug="acme")
    response = post(RECEIPTS_URL, dict(body, tenant=other.slug), key(tenant))
    assert response.status_code == 403
    assert not InboundReceipt.objects.exists()


# ------------------------------------------------------------------- recurring


def test_recurring_fees_by_the_version_in_force_at_the_months_end(tenant):
    assert month_lines(draft(tenant)) == {
        LineKind.MONTHLY_MINIMUM: ("Top-up to the monthly minimum", 10_000)
    }
    Tariff.objects.filter(tenant=tenant).update(
        account_fee_cents=5_000, support_fee_cents=2_000, priced_at=None
    )

    invoice = draft(tenant)

    assert month_lines(invoice) == {
        LineKind.ACCOUNT_FEE: ("Account fee, November 2026", 5_000),
        LineKind.SUPPORT_FEE: ("Support fee, November 2026", 2_000),
        LineKind.MONTHLY_MINIMUM: ("Top-up to the monthly minimum", 3_000),
    }
    assert invoice.other_fees_cents == 7_000
    assert invoice.total_cents == 10_000


def test_default_tariff_has_the_rest_of_the_rate_sheet(tenant):
    tariff = tariff_ensure_default(tenant=tenant)
    assert (
        tariff.storage_unit_day_cents,
        tariff.storage_aged_after_days,
        tariff.storage_aged_multiplier,
        tariff.receiving_per_receipt_cents,
        tariff.receiving_per_unit_cents,
        tariff.account_fee_cents,
        tariff.support_fee_cents,
        tariff.late_fee_cents,
    ) == (5, 90, 2, 2_500, 10, 0, 0, 2_500)


# ------------------------------------------------------------------- import_storage


def write_csv(tmp_path, text: str):
    path = tmp_path / "stock.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_storage_replaces_each_day_in_the_file(tenant, tmp_path, capsys):
    stock(tenant, [date(2026, 11, 3)], "OLD", date(2026, 8, 1), 9)
    path = write_csv(
        tmp_path,
        "sku,day,units,received_on,location\n"  # any order; extra columns ignored
        "A,2026-11-03,10,2026-08-01,A-01\n"
        "A,2026-11-03,5,2026-08-01,A-02\n"
        "B,2026-11-04,4,2026-11-02,B-01\n",
    )
    call_command("import_storage", "demo-3pl", str(path))
    out = capsys.readouterr().out
    assert "2 day(s), 2026-11-03 to 2026-11-04" in out
    assert "19 units" in out
    assert "1 day(s) replaced" in out
    rows = {(s.day.day, s.sku): s.units for s in StorageSnapshot.objects.filter(tenant=tenant)}
    assert rows == {(3, "A"): 15, (4, "B"): 4}


def test_import_storage_reports_every_bad_row_and_writes_nothing(tenant, tmp_path):
    path = write_csv(
        tmp_path,
        "day,sku,units,received_on\n"
        "2026-11-03,A,10,2026-08-01\n"
        "2026-11-03,B,-1,2026-08-01\n"
        "2026-11-03,C,1,2026-11-04\n"
        "2026-11-31,D,1,2026-08-01\n"
        "2026-11-03,,1,2026-08-01\n"
        "2026-11-03,E,,2026-08-01\n",
    )
    with pytest.raises(CommandError) as failure:
        call_command("import_storage", "demo-3pl", str(path))
    message = str(failure.value)
    assert "5 invalid row(s)" in message and "nothing was imported" in message
    for line in ("row 3: units", "row 4: received_on", "row 5: day", "row 6: sku", "row 7: units"):
        assert line in message
    assert "row 2" not in message
    assert not StorageSnapshot.objects.exists()


def test_import_storage_refusals(tenant, tmp_path):
    good = write_csv(tmp_path, "day,sku,units,received_on\n2026-11-03,A,1,2026-08-01\n")
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("import_storage", "nobody", str(good))
    with pytest.raises(CommandError, match="No file"):
        call_command("import_storage", "demo-3pl", str(tmp_path / "missing.csv"))
    no_units = tmp_path / "header.csv"
    no_units.write_text("day,sku,received_on\n2026-11-03,A,2026-08-01\n", encoding="utf-8")
    with pytest.raises(CommandError, match="missing: units"):
        call_command("import_storage", "demo-3pl", str(no_units))
    assert not StorageSnapshot.objects.exists()


def test_storage_and_receipts_after_an_issued_november_are_not_billed_twice(tenant):
    order_with(tenant, "#1", [("ship_label_printed", datetime(2026, 11, 3, 9, tzinfo=UTC))])
    issued = invoice_issue(invoice=draft(tenant), by="fin", now=AFTER_NOVEMBER)
    receipt(tenant, "LATE", datetime(2026, 11, 30, 9, tzinfo=UTC), 10)
    assert invoice_refresh(tenant=tenant, period=NOVEMBER).refreshed is False
    issued.refresh_from_db()
    assert issued.total_cents == 10_000
    assert LineKind.RECEIVING not in month_lines(issued)
    assert timedelta(0) <= AFTER_NOVEMBER - issued.issued_at
