"""The invoice API: what Finance and an accounting system's key see of a month's invoice.

Two tenants each have a November draft built by `invoice_refresh` from stored
events; north also has an October invoice that was issued. Prices are the
default rate sheet (fixtures/default_tariff.yaml): pick 30¢, pack 20¢, label 15¢,
a $100 monthly minimum.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.api.exports import CSV_COLUMNS, NO_TAX_SENTENCE, invoice_csv
from billing.models import Invoice, InvoiceStatus, LineKind
from billing.services import invoice_issue, invoice_refresh
from orders.models import OrderEvent, Tenant
from orders.scopes import ApiKeyScope
from orders.services.staff import staff_user_save

from .billing_helpers import order_with, orders_with
from .factories import TenantFactory, api_key_for

pytestmark = pytest.mark.django_db

NOVEMBER, OCTOBER = date(2026, 11, 1), date(2026, 10, 1)
FINANCE = [ApiKeyScope.FINANCE]


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def shipped(month: int, day: int, *, label_source: str = "wms") -> list[tuple]:
    return [
        ("pick_completed", at(month, day, 9)),
        ("pack_completed", at(month, day, 10)),
        ("ship_label_printed", at(month, day, 11), label_source),
    ]


def month_of(tenant: Tenant, month: int, *external_ids: str) -> Invoice:
    for n, external_id in enumerate(external_ids, start=1):
        order_with(tenant, external_id, shipped(month, n))
    return invoice_refresh(tenant=tenant, period=date(2026, month, 1)).invoice


@pytest.fixture
def north() -> Tenant:
    return TenantFactory(slug="north", name="North Outfitters")


@pytest.fixture
def south() -> Tenant:
    return TenantFactory(slug="south", name="South Supplies")


@pytest.fixture
def november(north: Tenant) -> Invoice:
    # #1002's label is reported by the WMS and by the carrier: billed once, both cited.
    order_with(north, "#1001", shipped(11, 3))
    order_with(
        north,
        "#1002",
        [*shipped(11, 4), ("label_created", at(11, 4, 12), "carrier")],
    )
    order_with(north, "=1+1", shipped(11, 5))  # a sender's id a spreadsheet would run
    return invoice_refresh(tenant=north, period=NOVEMBER).invoice


@pytest.fixture
def october(north: Tenant) -> Invoice:
    draft = month_of(north, 10, "#0901")
    return invoice_issue(invoice=draft, by="test", now=at(12, 2, 9))


@pytest.fixture
def theirs(south: Tenant) -> Invoice:
    return month_of(south, 11, "#1001")


@pytest.fixture
def key(north: Tenant) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(north, scopes=FINANCE)}"}


def session(role: str, *tenants: Tenant) -> Client:
    user = staff_user_save(
        username=f"{role}-user", role=role, tenant_slugs=[t.slug for t in tenants]
    ).user
    browser = Client()
    browser.force_login(user)
    return browser


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


def urls(invoice: Invoice) -> list[str]:
    base = f"/api/invoices/{invoice.pk}"
    return [base, f"{base}/export.csv", f"{base}/print"]


# ------------------------------------------------------------------------------ list


def test_the_list_shows_the_keys_tenant_newest_month_first(client, key, november, october, theirs):
    body = client.get("/api/invoices", **key).json()

    assert body["count"] == 2
    assert [(i["period"], i["status"], i["number"]) for i in body["results"]] == [
        ("2026-11", "draft", None),
        ("2026-10", "issued", "NORTH-2026-0001"),
    ]
    first = body["results"][0]
    assert first["tenant"] == "north"
    assert (first["order_count"], first["total_cents"], first["currency"]) == (3, 10_000, "USD")
    assert first["total_formatted"] == "100.00 USD"
    assert first["csv_url"].endswith(f"/api/invoices/{november.pk}/export.csv")
    assert body["results"][1]["due_on"] == "2027-01-01"  # issued 2 Dec, 30 days


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"period": "2026-11"}, ["2026-11"]),
        ({"period": "2026-10"}, ["2026-10"]),
        ({"period": "2026-09"}, []),
        ({"status": "issued"}, ["2026-10"]),
        ({"status": "draft", "period": "2026-11"}, ["2026-11"]),
        ({"status": "paid"}, []),
        ({"tenant": "north"}, ["2026-11", "2026-10"]),
        ({"tenant": "south"}, []),  # a key never sees another tenant's, even by name
    ],
)
def test_the_list_filters(client, key, november, october, theirs, query, expected):
    body = client.get("/api/invoices", query, **key).json()
    assert [i["period"] for i in body["results"]] == expected


def test_the_list_is_paginated(client, key, november, october):
    first = client.get("/api/invoices", {"limit": 1}, **key).json()
    assert (first["count"], len(first["results"])) == (2, 1)
    second = client.get(first["next"], **key).json()
    assert second["results"][0]["period"] == "2026-10"
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "November"}, "period"),
        ({"period": "2026-11-01"}, "period"),
        ({"period": "\x00"}, "period"),
        ({"status": "open"}, "status"),
        ({"status": "DRAFT"}, "status"),
        ({"tenant": "no slug!"}, "tenant"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_query_values_are_a_400_naming_the_field(client, key, november, query, field):
    response = client.get("/api/invoices", query, **key)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]


def test_a_bad_period_says_how_to_write_one(client, key):
    body = client.get("/api/invoices", {"period": "11/2026"}, **key).json()
    assert body["errors"]["period"] == [
        "'11/2026' is not a month; write it as YYYY-MM, e.g. 2026-11."
    ]


# ---------------------------------------------------------------------------- detail


def test_the_detail_has_the_totals_and_each_line_cites_its_events(client, key, november):
    body = client.get(f"/api/invoices/{november.pk}", **key).json()

    assert (body["status"], body["number"], body["due_on"]) == ("draft", None, None)
    assert (body["orders_cents"], body["minimum_topup_cents"], body["total_cents"]) == (
        195,
        9_805,
        10_000,
    )
    assert body["no_tax"] is True
    assert [(m["kind"], m["amount_cents"]) for m in body["month_lines"]] == [
        (LineKind.MONTHLY_MINIMUM, 9_805)
    ]
    lines = body["lines"]
    assert (lines["count"], lines["next"], lines["previous"]) == (3, None, None)
    by_order = {line["order"]["external_id"]: line for line in lines["results"]}
    assert set(by_order) == {"#1001", "#1002", "=1+1"}

    line = by_order["#1002"]
    assert line["order"]["id"] == november.lines.get(order__external_id="#1002").order_id
    assert (line["pick_cents"], line["pack_cents"], line["label_cents"]) == (30, 20, 15)
    assert line["amount_cents"] == 65
    evidence = {e["operation"]: e for e in line["evidence"]}
    assert list(evidence) == ["pick", "pack", "label"]
    assert evidence["pick"]["at"] == "2026-11-04T09:00:00Z"
    labels = evidence["label"]["events"]
    stored = {e.event_type: e for e in OrderEvent.objects.filter(order__external_id="#1002")}
    assert [(e["event_type"], e["source"]) for e in labels] == [
        ("ship_label_printed", "wms"),
        ("label_created", "carrier"),
    ]
    assert labels[0] == {
        "id": stored["ship_label_printed"].pk,
        "event_type": "ship_label_printed",
        "event_id": stored["ship_label_printed"].event_id,
        "source": "wms",
        "occurred_at": "2026-11-04T11:00:00Z",
    }
    assert evidence["label"]["at"] == "2026-11-04T11:00:00Z"  # the first evidence bills it


def test_the_detail_pages_its_order_lines_and_says_where_the_rest_are(client, key, november):
    first = client.get(f"/api/invoices/{november.pk}", {"limit": 2}, **key).json()

    assert (first["lines"]["count"], len(first["lines"]["results"])) == (3, 2)
    assert first["lines"]["previous"] is None
    assert first["csv_url"].endswith(f"/api/invoices/{november.pk}/export.csv")
    second = client.get(first["lines"]["next"], **key).json()
    assert len(second["lines"]["results"]) == 1
    assert second["lines"]["next"] is None
    assert "offset" not in second["lines"]["previous"]
    seen = [line["id"] for page in (first, second) for line in page["lines"]["results"]]
    assert len(set(seen)) == 3
    # The month lines and totals are on every page.
    assert second["total_cents"] == first["total_cents"] == 10_000
    assert len(second["month_lines"]) == 1


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"offset": "x"}])
def test_bad_line_paging_is_a_400(client, key, november, query):
    assert client.get(f"/api/invoices/{november.pk}", query, **key).status_code == 400


def test_the_detail_reads_the_same_few_queries_whatever_the_page_size(client, key, north):
    invoice = month_of(north, 11, *(f"#{n}" for n in range(12)))
    path = f"/api/invoices/{invoice.pk}"
    client.get(path, **key)  # the key is cached from here on

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path, {"limit": limit}, **key).status_code == 200
        return len(captured)

    assert queries(2) == queries(12)


def test_a_lines_handling_flags_come_as_a_list(client, key, north):
    order_with(north, "#rush", shipped(11, 3), handling=["rush", "gift_wrap"])
    invoice = invoice_refresh(tenant=north, period=NOVEMBER).invoice

    line = client.get(f"/api/invoices/{invoice.pk}", **key).json()["lines"]["results"][0]
    assert line["handling"] == ["gift_wrap", "rush"]
    # 65¢ of operations, rush ×2 adds 65¢, gift wrap $1 after the multiplier.
    assert (line["handling_cents"], line["gift_wrap_cents"], line["amount_cents"]) == (65, 100, 230)
    assert line["multiplier"] == "2.00000000"
    rows = csv.DictReader(
        io.StringIO(streamed(client.get(f"/api/invoices/{invoice.pk}/export.csv", **key)))
    )
    assert next(rows)["handling"] == "gift_wrap rush"


# ------------------------------------------------------------------------------- CSV


def test_the_csv_has_a_header_and_a_row_per_line_with_its_evidence(client, key, november):
    response = client.get(f"/api/invoices/{november.pk}/export.csv", **key)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="north-2026-11-draft.csv"'
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["kind"] for r in rows] == ["order"] * 3 + [LineKind.MONTHLY_MINIMUM]
    assert sum(int(r["amount_cents"]) for r in rows) == november.total_cents
    row = next(r for r in rows if r["order_external_id"] == "#1002")
    events = {e.event_type: e for e in OrderEvent.objects.filter(order__external_id="#1002")}
    assert row["label_event_ids"] == (
        f"{events['ship_label_printed'].pk} {events['label_created'].pk}"
    )
    assert row["label_sender_event_ids"].splitlines() == [
        events["ship_label_printed"].event_id,
        events["label_created"].event_id,
    ]
    assert row["pick_at"] == "2026-11-04T09:00:00+00:00"
    assert (row["amount_cents"], row["amount"], row["currency"]) == ("65", "0.65", "USD")
    # A sender's id that starts like a formula is written as text.
    assert any(r["order_external_id"] == "'=1+1" for r in rows)


def test_an_issued_invoices_csv_is_named_by_its_number(client, key, october):
    response = client.get(f"/api/invoices/{october.pk}/export.csv", **key)
    assert response["Content-Disposition"] == 'attachment; filename="NORTH-2026-0001.csv"'
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert {r["invoice_number"] for r in rows} == {"NORTH-2026-0001"}


def test_the_csv_is_read_in_batches_not_line_by_line(north):
    """Flat memory for a million lines: a batch of lines and its events at a time."""
    invoice = month_of(north, 11, *(f"#{n}" for n in range(7)))
    lines = invoice.lines.count()  # 7 orders and the monthly top-up

    with CaptureQueriesContext(connection) as captured:
        chunks = list(invoice_csv(invoice, batch_size=3))

    assert len(chunks) == 1 + math.ceil(lines / 3)  # the header, then one chunk per batch
    # The month lines, the order lines (one cursor), one events query per batch.
    assert len(captured) == 2 + math.ceil(lines / 3)
    assert sum(chunk.count("\r\n") for chunk in chunks) == 1 + lines


# ------------------------------------------------------------------------ print page


def test_the_print_page_of_a_draft(client, key, november):
    response = client.get(f"/api/invoices/{november.pk}/print", **key)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = streamed(response)
    assert "<title>Invoice DRAFT · North Outfitters · November 2026</title>" in page
    assert "set when issued" in page  # no due date yet
    for external_id in ("#1001", "#1002", "=1+1"):
        assert f"<td>{external_id}</td>" in page
    assert '<td class="num">0.30</td><td class="num">0.20</td><td class="num">0.15</td>' in page
    assert "&lt;" not in page  # the cells are markup, not escaped text
    assert '<td>Top-up to the monthly minimum</td><td class="num">98.05 USD</td>' in page
    assert "1.95 USD" in page  # the orders
    assert '<td class="num">100.00 USD</td>' in page
    assert NO_TAX_SENTENCE in page
    # Self-contained: nothing to fetch from elsewhere.
    assert "<script" not in page and "<link" not in page and "http" not in page


def test_the_print_page_of_an_issued_invoice(client, key, october):
    page = streamed(client.get(f"/api/invoices/{october.pk}/print", **key))
    assert "Invoice NORTH-2026-0001" in page
    assert "October 2026" in page
    assert "01 Jan 2027" in page  # due
    assert "DRAFT" not in page


def test_the_print_page_shows_the_volume_discount_among_the_months_lines(client, key, north):
    orders_with(north, 100, shipped(11, 3), handling=["hazmat"])  # 100 × 195¢
    invoice = invoice_refresh(tenant=north, period=NOVEMBER).invoice

    page = streamed(client.get(f"/api/invoices/{invoice.pk}/print", **key))
    assert "Orders (100)" in page and "195.00 USD" in page
    assert "Volume discount 5.00% for 100 orders" in page and "-9.75 USD" in page
    assert "185.25 USD" in page  # the total
    assert "monthly minimum" not in page


def test_the_print_page_escapes_what_senders_wrote(client, key, north):
    invoice = month_of(north, 11, "<b>#1</b>")
    page = streamed(client.get(f"/api/invoices/{invoice.pk}/print", **key))
    assert "&lt;b&gt;#1&lt;/b&gt;" in page and "<b>#1" not in page


# ---------------------------------------------------------------------------- access


@pytest.mark.parametrize("scope", [s for s in ApiKeyScope if s != ApiKeyScope.FINANCE])
def test_a_key_without_the_finance_scope_is_refused(client, north, november, scope):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key_for(north, scopes=[scope])}"}
    for path in ["/api/invoices", *urls(november)]:
        response = client.get(path, **auth)
        assert response.status_code == 403, path
        assert response.json()["required_scope"] == "finance"


def test_another_tenants_invoice_is_not_found(client, key, theirs):
    for path in urls(theirs):
        response = client.get(path, **key)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"] == "No such invoice for this tenant."
    assert client.get("/api/invoices/999999", **key).status_code == 404


def test_a_key_naming_another_tenant_is_refused(client, key, november, south):
    response = client.get("/api/invoices", HTTP_X_TENANT_ID="south", **key)
    assert response.status_code == 403
    assert client.get("/api/invoices", HTTP_X_TENANT_ID="north", **key).status_code == 200


def test_without_credentials_it_is_a_401(client, november):
    for path in ["/api/invoices", *urls(november)]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"] == 'Bearer realm="e2a"'
        assert response.json()["code"] == "not_authenticated"


def test_a_finance_session_reads_its_tenants_invoices(november, theirs):
    browser = session("finance", november.tenant)

    listed = browser.get("/api/invoices").json()
    assert [i["tenant"] for i in listed["results"]] == ["north"]
    for path in urls(november):
        assert browser.get(path).status_code == 200, path
    page = streamed(browser.get(f"/api/invoices/{november.pk}/print"))
    assert "North Outfitters" in page
    for path in urls(theirs):
        assert browser.get(path).status_code == 404, path


def test_a_finance_session_with_two_tenants_narrows_the_list_by_tenant(november, theirs):
    browser = session("finance", november.tenant, theirs.tenant)

    both = browser.get("/api/invoices").json()
    assert sorted(i["tenant"] for i in both["results"]) == ["north", "south"]
    south_only = browser.get("/api/invoices", {"tenant": "south"}).json()
    assert [i["id"] for i in south_only["results"]] == [theirs.pk]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewer_and_operator_sessions_are_forbidden(november, role):
    browser = session(role, november.tenant)
    for path in ["/api/invoices", *urls(november)]:
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "billing.view_invoice" in response.json()["detail"]


def test_an_admin_session_reads_invoices(november):
    assert session("admin", november.tenant).get(urls(november)[0]).status_code == 200


def test_a_superuser_reads_every_tenants_invoices(admin_client, november, theirs):
    body = admin_client.get("/api/invoices", {"period": "2026-11"}).json()
    assert body["count"] == 2
    assert admin_client.get(urls(theirs)[2]).status_code == 200


def test_a_void_invoice_is_listed_by_status(client, key, november):
    Invoice.objects.filter(pk=november.pk).update(
        status=InvoiceStatus.VOID, voided_at=at(12, 1, 9), void_reason="duplicate (test)"
    )
    body = client.get("/api/invoices", {"status": "void"}, **key).json()
    assert [i["id"] for i in body["results"]] == [november.pk]
    page = streamed(client.get(f"/api/invoices/{november.pk}/print", **key))
    assert "Void since 01 December 2026: duplicate (test)" in page


def test_a_document_asked_for_in_a_type_it_is_not_is_a_406(client, key, november):
    response = client.get(f"/api/invoices/{november.pk}/export.csv", HTTP_ACCEPT="image/png", **key)
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"
    ok = client.get(f"/api/invoices/{november.pk}/export.csv", HTTP_ACCEPT="text/csv", **key)
    assert ok.status_code == 200


def test_a_lines_services_come_with_their_evidence_in_the_api_and_the_csv(client, key, north):
    order = order_with(
        north,
        "#served",
        [
            *shipped(11, 3)[:2],
            ("ship_label_printed", at(11, 3, 11), "wms", {"label_cost_cents": 730}),
            ("photo_taken", at(11, 3, 12)),
            ("returned", at(11, 20, 9), "carrier", {"units_returned": 2}),
        ],
    )
    invoice = invoice_refresh(tenant=north, period=NOVEMBER).invoice

    line = client.get(f"/api/invoices/{invoice.pk}", **key).json()["lines"]["results"][0]
    # 65¢ of operations + a 25¢ photo + 75 + 150 + 2 × 25 = 275 for the return + the
    # 7.30 label at cost (no markup by default): 1,095.
    assert (line["photo_cents"], line["return_units"], line["return_cents"]) == (25, 2, 275)
    assert (line["label_cost_cents"], line["label_passthrough_cents"]) == (730, 730)
    assert line["amount_cents"] == 65 + 25 + 275 + 730
    evidence = {item["operation"]: item for item in line["evidence"]}
    returned = OrderEvent.objects.get(order=order, event_type="returned")
    assert [event["id"] for event in evidence["return"]["events"]] == [returned.pk]
    assert [event["event_type"] for event in evidence["label_passthrough"]["events"]] == [
        "ship_label_printed"
    ]
    row = next(
        csv.DictReader(
            io.StringIO(streamed(client.get(f"/api/invoices/{invoice.pk}/export.csv", **key)))
        )
    )
    assert (row["return_cents"], row["label_passthrough_cents"], row["photo_cents"]) == (
        "275",
        "730",
        "25",
    )
    assert row["return_event_ids"] == str(returned.pk)
