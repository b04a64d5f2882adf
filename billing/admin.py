"""Billing in the operator console: tariffs (Admin and Finance edit them), invoices
with their lines and evidence, and issue / mark paid / void for Finance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from e2a_project.admin_pages import confirm_with_reason, reason_form, reason_given
from orders.admin_scoping import TenantScopedAdmin
from orders.currencies import format_amount

from .admin_preview import tariff_preview_view
from .models import (
    HANDLING_MULTIPLIER_FIELDS,
    LINE_OPERATIONS,
    Invoice,
    InvoiceLine,
    LineKind,
    Tariff,
    VolumeTier,
)
from .models.tariff import (
    CREDIT_PERCENT_FIELDS,
    CREDIT_THRESHOLD_FIELDS,
    FEE_FIELDS,
    LABEL_MARKUP_FIELD,
)
from .periods import parse_period
from .rules import operation_label
from .services import (
    REFUSALS,
    VersionExists,
    invoice_issue,
    invoice_mark_paid,
    invoice_refresh,
    invoice_void,
    tariff_new_version,
)
from .tariffs import tariff_errors, tier_errors

LINES_ON_PAGE = 100
_FIGURE = '<span style="display:block;text-align:right;white-space:nowrap">{}</span>'


def _money(cents: int, currency: str) -> str:
    """An amount as a right-aligned figure on one line: in a narrow column "100.00 USD"
    wrapped to "100.00" over "USD", and amounts of different widths did not line up."""
    return format_html(_FIGURE, format_amount(cents, currency))


def _order_link(line: InvoiceLine) -> str:
    url = reverse("admin:orders_order_change", args=[line.order_id])
    return format_html('<a href="{}">{}</a>', url, line.order.external_id)


def _evidence_links(line: InvoiceLine) -> str:
    """Each operation's events, linked to their pages: what proves the charge."""
    parts = [
        format_html(
            "{} {}",
            op,
            format_html_join(
                " ",
                '<a href="{}">{}</a>',
                ((reverse("admin:orders_orderevent_change", args=[pk]), pk) for pk in ids.split()),
            ),
        )
        for op, ids in (
            (operation_label(op), getattr(line, f"{op}_event_ids")) for op in LINE_OPERATIONS
        )
        if ids
    ]
    return format_html_join("; ", "{}", ((part,) for part in parts)) or "—"


class VolumeTierFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        tiers = [
            (form.cleaned_data["min_orders"], form.cleaned_data["percent"])
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("min_orders") is not None
            and form.cleaned_data.get("percent") is not None
        ]
        problems = tier_errors(tiers)
        if problems:
            raise forms.ValidationError(problems)


class VolumeTierInline(admin.TabularInline):
    model = VolumeTier
    formset = VolumeTierFormSet
    extra = 0
    fields = ["min_orders", "percent"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not (obj and obj.is_history)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and not (obj and obj.is_history)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.is_history)


class TariffForm(forms.ModelForm):
    class Meta:
        model = Tariff
        fields = [
            "tenant",
            "effective_from",
            "name",
            *FEE_FIELDS,
            *HANDLING_MULTIPLIER_FIELDS.values(),
            *CREDIT_PERCENT_FIELDS.values(),
            *CREDIT_THRESHOLD_FIELDS,
            "storage_aged_after_days",
            "storage_aged_multiplier",
            LABEL_MARKUP_FIELD,
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field, message in tariff_errors(cleaned, tiers=[]).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        return cleaned


@admin.register(Tariff)
class TariffAdmin(TenantScopedAdmin):
    form = TariffForm
    inlines = [VolumeTierInline]
    list_display = [
        "tenant",
        "effective_from",
        "name",
        "pick_first_unit_cents",
        "pack_cents",
        "label_cents",
        "order_minimum_cents",
        "monthly_minimum_cents",
        "history",
    ]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    ordering = ["tenant", "-effective_from"]
    fieldsets = [
        (None, {"fields": ["tenant", "effective_from", "name"]}),
        (
            "Fees (in the tenant's minor unit: cents)",
            {
                "fields": [
                    ("pick_first_unit_cents", "pick_additional_unit_cents"),
                    ("pack_cents", "packaging_cents"),
                    ("label_cents", "kitting_cents"),
                    ("order_minimum_cents", "monthly_minimum_cents"),
                    "gift_wrap_cents",
                ]
            },
        ),
        ("Special-handling multipliers", {"fields": [tuple(HANDLING_MULTIPLIER_FIELDS.values())]}),
        (
            "Services, returns and labels (added after the multipliers: never multiplied, "
            "discounted or counted toward the order minimum)",
            {
                "fields": [
                    ("photo_cents", "quality_check_cents", "custom_packaging_cents"),
                    ("return_cents", "restocking_cents", "return_inspection_unit_cents"),
                    LABEL_MARKUP_FIELD,
                ]
            },
        ),
        (
            "Storage, receiving and monthly fees (not orders: no volume discount; they "
            "count toward the monthly minimum)",
            {
                "fields": [
                    "storage_unit_day_cents",
                    ("storage_aged_after_days", "storage_aged_multiplier"),
                    ("receiving_per_receipt_cents", "receiving_per_unit_cents"),
                    ("account_fee_cents", "support_fee_cents"),
                    "late_fee_cents",
                ]
            },
        ),
        (
            "SLA credits (% of an order's operation fees, by the breach's severity)",
            {
                "fields": [
                    tuple(CREDIT_PERCENT_FIELDS.values()),
                    CREDIT_THRESHOLD_FIELDS,
                ]
            },
        ),
        ("History", {"fields": ["priced_at", "preview_link"]}),
    ]
    readonly_fields = ["priced_at", "preview_link"]
    actions = ["new_version"]

    def get_urls(self) -> list:
        preview = self.admin_site.admin_view(
            lambda request, object_id: tariff_preview_view(self, request, object_id)
        )
        route = path("<path:object_id>/preview/", preview, name="billing_tariff_preview")
        return [route, *super().get_urls()]

    @admin.display(description="preview")
    def preview_link(self, obj: Tariff) -> str:
        if obj.pk is None:
            return "Save this version, then preview it against last month."
        url = reverse("admin:billing_tariff_preview", args=[obj.pk])
        return format_html('<a href="{}">What this version would have billed last month</a>', url)

    @admin.display(boolean=True, description="priced an invoice")
    def history(self, obj: Tariff) -> bool:
        return obj.is_history

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A version that priced an invoice is history: it opens read-only.
        return super().has_change_permission(request, obj) and not (obj and obj.is_history)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.is_history)

    @admin.action(description="Start a new version from this one (next month)", permissions=["add"])
    def new_version(self, request: HttpRequest, queryset: QuerySet) -> None:
        for tariff in queryset.select_related("tenant"):
            try:
                created = tariff_new_version(tariff=tariff)
            except VersionExists as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            url = reverse("admin:billing_tariff_change", args=[created.pk])
            self.message_user(
                request,
                format_html(
                    'New version for {} from {}: <a href="{}">edit it</a>.',
                    created.tenant,
                    created.effective_from,
                    url,
                ),
                messages.SUCCESS,
            )


class PeriodFilter(admin.SimpleListFilter):
    """The months that have invoices, newest first (not Django's 'today / past 7 days')."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        periods = (
            model_admin.get_queryset(request)
            .order_by("-period")
            .values_list("period", flat=True)
            .distinct()[:36]
        )
        return [(f"{p:%Y-%m}", f"{p:%B %Y}") for p in periods]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            return queryset.filter(period=parse_period(self.value()))
        except ValueError:
            return queryset.none()


class VoidForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on the invoice, e.g. 'Billed to the wrong merchant'.",
    )


@admin.register(Invoice)
class InvoiceAdmin(TenantScopedAdmin):
    # The first column is the change link (Django links it, as it did "__str__").
    list_display = [
        "invoice_label",
        "tenant",
        "period_label",
        "status",
        "orders",
        "total",
        "due_on",
    ]
    list_filter = ["status", PeriodFilter, "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["number", "tenant__slug"]
    ordering = ["-period", "tenant__slug"]
    actions = ["refresh_selected", "issue_selected", "mark_paid_selected", "void_selected"]
    fields = [
        "tenant",
        "period_label",
        "status",
        "number",
        "currency",
        "due_on",
        "totals",
        "month_lines",
        "order_lines",
        "issued_at",
        "issued_by",
        "paid_at",
        "voided_at",
        "void_reason",
        "refreshed_at",
        "tariff",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices come from the evidence (the nightly job or generate_invoices)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_issue_invoice_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.issue_invoice")

    def has_mark_paid_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.mark_paid")

    @admin.display(description="invoice")
    def invoice_label(self, obj: Invoice) -> str:
        """The number (or a draft's name) on one line: "DEMO-3PL-2026-" wrapped over "0001"."""
        return format_html('<span style="white-space:nowrap">{}</span>', obj)

    @admin.display(description="period", ordering="period")
    def period_label(self, obj: Invoice) -> str:
        return f"{obj.period:%B %Y}"

    @admin.display(description="orders", ordering="order_count")
    def orders(self, obj: Invoice) -> str:
        # "order count" as a header made the list wider than a 1366-px screen ("due on" cut).
        return format_html(_FIGURE, obj.order_count)

    @admin.display(description="total", ordering="total_cents")
    def total(self, obj: Invoice) -> str:
        return _money(obj.total_cents, obj.currency)

    @admin.display(description="totals")
    def totals(self, obj: Invoice) -> str:
        rows = [
            (f"{obj.order_count} orders", obj.orders_cents),
            (f"Volume discount ({obj.discount_percent}%)", obj.discount_cents),
            ("Storage, receiving and monthly fees", obj.other_fees_cents),
            ("Monthly minimum top-up", obj.minimum_topup_cents),
            ("SLA credits (approved)", obj.credits_cents),
            ("Adjustments to earlier invoices", obj.adjustments_cents),
            ("Total (no tax computed)", obj.total_cents),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td style="text-align:right">{}</td></tr>',
                ((label, format_amount(cents, obj.currency)) for label, cents in rows),
            ),
        )

    @admin.display(description="month lines")
    def month_lines(self, obj: Invoice) -> str:
        lines = obj.lines.exclude(kind=LineKind.ORDER).order_by("kind")
        if not lines:
            return "—"
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((line.description, format_amount(line.amount_cents, obj.currency)) for line in lines),
        )

    @admin.display(description="order lines")
    def order_lines(self, obj: Invoice) -> str:
        lines = (
            obj.lines.filter(kind=LineKind.ORDER)
            .select_related("order")
            .order_by("order__external_id")[:LINES_ON_PAGE]
        )
        all_url = reverse("admin:billing_invoiceline_changelist") + f"?invoice__id__exact={obj.pk}"
        figures = [
            format_html('<th style="text-align:right">{}</th>', title)
            for title in ("operations", "minimum", "services", "amount")
        ]
        header = format_html(
            "<tr><th>order</th>{}{}<th>×</th>{}{}<th>evidence (event ids)</th></tr>", *figures
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _order_link(line),
                    _money(line.operations_cents, obj.currency),
                    _money(line.order_minimum_cents, obj.currency),
                    f"{line.multiplier.normalize():f}",
                    _money(line.services_cents, obj.currency),
                    _money(line.amount_cents, obj.currency),
                    _evidence_links(line),
                )
                for line in lines
            ),
        )
        return format_html(
            '<table>{}{}</table><p><a href="{}">All {} order lines</a> (and the CSV export '
            "in the API).</p>",
            header,
            body,
            all_url,
            obj.order_count,
        )

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        verb: str,
        call: Callable[[Invoice], Invoice],
    ) -> None:
        done, refused = [], []
        for invoice in queryset.select_related("tenant").order_by("period", "pk"):
            try:
                done.append(str(call(invoice)))
            except (*REFUSALS, ValueError) as exc:
                refused.append(f"{invoice}: {exc}")
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}.", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, problem, messages.WARNING)

    @admin.action(description="Refresh drafts from the evidence", permissions=["issue_invoice"])
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "Refreshed",
            lambda inv: invoice_refresh(tenant=inv.tenant, period=inv.period).invoice,
        )

    @admin.action(description="Issue (numbers and freezes)", permissions=["issue_invoice"])
    def issue_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._each(request, queryset, "Issued", lambda inv: invoice_issue(invoice=inv, by=by))

    @admin.action(description="Mark paid", permissions=["mark_paid"])
    def mark_paid_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._each(
            request, queryset, "Marked paid", lambda inv: invoice_mark_paid(invoice=inv, by=by)
        )

    @admin.action(description="Void…", permissions=["issue_invoice"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = reason_form(VoidForm, request)
        if reason_given(form, request):
            by = request.user.get_username()
            reason = form.cleaned_data["reason"]
            self._each(
                request,
                queryset,
                "Voided",
                lambda inv: invoice_void(invoice=inv, by=by, reason=reason),
            )
            return None
        return confirm_with_reason(
            self,
            request,
            "admin/billing/void_invoices.html",
            title="Void invoices",
            form=form,
            objects=queryset.filter(status__in=["draft", "issued"]).select_related("tenant"),
            selected=queryset,
            action_name="void_selected",
        )


@admin.register(InvoiceLine)
class InvoiceLineAdmin(TenantScopedAdmin):
    """Every line of an invoice with its evidence; read-only (lines come from the rules)."""

    tenant_field = "invoice__tenant"
    # The kind (first) links to the line's page, which has every figure. The invoice
    # is left to the filter and search: its name ("demo-3pl 2026-11 (Draft)") pushed
    # the evidence off a 1366-px screen; the invoice page links here filtered to it.
    list_display = ["kind", "order", "units", "operations", "amount", "evidence"]
    list_filter = ["kind", "invoice__period", "invoice__tenant"]
    list_select_related = ["invoice__tenant", "order"]
    search_fields = ["order__external_id", "invoice__number"]
    ordering = ["invoice", "order__external_id"]
    show_full_result_count = False  # a month may have a million lines

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Money in the invoice's currency, as on the invoice page: the bare cents columns
    # showed "9805" for a 98.05 USD top-up. Minimum, multiplier and gift wrap are left
    # to the invoice page's order lines: with them the list was wider than a 1366-px
    # screen with the sidebar and filter open (amount cut, evidence off-screen).
    @admin.display(description="operations", ordering="operations_cents")
    def operations(self, obj: InvoiceLine) -> str:
        return _money(obj.operations_cents, obj.invoice.currency)

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj: InvoiceLine) -> str:
        return _money(obj.amount_cents, obj.invoice.currency)

    @admin.display(description="evidence (event ids)")
    def evidence(self, obj: InvoiceLine) -> str:
        return _evidence_links(obj)


# The screens beside this module register when imported: SLA credits; storage
# snapshots and inbound receipts; adjustments, credit notes, revenue leaks and the
# billing settings.
from . import admin_adjustments, admin_credits, admin_inventory  # noqa: E402, F401
