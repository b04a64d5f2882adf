"""Rule 8, SLA credits: an order whose warehouse stages ran late earns part of its
operation fees back.

- Which orders: those with an open delay breach (not cleared) of the pick, pack or
  ship stage. Delivery is the carrier's, and a missing scan is a gap in the data,
  not late work: neither earns a credit.
- How much: the tariff's percentage for the highest severity among the order's
  breached stages, of the order's operation fees over all its months (pick, pack,
  label, kitting, before minimums, multipliers and gift wrap), rounded half-up to
  the cent, and never more than those fees. The tariff is the version that priced
  the order's first billed month.
- Where: on the invoice of that first month, while it is a draft, after the monthly
  minimum (a top-up never swallows a credit).
- Who decides: up to the tariff's auto-approval threshold the rules approve; up to
  the review threshold they approve and list the credit for review; above it the
  credit waits for a Finance user, who approves or rejects it with a reason. A
  person's decision stands while the amount is the one decided on.
- A breach cleared later withdraws its credit at the next refresh.

`credits_refresh` runs inside `invoice_refresh`, under the invoice's row lock; it
reads breaches and lines a chunk of orders at a time, so memory follows the chunk,
not the month.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import groupby, islice

from django.db.models import Sum

from slas.models import SEVERITY_RANK, Breach
from slas.models.clock import DELAY_REASON, Stage

from .models import (
    AUTO_DECIDER,
    CreditStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    SlaCredit,
    Tariff,
)
from .models.tariff import CREDIT_PERCENT_FIELDS
from .rules import round_half_up

CREDITED_STAGES: tuple[str, ...] = (Stage.PICK, Stage.PACK, Stage.SHIP)
CREDITED_REASONS: tuple[str, ...] = tuple(DELAY_REASON[Stage(s)] for s in CREDITED_STAGES)
CHUNK = 2_000
_STAGE_ORDER = {stage: i for i, stage in enumerate(CREDITED_STAGES)}


@dataclass(frozen=True, slots=True)
class EarnedCredit:
    """What an order's open breaches earn, before anyone decides on it."""

    order_id: int
    tariff: Tariff  # the version that priced the order's first billed month
    stages: str
    severity: str
    breach_ids: str
    percent: int
    base_cents: int
    amount_cents: int


def credit_amount(*, base_cents: int, percent: int) -> int:
    """`percent` of the fees, half-up to the cent, capped at the fees."""
    return min(base_cents, round_half_up(Decimal(base_cents) * percent / 100))


def credit_percent(tariff: Tariff, severity: str) -> int:
    return int(getattr(tariff, CREDIT_PERCENT_FIELDS[severity]))


def creditable_breaches(invoice: Invoice):  # type: ignore[no-untyped-def]
    """The open delay breaches of warehouse stages of the orders first billed on
    `invoice`."""
    first_billed = InvoiceLine.objects.filter(
        invoice=invoice, kind=LineKind.ORDER, order_first_month=True
    ).values("order_id")
    return Breach.objects.filter(
        order_id__in=first_billed,
        stage__in=CREDITED_STAGES,
        reason_code__in=CREDITED_REASONS,
        cleared_at__isnull=True,
    )


def breaches_by_order(invoice: Invoice) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    """(order id, [(breach id, stage, severity)]) per order, in order id order."""
    rows = (
        creditable_breaches(invoice)
        .order_by("order_id", "id")
        .values_list("order_id", "id", "stage", "severity")
        .iterator(chunk_size=CHUNK)
    )
    for order_id, breaches in groupby(rows, key=lambda row: row[0]):
        yield order_id, [(bid, stage, severity) for _o, bid, stage, severity in breaches]


def earned_credits(
    invoice: Invoice, chunk: list[tuple[int, list[tuple[int, str, str]]]]
) -> list[EarnedCredit]:
    order_ids = [order_id for order_id, _b in chunk]
    base = dict(
        InvoiceLine.objects.filter(order_id__in=order_ids, kind=LineKind.ORDER)
        .exclude(invoice__status=InvoiceStatus.VOID)
        .values("order_id")
        .annotate(fees=Sum("operations_cents"))
        .values_list("order_id", "fees")
    )
    lines = InvoiceLine.objects.filter(invoice=invoice, order_id__in=order_ids, kind=LineKind.ORDER)
    tariff_of = dict(lines.values_list("order_id", "tariff_id"))
    tariffs = Tariff.objects.in_bulk(set(tariff_of.values()))
    earned = []
    for order_id, breaches in chunk:
        severity = max((sev for _b, _s, sev in breaches), key=SEVERITY_RANK.__getitem__)
        tariff = tariffs[tariff_of[order_id]]
        percent = credit_percent(tariff, severity)
        fees = int(base.get(order_id) or 0)
        stages = sorted({stage for _b, stage, _s in breaches}, key=_STAGE_ORDER.__getitem__)
        earned.append(
            EarnedCredit(
                order_id=order_id,
                tariff=tariff,
                stages=" ".join(stages),
                severity=severity,
                breach_ids=" ".join(str(bid) for bid, _s, _sev in breaches),
                percent=percent,
                base_cents=fees,
                amount_cents=credit_amount(base_cents=fees, percent=percent),
            )
        )
    return earned


def apply_thresholds(credit: SlaCredit, tariff: Tariff, now: datetime) -> None:
    """Set `credit`'s status from its amount, unless a person decided on this amount."""
    decided_by_person = credit.decided_by not in ("", AUTO_DECIDER)
    if decided_by_person and credit.decided_cents == credit.amount_cents:
        return
    credit.decided_cents = None
    credit.decision_reason = ""
    credit.needs_review = False
    if credit.amount_cents > tariff.credit_review_above_cents:
        credit.status = CreditStatus.PENDING
        credit.decided_by = ""
        credit.decided_at = None
        return
    credit.status = CreditStatus.APPROVED
    credit.needs_review = credit.amount_cents > tariff.credit_auto_approve_cents
    credit.decided_by = AUTO_DECIDER
    credit.decided_at = now


_EARNED_FIELDS = ("stages", "severity", "breach_ids", "percent", "base_cents", "amount_cents")
_UPDATED_FIELDS = (
    "invoice",
    *_EARNED_FIELDS,
    "status",
    "needs_review",
    "decided_by",
    "decided_at",
    "decided_cents",
    "decision_reason",
    "updated_at",
)


_WITHDRAWN = {
    "status": CreditStatus.WITHDRAWN,
    "amount_cents": 0,
    "needs_review": False,
    "decided_by": "",
    "decided_at": None,
    "decided_cents": None,
    "decision_reason": "",
}


def credits_refresh(*, invoice: Invoice, now: datetime) -> None:
    """Bring the credits of the orders first billed on the draft `invoice` in step
    with their breaches as they stand: new ones earned, amounts changed, decisions
    re-taken where the amount moved, and credits whose breaches cleared withdrawn."""
    rows = breaches_by_order(invoice)
    while chunk := list(islice(rows, CHUNK)):
        earned = earned_credits(invoice, chunk)
        existing = SlaCredit.objects.select_related("invoice").in_bulk(
            [e.order_id for e in earned], field_name="order_id"
        )
        new, changed = [], []
        for item in earned:
            credit = existing.get(item.order_id)
            if credit and credit.invoice_id != invoice.pk and not credit.invoice.is_draft:
                continue  # booked on an invoice already issued: never moved from it
            if credit is None:
                if item.amount_cents <= 0:
                    continue  # a tariff crediting 0 % earns no row
                credit = SlaCredit(tenant_id=invoice.tenant_id, order_id=item.order_id)
                credit.created_at = now
            credit.invoice = invoice
            for field in _EARNED_FIELDS:
                setattr(credit, field, getattr(item, field))
            credit.updated_at = now
            if item.amount_cents <= 0:
                for field, value in _WITHDRAWN.items():
                    setattr(credit, field, value)
            else:
                apply_thresholds(credit, item.tariff, now)
            (changed if credit.pk else new).append(credit)
        SlaCredit.objects.bulk_create(new)
        SlaCredit.objects.bulk_update(changed, _UPDATED_FIELDS)
    # The order's breaches cleared, or the order is no longer first billed here.
    earning = creditable_breaches(invoice).values("order_id")
    SlaCredit.objects.filter(invoice=invoice).exclude(status=CreditStatus.WITHDRAWN).exclude(
        order_id__in=earning
    ).update(**_WITHDRAWN, updated_at=now)


@dataclass(frozen=True, slots=True)
class InvoiceCredits:
    approved_cents: int  # ≥ 0: what comes off the invoice
    approved: int
    pending: int
    to_review: int


def invoice_credits(invoice: Invoice) -> InvoiceCredits:
    rows = dict(
        SlaCredit.objects.filter(invoice=invoice)
        .values("status")
        .annotate(total=Sum("amount_cents"))
        .values_list("status", "total")
    )
    counts = SlaCredit.objects.filter(invoice=invoice)
    return InvoiceCredits(
        approved_cents=int(rows.get(CreditStatus.APPROVED) or 0),
        approved=counts.filter(status=CreditStatus.APPROVED).count(),
        pending=counts.filter(status=CreditStatus.PENDING).count(),
        to_review=counts.filter(status=CreditStatus.APPROVED, needs_review=True).count(),
    )
