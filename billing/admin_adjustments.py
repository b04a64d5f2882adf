"""The console's after-issue screens: adjustments to decide, credit notes, revenue
leaks, and each tenant's billing settings (automatic issue on the 1st)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from orders.admin_scoping import TenantScopedAdmin
from orders.currencies import format_amount

from .admin_decisions import DecisionActions, ReadOnlyAdmin, decide_selected
from .leaks import missing_evidence
from .models import (
    AdjustmentStatus,
    BillingState,
    CreditNote,
    InvoiceAdjustment,
    InvoiceStatus,
    RevenueLeak,
)
from .models.leak import MISSING_PACK, MISSING_PICK
from .services import AdjustmentNotOpen, adjustment_decide


def _invoice_link(invoice_id: int, label: object) -> str:
    url = reverse("admin:billing_invoice_change", args=[invoice_id])
    return format_html('<a href="{}">{}</a>', url, label)


@admin.register(InvoiceAdjustment)
class InvoiceAdjustmentAdmin(DecisionActions, ReadOnlyAdmin):
    """Proposed by the nightly validation (or approved by the rules, for late fees);
    Finance approves or rejects, with a reason."""

    tenant_field = "invoice__tenant"
    decision_permission = "billing.decide_adjustment"
    list_display = [
        "adjusted",
        "kind",
        "amount",
        "rationale",
        "status",
        "booked",
        "decided_by",
        "proposed_at",
    ]
    list_filter = ["status", "kind", "invoice__tenant"]
    list_select_related = ["invoice__tenant", "booked_on"]
    search_fields = ["invoice__number", "rationale"]
    ordering = ["-proposed_at", "pk"]
    actions = ["approve_selected", "reject_selected"]
    fields = [
        "adjusted",
        "key",
        "revision",
        "kind",
        "amount",
        "rationale",
        "friendly_rationale",
        "friendly_by",
        "evidence",
        "status",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "booked",
    ]
    readonly_fields = fields

    @admin.display(description="adjusts", ordering="invoice__period")
    def adjusted(self, obj: InvoiceAdjustment) -> str:
        return _invoice_link(obj.invoice_id, obj.invoice)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: InvoiceAdjustment) -> str:
        return format_html(
            '<span style="white-space:nowrap">{}</span>',
            format_amount(obj.amount_cents, obj.invoice.currency),
        )

    @admin.display(description="carried by")
    def booked(self, obj: InvoiceAdjustment) -> str:
        if obj.booked_on_id:
            return _invoice_link(obj.booked_on_id, obj.booked_on)
        return "the next draft" if obj.status == AdjustmentStatus.APPROVED else "—"

    def _decide(
        self, request: HttpRequest, queryset: QuerySet, *, approve: bool
    ) -> HttpResponse | None:
        return decide_selected(
            self,
            request,
            queryset.select_related("invoice__tenant"),
            approve=approve,
            noun="adjustments",
            template="admin/billing/decide_adjustments.html",
            open_rows=queryset.filter(status=AdjustmentStatus.PROPOSED).select_related(
                "invoice__tenant"
            ),
            decide=lambda row, by, reason: adjustment_decide(
                adjustment=row, approve=approve, by=by, reason=reason
            ),
            name=lambda adjustment: (
                f"{adjustment.get_kind_display().lower()} to "
                f"{adjustment.invoice} ({adjustment.key})"
            ),
            refusals=(AdjustmentNotOpen,),
        )


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    tenant_field = "invoice__tenant"
    list_display = ["number", "cancels", "amount", "reason", "issued_at", "issued_by"]
    list_select_related = ["invoice__tenant"]
    list_filter = ["invoice__tenant"]
    search_fields = ["number", "invoice__number"]
    fields = list_display
    readonly_fields = fields

    @admin.display(description="cancels")
    def cancels(self, obj: CreditNote) -> str:
        return _invoice_link(obj.invoice_id, obj.invoice)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: CreditNote) -> str:
        return format_amount(obj.amount_cents, obj.invoice.currency)


class MissingFilter(admin.SimpleListFilter):
    title = "missing evidence"
    parameter_name = "missing"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pick", "Pick"), ("pack", "Pack")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "pick":
            return queryset.filter(MISSING_PICK)
        if self.value() == "pack":
            return queryset.filter(MISSING_PACK)
        return queryset


@admin.register(RevenueLeak)
class RevenueLeakAdmin(ReadOnlyAdmin):
    """Shipped orders billing cannot charge in full: ask the warehouse for the scan."""

    list_display = ["order", "tenant", "shipped_at", "missing", "picked_at", "packed_at"]
    list_filter = [MissingFilter, "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["external_id"]
    ordering = ["-shipped_at", "pk"]
    fields = ["order", "tenant", "status", "shipped_at", "missing", "picked_at", "packed_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(missing=missing_evidence())

    @admin.display(description="order", ordering="external_id")
    def order(self, obj: RevenueLeak) -> str:
        url = reverse("admin:orders_order_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.external_id)

    @admin.display(description="missing", ordering="missing")
    def missing(self, obj: RevenueLeak) -> str:
        return obj.missing


@admin.register(BillingState)
class BillingSettingsAdmin(TenantScopedAdmin):
    """Per tenant: whether last month's invoice is issued on the 1st, and when the
    nightly job last ran for it."""

    list_display = ["tenant", "auto_issue", "last_run_on", "drafts"]
    list_editable = ["auto_issue"]
    list_select_related = ["tenant"]
    fields = ["tenant", "auto_issue", "last_run_on", "last_run_at"]
    readonly_fields = ["tenant", "last_run_on", "last_run_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per tenant, made by the nightly job

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        drafts = Q(tenant__invoices__status=InvoiceStatus.DRAFT)
        return (
            super().get_queryset(request).annotate(drafts=Count("tenant__invoices", filter=drafts))
        )

    @admin.display(description="drafts", ordering="drafts")
    def drafts(self, obj: BillingState) -> int:
        return obj.drafts
