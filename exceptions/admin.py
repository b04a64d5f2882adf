"""Operator console: the exceptions to work on (the triage list and the exception page).

The list's parts live in `admin_triage`, the page's read-outs in `admin_page`, its
tables in `admin_inlines`; the catalogue's and Slack's screens in `admin_catalogue`
and `admin_notify`, registered from the foot of this module.

Every change an operator makes here goes through the same services as the API
and Slack (`exceptions.services.lifecycle`), so it is checked against the
transition table and written to the activity trail under the operator's name.
Nothing is edited behind the services' back, and nothing is deleted: the
history is the point.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from e2a_project.admin_pages import confirm_with_reason, reason_form, reason_given
from orders.admin import ORDER_INLINES
from orders.admin_scoping import TenantScopedAdmin, staff_colleagues

from . import admin_page as page
from . import admin_triage as triage
from .actors import Actor
from .admin_inlines import ActivityInline, BreachInline, ExplanationInline, NotificationInline
from .admin_parts import ACT, ReadOnlyInline
from .analysis_hooks import analysis_requested
from .automation import admin as automation_admin
from .automation.admin import ActionChoiceInline, ActionRunInline
from .models import OrderException, RunStatus
from .services import lifecycle
from .services.escalation import exception_escalate_now
from .services.snoozing import exception_snooze_until_opening
from .transitions import TransitionRefused, allowed_actions


class ResolveForm(forms.Form):
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    resolution_code = forms.ChoiceField(
        choices=lifecycle.OPERATOR_RESOLUTIONS, initial=lifecycle.ResolutionCode.FIXED
    )


def _bulk(name: str, description: str, verb: str, service: Callable[..., Any]) -> Any:
    """An admin action that calls one lifecycle service for each selected exception."""

    def action(self: OrderExceptionAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, verb, lambda pk, a: service(exception_id=pk, actor=a))

    action.__name__ = name
    return admin.action(description=description, permissions=[ACT])(action)


@admin.register(OrderException)
class OrderExceptionAdmin(TenantScopedAdmin):
    # Eight narrow columns: the list must fit beside the app menu on a 1366-px screen.
    list_display = [
        "severity_badge",
        "order_ref",
        "reason",
        "status_cell",
        "age",
        "late",
        "assignee",
        "notes_by",
    ]
    list_display_links = ["order_ref"]
    list_filter = [
        triage.StatusFilter,
        "severity",
        "reason_code",
        "stage",
        triage.AgeFilter,
        triage.AssigneeFilter,
        triage.SnoozedFilter,
        "explanation_source",
        triage.EscalationFilter,
        triage.TenantFilter,
    ]
    search_fields = [
        "order__external_id",
        "=order__tracking_number",
        "=order__customer__email",
        "=correlation_id",
    ]
    search_help_text = "Order number, tracking number or customer email."
    list_select_related = ["tenant", "order", "reason_code", "assignee"]
    ordering = triage.TRIAGE_ORDERING
    # "27 results (Show all)" rather than "(100,000 total)": that figure is a second
    # count over every exception on each page view, and the dashboard has the totals.
    show_full_result_count = False
    inlines = [
        ActionRunInline,
        ActivityInline,
        ExplanationInline,
        ActionChoiceInline,
        BreachInline,
        NotificationInline,
    ]
    actions = [
        "acknowledge",
        "assign_to_me",
        "start",
        "snooze_1h",
        "snooze_4h",
        "snooze_until_opening",
        "escalate",
        "reanalyze",
        "resolve",
        "reopen",
        "close",
        "approve_action",
        "reject_action",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "order_link",
                    "reason_code",
                    "stage",
                    "severity",
                    "status",
                    "allowed",
                ]
            },
        ),
        (
            "Work on it",
            {"fields": ["assignee", "ops_note", "client_note", "client_note_sent", "notes_from"]},
        ),
        ("Order timeline", {"fields": ["timeline"]}),
        ("Stage clocks", {"fields": ["clocks"]}),
        (
            "Timeline",
            {
                "fields": [
                    "first_seen_at",
                    "last_seen_at",
                    "occurrence_count",
                    "late_minutes",
                    "acknowledged_by",
                    "acknowledged_at",
                    "snoozed_until",
                    "escalation_level",
                    "next_escalation_at",
                ]
            },
        ),
        (
            "Resolution",
            {
                "fields": [
                    "resolved_by",
                    "resolved_at",
                    "resolution_code",
                    "resolution_text",
                    "resolution_attempts",
                    "max_resolution_attempts",
                    "blocked",
                    "blocked_reason",
                    "closed_at",
                ]
            },
        ),
        (
            "Evidence",
            {"fields": ["evidence", "dedup_key", "correlation_id", "created_at", "updated_at"]},
        ),
    ]
    editable = {"assignee", "ops_note", "client_note"}

    class Media:
        css = {"all": ["exceptions/admin/triage.css"]}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # "Allowed now" lists what the record's status allows; a role that may not
        # act (Viewer, Finance) would read it as what they may do.
        if request.user.has_perm("exceptions.act_on_exception"):
            return self.fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "allowed"]})
            for name, opts in self.fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        names = [f for _, opts in self.fieldsets for f in opts["fields"]]
        editable = set(self.editable)
        if obj is not None and page.sent_at(obj) is not None:
            editable.discard("client_note")  # the customer has read it: the record stays so
        return [name for name in names if name not in editable]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The change page's title and breadcrumb name the order (OrderException.__str__).
        # Django's list skips list_select_related once a queryset selects anything, so
        # this names everything the list needs too.
        return (
            super()
            .get_queryset(request)
            .select_related(*self.list_select_related, "current_explanation")
        )

    # Links from the dashboard and the order page narrow the list to one tenant or one
    # order even where the sidebar offers no such filter; the rows stay scoped.
    linked_lookups = frozenset({"tenant__id__exact", "order__id__exact"})

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in self.linked_lookups or super().lookup_allowed(lookup, value, request)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        # Someone working for several tenants needs to see whose order it is.
        if triage.shows_tenant_filter(request):
            return [*self.list_display[:2], "tenant", *self.list_display[2:]]
        return self.list_display

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(
            request, {"title": "Exceptions to work on", **(extra_context or {})}
        )

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)
        if triage.shows_tenant_filter(request):
            return filters
        return [f for f in filters if f is not triage.TenantFilter]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # exceptions are raised by detection, never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "assignee":
            # Staff who share a tenant with the operator (all staff for a superuser).
            kwargs["queryset"] = staff_colleagues(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_act_on_exception_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"exceptions.{ACT}")

    # --- columns ------------------------------------------------------------------
    @admin.display(description="severity", ordering=triage.SEVERITY_ORDER)
    def severity_badge(self, obj: OrderException) -> str:
        return triage.severity_cell(obj)

    @admin.display(description="order", ordering="order__external_id")
    def order_ref(self, obj: OrderException) -> str:
        return obj.order.external_id

    @admin.display(description="reason · stage", ordering="reason_code")
    def reason(self, obj: OrderException) -> str:
        return triage.reason_cell(obj)

    @admin.display(description="status", ordering="status")
    def status_cell(self, obj: OrderException) -> str:
        return triage.status_cell(obj, timezone.now())

    @admin.display(description="order")
    def order_link(self, obj: OrderException) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.tenant.slug, obj.order.external_id)

    @admin.display(description="age", ordering="-first_seen_at")
    def age(self, obj: OrderException) -> str:
        return triage.age_cell(obj, timezone.now())

    @admin.display(description="late", ordering=F("late_minutes").desc(nulls_last=True))
    def late(self, obj: OrderException) -> str:
        return triage.lateness_cell(obj)

    @admin.display(description="notes by", ordering="explanation_source")
    def notes_by(self, obj: OrderException) -> str:
        return triage.source_cell(obj)

    @admin.display(description="notes from")
    def notes_from(self, obj: OrderException) -> str:
        return page.notes_source(obj)

    @admin.display(description="sent to the customer")
    def client_note_sent(self, obj: OrderException) -> str:
        return page.client_note_state(obj)

    @admin.display(description="events")
    def timeline(self, obj: OrderException) -> str:
        return page.order_timeline(obj)

    @admin.display(description="clocks")
    def clocks(self, obj: OrderException) -> str:
        return page.stage_clocks(obj, timezone.now())

    @admin.display(description="allowed now")
    def allowed(self, obj: OrderException) -> str:
        names = [a.replace("_", " ") for a in allowed_actions(obj.status)]
        if obj.pk and obj.action_runs.filter(status=RunStatus.AWAITING_APPROVAL).exists():
            names.append("approve or reject the waiting automated action")
        return ", ".join(names) or "nothing (closed)"

    # --- edits go through the services ---------------------------------------------
    def save_model(
        self, request: HttpRequest, obj: OrderException, form: Any, change: bool
    ) -> None:
        actor = Actor.for_user(request.user)
        changed = set(form.changed_data)
        try:
            with transaction.atomic():
                if "assignee" in changed:
                    lifecycle.exception_assign(
                        exception_id=obj.pk, assignee_id=obj.assignee_id, actor=actor
                    )
                notes = {n: getattr(obj, n) for n in ("ops_note", "client_note") if n in changed}
                if notes:
                    lifecycle.exception_update_notes(exception_id=obj.pk, actor=actor, **notes)
        except (TransitionRefused, lifecycle.InvalidChange) as exc:
            self.message_user(request, str(exc), messages.ERROR)

    # --- actions ------------------------------------------------------------------
    @admin.action(description="Re-run analysis (notes)", permissions=[ACT])
    def reanalyze(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            for pk in ids:
                analysis_requested(pk, why="manual")
        self.message_user(
            request,
            f"Queued {len(ids)} analysis(es); the notes change when a confident reply comes.",
            messages.SUCCESS,
        )

    def _each(self, request: HttpRequest, queryset: QuerySet, verb: str, call) -> None:
        actor = Actor.for_user(request.user)
        done, refused = 0, []
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                call(pk, actor)
                done += 1
            except (TransitionRefused, lifecycle.InvalidChange) as exc:
                refused.append(f"#{pk}: {exc}")
        if done:
            self.message_user(request, f"{verb} {done} exception(s).", messages.SUCCESS)
        for line in refused[:10]:
            self.message_user(request, line, messages.WARNING)
        if len(refused) > 10:
            self.message_user(request, f"… and {len(refused) - 10} more refused.", messages.WARNING)

    acknowledge = _bulk(
        "acknowledge", "Acknowledge", "Acknowledged", lifecycle.exception_acknowledge
    )

    start = _bulk("start", "Start work (in progress)", "Started", lifecycle.exception_start)

    @admin.action(description="Assign to me", permissions=[ACT])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        me = request.user.pk
        self._each(
            request,
            queryset,
            "Assigned to you:",
            lambda pk, a: lifecycle.exception_assign(exception_id=pk, assignee_id=me, actor=a),
        )

    def _snooze_for(self, request: HttpRequest, queryset: QuerySet, hours: int) -> None:
        until = timezone.now() + timedelta(hours=hours)
        self._each(
            request,
            queryset,
            f"Snoozed for {hours} h:",
            lambda pk, a: lifecycle.exception_snooze(exception_id=pk, until=until, actor=a),
        )

    @admin.action(description="Snooze 1 h", permissions=[ACT])
    def snooze_1h(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._snooze_for(request, queryset, 1)

    @admin.action(description="Snooze 4 h", permissions=[ACT])
    def snooze_4h(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._snooze_for(request, queryset, 4)

    snooze_until_opening = _bulk(
        "snooze_until_opening",
        "Snooze until the site next opens (tomorrow)",
        "Snoozed until the site next opens:",
        exception_snooze_until_opening,
    )

    escalate = _bulk("escalate", "Escalate one level now", "Escalated", exception_escalate_now)

    @admin.action(description="Resolve…", permissions=[ACT])
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = reason_form(ResolveForm, request)
        if reason_given(form, request):
            data = form.cleaned_data
            self._each(
                request,
                queryset,
                "Resolved",
                lambda pk, a: lifecycle.exception_resolve(
                    exception_id=pk,
                    actor=a,
                    resolution=data["resolution"],
                    resolution_code=data["resolution_code"],
                ),
            )
            return None
        exceptions = queryset.select_related("order", "tenant", "reason_code")
        return confirm_with_reason(
            self,
            request,
            "admin/exceptions/resolve.html",
            title="Resolve exceptions",
            form=form,
            objects=exceptions,
            selected=exceptions,
            action_name="resolve",
        )

    @admin.action(description="Approve the waiting automated action", permissions=[ACT])
    def approve_action(self, request: HttpRequest, queryset: QuerySet) -> None:
        automation_admin.approve(self, request, queryset.values_list("pk", flat=True))

    @admin.action(description="Reject the waiting automated action…", permissions=[ACT])
    def reject_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True))
        return automation_admin.reject(self, request, queryset, ids, "reject_action")

    reopen = _bulk("reopen", "Reopen", "Reopened", lifecycle.exception_reopen)

    close = _bulk("close", "Close", "Closed", lifecycle.exception_close)


class OrderExceptionInline(ReadOnlyInline):
    """The order page lists its exceptions (see orders.admin.ORDER_INLINES)."""

    model = OrderException
    fields = ["reason_code", "severity", "status", "first_seen_at", "late_minutes", "assignee"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The order and tenant name each row (OrderException.__str__).
        return (
            super()
            .get_queryset(request)
            .select_related("reason_code", "assignee", "order", "tenant")
        )


ORDER_INLINES.append(OrderExceptionInline)


# The catalogue's and Slack's screens, registered when Django's autodiscovery imports this.
from . import admin_catalogue, admin_notify  # noqa: E402, F401
