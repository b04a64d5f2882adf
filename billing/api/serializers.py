"""Shapes of the invoice API: query parameters in, invoices, lines and evidence out.

Amounts are integers of the invoice currency's minor unit (cents for USD, yen for
JPY), exactly as stored; `total_formatted` is the same total as an invoice prints
it. Output serializers render the response and document it in OpenAPI alike.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.urls import remove_query_param, replace_query_param

from orders.currencies import format_amount

from ..models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from ..periods import parse_period
from ..selectors import (
    EVIDENCE_OPERATIONS,
    EvidenceEvent,
    InvoiceDetail,
    line_evidence,
    line_handling,
)

# The list pages like the other list endpoints.
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 500
# An invoice's order lines come a page at a time in its detail; the CSV has them all.
LINES_DEFAULT_LIMIT = 100
LINES_MAX_LIMIT = 500
# Far past any month's lines, and well inside what every database takes as an OFFSET.
MAX_OFFSET = 10**9


class PeriodField(serializers.CharField):
    """A billing month written `YYYY-MM`; the first day of that month out."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        text = super().run_validation(data)  # text, checked for length, NUL and blankness
        try:
            return parse_period(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-11"})
class MonthField(serializers.Field):
    """A billing month out, as the `period` query parameter takes it: `2026-11`."""

    def to_representation(self, value: date) -> str:
        return f"{value.year:04d}-{value.month:02d}"


# ------------------------------------------------------------------- query parameters


class InvoiceListQuery(serializers.Serializer):
    period = PeriodField(
        required=False, max_length=16, help_text="The billed month, YYYY-MM (e.g. 2026-11)."
    )
    status = serializers.ChoiceField(
        choices=InvoiceStatus.choices, required=False, help_text="One status."
    )
    tenant = serializers.SlugField(
        source="tenant_slug",
        required=False,
        max_length=64,
        help_text="A tenant's slug: staff working for several tenants narrow the list to "
        "one. An API key only ever sees its own tenant's invoices.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=LIST_MAX_LIMIT,
        help_text=f"Invoices per page (default {LIST_DEFAULT_LIMIT}, at most {LIST_MAX_LIMIT}).",
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, help_text="Invoices to skip."
    )


class LeakListQuery(serializers.Serializer):
    period = PeriodField(
        required=False,
        max_length=16,
        help_text="Only orders shipped in this month (each tenant's own time zone), YYYY-MM.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=LIST_MAX_LIMIT,
        help_text=f"Orders per page (default {LIST_DEFAULT_LIMIT}, at most {LIST_MAX_LIMIT}).",
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, help_text="Orders to skip."
    )


class InvoiceLinesQuery(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=LINES_MAX_LIMIT,
        default=LINES_DEFAULT_LIMIT,
        help_text=f"Order lines per page (default {LINES_DEFAULT_LIMIT}, at most "
        f"{LINES_MAX_LIMIT}).",
    )
    offset = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_OFFSET,
        default=0,
        help_text="Order lines to skip.",
    )


# ------------------------------------------------------------------------- output


class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice's header and totals, as the list shows it."""

    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    period = MonthField(read_only=True, help_text="The billed calendar month, YYYY-MM.")
    number = serializers.CharField(
        allow_null=True, read_only=True, help_text="Given at issue; null while a draft."
    )
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    total_formatted = serializers.SerializerMethodField(help_text="e.g. 1,234.50 USD.")
    url = serializers.SerializerMethodField()
    csv_url = serializers.SerializerMethodField(help_text="Every line, evidence included.")
    print_url = serializers.SerializerMethodField(help_text="A printable HTML page.")

    class Meta:
        model = Invoice
        fields = [
            "id",
            "tenant",
            "tenant_name",
            "period",
            "status",
            "number",
            "currency",
            "order_count",
            "orders_cents",
            "discount_percent",
            "discount_cents",
            "other_fees_cents",
            "minimum_topup_cents",
            "credits_cents",
            "adjustments_cents",
            "total_cents",
            "total_formatted",
            "refreshed_at",
            "issued_at",
            "due_on",
            "paid_at",
            "voided_at",
            "url",
            "csv_url",
            "print_url",
        ]
        read_only_fields = fields

    def get_total_formatted(self, invoice: Invoice) -> str:
        return format_amount(invoice.total_cents, invoice.currency)

    def _link(self, invoice: Invoice, suffix: str) -> str:
        path = f"/api/invoices/{invoice.pk}{suffix}"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, invoice: Invoice) -> str:
        return self._link(invoice, "")

    def get_csv_url(self, invoice: Invoice) -> str:
        return self._link(invoice, "/export.csv")

    def get_print_url(self, invoice: Invoice) -> str:
        return self._link(invoice, "/print")


class InvoicePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = InvoiceSerializer(many=True)


class EvidenceEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="E²A's id of the stored event.")
    event_type = serializers.CharField()
    event_id = serializers.CharField(help_text="The sender's event id.")
    source = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class OperationEvidenceSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(choices=list(EVIDENCE_OPERATIONS))
    at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the operation first happened: what billed it. For a per-event "
        "service (photo, quality check, custom packaging), its first event of the month; "
        "for a label cost passed through, the label event whose cost is billed; for gift "
        "wrap the order's flag alone evidences, its first operation (no events).",
    )
    events = EvidenceEventSerializer(many=True, help_text="Every event reporting it.")


class LineOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(help_text="The sender's order id, e.g. #1001.")


class InvoiceLineSerializer(serializers.ModelSerializer):
    """One line; an order line with the operations and services (gift wrap, photos,
    quality checks, custom packaging, a return, the label cost passed through) it bills
    and the events behind them.

    Needs `events` in the context: the events the rendered lines cite, by id
    (`billing.selectors.evidence_events`).
    """

    kind = serializers.ChoiceField(choices=LineKind.choices, read_only=True)
    order = serializers.SerializerMethodField()
    handling = serializers.SerializerMethodField(
        help_text="The order's handling flags when it was billed (rush, hazmat, gift_wrap, …)."
    )
    multiplier = serializers.DecimalField(max_digits=16, decimal_places=8, read_only=True)
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "description",
            "order",
            "handling",
            "units",
            "pick_cents",
            "pack_cents",
            "label_cents",
            "kitting_cents",
            "operations_cents",
            "order_minimum_cents",
            "multiplier",
            "handling_cents",
            "discountable_cents",
            "gift_wrap_cents",
            "photo_cents",
            "quality_check_cents",
            "custom_packaging_cents",
            "return_units",
            "return_cents",
            "label_cost_cents",
            "label_passthrough_cents",
            "amount_cents",
            "evidence",
        ]
        read_only_fields = fields

    @extend_schema_field(LineOrderSerializer(allow_null=True))
    def get_order(self, line: InvoiceLine) -> dict[str, Any] | None:
        if line.order_id is None:
            return None
        return {"id": line.order_id, "external_id": line.order.external_id}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_handling(self, line: InvoiceLine) -> list[str]:
        return line_handling(line)

    @extend_schema_field(OperationEvidenceSerializer(many=True))
    def get_evidence(self, line: InvoiceLine) -> list[dict[str, Any]]:
        events: dict[int, EvidenceEvent] = self.context["events"]
        return OperationEvidenceSerializer(line_evidence(line, events), many=True).data


class InvoiceLinePageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Order lines in all.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = serializers.CharField(
        allow_null=True, help_text="The next page of order lines, or null on the last."
    )
    previous = serializers.CharField(allow_null=True)
    results = InvoiceLineSerializer(many=True)


class InvoiceHeaderSerializer(InvoiceSerializer):
    """The detail's invoice fields: the list's, and what only the detail needs."""

    tariff = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The version in force at the month's end (tiers, minimum)."
    )
    no_tax = serializers.SerializerMethodField(help_text="Always true: no tax is computed.")

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "tariff",
            "discountable_cents",
            "issued_by",
            "void_reason",
            "no_tax",
        ]
        read_only_fields = fields

    def get_no_tax(self, invoice: Invoice) -> bool:
        return True


class InvoiceDetailSerializer(InvoiceHeaderSerializer):
    """An invoice with every total, its month lines, and one page of its order lines
    (documents `invoice_detail_body`, which renders it)."""

    month_lines = InvoiceLineSerializer(
        many=True,
        read_only=True,
        help_text="Volume discount and monthly minimum top-up, when the month has them.",
    )
    lines = InvoiceLinePageSerializer(
        read_only=True,
        help_text="Order lines, a page at a time (`limit`, `offset`); `csv_url` has them all.",
    )

    class Meta(InvoiceHeaderSerializer.Meta):
        fields = [*InvoiceHeaderSerializer.Meta.fields, "month_lines", "lines"]
        read_only_fields = fields


def invoice_detail_body(
    detail: InvoiceDetail, *, request: Any, limit: int, offset: int
) -> dict[str, Any]:
    """Render a `selectors.InvoiceDetail`: the header, the month lines, a page of order lines
    with links to the pages either side (this URL with another `offset`)."""
    context = {"request": request, "events": detail.events}
    url = request.build_absolute_uri()
    after = offset + limit
    previous = None
    if offset > 0:
        before = max(offset - limit, 0)
        previous = (
            remove_query_param(url, "offset")
            if before == 0
            else replace_query_param(url, "offset", before)
        )
    return {
        **InvoiceHeaderSerializer(detail.invoice, context=context).data,
        "month_lines": InvoiceLineSerializer(detail.month_lines, many=True, context=context).data,
        "lines": {
            "count": detail.lines_count,
            "limit": limit,
            "offset": offset,
            "next": replace_query_param(url, "offset", after)
            if after < detail.lines_count
            else None,
            "previous": previous,
            "results": InvoiceLineSerializer(detail.lines, many=True, context=context).data,
        },
    }


class LeakSerializer(serializers.Serializer):
    """A shipped order billing cannot charge in full: the scan to ask the warehouse for."""

    order_id = serializers.CharField(source="external_id", help_text="The merchant's order id.")
    tenant = serializers.CharField(source="tenant.slug")
    shipped_at = serializers.DateTimeField()
    missing = serializers.ChoiceField(
        choices=["pick", "pack", "pick and pack"], help_text="The evidence not received."
    )
    picked_at = serializers.DateTimeField(allow_null=True)
    packed_at = serializers.DateTimeField(allow_null=True)


class LeakPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LeakSerializer(many=True)
