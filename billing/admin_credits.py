"""The console's SLA credits: the list Finance decides from, and its two actions.

Credits come from the breaches (`billing.credits`), so nothing is added or edited
here; Finance approves or rejects, with a reason, the ones above the review
threshold, and reviews those the thresholds approved for it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from e2a_project.admin_pages import confirm_with_reason, reason_form, reason_given
from orders.admin_scoping import TenantScopedAdmin
from orders.currencies import format_amount

from .models import CreditStatus, SlaCredit
from .services import CreditNotOpen, credit_decide


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on the credit, e.g. 'Confirmed: the wave started 3 h late'.",
    )


class ToDecideFilter(admin.SimpleListFilter):
    title = "to decide"
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
class SlaCreditAdmin(TenantScopedAdmin):
    list_display = [
        "order_link",
        "invoice_link",
        "stages",
        "severity",
        "percent",
        "amount",
        "status",
        "needs_review",
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # credits come from the breaches

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_credit_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.approve_credit")

    @admin.display(description="order", ordering="order__external_id")
    def order_link(self, obj: SlaCredit) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.external_id)

    @admin.display(description="invoice", ordering="invoice__period")
    def invoice_link(self, obj: SlaCredit) -> str:
        url = reverse("admin:billing_invoice_change", args=[obj.invoice_id])
        return format_html('<a href="{}">{}</a>', url, obj.invoice)

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
        verb = "Approve" if approve else "Reject"
        form = reason_form(DecisionForm, request)
        open_credits = queryset.exclude(status=CreditStatus.WITHDRAWN).filter(
            invoice__status="draft"
        )
        if not reason_given(form, request):
            return confirm_with_reason(
                self,
                request,
                "admin/billing/decide_credits.html",
                title=f"{verb} SLA credits",
                form=form,
                objects=open_credits.select_related("order", "invoice__tenant"),
                selected=queryset,
                action_name=f"{verb.lower()}_selected",
            )
        by, reason = request.user.get_username(), form.cleaned_data["reason"]
        done, refused = [], []
        for credit in queryset.select_related("invoice", "order"):
            try:
                credit_decide(credit=credit, approve=approve, by=by, reason=reason)
                done.append(credit.order.external_id)
            except CreditNotOpen as exc:
                refused.append(str(exc))
        if done:
            word = "Approved" if approve else "Rejected"
            self.message_user(
                request, f"{word} the credits of {', '.join(done)}.", messages.SUCCESS
            )
        for problem in refused:
            self.message_user(request, problem, messages.WARNING)
        return None

    @admin.action(description="Approve…", permissions=["approve_credit"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject…", permissions=["approve_credit"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset, approve=False)
