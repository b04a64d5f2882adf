"""Issued invoices are validated, never edited: adjustments, late fees, credit notes and
the nightly issue, worked by hand.

The tenant (Europe/Berlin) bills on the default rate sheet without a monthly
minimum, so each figure is the orders' own: an order picked, packed and labelled
costs 30 + 20 + 15 = 65 cents; one picked and labelled only, 30 + 15 = 45, raised
to the 50-cent order minimum.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from billing.leaks import revenue_leaks
from billing.models import (
    AUTO_DECIDER,
    AdjustmentKind,
    AdjustmentStatus,
    BillingState,
    CreditNote,
    Invoice,
    InvoiceAdjustment,
    InvoiceStatus,
    LineKind,
)
from billing.nightly import billing_nightly
from billing.services import (
    AdjustmentNotOpen,
    adjustment_decide,
    invoice_issue,
    invoice_mark_paid,
    invoice_refresh,
    invoice_void,
)
from billing.tariffs import tariff_ensure_default
from billing.validation import invoice_validate
from orders.models import Order, OrderEvent
from tests.billing_helpers import logged_in, order_with, shipped_on
from tests.concurrency import at_once
from tests.factories import TenantFactory, api_key_for

pytestmark = pytest.mark.django_db

OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
ISSUE_DAY = datetime(2026, 11, 2, 9, tzinfo=UTC)  # due 2 December


def at(day: int, month: int = 10, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def shipped(day: int, month: int = 10) -> list[tuple[str, datetime]]:
    return shipped_on(day, month)


@pytest.fixture
def tenant():
    tenant = TenantFactory(slug="demo-3pl", timezone="Europe/Berlin")
    tariff = tariff_ensure_default(tenant=tenant)
    tariff.monthly_minimum_cents = 0
    tariff.save()
    return tenant


@pytest.fixture
def october_issued(tenant) -> Invoice:
    """#1 and #2 shipped; #3 picked and labelled, its pack scan not received yet."""
    order_with(tenant, "#1", shipped(5))
    order_with(tenant, "#2", shipped(6))
    order_with(tenant, "#3", [("pick_completed", at(20)), ("ship_label_printed", at(20, 10, 12))])
    draft = invoice_refresh(tenant=tenant, period=OCTOBER).invoice
    issued = invoice_issue(invoice=draft, by="fin", now=ISSUE_DAY)
    assert issued.total_cents == 65 + 65 + 50
    return issued


def late_pack_of_order_3(tenant) -> OrderEvent:
    """The WMS delivers #3's pack scan of 20 October (11:00 in Berlin) in November."""
    order = tenant.orders.get(external_id="#3")
    return OrderEvent.objects.create(
        tenant=tenant,
        order=order,
        source="wms",
        event_type="pack_completed",
        event_id="evt-889",
        occurred_at=at(20, 10, 9),
        channel="event",
        payload={},
    )


def test_a_validation_that_finds_nothing_proposes_nothing(october_issued):
    result = invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=1))
    assert (result.proposed, result.withdrawn, result.approved) == (0, 0, 0)
    assert not InvoiceAdjustment.objects.exists()


def test_a_late_pack_fee_becomes_a_proposed_correction_and_the_invoice_stays(
    tenant, october_issued
):
    late_pack_of_order_3(tenant)

    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=1))

    [adjustment] = InvoiceAdjustment.objects.all()
    # 45 raised to 50 before; 65 now: 15 more.
    assert (adjustment.kind, adjustment.key, adjustment.amount_cents) == (
        AdjustmentKind.CORRECTION,
        f"order:{tenant.orders.get(external_id='#3').pk}",
        15,
    )
    assert adjustment.status == AdjustmentStatus.PROPOSED
    assert adjustment.rationale == (
        "pack fee missing for order #3: pack_completed evt-889 at 2026-10-20 11:00"
    )
    october_issued.refresh_from_db()
    assert october_issued.total_cents == 180  # never edited
    assert october_issued.lines.get(order__external_id="#3").amount_cents == 50

    # The next night finds the same difference: the proposal is not doubled.
    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=2))
    assert InvoiceAdjustment.objects.count() == 1


def test_an_approved_correction_is_carried_by_the_next_draft_and_settled_at_its_issue(
    tenant, october_issued
):
    late_pack_of_order_3(tenant)
    order_with(tenant, "#4", shipped(3, 11))
    november = invoice_refresh(tenant=tenant, period=NOVEMBER).invoice
    assert november.total_cents == 65
    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=1))
    adjustment = InvoiceAdjustment.objects.get()

    adjustment_decide(adjustment=adjustment, approve=True, by="fin", reason="Scan confirmed")

    november.refresh_from_db()
    assert (november.adjustments_cents, november.total_cents) == (15, 65 + 15)
    line = november.lines.get(kind=LineKind.ADJUSTMENT)
    assert line.adjustment == adjustment and line.amount_cents == 15
    assert line.description == (
        "Correction to DEMO-3PL-2026-0001: pack fee missing for order #3: pack_completed "
        "evt-889 at 2026-10-20 11:00"
    )
    # A refresh of the draft keeps carrying it.
    assert invoice_refresh(tenant=tenant, period=NOVEMBER).invoice.total_cents == 80
    with pytest.raises(AdjustmentNotOpen):
        adjustment_decide(adjustment=adjustment, approve=False, by="fin", reason="changed mind")

    issued = invoice_issue(invoice=november, by="fin", now=datetime(2026, 12, 2, 9, tzinfo=UTC))
    adjustment.refresh_from_db()
    assert adjustment.booked_on == issued
    # Settled: validating October again finds nothing more to propose, and the next
    # draft does not carry it a second time.
    invoice_validate(invoice=october_issued, now=datetime(2026, 12, 3, tzinfo=UTC))
    assert InvoiceAdjustment.objects.count() == 1
    order_with(tenant, "#5", shipped(3, 12))
    december = invoice_refresh(tenant=tenant, period=DECEMBER).invoice
    assert (december.adjustments_cents, december.total_cents) == (0, 65)


def test_a_rejected_difference_is_not_proposed_again_until_it_changes(tenant, october_issued):
    late_pack_of_order_3(tenant)
    invoice_validate(invoice=october_issued, now=ISSUE_DAY)
    first = InvoiceAdjustment.objects.get()
    adjustment_decide(adjustment=first, approve=False, by="fin", reason="Packed in November")

    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=1))
    assert InvoiceAdjustment.objects.count() == 1

    # #3 turns out to have been kitted in October too: 50 more, a new revision.
    OrderEvent.objects.create(
        tenant=tenant,
        order=tenant.orders.get(external_id="#3"),
        source="wms",
        event_type="kitting_completed",
        event_id="evt-900",
        occurred_at=at(20, 10, 8),
        channel="event",
        payload={},
    )
    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=2))
    second = InvoiceAdjustment.objects.get(revision=2)
    assert (second.status, second.amount_cents) == (AdjustmentStatus.PROPOSED, 15 + 50)


def test_a_proposal_whose_difference_goes_away_is_withdrawn(tenant, october_issued):
    pack = late_pack_of_order_3(tenant)
    invoice_validate(invoice=october_issued, now=ISSUE_DAY)
    pack.delete()  # e.g. the event was stored for the wrong order and moved

    invoice_validate(invoice=october_issued, now=ISSUE_DAY + timedelta(days=1))

    assert InvoiceAdjustment.objects.get().status == AdjustmentStatus.WITHDRAWN


def test_an_invoice_unpaid_30_days_after_its_due_date_gets_the_late_fee_once(
    tenant, october_issued
):
    order_with(tenant, "#4", shipped(3, 12))
    invoice_refresh(tenant=tenant, period=NOVEMBER)  # empty November, issued below
    due_plus_30 = datetime(2027, 1, 1, 12, tzinfo=UTC)  # due 2 Dec + 30 days

    assert invoice_validate(invoice=october_issued, now=due_plus_30).approved == 0
    result = invoice_validate(invoice=october_issued, now=due_plus_30 + timedelta(days=1))
    again = invoice_validate(invoice=october_issued, now=due_plus_30 + timedelta(days=2))

    assert (result.approved, again.approved) == (1, 0)
    fee = InvoiceAdjustment.objects.get(kind=AdjustmentKind.LATE_FEE)
    assert (fee.amount_cents, fee.status, fee.decided_by) == (
        2500,
        AdjustmentStatus.APPROVED,
        AUTO_DECIDER,
    )
    assert fee.rationale == ("DEMO-3PL-2026-0001 was due 02 Dec 2026 and is unpaid 31 days later")


def test_a_paid_invoice_is_not_validated(tenant, october_issued):
    invoice_mark_paid(invoice=october_issued, by="fin")
    late_pack_of_order_3(tenant)
    invoice_validate(invoice=october_issued, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert not InvoiceAdjustment.objects.exists()


def test_voiding_an_issued_invoice_issues_a_credit_note_that_cites_it(tenant, october_issued):
    invoice_void(invoice=october_issued, by="fin", reason="Billed to the wrong merchant")

    note = CreditNote.objects.get()
    assert (note.invoice, note.number, note.amount_cents) == (
        october_issued,
        "DEMO-3PL-2026-0001-CN",
        -180,
    )
    assert note.reason == "Billed to the wrong merchant" and note.issued_by == "fin"
    # A draft is voided without one.
    order_with(tenant, "#4", shipped(3, 11))
    invoice_void(
        invoice=invoice_refresh(tenant=tenant, period=NOVEMBER).invoice, by="fin", reason="test"
    )
    assert CreditNote.objects.count() == 1


def berlin(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour - 1, minute, tzinfo=UTC)  # CET is UTC+1


def test_the_nightly_job_issues_last_month_on_the_first_when_nothing_awaits(tenant):
    order_with(tenant, "#1", shipped(30, 11))
    billing_nightly(now=berlin(30, 3, month=11))  # November's draft, as every night

    billing_nightly(now=berlin(1, 2, 10))

    november = Invoice.objects.get(tenant=tenant, period=NOVEMBER)
    assert (november.status, november.number, november.issued_by) == (
        InvoiceStatus.ISSUED,
        "DEMO-3PL-2026-0001",
        "nightly billing",
    )


def test_the_nightly_job_leaves_last_month_to_finance_when_something_awaits_or_it_is_off(
    tenant, october_issued
):
    order_with(tenant, "#4", shipped(30, 11))
    billing_nightly(now=berlin(30, 3, month=11))
    late_pack_of_order_3(tenant)  # October's validation will propose a correction

    billing_nightly(now=berlin(1, 2, 10))
    assert Invoice.objects.get(tenant=tenant, period=NOVEMBER).status == InvoiceStatus.DRAFT
    assert InvoiceAdjustment.objects.get().status == AdjustmentStatus.PROPOSED

    adjustment_decide(
        adjustment=InvoiceAdjustment.objects.get(), approve=True, by="fin", reason="ok"
    )
    BillingState.objects.filter(tenant=tenant).update(auto_issue=False)
    billing_nightly(now=berlin(2, 2, 10))
    assert Invoice.objects.get(tenant=tenant, period=NOVEMBER).status == InvoiceStatus.DRAFT

    BillingState.objects.filter(tenant=tenant).update(auto_issue=True)
    billing_nightly(now=berlin(3, 2, 10))
    november = Invoice.objects.get(tenant=tenant, period=NOVEMBER)
    assert november.status == InvoiceStatus.ISSUED
    assert november.total_cents == 65 + 15  # it carried the approved correction


def test_validate_invoices_reports_each_issued_invoice(tenant, october_issued, capsys):
    late_pack_of_order_3(tenant)

    call_command("validate_invoices", "--tenant", "demo-3pl")

    out = capsys.readouterr().out
    assert "DEMO-3PL-2026-0001: 1 proposed adjustment(s)" in out
    assert "0.15 USD  pack fee missing for order #3: pack_completed evt-889" in out
    assert "1 issued invoice(s) validated." in out


def test_finance_decides_an_adjustment_in_the_console_and_a_viewer_cannot(tenant, october_issued):
    late_pack_of_order_3(tenant)
    invoice_validate(invoice=october_issued, now=ISSUE_DAY)
    adjustment = InvoiceAdjustment.objects.get()
    url = "/admin/billing/invoiceadjustment/"
    action = {"action": "approve_selected", "_selected_action": [adjustment.pk]}

    viewer = logged_in("viewer", tenant)
    assert viewer.get(url).status_code == 403

    finance = logged_in("finance", tenant)
    listing = finance.get(url, {"status__exact": "proposed"})
    assert b"pack fee missing for order #3" in listing.content
    assert b"0.15 USD" in listing.content
    confirm = finance.post(url, action)
    assert b"Correction to DEMO-3PL-2026-0001" in confirm.content
    finance.post(url, {**action, "apply": "1", "reason": "Pack scan confirmed"})

    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decided_by, adjustment.decision_reason) == (
        AdjustmentStatus.APPROVED,
        "finance-user",
        "Pack scan confirmed",
    )


def test_the_revenue_leak_list_shows_shipped_orders_without_pick_or_pack_evidence(tenant, client):
    shipped_at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    for external_id, scans in (
        ("#ok", {"picked_at": shipped_at, "packed_at": shipped_at}),
        ("#no-pick", {"packed_at": shipped_at}),
        ("#no-scans", {}),
    ):
        Order.objects.create(
            tenant=tenant,
            external_id=external_id,
            source="wms",
            shipped_at=shipped_at - timedelta(days=30 if external_id == "#no-scans" else 0),
            **scans,
        )
    Order.objects.create(tenant=tenant, external_id="#not-shipped", source="wms")

    rows = revenue_leaks(tenants=[tenant])
    assert [(o.external_id, o.missing) for o in rows] == [
        ("#no-pick", "pick"),
        ("#no-scans", "pick and pack"),
    ]
    in_november = revenue_leaks(tenants=[tenant], period=NOVEMBER)
    assert [o.external_id for o in in_november] == ["#no-pick"]

    finance = logged_in("finance", tenant)
    page = finance.get("/admin/billing/revenueleak/", {"missing": "pack"})
    assert b"#no-scans" in page.content and b"#no-pick" not in page.content

    key = api_key_for(tenant, scopes=["finance"])
    answer = client.get(
        "/api/billing/leaks", {"period": "2026-11"}, HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 1
    assert body["results"][0]["order_id"] == "#no-pick"
    assert body["results"][0]["missing"] == "pick"
    assert (
        client.get(
            "/api/billing/leaks", {"period": "November"}, HTTP_AUTHORIZATION=f"Bearer {key}"
        ).status_code
        == 400
    )
    ingest_only = api_key_for(tenant, scopes=["ingest"])
    refused = client.get("/api/billing/leaks", HTTP_AUTHORIZATION=f"Bearer {ingest_only}")
    assert refused.status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_validating_one_invoice_at_once_propose_once(tenant):
    order_with(tenant, "#3", [("pick_completed", at(20)), ("ship_label_printed", at(20, 10, 12))])
    october = invoice_issue(
        invoice=invoice_refresh(tenant=tenant, period=OCTOBER).invoice, by="fin", now=ISSUE_DAY
    )
    late_pack_of_order_3(tenant)

    at_once(lambda: invoice_validate(invoice=october, now=ISSUE_DAY), threads=2)

    [adjustment] = InvoiceAdjustment.objects.all()
    assert (adjustment.amount_cents, adjustment.revision) == (15, 1)


def test_a_nightly_run_that_dies_half_way_leaves_the_night_to_the_next_run(tenant, monkeypatch):
    """A worker killed while refreshing must not have used up the tenant's night: the
    claim commits with the work, so the redelivered run does the night in full."""
    import billing.nightly

    order_with(tenant, "#1", shipped(30, 11))
    refresh = billing.nightly.invoice_refresh

    def dies(**kwargs):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(billing.nightly, "invoice_refresh", dies)
    with pytest.raises(RuntimeError):
        billing_nightly(now=berlin(30, 3, month=11))
    assert not BillingState.objects.filter(tenant=tenant, last_run_on__isnull=False).exists()
    assert not Invoice.objects.filter(tenant=tenant, period=NOVEMBER).exists()

    monkeypatch.setattr(billing.nightly, "invoice_refresh", refresh)
    assert len(billing_nightly(now=berlin(30, 3, month=11))) == 1
    assert Invoice.objects.get(tenant=tenant, period=NOVEMBER).lines.count() == 1
    assert billing_nightly(now=berlin(30, 4, month=11)) == []  # the night is done: once
