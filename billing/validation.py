"""Validation of issued invoices: recompute each one from the evidence as it stands and
turn every difference into a proposed adjustment. An issued invoice is never edited.

What is compared, per issued invoice:
- each order line, against the same rules run again now (`rules.priced_order_lines`,
  streamed in order id order beside the stored lines): a difference in an order's
  amount becomes a correction keyed `order:<id>`, with a rationale naming each
  operation or service (`rules.OPERATIONS`: a return, a photo, a label cost passed
  through…) that changed and the event that proves it;
- the month's volume discount and minimum top-up, recomputed from the new sums
  (`month`);
- each order's SLA credit, earned now against what was booked (`credit:<id>`);
- payment: an invoice still unpaid 30 days after its due date gets the tariff's late
  fee (`late_fee`), approved by the rules.

A key's adjustments add up to the difference: a proposal is updated in place while
undecided, withdrawn when the difference goes away, and a difference that moves
after a decision gets a new revision for the rest. A rejected amount is not proposed
again unless the difference changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from orders.currencies import format_amount
from orders.models import Order, OrderEvent

from .credits import CHUNK, breaches_by_order, creditable_breaches, earned_credits
from .models import (
    AUTO_DECIDER,
    AdjustmentKind,
    AdjustmentStatus,
    CreditStatus,
    Invoice,
    InvoiceAdjustment,
    InvoiceStatus,
    LineKind,
    SlaCredit,
)
from .periods import local_date
from .rules import (
    LINE_COLUMNS,
    OPERATIONS,
    PRICE_COLUMNS,
    month_totals,
    operation_label,
    priced_order_lines,
)
from .tariffs import PricedVersion, versions_for_month

LATE_AFTER_DUE_DAYS = 30
_COLUMNS = (*LINE_COLUMNS, *PRICE_COLUMNS)


@dataclass(frozen=True, slots=True)
class Difference:
    key: str
    kind: str
    amount_cents: int  # what the invoice should have carried minus what it did
    rationale: str
    evidence: dict = field(default_factory=dict)


def recomputed_rows(
    invoice: Invoice, versions: list[PricedVersion] | None = None
) -> Iterator[dict]:
    """The invoice's month priced again from the evidence, a dict per order line in
    order id order, by `versions` (default: the tenant's, as billing uses them)."""
    tenant = invoice.tenant
    if versions is None:
        versions = versions_for_month(tenant=tenant, period=invoice.period)
    sql, params = priced_order_lines(
        tenant=tenant, period=invoice.period, versions=versions, invoice_id=invoice.pk
    )
    position = _COLUMNS.index("order_id") + 1
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY {position}", params)
        while rows := cursor.fetchmany(CHUNK):
            for row in rows:
                yield dict(zip(_COLUMNS, row, strict=True))


def _stored_rows(invoice: Invoice) -> Iterator[dict]:
    lines = invoice.lines.filter(kind=LineKind.ORDER).order_by("order_id")
    return lines.values(*_COLUMNS).iterator(chunk_size=CHUNK)


def line_pairs(
    invoice: Invoice, versions: list[PricedVersion] | None = None
) -> Iterator[tuple[dict | None, dict | None]]:
    """(stored, recomputed) per order, merged by order id; None where one is missing."""
    stored, fresh = _stored_rows(invoice), recomputed_rows(invoice, versions)
    old, new = next(stored, None), next(fresh, None)
    while old is not None or new is not None:
        if new is None or (old is not None and old["order_id"] < new["order_id"]):
            yield old, None
            old = next(stored, None)
        elif old is None or new["order_id"] < old["order_id"]:
            yield None, new
            new = next(fresh, None)
        else:
            yield old, new
            old, new = next(stored, None), next(fresh, None)


def _first_event(ids: str) -> OrderEvent | None:
    first = ids.split()[0] if ids else None
    return OrderEvent.objects.filter(pk=first).first() if first else None


def _order_rationale(invoice: Invoice, old: dict | None, new: dict | None) -> tuple[str, dict]:
    row = new or old
    assert row is not None
    order = Order.objects.only("external_id").get(pk=row["order_id"])
    zone = ZoneInfo(invoice.tenant.timezone)
    money = invoice.currency
    parts: list[str] = []
    event_ids: list[int] = []
    for op in OPERATIONS:
        name = operation_label(op)
        before = old[f"{op}_cents"] if old else 0
        after = new[f"{op}_cents"] if new else 0
        if before == after:
            continue
        if before == 0:
            event = _first_event(new[f"{op}_event_ids"]) if new else None
            proof = (
                f": {event.event_type} {event.event_id} at "
                f"{event.occurred_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if event
                else ""
            )
            if event:
                event_ids.append(event.pk)
            parts.append(f"{name} fee missing for order {order.external_id}{proof}")
        elif after == 0:
            parts.append(
                f"{name} fee billed for order {order.external_id} without evidence in "
                f"{invoice.period:%B %Y} now"
            )
        else:
            parts.append(
                f"{name} fee for order {order.external_id} is {format_amount(after, money)}, "
                f"not {format_amount(before, money)}"
            )
    if not parts:
        parts.append(f"order {order.external_id}: minimum, handling or gift wrap recomputed")
    return "; ".join(parts), {"order_id": order.pk, "event_ids": event_ids}


def order_differences(invoice: Invoice) -> tuple[list[Difference], dict]:
    """The orders whose amount differs, and the recomputed month sums (for rule 5–6)."""
    differences: list[Difference] = []
    sums = {"count": 0, "amount": 0, "discountable": 0}
    for old, new in line_pairs(invoice):
        if new is not None:
            sums["count"] += 1
            sums["amount"] += new["amount_cents"]
            sums["discountable"] += new["discountable_cents"]
        before = old["amount_cents"] if old else 0
        after = new["amount_cents"] if new else 0
        if before == after:
            continue  # nothing owed either way (e.g. more units under a flat pick fee)
        rationale, evidence = _order_rationale(invoice, old, new)
        row = new or old
        assert row is not None
        differences.append(
            Difference(
                key=f"order:{row['order_id']}",
                kind=AdjustmentKind.CORRECTION,
                amount_cents=after - before,
                rationale=rationale,
                evidence=evidence,
            )
        )
    return differences, sums


def month_difference(invoice: Invoice, sums: dict) -> Difference | None:
    versions = versions_for_month(tenant=invoice.tenant, period=invoice.period)
    totals = month_totals(
        order_count=sums["count"],
        orders_cents=sums["amount"],
        discountable_cents=sums["discountable"],
        month_version=versions[-1],
        # Storage, receiving and monthly fees as issued: a closed month's snapshots
        # cannot be re-imported, so only the orders can move here.
        other_fees_cents=invoice.other_fees_cents,
    )
    before = invoice.discount_cents + invoice.minimum_topup_cents
    after = totals.discount_cents + totals.minimum_topup_cents
    if before == after:
        return None
    money = invoice.currency
    return Difference(
        key="month",
        kind=AdjustmentKind.CORRECTION,
        amount_cents=after - before,
        rationale=(
            f"with {totals.order_count} orders now ({invoice.order_count} invoiced), the volume "
            f"discount is {format_amount(totals.discount_cents, money)} (was "
            f"{format_amount(invoice.discount_cents, money)}) and the minimum top-up "
            f"{format_amount(totals.minimum_topup_cents, money)} (was "
            f"{format_amount(invoice.minimum_topup_cents, money)})"
        ),
    )


def credit_differences(invoice: Invoice) -> list[Difference]:
    """Credits earned now by orders first billed on `invoice`, against those it booked."""
    booked = {
        c.order_id: c
        for c in SlaCredit.objects.filter(invoice=invoice).exclude(status=CreditStatus.PENDING)
    }
    differences: list[Difference] = []
    seen: set[int] = set()
    rows = breaches_by_order(invoice)
    while chunk := list(islice(rows, CHUNK)):
        earned = earned_credits(invoice, chunk)
        names = _order_names([item.order_id for item in earned])
        for item in earned:
            seen.add(item.order_id)
            credit = booked.get(item.order_id)
            had = credit.amount_cents if credit and credit.status == CreditStatus.APPROVED else 0
            if credit and credit.status == CreditStatus.REJECTED:
                had = item.amount_cents if credit.decided_cents == item.amount_cents else 0
            if item.amount_cents != had:
                differences.append(
                    Difference(
                        key=f"credit:{item.order_id}",
                        kind=AdjustmentKind.CREDIT,
                        amount_cents=-(item.amount_cents - had),
                        rationale=(
                            f"SLA credit for order {names[item.order_id]}: {item.stages} late "
                            f"({item.severity}), {item.percent}% of "
                            f"{format_amount(item.base_cents, invoice.currency)} in fees"
                        ),
                        evidence={"order_id": item.order_id, "breach_ids": item.breach_ids},
                    )
                )
    earning = seen | set(creditable_breaches(invoice).values_list("order_id", flat=True))
    withdrawn = [
        order_id
        for order_id, credit in booked.items()
        if credit.status == CreditStatus.APPROVED and order_id not in earning
    ]
    names = _order_names(withdrawn)
    for order_id in withdrawn:
        differences.append(
            Difference(
                key=f"credit:{order_id}",
                kind=AdjustmentKind.CREDIT,
                amount_cents=booked[order_id].amount_cents,
                rationale=f"SLA credit for order {names[order_id]} withdrawn: its breach cleared",
                evidence={"order_id": order_id},
            )
        )
    return differences


def _order_names(order_ids: list[int]) -> dict[int, str]:
    """The merchant's order numbers, by primary key."""
    return dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "external_id"))


def late_fee(invoice: Invoice, now: datetime) -> Difference | None:
    if invoice.status != InvoiceStatus.ISSUED or invoice.due_on is None:
        return None
    today = local_date(now, invoice.tenant.timezone)
    if today <= invoice.due_on + timedelta(days=LATE_AFTER_DUE_DAYS):
        return None
    fee = invoice.tariff.late_fee_cents if invoice.tariff else 0
    if not fee:
        return None
    return Difference(
        key="late_fee",
        kind=AdjustmentKind.LATE_FEE,
        amount_cents=fee,
        rationale=(
            f"{invoice.number} was due {invoice.due_on:%d %b %Y} and is unpaid "
            f"{(today - invoice.due_on).days} days later"
        ),
    )


@dataclass(frozen=True, slots=True)
class Validated:
    invoice: Invoice
    proposed: int  # new or changed proposals
    withdrawn: int
    approved: int  # approved by the rules (late fees)


def _settle(
    invoice: Invoice, wanted: dict[str, Difference], keys: set[str], now: datetime
) -> Validated:
    """Make each key's adjustments add up to its difference (see the module docstring)."""
    proposed = withdrawn = approved = 0
    existing: dict[str, list[InvoiceAdjustment]] = {}
    for adjustment in invoice.adjustments.order_by("key", "revision"):
        existing.setdefault(adjustment.key, []).append(adjustment)
    for key in sorted(keys | existing.keys()):
        rows = existing.get(key, [])
        difference = wanted.get(key)
        target = difference.amount_cents if difference else 0
        settled = sum(a.amount_cents for a in rows if a.status == AdjustmentStatus.APPROVED)
        rest = target - settled
        open_one = next((a for a in rows if a.status == AdjustmentStatus.PROPOSED), None)
        last_rejected = next(
            (a for a in reversed(rows) if a.status == AdjustmentStatus.REJECTED), None
        )
        if rest == 0:
            if open_one:
                open_one.status = AdjustmentStatus.WITHDRAWN
                open_one.updated_at = now
                open_one.save(update_fields=["status", "updated_at"])
                withdrawn += 1
            continue
        rationale = difference.rationale if difference else "no longer found in the evidence"
        evidence = difference.evidence if difference else {}
        kind = difference.kind if difference else rows[-1].kind
        if open_one:
            if (open_one.amount_cents, open_one.rationale) != (rest, rationale):
                open_one.amount_cents, open_one.rationale = rest, rationale
                open_one.evidence, open_one.updated_at = evidence, now
                open_one.friendly_rationale = open_one.friendly_by = ""  # reworded a stale text
                open_one.save(
                    update_fields=[
                        "amount_cents",
                        "rationale",
                        "evidence",
                        "updated_at",
                        "friendly_rationale",
                        "friendly_by",
                    ]
                )
                proposed += 1
            continue
        if last_rejected and last_rejected.amount_cents == rest:
            continue  # Finance said no to exactly this
        by_rules = kind == AdjustmentKind.LATE_FEE
        InvoiceAdjustment.objects.create(
            invoice=invoice,
            key=key,
            revision=(max((a.revision for a in rows), default=0) + 1),
            kind=kind,
            amount_cents=rest,
            rationale=rationale,
            evidence=evidence,
            status=AdjustmentStatus.APPROVED if by_rules else AdjustmentStatus.PROPOSED,
            decided_by=AUTO_DECIDER if by_rules else "",
            decided_at=now if by_rules else None,
            proposed_at=now,
            updated_at=now,
        )
        approved += by_rules
        proposed += not by_rules
    return Validated(invoice=invoice, proposed=proposed, withdrawn=withdrawn, approved=approved)


def invoice_validate(*, invoice: Invoice, now: datetime) -> Validated:
    """Recompute an issued (unpaid) invoice and settle its adjustments with what is
    found. Under the invoice's row lock, so two runs take turns."""
    with transaction.atomic():
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("tenant", "tariff")
            .get(pk=invoice.pk)
        )
        if invoice.status != InvoiceStatus.ISSUED:
            return Validated(invoice=invoice, proposed=0, withdrawn=0, approved=0)
        differences, sums = order_differences(invoice)
        extra = [month_difference(invoice, sums), late_fee(invoice, now)]
        differences += [d for d in extra if d is not None] + credit_differences(invoice)
        wanted = {d.key: d for d in differences}
        return _settle(invoice, wanted, set(wanted), now)
