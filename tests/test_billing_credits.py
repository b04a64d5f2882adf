"""SLA credits (rule 8), worked by hand.

Each order here is paid at 10:00 and picked late by a chosen amount, so the SLA
engine (through real ingestion) records a PICK_DELAY breach whose severity follows
from the default policy's bands: late by under 25 % of the 120-minute allowance is
LOW, under 100 % MEDIUM, under 300 % HIGH. Packed an hour after the pick and
labelled an hour later, each order costs, on the default rate sheet, pick 30 + pack
20 + label 15 = 65 cents of operation fees (above the 50-cent order minimum).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import (
    AUTO_DECIDER,
    AdjustmentKind,
    AdjustmentStatus,
    CreditStatus,
    Invoice,
    InvoiceAdjustment,
    LineKind,
    SlaCredit,
    Tariff,
)
from billing.services import (
    CreditNotOpen,
    CreditsAwaitingApproval,
    credit_decide,
    invoice_issue,
    invoice_refresh,
)
from billing.tariffs import tariff_ensure_default
from billing.validation import invoice_validate
from slas.models import Breach, BreachReason, StageClock

from .billing_helpers import logged_in
from .sla_helpers import send

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)
AFTER_JUNE = datetime(2026, 7, 2, 9, tzinfo=UTC)
PAID = datetime(2026, 6, 3, 10, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def order_picked_late(api, order: str, late_minutes: int) -> None:
    """Paid at 10:00, picked `late_minutes` after its 2-hour allowance, packed and
    labelled an hour apart after that."""
    picked = PAID + timedelta(minutes=120 + late_minutes)
    send(api, "order_paid", iso(PAID), order=order)
    send(api, "pick_completed", iso(picked), order=order)
    send(api, "pack_completed", iso(picked + timedelta(hours=1)), order=order)
    send(api, "ship_label_printed", iso(picked + timedelta(hours=2)), order=order)


def refreshed(tenant) -> Invoice:
    return invoice_refresh(tenant=tenant, period=JUNE).invoice


def credit_of(order: str) -> SlaCredit:
    return SlaCredit.objects.get(order__external_id=order)


def month_line(invoice: Invoice, kind: str) -> int | None:
    line = invoice.lines.filter(kind=kind).first()
    return line.amount_cents if line else None


def test_a_late_pick_earns_its_severity_share_of_the_fees_after_the_monthly_minimum(api, tenant):
    order_picked_late(api, "#low", late_minutes=20)  # 17 % late: LOW, 25 %
    order_picked_late(api, "#medium", late_minutes=60)  # 50 % late: MEDIUM, 50 %
    order_picked_late(api, "#on-time", late_minutes=-30)
    assert [b.severity for b in Breach.objects.order_by("order__external_id")] == [
        "LOW",
        "MEDIUM",
    ]

    invoice = refreshed(tenant)

    low, medium = credit_of("#low"), credit_of("#medium")
    assert (low.percent, low.base_cents, low.amount_cents) == (25, 65, 16)  # 16.25
    assert (medium.percent, medium.base_cents, medium.amount_cents) == (50, 65, 33)  # 32.5 up
    assert (low.stages, low.severity, low.status, low.decided_by) == (
        "pick",
        "LOW",
        CreditStatus.APPROVED,
        AUTO_DECIDER,
    )
    assert low.breach_ids == str(Breach.objects.get(order__external_id="#low").pk)
    assert not SlaCredit.objects.filter(order__external_id="#on-time").exists()
    # 3 orders × 65 = 195, topped up to the $100 minimum, then the credits come off:
    # the top-up does not swallow them.
    assert (invoice.orders_cents, invoice.minimum_topup_cents) == (195, 10_000 - 195)
    assert invoice.credits_cents == -(16 + 33)
    assert invoice.total_cents == 10_000 - 49
    assert month_line(invoice, LineKind.SLA_CREDITS) == -49


def test_a_missing_scan_earns_no_credit(api, tenant):
    """A gap in the scans is missing data, not late work, however severe."""
    order_picked_late(api, "#1", late_minutes=-30)
    pick = StageClock.objects.get(order__external_id="#1", stage="pick")
    Breach.objects.create(
        tenant=tenant,
        order=pick.order,
        clock=pick,
        stage="pick",
        reason_code=BreachReason.MISSING_SCAN,
        severity="CRITICAL",
        detected_at=timezone.now(),
        detected_by="scan",
        allowed_minutes=120,
        actual_minutes=900,
        late_minutes=780,
        updated_at=timezone.now(),
    )

    invoice = refreshed(tenant)

    assert not SlaCredit.objects.exists()
    assert invoice.credits_cents == 0 and month_line(invoice, LineKind.SLA_CREDITS) is None


@pytest.fixture
def thresholds_20_and_40(tenant) -> Tariff:
    """Credits up to 20 ¢ approved by the rules, up to 40 ¢ approved and listed for
    review, above 40 ¢ waiting for Finance."""
    tariff = tariff_ensure_default(tenant=tenant)
    tariff.credit_auto_approve_cents, tariff.credit_review_above_cents = 20, 40
    tariff.save()
    return tariff


def test_each_approval_threshold(api, tenant, thresholds_20_and_40):
    order_picked_late(api, "#low", late_minutes=20)  # 16 ¢ ≤ 20
    order_picked_late(api, "#medium", late_minutes=60)  # 33 ¢: between 20 and 40
    order_picked_late(api, "#high", late_minutes=180)  # 150 % late: HIGH, 100 %: 65 ¢ > 40

    invoice = refreshed(tenant)

    low, medium, high = credit_of("#low"), credit_of("#medium"), credit_of("#high")
    assert (low.status, low.needs_review) == (CreditStatus.APPROVED, False)
    assert (medium.status, medium.needs_review) == (CreditStatus.APPROVED, True)
    assert (high.status, high.severity, high.amount_cents) == (CreditStatus.PENDING, "HIGH", 65)
    assert (high.decided_by, high.decided_at) == ("", None)
    assert invoice.credits_cents == -(16 + 33)  # the pending one is not booked

    with pytest.raises(CreditsAwaitingApproval, match="awaiting a Finance decision: 1"):
        invoice_issue(invoice=invoice, by="fin", now=AFTER_JUNE)

    credit_decide(credit=high, approve=True, by="fin", reason="Confirmed on the floor video")
    invoice.refresh_from_db()
    assert invoice.credits_cents == -(16 + 33 + 65)
    assert invoice.total_cents == 10_000 - 114
    assert month_line(invoice, LineKind.SLA_CREDITS) == -114

    credit_decide(credit=medium, approve=False, by="fin", reason="Carrier cut-off, not ours")
    invoice.refresh_from_db()
    assert invoice.credits_cents == -(16 + 65)

    # A person's decision stands through the nightly refresh while the amount holds.
    refreshed(tenant)
    high.refresh_from_db()
    medium.refresh_from_db()
    assert (high.status, high.decided_by, high.decided_cents) == (CreditStatus.APPROVED, "fin", 65)
    assert (medium.status, medium.decision_reason) == (
        CreditStatus.REJECTED,
        "Carrier cut-off, not ours",
    )

    issued = invoice_issue(invoice=invoice, by="fin", now=AFTER_JUNE)
    assert issued.total_cents == 10_000 - 81
    with pytest.raises(CreditNotOpen, match="issued"):
        credit_decide(credit=low, approve=False, by="fin", reason="too late")


def test_a_decision_needs_a_reason(api, tenant, thresholds_20_and_40):
    order_picked_late(api, "#high", late_minutes=180)
    refreshed(tenant)
    with pytest.raises(ValueError, match="Say why"):
        credit_decide(credit=credit_of("#high"), approve=True, by="fin", reason="  ")
    assert credit_of("#high").status == CreditStatus.PENDING


def test_a_cleared_breach_withdraws_its_credit(api, tenant):
    order_picked_late(api, "#1", late_minutes=60)
    invoice = refreshed(tenant)
    assert invoice.credits_cents == -33

    # The SLA engine retracts a breach by clearing it (its own tests cover when).
    Breach.objects.filter(order__external_id="#1").update(cleared_at=timezone.now())
    invoice = refreshed(tenant)

    credit = credit_of("#1")
    assert (credit.status, credit.amount_cents, credit.decided_by) == (
        CreditStatus.WITHDRAWN,
        0,
        "",
    )
    assert invoice.credits_cents == 0 and month_line(invoice, LineKind.SLA_CREDITS) is None
    assert invoice.total_cents == 10_000

    # The breach comes back (a later, still-late correction): so does the credit.
    Breach.objects.filter(order__external_id="#1").update(cleared_at=None)
    assert refreshed(tenant).credits_cents == -33
    assert credit_of("#1").status == CreditStatus.APPROVED


def test_a_new_amount_reopens_a_persons_decision(api, tenant, thresholds_20_and_40):
    order_picked_late(api, "#1", late_minutes=180)  # HIGH: 65 ¢, pending
    refreshed(tenant)
    credit_decide(credit=credit_of("#1"), approve=False, by="fin", reason="Disputed")

    # The order turns out to have been kitted too: its fees, and so the credit, grow.
    send(api, "kitting_completed", iso(PAID + timedelta(hours=6)), order="#1")
    refreshed(tenant)

    credit = credit_of("#1")
    assert (credit.base_cents, credit.amount_cents) == (65 + 50, 115)
    assert (credit.status, credit.decided_by, credit.decision_reason) == (
        CreditStatus.PENDING,
        "",
        "",
    )


def test_finance_approves_a_waiting_credit_in_the_console_with_a_reason(
    api, tenant, thresholds_20_and_40
):
    order_picked_late(api, "#high", late_minutes=180)
    invoice = refreshed(tenant)
    credit = credit_of("#high")
    url = "/admin/billing/slacredit/"
    action = {"action": "approve_selected", "_selected_action": [credit.pk]}

    viewer = logged_in("viewer", tenant)
    assert viewer.get(url).status_code == 403
    viewer.post(url, {**action, "apply": "1", "reason": "ok"})
    assert credit_of("#high").status == CreditStatus.PENDING

    finance = logged_in("finance", tenant)
    listing = finance.get(url, {"decide": "waiting"})
    assert listing.status_code == 200
    assert b"#high" in listing.content and b"0.65 USD" in listing.content
    confirm = finance.post(url, action)  # the page asking for the reason
    assert b"Order #high on" in confirm.content and b'name="reason"' in confirm.content
    finance.post(url, {**action, "apply": "1", "reason": ""})  # refused: no reason
    assert credit_of("#high").status == CreditStatus.PENDING

    finance.post(url, {**action, "apply": "1", "reason": "Wave started 3 h late"})

    credit = credit_of("#high")
    assert (credit.status, credit.decided_by, credit.decision_reason) == (
        CreditStatus.APPROVED,
        "finance-user",
        "Wave started 3 h late",
    )
    invoice.refresh_from_db()
    assert invoice.credits_cents == -65
    page = finance.get(f"/admin/billing/invoice/{invoice.pk}/change/")
    assert b"SLA credits (approved)" in page.content and b"-0.65 USD" in page.content


def test_the_tariff_form_refuses_credits_over_100_percent_and_crossed_thresholds(tenant):
    finance = logged_in("finance", tenant)
    tariff = tariff_ensure_default(tenant=tenant)
    data = {
        field.name: getattr(tariff, field.attname)
        for field in Tariff._meta.concrete_fields
        if field.editable and field.name not in ("id", "created_at")
    }
    data.update(
        {
            "effective_from": "2027-01-01",
            "credit_high_percent": 120,
            "credit_auto_approve_cents": 3000,
            "credit_review_above_cents": 2000,
            "tiers-TOTAL_FORMS": 0,
            "tiers-INITIAL_FORMS": 0,
        }
    )

    page = finance.post("/admin/billing/tariff/add/", data)

    assert page.status_code == 200  # the form again, with its errors
    assert b"A credit is a whole percentage from 0 to 100." in page.content
    assert b"The review threshold is at least the auto-approval one" in page.content
    assert Tariff.objects.filter(tenant=tenant).count() == 1


def test_a_credit_earned_after_issue_becomes_a_proposed_adjustment(api, tenant):
    order_picked_late(api, "#1", late_minutes=60)  # MEDIUM: 50 % of 65 ¢ = 33 ¢
    breach = Breach.objects.filter(order__external_id="#1")
    breach.update(cleared_at=timezone.now())  # retracted before the month closed
    issued = invoice_issue(invoice=refreshed(tenant), by="fin", now=AFTER_JUNE)
    assert issued.credits_cents == 0

    breach.update(cleared_at=None)  # the breach stands after all
    invoice_validate(invoice=issued, now=AFTER_JUNE)

    adjustment = InvoiceAdjustment.objects.get(kind=AdjustmentKind.CREDIT)
    assert (adjustment.amount_cents, adjustment.status) == (-33, AdjustmentStatus.PROPOSED)
    assert adjustment.rationale == (
        "SLA credit for order #1: pick late (MEDIUM), 50% of 0.65 USD in fees"
    )

    breach.update(cleared_at=timezone.now())  # and is retracted again before a decision
    invoice_validate(invoice=issued, now=AFTER_JUNE)
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.WITHDRAWN
