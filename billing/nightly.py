"""The nightly billing job: hourly, each active tenant once per local day after 02:00.

In this order, for a tenant whose turn it is:
1. refresh last month's invoice while it is a draft (evidence of the month's last
   hours arrives after midnight), and the current month's draft;
2. validate every issued, unpaid invoice against the evidence as it stands
   (`billing.validation`): differences become proposed adjustments, and a late fee
   is added once an invoice is unpaid 30 days past its due date;
3. from the 1st on, issue last month's draft when the tenant issues automatically
   (`BillingState.auto_issue`) and nothing awaits a decision: no SLA credit awaiting
   approval on it and no proposed adjustment of the tenant. Otherwise it waits, and
   the next night tries again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders.models import Tenant

from . import rationale_hooks
from .models import (
    AdjustmentStatus,
    BillingState,
    CreditStatus,
    Invoice,
    InvoiceAdjustment,
    InvoiceStatus,
    SlaCredit,
)
from .periods import month_start, previous_month
from .services import InvoiceRefreshed, invoice_issue, invoice_refresh, tenant_rebook
from .validation import invoice_validate

logger = logging.getLogger(__name__)

NIGHTLY_LOCAL_TIME = time(2, 0)
AUTO_ISSUER = "nightly billing"
REWORD_PER_NIGHT = 50  # model calls per tenant and night, at most


def _claim_nightly(*, tenant: Tenant, today: date, now: datetime) -> bool:
    """Move the tenant's last run to `today` if it is behind; True for the one caller
    whose compare-and-swap matched."""
    BillingState.objects.get_or_create(tenant=tenant)
    return bool(
        BillingState.objects.filter(tenant=tenant)
        .filter(Q(last_run_on__isnull=True) | Q(last_run_on__lt=today))
        .update(last_run_on=today, last_run_at=now)
    )


def awaiting_decision(invoice: Invoice) -> list[str]:
    """What keeps `invoice` from being issued by the nightly job, in words."""
    reasons = []
    credits = SlaCredit.objects.filter(invoice=invoice, status=CreditStatus.PENDING).count()
    if credits:
        reasons.append(f"{credits} SLA credits awaiting approval")
    proposals = InvoiceAdjustment.objects.filter(
        invoice__tenant_id=invoice.tenant_id, status=AdjustmentStatus.PROPOSED
    ).count()
    if proposals:
        reasons.append(f"{proposals} proposed adjustments")
    return reasons


def validate_tenant(*, tenant: Tenant, now: datetime) -> int:
    """Validate the tenant's issued, unpaid invoices; rebook its next draft when the
    rules approved something (a late fee). Returns the adjustments proposed or changed.

    The model's rewording of the new proposals (`reword_new_adjustments`) is the
    caller's next step, outside any transaction: it calls the model."""
    changed = approved = 0
    issued = Invoice.objects.filter(tenant=tenant, status=InvoiceStatus.ISSUED).order_by("period")
    for invoice in issued:
        result = invoice_validate(invoice=invoice, now=now)
        changed += result.proposed + result.withdrawn
        approved += result.approved
    if approved:
        tenant_rebook(tenant_id=tenant.pk)
    return changed + approved


def reword_new_adjustments(*, tenant: Tenant, limit: int = REWORD_PER_NIGHT) -> int:
    """Offer the tenant's proposals (and rule-approved fees) not reworded yet to the
    registered writers (the AI analyst, when configured), a bounded number a night."""
    if not rationale_hooks.has_writers():
        return 0
    waiting = (
        InvoiceAdjustment.objects.filter(
            invoice__tenant=tenant,
            friendly_rationale="",
            booked_on__isnull=True,
            status__in=[AdjustmentStatus.PROPOSED, AdjustmentStatus.APPROVED],
        )
        .select_related("invoice__tenant")
        .order_by("proposed_at", "pk")[:limit]
    )
    return sum(rationale_hooks.adjustment_reword(adjustment) for adjustment in waiting)


def _auto_issue(*, tenant: Tenant, period: date, now: datetime) -> None:
    state = BillingState.objects.get(tenant=tenant)
    invoice = Invoice.objects.filter(tenant=tenant, period=period).first()
    if not state.auto_issue or invoice is None or not invoice.is_draft:
        return
    waiting = awaiting_decision(invoice)
    if waiting:
        logger.info(
            "invoice not issued automatically",
            extra={"invoice": invoice.pk, "waiting": "; ".join(waiting)},
        )
        return
    # Refreshed by this same run moments ago: a month of lines is not rewritten twice.
    issued = invoice_issue(invoice=invoice, by=AUTO_ISSUER, now=now, refresh=False)
    logger.info("invoice issued automatically", extra={"invoice": issued.number})


def billing_nightly(*, now: datetime | None = None) -> list[InvoiceRefreshed]:
    """The job (see the module docstring); returns the drafts it refreshed."""
    now = now or timezone.now()
    done: list[InvoiceRefreshed] = []
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        local_now = now.astimezone(ZoneInfo(tenant.timezone))
        if local_now.time() < NIGHTLY_LOCAL_TIME:
            continue
        today = local_now.date()
        # The claim and the night's work commit together: the claimed state row stays
        # locked until then, so a second run waits and then finds the night done, and
        # a worker that dies half-way leaves the night unclaimed for the redelivered run.
        with transaction.atomic():
            if not _claim_nightly(tenant=tenant, today=today, now=now):
                continue
            current = month_start(today)
            last = previous_month(current)
            drafts = Invoice.objects.filter(tenant=tenant, period=last, status=InvoiceStatus.DRAFT)
            if drafts.exists():
                done.append(invoice_refresh(tenant=tenant, period=last, now=now))
            done.append(invoice_refresh(tenant=tenant, period=current, now=now))
            validate_tenant(tenant=tenant, now=now)
            _auto_issue(tenant=tenant, period=last, now=now)
        reword_new_adjustments(tenant=tenant)  # model calls: never inside the transaction
    return done
