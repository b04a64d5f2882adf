"""The console's SLA credits: the list Finance decides from, and its two actions.

Credits come from the breaches (`billing.credits`), so nothing is added or edited
here; Finance approves or rejects, with a reason, the ones above the review
threshold, and reviews those the thresholds approved for it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from orders.currencies import format_amount

from .admin_decisions import DecisionActions, ReadOnlyAdmin, decide_selected
from .models import CreditStatus, SlaCredit
from .services import CreditNotOpen, credit_decide


class ToDecideFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decide"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Awaiting approval"), ("review", "Approved, listed for review")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "waiting":
            return queryset.filter(status=CreditStatus.PENDING)
        if self.value() == "review":
            return queryset.filter(status=CreditStatus.APPROVED, needs_review=True)
        return queryset


@admin.register(SlaCredit)
class SlaCreditAdmin(DecisionActions, ReadOnlyAdmin):
    # Severity with its percentage and the status with "listed for review" share a
    # column each: nine columns were wider than a 1366-px screen with the sidebar and
    # filter open ("decided by" cut off, the invoice wrapped as "demo-" / "3pl" / …).
    decision_permission = "billing.approve_credit"
    list_display = [
        "order_link",
        "invoice_link",
        "stages",
        "severity_share",
        "amount",
        "decision",
        "decided_by",
    ]
    list_filter = [ToDecideFilter, "status", "severity", "tenant"]
    list_select_related = ["order", "invoice__tenant"]
    search_fields = ["order__external_id", "invoice__number"]
    ordering = ["-amount_cents", "order_id"]
    actions = ["approve_selected", "reject_selected"]
    fields = [
        "tenant",
        "order_link",
        "invoice_link",
        "status",
        "needs_review",
        "stages",
        "severity",
        "breach_links",
        "percent",
        "base",
        "amount",
        "decided_by",
        "decided_at",
        "decision_reason",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description="order", ordering="order__external_id")
    def order_link(self, obj: SlaCredit) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.external_id)

    @admin.display(description="invoice", ordering="invoice__period")
    def invoice_link(self, obj: SlaCredit) -> str:
        # Wrapped only between words: "demo-3pl" / "2026-11" / "(Draft)", not at hyphens.
        words = format_html_join(
            " ",
            '<span style="white-space:nowrap">{}</span>',
            ((w,) for w in str(obj.invoice).split()),
        )
        url = reverse("admin:billing_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, words)

    @admin.display(description="severity", ordering="severity")
    def severity_share(self, obj: SlaCredit) -> str:
        return format_html(
            '<span style="white-space:nowrap">{} ({}%)</span>', obj.severity, obj.percent
        )

    @admin.display(description="status", ordering="status")
    def decision(self, obj: SlaCredit) -> str:
        if obj.needs_review:
            return f"{obj.get_status_display()}, listed for review"
        return obj.get_status_display()

    @admin.display(description="breaches")
    def breach_links(self, obj: SlaCredit) -> str:
        links = [
            format_html('<a href="{}">{}</a>', reverse("admin:slas_breach_change", args=[pk]), pk)
            for pk in obj.breach_ids.split()
        ]
        return format_html(" ".join(["{}"] * len(links)), *links) if links else "—"

    @admin.display(description="operation fees", ordering="base_cents")
    def base(self, obj: SlaCredit) -> str:
        return format_amount(obj.base_cents, obj.invoice.currency)

    @admin.display(description="credit", ordering="amount_cents")
    def amount(self, obj: SlaCredit) -> str:
        return format_amount(obj.amount_cents, obj.invoice.currency)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet, *, approve: bool
    ) -> HttpResponse | None:
        return decide_selected(
            self,
            request,
            queryset.select_related("invoice", "order"),
            approve=approve,
            noun="SLA credits",
            template="admin/billing/decide_credits.html",
            open_rows=queryset.exclude(status=CreditStatus.WITHDRAWN)
            .filter(invoice__status="draft")
            .select_related("order", "invoice__tenant"),
            decide=lambda credit, by, reason: credit_decide(
                credit=credit, approve=approve, by=by, reason=reason
            ),
            name=lambda credit: f"the credit of {credit.order.external_id}",
            refusals=(CreditNotOpen,),
        )
