"""Read side of billing: invoices a caller may see, their lines, and the events behind them.

Every function takes the tenants the caller may read (`tenants`, a queryset: an API
key's own tenant, a staff user's memberships, all of them for a superuser), so a
view cannot forget to scope; another tenant's invoice is simply not found.

A month may bill a million orders, so nothing here loads an invoice's lines whole:
the detail reads one page of them, the export walks them with `.iterator()` in
batches, and each page or batch fetches the events it cites in one query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain

from django.db.models import QuerySet

from orders.models import OrderEvent, Tenant

from .models import Invoice, InvoiceLine, LineKind
from .rules import OPERATIONS

# The billed operations, in the order a line cites them (and the export's columns).
EVIDENCE_OPERATIONS: tuple[str, ...] = tuple(OPERATIONS)

# The export walks lines in batches this size; each batch costs one query for the
# events it cites (at most four operations, a few events each: well under SQLite's
# limit of bound parameters).
EXPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """One stored event a line cites, as the sender named it."""

    id: int
    event_type: str
    event_id: str
    source: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class OperationEvidence:
    """A billed operation of an order line: when it first happened and the events proving it."""

    operation: str
    at: datetime | None
    events: list[EvidenceEvent]


def invoice_list(
    *,
    tenants: QuerySet[Tenant],
    period: date | None = None,
    status: str | None = None,
    tenant_slug: str | None = None,
) -> QuerySet[Invoice]:
    """The invoices of `tenants`, newest month first, optionally of one month, status or
    tenant (one of `tenants`: naming another one finds nothing)."""
    rows = Invoice.objects.filter(tenant__in=tenants).select_related("tenant")
    if tenant_slug is not None:
        rows = rows.filter(tenant__slug=tenant_slug)
    if period is not None:
        rows = rows.filter(period=period)
    if status is not None:
        rows = rows.filter(status=status)
    # The primary key breaks ties, so pages never repeat or skip an invoice.
    return rows.order_by("-period", "tenant__slug", "pk")


def invoice_get(*, tenants: QuerySet[Tenant], invoice_id: int) -> Invoice:
    """One invoice of `tenants`; raises Invoice.DoesNotExist for another tenant's."""
    return Invoice.objects.select_related("tenant").get(tenant__in=tenants, pk=invoice_id)


def invoice_order_lines(*, invoice: Invoice) -> QuerySet[InvoiceLine]:
    """The invoice's per-order lines in a stable order, each with its order's ids joined."""
    return (
        InvoiceLine.objects.filter(invoice=invoice, kind=LineKind.ORDER)
        .select_related("order")
        .only(
            *(f.name for f in InvoiceLine._meta.concrete_fields),
            "order__id",
            "order__external_id",
        )
        .order_by("pk")
    )


def invoice_month_lines(*, invoice: Invoice) -> list[InvoiceLine]:
    """The month's own lines (volume discount, monthly minimum top-up): at most one of each."""
    return list(
        InvoiceLine.objects.filter(invoice=invoice).exclude(kind=LineKind.ORDER).order_by("pk")
    )


def evidence_events(*, invoice: Invoice, lines: Iterable[InvoiceLine]) -> dict[int, EvidenceEvent]:
    """The events `lines` cite, by id, in one query (scoped to the invoice's tenant)."""
    ids = {event_id for line in lines for event_id in line.event_ids}
    if not ids:
        return {}
    rows = OrderEvent.objects.filter(tenant_id=invoice.tenant_id, pk__in=ids).values_list(
        "pk", "event_type", "event_id", "source", "occurred_at"
    )
    return {row[0]: EvidenceEvent(*row) for row in rows}


def line_evidence(line: InvoiceLine, events: dict[int, EvidenceEvent]) -> list[OperationEvidence]:
    """The operations `line` bills, each with its first time and its events (oldest first).

    An id whose event is gone (it cannot be: events are PROTECTed by their order,
    and lines by their order too) would simply be left out rather than fail.
    """
    cited = []
    for operation in EVIDENCE_OPERATIONS:
        at = getattr(line, f"{operation}_at")
        ids = [int(part) for part in getattr(line, f"{operation}_event_ids").split()]
        if at is None and not ids:
            continue
        found = [events[event_id] for event_id in ids if event_id in events]
        found.sort(key=lambda event: (event.occurred_at, event.id))
        cited.append(OperationEvidence(operation=operation, at=at, events=found))
    return cited


@dataclass(frozen=True, slots=True)
class InvoiceDetail:
    """An invoice with its month lines, one page of its order lines and the events they cite."""

    invoice: Invoice
    month_lines: list[InvoiceLine]
    lines: list[InvoiceLine]
    lines_count: int
    events: dict[int, EvidenceEvent]


def invoice_detail(
    *, tenants: QuerySet[Tenant], invoice_id: int, limit: int, offset: int
) -> InvoiceDetail:
    """One invoice of `tenants` and the order lines [offset, offset + limit), with evidence.

    Four queries whatever the month's size: the invoice, its month lines, the page
    of order lines (their orders joined) and the events that page cites. The count
    is the invoice's own `order_count`: one order line per billed order (a unique
    constraint), written with the lines, so a million-line month is not counted again.
    """
    invoice = invoice_get(tenants=tenants, invoice_id=invoice_id)
    month_lines = invoice_month_lines(invoice=invoice)
    lines = list(invoice_order_lines(invoice=invoice)[offset : offset + limit])
    return InvoiceDetail(
        invoice=invoice,
        month_lines=month_lines,
        lines=lines,
        lines_count=invoice.order_count,
        events=evidence_events(invoice=invoice, lines=lines),
    )


def line_handling(line: InvoiceLine) -> list[str]:
    """The order's handling flags as billed (`["hazmat", "rush"]`).

    The line keeps them as the database wrote the order's JSON list as text, whose
    spacing differs between PostgreSQL and SQLite; callers get the list either way.
    """
    try:
        flags = json.loads(line.handling) if line.handling else []
    except ValueError:
        return line.handling.split()
    return [str(flag) for flag in flags] if isinstance(flags, list) else []


def invoice_export_batches(
    *, invoice: Invoice, batch_size: int = EXPORT_BATCH
) -> Iterator[tuple[list[InvoiceLine], dict[int, EvidenceEvent]]]:
    """Every line of the invoice (orders first, then the month's lines), in batches with the
    events each batch cites: memory stays flat however many lines the month has."""
    month_lines = invoice_month_lines(invoice=invoice)
    order_lines = invoice_order_lines(invoice=invoice).iterator(chunk_size=batch_size)
    batch: list[InvoiceLine] = []
    for line in chain(order_lines, month_lines):
        batch.append(line)
        if len(batch) == batch_size:
            yield batch, evidence_events(invoice=invoice, lines=batch)
            batch = []
    if batch:
        yield batch, evidence_events(invoice=invoice, lines=batch)
