"""Invoices through their life: numbers at issue, frozen once issued, paid, voided; the
nightly job; `generate_invoices`; and who may do what in the console."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from billing.models import BillingState, Invoice, InvoiceStatus, LineKind, Tariff
from billing.nightly import billing_nightly
from billing.services import (
    PeriodNotOver,
    VersionExists,
    invoice_issue,
    invoice_mark_paid,
    invoice_refresh,
    invoice_void,
    tariff_new_version,
)
from billing.tariffs import tariff_ensure_default
from billing.transitions import InvoiceTransitionRefused
from tests.billing_helpers import logged_in, order_with
from tests.concurrency import at_once
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
AFTER_NOVEMBER = datetime(2026, 12, 2, 9, tzinfo=UTC)


def shipped(day: int, month: int = 11) -> list[tuple[str, datetime]]:
    at = datetime(2026, month, day, 9, tzinfo=UTC)
    return [
        ("pick_completed", at),
        ("pack_completed", at + timedelta(hours=1)),
        ("ship_label_printed", at + timedelta(hours=2)),
    ]


@pytest.fixture
def tenant():
    return TenantFactory(slug="demo-3pl", timezone="Europe/Berlin")


def draft(tenant, period=NOVEMBER) -> Invoice:
    return invoice_refresh(tenant=tenant, period=period).invoice


def test_issuing_numbers_invoices_gaplessly_per_tenant_and_year(tenant):
    other = TenantFactory(slug="acme")
    order_with(tenant, "#1", shipped(3, 10))
    order_with(tenant, "#2", shipped(3, 11))

    october = invoice_issue(invoice=draft(tenant, OCTOBER), by="fin", now=AFTER_NOVEMBER)
    november = invoice_issue(invoice=draft(tenant, NOVEMBER), by="fin", now=AFTER_NOVEMBER)
    acme = invoice_issue(invoice=draft(other, NOVEMBER), by="fin", now=AFTER_NOVEMBER)

    assert (october.number, november.number) == ("DEMO-3PL-2026-0001", "DEMO-3PL-2026-0002")
    assert acme.number == "ACME-2026-0001"
    assert november.status == InvoiceStatus.ISSUED
    assert november.issued_by == "fin"
    assert november.due_on == date(2026, 12, 2) + timedelta(days=30)


def test_a_month_that_is_not_over_cannot_be_issued(tenant):
    # 1 December 00:30 in Berlin is still 30 November 23:30 UTC: November is over there.
    invoice = draft(tenant)
    with pytest.raises(PeriodNotOver, match="not over"):
        invoice_issue(invoice=invoice, by="fin", now=datetime(2026, 11, 30, 22, 59, tzinfo=UTC))
    issued = invoice_issue(invoice=invoice, by="fin", now=datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    assert issued.number == "DEMO-3PL-2026-0001"


def test_an_issued_invoice_is_never_changed_by_new_evidence(tenant):
    order_with(tenant, "#1", shipped(3))
    issued = invoice_issue(invoice=draft(tenant), by="fin", now=AFTER_NOVEMBER)
    lines_before = list(issued.lines.values_list("kind", "order_id", "amount_cents"))
    order_with(tenant, "#late", shipped(20))

    result = invoice_refresh(tenant=tenant, period=NOVEMBER)

    assert not result.refreshed
    issued.refresh_from_db()
    assert issued.total_cents == 10_000
    assert list(issued.lines.values_list("kind", "order_id", "amount_cents")) == lines_before
    assert Invoice.objects.filter(tenant=tenant).count() == 1


def test_paid_and_void_follow_the_table(tenant):
    invoice = draft(tenant)
    with pytest.raises(InvoiceTransitionRefused, match="Cannot mark paid an invoice that is draft"):
        invoice_mark_paid(invoice=invoice, by="fin")
    issued = invoice_issue(invoice=invoice, by="fin", now=AFTER_NOVEMBER)
    paid = invoice_mark_paid(invoice=issued, by="fin")
    assert paid.status == InvoiceStatus.PAID and paid.paid_at is not None
    with pytest.raises(InvoiceTransitionRefused, match="allowed: nothing"):
        invoice_void(invoice=paid, by="fin", reason="too late")

    october = draft(tenant, OCTOBER)
    with pytest.raises(ValueError, match="Say why"):
        invoice_void(invoice=october, by="fin", reason="  ")
    voided = invoice_void(invoice=october, by="fin", reason="Wrong merchant")
    assert voided.status == InvoiceStatus.VOID
    assert voided.void_reason == "Wrong merchant (fin)"
    assert not invoice_refresh(tenant=tenant, period=OCTOBER).refreshed


def test_the_database_refuses_a_numbered_draft_and_an_issued_invoice_without_a_number(tenant):
    invoice = draft(tenant)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(number="X-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.ISSUED)


def test_a_new_tariff_version_copies_the_old_one_and_the_old_one_stays_history(tenant):
    old = tariff_ensure_default(tenant=tenant)
    order_with(tenant, "#1", shipped(3))
    draft(tenant)
    old.refresh_from_db()
    assert old.is_history

    new = tariff_new_version(tariff=old, effective_from=DECEMBER)

    assert new.pk != old.pk and not new.is_history
    assert (new.pick_first_unit_cents, new.monthly_minimum_cents) == (30, 10_000)
    assert list(new.tiers.values_list("min_orders", flat=True)) == [100, 500, 1000]
    with pytest.raises(VersionExists):
        tariff_new_version(tariff=old, effective_from=DECEMBER)


# --- the nightly job ------------------------------------------------------------------


def berlin(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    # Berlin is UTC+1 in November.
    return datetime(2026, month, day, hour - 1, minute, tzinfo=UTC)


def test_the_nightly_job_runs_once_per_tenant_local_day_after_two(tenant):
    order_with(tenant, "#1", shipped(3))

    assert billing_nightly(now=berlin(10, 1, 59)) == []
    first = billing_nightly(now=berlin(10, 2, 5))
    again = billing_nightly(now=berlin(10, 23, 0))
    next_day = billing_nightly(now=berlin(11, 2, 30))

    assert [(r.invoice.period, r.refreshed) for r in first] == [(NOVEMBER, True)]
    assert again == []
    assert len(next_day) == 1
    assert BillingState.objects.get(tenant=tenant).last_run_on == date(2026, 11, 11)


def test_on_the_first_the_nightly_job_refreshes_last_months_draft_too(tenant):
    order_with(tenant, "#1", shipped(30))
    billing_nightly(now=berlin(30, 3))
    # Late evidence for 30 November arrives after midnight.
    order_with(tenant, "#late", shipped(30))

    done = billing_nightly(now=berlin(1, 2, 10, month=12))

    assert [r.invoice.period for r in done] == [NOVEMBER, DECEMBER]
    assert Invoice.objects.get(tenant=tenant, period=NOVEMBER).order_count == 2


def test_inactive_tenants_are_not_billed(tenant):
    tenant.is_active = False
    tenant.save()
    assert billing_nightly(now=berlin(10, 3)) == []
    assert not Invoice.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_beats_running_the_nightly_job_at_once_refresh_once(tenant):
    order_with(tenant, "#1", shipped(3))

    results = at_once(lambda: billing_nightly(now=berlin(10, 2, 30)), threads=2)

    assert sorted(len(r) for r in results) == [0, 1]
    assert Invoice.objects.filter(tenant=tenant).count() == 1


# --- generate_invoices ------------------------------------------------------------------


def test_generate_invoices_refreshes_issues_and_summarises(tenant, capsys):
    order_with(tenant, "#1", shipped(3))

    call_command("generate_invoices", "--tenant", "demo-3pl", "--period", "2026-11", "--issue")

    out = capsys.readouterr().out
    assert "2026-11  demo-3pl  DEMO-3PL-2026-0001" in out
    assert "100.00 USD" in out and "issued" in out
    invoice = Invoice.objects.get(tenant=tenant, period=NOVEMBER)
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.lines.filter(kind=LineKind.ORDER).count() == 1


def test_generate_invoices_refuses_bad_input_clearly(tenant):
    with pytest.raises(CommandError, match=r"not a month.*current, previous"):
        call_command("generate_invoices", "--period", "2026-13")
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("generate_invoices", "--period", "2026-11", "--tenant", "nobody")
    # The current month is not over: it stays a draft and the command says so.
    with pytest.raises(CommandError, match="could not be issued"):
        call_command("generate_invoices", "--period", "2099-01", "--issue")
    assert Invoice.objects.get(period=date(2099, 1, 1)).status == InvoiceStatus.DRAFT


# --- the console ------------------------------------------------------------------------


def test_finance_issues_from_the_console_and_a_viewer_cannot(tenant):
    order_with(tenant, "#1", shipped(3))
    invoice = draft(tenant, OCTOBER)  # October is over
    url = "/admin/billing/invoice/"
    action = {"action": "issue_selected", "_selected_action": [invoice.pk]}

    viewer = logged_in("viewer", tenant)
    assert viewer.get(url).status_code == 403
    viewer.post(url, action)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT

    finance = logged_in("finance", tenant)
    page = finance.get(url)
    assert page.status_code == 200
    assert b"Issue (numbers and freezes)" in page.content
    finance.post(url, action)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.ISSUED
    assert invoice.number == "DEMO-3PL-2026-0001"
    assert invoice.issued_by == "finance-user"

    detail = finance.get(f"{url}{invoice.pk}/change/")
    assert detail.status_code == 200
    assert b"Total (no tax computed)" in detail.content


def test_a_priced_tariff_opens_read_only_for_finance(tenant):
    tariff = tariff_ensure_default(tenant=tenant)
    finance = logged_in("finance", tenant)
    url = f"/admin/billing/tariff/{tariff.pk}/change/"
    assert b'name="pick_first_unit_cents"' in finance.get(url).content

    order_with(tenant, "#1", shipped(3))
    draft(tenant)

    page = finance.get(url)
    assert page.status_code == 200
    assert b'name="pick_first_unit_cents"' not in page.content
    finance.post(url, {"pick_first_unit_cents": 99})
    assert Tariff.objects.get(pk=tariff.pk).pick_first_unit_cents == 30


def test_the_tariff_form_refuses_descending_tiers(tenant):
    finance = logged_in("finance", tenant)
    data = {
        "tenant": tenant.pk,
        "effective_from": "2027-01-01",
        "name": "2027",
        "pick_first_unit_cents": 30,
        "pick_additional_unit_cents": 0,
        "pack_cents": 20,
        "packaging_cents": 0,
        "label_cents": 15,
        "kitting_cents": 50,
        "order_minimum_cents": 50,
        "monthly_minimum_cents": 10000,
        "gift_wrap_cents": 100,
        "rush_multiplier": "2",
        "oversized_multiplier": "1.5",
        "hazmat_multiplier": "0.5",
        "fragile_multiplier": "1.2",
        "tiers-TOTAL_FORMS": 2,
        "tiers-INITIAL_FORMS": 0,
        "tiers-0-min_orders": 100,
        "tiers-0-percent": "10",
        "tiers-1-min_orders": 500,
        "tiers-1-percent": "5",
    }

    page = finance.post("/admin/billing/tariff/add/", data)

    assert page.status_code == 200  # the form again, with the errors
    assert b"tiers must ascend" in page.content
    assert b"A multiplier is between 1 and 10" in page.content
    assert not Tariff.objects.filter(effective_from=date(2027, 1, 1)).exists()
