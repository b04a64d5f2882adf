"""An invoice as a CSV file and as a printable HTML page, both streamed.

A month may bill a million orders. Neither rendering holds the invoice in memory:
lines come from the database with `.iterator()` (a server-side cursor on
PostgreSQL) in batches, and each batch leaves as text before the next is read.
The HTML page is the one template around a table whose rows are written here:
a template rendered a million times, once per row, would take a minute.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join

from orders.currencies import EXPONENTS, format_amount, minor_to_major

from ..models import Invoice, InvoiceLine, InvoiceStatus
from ..periods import local_date
from ..selectors import (
    EVIDENCE_OPERATIONS,
    EXPORT_BATCH,
    EvidenceEvent,
    invoice_export_batches,
    invoice_month_lines,
    invoice_order_lines,
    line_handling,
)

NO_TAX_SENTENCE = (
    "No tax is computed on this invoice: the amounts exclude VAT, GST and sales tax, "
    "which are accounted for separately where they apply."
)

# ------------------------------------------------------------------------------ CSV

AMOUNT_COLUMNS: tuple[str, ...] = (
    "pick_cents",
    "pack_cents",
    "label_cents",
    "kitting_cents",
    "operations_cents",
    "order_minimum_cents",
    "handling_cents",
    "discountable_cents",
    "gift_wrap_cents",
    "photo_cents",
    "quality_check_cents",
    "custom_packaging_cents",
    "return_cents",
    "label_passthrough_cents",
    "amount_cents",
)
CSV_COLUMNS: tuple[str, ...] = (
    "invoice_id",
    "invoice_number",
    "period",
    "currency",
    "line_id",
    "kind",
    "order_id",
    "order_external_id",
    "description",
    "handling",
    "units",
    "return_units",
    "label_cost_cents",
    *AMOUNT_COLUMNS,
    "multiplier",
    "amount",
    *(
        column
        for operation in EVIDENCE_OPERATIONS
        for column in (f"{operation}_at", f"{operation}_event_ids", f"{operation}_sender_event_ids")
    ),
)
# A spreadsheet runs a cell starting with one of these as a formula; senders choose
# order ids, so their text is written with a leading apostrophe instead.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer's file: hands each written row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _when(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def csv_filename(invoice: Invoice) -> str:
    name = invoice.number or f"{invoice.tenant.slug}-{invoice.period:%Y-%m}-draft"
    return f"{name}.csv"


def _csv_row(invoice: Invoice, line: InvoiceLine, events: dict[int, EvidenceEvent]) -> list[Any]:
    row: list[Any] = [
        invoice.pk,
        invoice.number or "",
        f"{invoice.period:%Y-%m}",
        invoice.currency,
        line.pk,
        line.kind,
        line.order_id or "",
        _text(line.order.external_id) if line.order_id else "",
        _text(line.description),
        " ".join(line_handling(line)),
        line.units,
        line.return_units,
        line.label_cost_cents,
        *(getattr(line, column) for column in AMOUNT_COLUMNS),
        line.multiplier,
        minor_to_major(line.amount_cents, invoice.currency),
    ]
    for operation in EVIDENCE_OPERATIONS:
        ids = getattr(line, f"{operation}_event_ids")
        cited = [events[int(part)] for part in ids.split() if int(part) in events]
        # Sender ids may hold spaces but never a line break (ingestion takes printable
        # text only), so one per line inside the cell keeps them apart.
        senders = "\n".join(_text(event.event_id) for event in cited)
        row += [_when(getattr(line, f"{operation}_at")), ids, senders]
    return row


def invoice_csv(invoice: Invoice, *, batch_size: int = EXPORT_BATCH) -> Iterator[str]:
    """The header, then one row per line (orders, then the month's lines), as CSV text."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for lines, events in invoice_export_batches(invoice=invoice, batch_size=batch_size):
        yield "".join(writer.writerow(_csv_row(invoice, line, events)) for line in lines)


# ---------------------------------------------------------------------- print page

ROW_CELLS: tuple[str, ...] = (
    "pick_cents",
    "pack_cents",
    "label_cents",
    "kitting_cents",
    "order_minimum_cents",
    "handling_cents",
    "services_cents",
)


def _figure(amount: int, currency: str) -> str:
    """An amount in a table cell, without the currency (the header names it once)."""
    exponent = EXPONENTS.get(currency, 2)
    return f"{minor_to_major(amount, currency):,.{exponent}f}"


def _print_row(line: InvoiceLine, currency: str, tz_name: str) -> str:
    cells = format_html_join(
        "",
        '<td class="{}">{}</td>',
        (
            ("num", _figure(amount, currency)) if amount else ("num muted", "–")
            for amount in (getattr(line, name) for name in ROW_CELLS)
        ),
    )
    first = min(
        (at for at in (getattr(line, f"{op}_at") for op in EVIDENCE_OPERATIONS) if at),
        default=None,
    )
    return format_html(
        '<tr><td>{}</td><td>{}</td><td class="num">{}</td>{}<td class="num">{}</td></tr>\n',
        line.order.external_id,
        f"{local_date(first, tz_name):%Y-%m-%d}" if first else "",
        line.units or "",
        cells,
        _figure(line.amount_cents, currency),
    )


def _status_banner(invoice: Invoice) -> str:
    tz = invoice.tenant.timezone
    if invoice.status == InvoiceStatus.DRAFT:
        return "Draft: the month's lines are rebuilt from the evidence until it is issued."
    if invoice.status == InvoiceStatus.PAID and invoice.paid_at:
        return f"Paid on {local_date(invoice.paid_at, tz):%d %B %Y}."
    if invoice.status == InvoiceStatus.VOID and invoice.voided_at:
        return f"Void since {local_date(invoice.voided_at, tz):%d %B %Y}: {invoice.void_reason}"
    return ""


def _page_context(invoice: Invoice, month_lines: Iterable[InvoiceLine]) -> dict[str, Any]:
    tenant, currency = invoice.tenant, invoice.currency
    issued_on: date | None = (
        local_date(invoice.issued_at, tenant.timezone) if invoice.issued_at else None
    )
    return {
        "invoice": invoice,
        "tenant": tenant,
        "title": invoice.number or "DRAFT",
        "is_draft": invoice.status == InvoiceStatus.DRAFT,
        "is_void": invoice.status == InvoiceStatus.VOID,
        "banner": _status_banner(invoice),
        "period_label": f"{invoice.period:%B %Y}",
        "issued_on": issued_on,
        "due_on": invoice.due_on,
        "currency": currency,
        "month_lines": [
            {
                "description": line.description or line.get_kind_display(),
                "amount": format_amount(line.amount_cents, currency),
            }
            for line in month_lines
        ],
        "orders_total": format_amount(invoice.orders_cents, currency),
        "total": format_amount(invoice.total_cents, currency),
        "no_tax": NO_TAX_SENTENCE,
    }


def invoice_print_page(invoice: Invoice, *, batch_size: int = EXPORT_BATCH) -> Iterator[str]:
    """The printable page: the header and totals from the templates, the order rows between."""
    context = _page_context(invoice, invoice_month_lines(invoice=invoice))
    yield render_to_string("billing/invoice_print_top.html", context)
    rows: list[str] = []
    for line in invoice_order_lines(invoice=invoice).iterator(chunk_size=batch_size):
        rows.append(_print_row(line, invoice.currency, invoice.tenant.timezone))
        if len(rows) == batch_size:
            yield "".join(rows)
            rows = []
    if rows:
        yield "".join(rows)
    yield render_to_string("billing/invoice_print_bottom.html", context)
