"""Writing invoices: refresh a month's draft from the evidence, issue, pay, void, and
the nightly job that keeps every tenant's drafts current."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from orders.models import Tenant

from .credits import credits_refresh, invoice_credits
from .inventory_fees import month_fee_lines
from .models import (
    AdjustmentStatus,
    CreditNote,
    CreditStatus,
    Invoice,
    InvoiceAdjustment,
    InvoiceCounter,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    SlaCredit,
    Tariff,
    VolumeTier,
)
from .periods import local_date, month_bounds, month_start, next_month
from .rules import month_totals, write_order_lines
from .tariffs import PricedVersion, tariff_ensure_default, versions_for_month
from .transitions import InvoiceTransitionRefused, check

logger = logging.getLogger(__name__)

PAYMENT_TERMS_DAYS = 30


class PeriodNotOver(Exception):
    """An invoice for a month that has not ended yet cannot be issued."""


class CreditsAwaitingApproval(Exception):
    """SLA credits above the review threshold are undecided: an issued invoice never
    changes, so Finance decides them first."""


# Why an invoice may not be issued (or moved) now: each message says what would do.
REFUSALS: tuple[type[Exception], ...] = (
    InvoiceTransitionRefused,
    PeriodNotOver,
    CreditsAwaitingApproval,
)


@dataclass(frozen=True, slots=True)
class InvoiceRefreshed:
    invoice: Invoice
    created: bool
    refreshed: bool  # False: the invoice is no longer a draft and was left alone


def invoice_refresh(
    *, tenant: Tenant, period: date, now: datetime | None = None
) -> InvoiceRefreshed:
    """Create or rebuild the (tenant, month) draft from the evidence as it stands.

    Under the invoice's row lock, so two workers refreshing at once take turns and
    the second rewrites the same lines; the unique constraints would refuse a
    doubled line anyway. An issued, paid or void invoice is never touched.
    """
    now = now or timezone.now()
    period = month_start(period)
    tariff_ensure_default(tenant=tenant)
    versions = versions_for_month(tenant=tenant, period=period)
    with transaction.atomic():
        invoice, created = Invoice.objects.get_or_create(
            tenant=tenant, period=period, defaults={"currency": tenant.currency}
        )
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.DRAFT:
            return InvoiceRefreshed(invoice=invoice, created=False, refreshed=False)
        invoice.lines.all().delete()
        write_order_lines(tenant=tenant, period=period, versions=versions, invoice_id=invoice.pk)
        credits_refresh(invoice=invoice, now=now)
        book_month_lines(invoice=invoice, month_version=versions[-1])
        invoice.refreshed_at = now
        invoice.save(update_fields=["refreshed_at"])
        # order_by(): the line's default ordering would put its id into the DISTINCT.
        used = set(
            invoice.lines.exclude(tariff=None)
            .order_by()
            .values_list("tariff", flat=True)
            .distinct()
        )
        Tariff.objects.filter(pk__in=used, priced_at__isnull=True).update(priced_at=now)
    return InvoiceRefreshed(invoice=invoice, created=created, refreshed=True)


def book_month_lines(*, invoice: Invoice, month_version: PricedVersion) -> None:
    """Rules 5–8 from the draft's order lines, the month's snapshots and receipts and
    the approved credits: the month's own lines (volume discount, storage, receiving,
    recurring fees, minimum top-up, SLA credits) and the invoice's totals.
    Run after the order lines or a credit's decision change; under the invoice's lock.

    The versions that priced storage or receiving become history here, as those of
    the order lines do in `invoice_refresh`: editing one would change a billed month."""
    invoice.lines.exclude(kind=LineKind.ORDER).delete()
    sums = invoice.lines.aggregate(
        count=Count("id"), amount=Sum("amount_cents"), discountable=Sum("discountable_cents")
    )
    # Rule 6: storage, receiving and recurring fees; not orders (no tier, no discount).
    fees = month_fee_lines(
        tenant=invoice.tenant,
        period=invoice.period,
        versions=versions_for_month(tenant=invoice.tenant, period=invoice.period),
    )
    totals = month_totals(
        order_count=sums["count"],
        orders_cents=sums["amount"] or 0,
        discountable_cents=sums["discountable"] or 0,
        month_version=month_version,
        other_fees_cents=sum(fee.amount_cents for fee in fees),
    )
    credits = invoice_credits(invoice)
    tariff = month_version.tariff
    month_lines = []
    if totals.discount_cents:
        description = f"Volume discount {totals.discount_percent}% for {totals.order_count} orders"
        month_lines.append((LineKind.VOLUME_DISCOUNT, description, totals.discount_cents))
    month_lines += [(fee.kind, fee.description, fee.amount_cents) for fee in fees]
    if totals.minimum_topup_cents:
        description = "Top-up to the monthly minimum"
        month_lines.append((LineKind.MONTHLY_MINIMUM, description, totals.minimum_topup_cents))
    if credits.approved_cents:
        orders = "1 late order" if credits.approved == 1 else f"{credits.approved} late orders"
        description = f"SLA credits for {orders}"
        month_lines.append((LineKind.SLA_CREDITS, description, -credits.approved_cents))
    lines = [
        InvoiceLine(invoice=invoice, kind=kind, tariff=tariff, description=text, amount_cents=cents)
        for kind, text, cents in month_lines
    ]
    adjustments = bookable_adjustments(invoice)
    lines += [
        InvoiceLine(
            invoice=invoice,
            kind=LineKind.ADJUSTMENT,
            adjustment=adjustment,
            description=adjustment_line_text(adjustment),
            amount_cents=adjustment.amount_cents,
        )
        for adjustment in adjustments
    ]
    InvoiceLine.objects.bulk_create(lines)
    fee_versions = set().union(*(fee.priced_by for fee in fees))
    if fee_versions:
        Tariff.objects.filter(pk__in=fee_versions, priced_at__isnull=True).update(
            priced_at=timezone.now()
        )
    adjusted = sum(adjustment.amount_cents for adjustment in adjustments)
    invoice.currency = invoice.tenant.currency
    invoice.tariff = tariff
    invoice.order_count = totals.order_count
    invoice.orders_cents = totals.orders_cents
    invoice.discountable_cents = totals.discountable_cents
    invoice.discount_percent = totals.discount_percent
    invoice.discount_cents = totals.discount_cents
    invoice.other_fees_cents = totals.other_fees_cents
    invoice.minimum_topup_cents = totals.minimum_topup_cents
    invoice.credits_cents = -credits.approved_cents
    invoice.adjustments_cents = adjusted
    invoice.total_cents = totals.total_cents - credits.approved_cents + adjusted
    invoice.save()


def bookable_adjustments(invoice: Invoice) -> list[InvoiceAdjustment]:
    """The approved adjustments to the tenant's earlier invoices that this draft carries:
    all not yet carried by an issued invoice, if this is the tenant's oldest draft (the
    next one to be issued), else none."""
    oldest = (
        Invoice.objects.filter(tenant_id=invoice.tenant_id, status=InvoiceStatus.DRAFT)
        .order_by("period")
        .values_list("pk", flat=True)
        .first()
    )
    if oldest != invoice.pk:
        return []
    return list(
        InvoiceAdjustment.objects.filter(
            invoice__tenant_id=invoice.tenant_id,
            invoice__period__lt=invoice.period,
            status=AdjustmentStatus.APPROVED,
            booked_on__isnull=True,
        )
        .select_related("invoice")
        .order_by("invoice__period", "key", "revision")
    )


def adjustment_line_text(adjustment: InvoiceAdjustment) -> str:
    """What the merchant reads on the invoice: the reworded rationale when there is one
    (its figures are the computation's), else the computed one."""
    reason = adjustment.friendly_rationale or adjustment.rationale
    text = f"{adjustment.get_kind_display()} to {adjustment.invoice}: {reason}"
    return text if len(text) <= 200 else f"{text[:199]}…"


def tenant_rebook(*, tenant_id: int) -> Invoice | None:
    """Rebook the month lines of the tenant's oldest draft (after an adjustment's
    decision), under its lock; None when the tenant has no draft."""
    draft = (
        Invoice.objects.filter(tenant_id=tenant_id, status=InvoiceStatus.DRAFT)
        .order_by("period")
        .first()
    )
    if draft is None:
        return None
    with transaction.atomic():
        draft = _locked(draft)
        if not draft.is_draft:
            return None
        versions = versions_for_month(tenant=draft.tenant, period=draft.period)
        book_month_lines(invoice=draft, month_version=versions[-1])
    return draft


def _locked(invoice: Invoice) -> Invoice:
    # Only the invoice's row: a lock on its tenant would hold up every event the
    # tenant sends (their inserts check the tenant foreign key) while the month is billed.
    return (
        Invoice.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=invoice.pk)
    )


def _next_number(*, tenant: Tenant, year: int) -> str:
    """The next number of the tenant's year, from its counter row held under lock until
    the issuing transaction ends: gapless, and never given twice."""
    InvoiceCounter.objects.get_or_create(tenant=tenant, year=year)
    counter = InvoiceCounter.objects.select_for_update().get(tenant=tenant, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{tenant.slug.upper()}-{year}-{counter.last_number:04d}"


def invoice_issue(
    *, invoice: Invoice, by: str, now: datetime | None = None, refresh: bool = True
) -> Invoice:
    """Refresh the draft one last time (unless the caller just did, `refresh=False`),
    then number and freeze it (due in 30 days)."""
    now = now or timezone.now()
    tenant = invoice.tenant
    _start, end = month_bounds(invoice.period, tenant.timezone)
    if now < end:
        raise PeriodNotOver(
            f"{invoice.period:%B %Y} is not over for {tenant} yet; it can be issued from "
            f"{local_date(end, tenant.timezone):%d %b %Y}."
        )
    check("issue", invoice.status)
    if refresh:
        invoice_refresh(tenant=tenant, period=invoice.period, now=now)
    with transaction.atomic():
        invoice = _locked(invoice)
        to = check("issue", invoice.status)
        pending = invoice.sla_credits.filter(status=CreditStatus.PENDING).count()
        if pending:
            raise CreditsAwaitingApproval(
                f"SLA credits awaiting a Finance decision: {pending} (Billing → SLA "
                "credits). Approve or reject them, then issue."
            )
        today = local_date(now, tenant.timezone)
        invoice.number = _next_number(tenant=tenant, year=today.year)
        invoice.status = to
        invoice.issued_at = now
        invoice.issued_by = by
        invoice.due_on = today + timedelta(days=PAYMENT_TERMS_DAYS)
        invoice.save(update_fields=["number", "status", "issued_at", "issued_by", "due_on"])
        # The adjustments it carries are settled by this invoice from now on.
        InvoiceAdjustment.objects.filter(line__invoice=invoice).update(booked_on=invoice)
    logger.info("invoice issued", extra={"invoice": invoice.number, "by": by})
    return invoice


def invoice_mark_paid(*, invoice: Invoice, by: str, now: datetime | None = None) -> Invoice:
    with transaction.atomic():
        invoice = _locked(invoice)
        invoice.status = check("mark_paid", invoice.status)
        invoice.paid_at = now or timezone.now()
        invoice.save(update_fields=["status", "paid_at"])
    logger.info("invoice paid", extra={"invoice": invoice.number, "by": by})
    return invoice


def invoice_void(*, invoice: Invoice, by: str, reason: str, now: datetime | None = None) -> Invoice:
    """Void a draft, or an issued invoice with a credit note that cites it and carries
    its total back (a paid invoice is refunded outside E²A and stays paid)."""
    if not reason.strip():
        raise ValueError("Say why the invoice is voided.")
    now = now or timezone.now()
    with transaction.atomic():
        invoice = _locked(invoice)
        was_issued = invoice.status == InvoiceStatus.ISSUED
        invoice.status = check("void", invoice.status)
        invoice.voided_at = now
        invoice.void_reason = f"{reason.strip()} ({by})"
        invoice.save(update_fields=["status", "voided_at", "void_reason"])
        if was_issued:
            CreditNote.objects.create(
                invoice=invoice,
                number=f"{invoice.number}-CN",
                amount_cents=-invoice.total_cents,
                reason=reason.strip(),
                issued_at=now,
                issued_by=by,
            )
        # Proposals against it are moot; what was approved but not carried yet goes too.
        invoice.adjustments.filter(
            status__in=[AdjustmentStatus.PROPOSED, AdjustmentStatus.APPROVED],
            booked_on__isnull=True,
        ).update(status=AdjustmentStatus.WITHDRAWN, updated_at=now)
    if was_issued:
        tenant_rebook(tenant_id=invoice.tenant_id)
    logger.info("invoice voided", extra={"invoice": invoice.pk, "by": by})
    return invoice


class AdjustmentNotOpen(Exception):
    """Only a proposed adjustment is decided."""


def adjustment_decide(
    *,
    adjustment: InvoiceAdjustment,
    approve: bool,
    by: str,
    reason: str,
    now: datetime | None = None,
) -> InvoiceAdjustment:
    """Finance's decision on a proposed adjustment, with the reason; an approved one is
    booked on the tenant's next draft at once."""
    if not reason.strip():
        raise ValueError("Say why the adjustment is approved or rejected.")
    now = now or timezone.now()
    with transaction.atomic():
        adjustment = InvoiceAdjustment.objects.select_for_update().get(pk=adjustment.pk)
        if adjustment.status != AdjustmentStatus.PROPOSED:
            raise AdjustmentNotOpen(
                f"{adjustment} is {adjustment.get_status_display().lower()}, not proposed."
            )
        adjustment.status = AdjustmentStatus.APPROVED if approve else AdjustmentStatus.REJECTED
        adjustment.decided_by = by
        adjustment.decided_at = now
        adjustment.decision_reason = reason.strip()
        adjustment.updated_at = now
        adjustment.save()
    tenant_rebook(tenant_id=adjustment.invoice.tenant_id)
    logger.info(
        "invoice adjustment decided",
        extra={"adjustment": adjustment.pk, "status": adjustment.status, "by": by},
    )
    return adjustment


class CreditNotOpen(Exception):
    """The credit's invoice was issued (or the credit withdrawn): its decision is final."""


def credit_decide(
    *, credit: SlaCredit, approve: bool, by: str, reason: str, now: datetime | None = None
) -> SlaCredit:
    """A Finance user's decision on an SLA credit, with the reason, and the draft's
    totals rebooked at once. It stands while the credit's amount stays the same."""
    if not reason.strip():
        raise ValueError("Say why the credit is approved or rejected.")
    now = now or timezone.now()
    with transaction.atomic():
        invoice = _locked(credit.invoice)
        credit = SlaCredit.objects.select_for_update().get(pk=credit.pk)
        if not invoice.is_draft or credit.status == CreditStatus.WITHDRAWN:
            state = "withdrawn" if invoice.is_draft else f"on invoice {invoice}, {invoice.status}"
            raise CreditNotOpen(f"The credit for order {credit.order_id} is {state}.")
        credit.status = CreditStatus.APPROVED if approve else CreditStatus.REJECTED
        credit.needs_review = False
        credit.decided_by = by
        credit.decided_at = now
        credit.decided_cents = credit.amount_cents
        credit.decision_reason = reason.strip()
        credit.updated_at = now
        credit.save()
        versions = versions_for_month(tenant=invoice.tenant, period=invoice.period)
        book_month_lines(invoice=invoice, month_version=versions[-1])
    logger.info(
        "sla credit decided",
        extra={"credit": credit.pk, "status": credit.status, "by": by},
    )
    return credit


class VersionExists(ValueError):
    """The tenant already has a tariff version starting that day."""


def tariff_new_version(*, tariff: Tariff, effective_from: date | None = None) -> Tariff:
    """A copy of `tariff` (fees, multipliers, tiers) in force from `effective_from`
    (default: the first of next month, tenant-local), to edit before it prices anything.

    Prices change by adding a version: one that priced an invoice is never edited.
    """
    if effective_from is None:
        today = local_date(timezone.now(), tariff.tenant.timezone)
        effective_from = next_month(month_start(today))
    if Tariff.objects.filter(tenant=tariff.tenant, effective_from=effective_from).exists():
        raise VersionExists(
            f"{tariff.tenant} already has a version from {effective_from:%Y-%m-%d}; edit that one."
        )
    tiers = list(tariff.tiers.values_list("min_orders", "percent"))
    with transaction.atomic():
        copy = Tariff.objects.get(pk=tariff.pk)
        copy.pk = None
        copy.effective_from = effective_from
        copy.priced_at = None
        copy.created_at = timezone.now()
        copy.save(force_insert=True)
        VolumeTier.objects.bulk_create(
            VolumeTier(tariff=copy, min_orders=orders, percent=pct) for orders, pct in tiers
        )
    return copy
