"""Console screens of automated actions: playbooks, endpoints, every run, approvals.

Approving and rejecting go through the same services as the API
(`action_approve`, `action_reject`), so each decision is checked, locked and
written to the exception's activity under the operator's name. Runs are never
edited or deleted here: they are the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from e2a_project.admin_pages import confirm_with_reason, reason_form, reason_given
from orders.admin_scoping import TenantScopedAdmin

from ..actors import Actor
from ..admin_parts import ACT, ReadOnlyInline
from ..models import ActionChoice, ActionEndpoint, ActionRun, PlaybookAction, RunStatus
from ..services.lifecycle import InvalidChange
from ..transitions import TransitionRefused
from .services import NothingWaiting, action_approve, action_reject

STATUS_COLOURS = {
    RunStatus.AWAITING_APPROVAL: "#d4a017",
    RunStatus.READY: "#4a90d9",
    RunStatus.RUNNING: "#4a90d9",
    RunStatus.FIXED: "#2e7d32",
    RunStatus.DONE: "#2e7d32",
    RunStatus.RECORDED: "#666",
    RunStatus.FAILED: "#c0392b",
    RunStatus.REJECTED: "#8e44ad",
    RunStatus.CANCELLED: "#666",
}


def status_badge(run: ActionRun) -> str:
    colour = STATUS_COLOURS.get(run.status, "#333")
    return format_html('<b style="color:{}">{}</b>', colour, run.get_status_display())


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Kept with the action and in the exception's activity.",
    )


def decide_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    exception_ids: Iterable[int],
    verb: str,
    call: Callable[[int, Actor], Any],
) -> None:
    """Apply one decision to each exception's waiting action; say what was refused and why."""
    actor = Actor.for_user(request.user)
    done, refused = 0, []
    for pk in sorted(set(exception_ids)):
        try:
            # Each in its own transaction: the run is queued when its approval commits.
            with transaction.atomic():
                call(pk, actor)
            done += 1
        except (NothingWaiting, TransitionRefused, InvalidChange) as exc:
            refused.append(f"#{pk}: {exc}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} action(s).", messages.SUCCESS)
    for line in refused[:10]:
        modeladmin.message_user(request, line, messages.WARNING)
    if len(refused) > 10:
        modeladmin.message_user(request, f"… and {len(refused) - 10} more.", messages.WARNING)


def approve(modeladmin: admin.ModelAdmin, request: HttpRequest, exception_ids: Iterable[int]):
    decide_each(
        modeladmin,
        request,
        exception_ids,
        "Approved",
        lambda pk, actor: action_approve(exception_id=pk, actor=actor),
    )


def reject(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    selected: QuerySet,
    exception_ids: list[int],
    action_name: str,
) -> HttpResponse | None:
    """Ask for the reason on an intermediate page, then reject each waiting action."""
    form = reason_form(RejectForm, request)
    if reason_given(form, request):
        reason = form.cleaned_data["reason"]
        decide_each(
            modeladmin,
            request,
            exception_ids,
            "Rejected",
            lambda pk, actor: action_reject(exception_id=pk, actor=actor, reason=reason),
        )
        return None
    waiting = (
        ActionRun.objects.filter(exception_id__in=exception_ids, status=RunStatus.AWAITING_APPROVAL)
        .select_related("exception__order", "exception__tenant")
        .order_by("exception_id")
    )
    return confirm_with_reason(
        modeladmin,
        request,
        "admin/exceptions/reject_action.html",
        title="Reject waiting actions",
        form=form,
        objects=waiting,
        selected=selected,
        action_name=action_name,
        form_when_empty=True,
    )


class ActionRunInline(ReadOnlyInline):
    """The exception page: every action tried, waiting or rejected, newest first."""

    model = ActionRun
    verbose_name_plural = "automated actions"
    fields = [
        "created_at",
        "kind",
        "target",
        "badge",
        "chosen_by",
        "needs_approval",
        "decided_by",
        "decision_note",
        "detail",
        "finished_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]
    show_change_link = True

    @admin.display(description="status")
    def badge(self, obj: ActionRun) -> str:
        return status_badge(obj)


class ActionChoiceInline(ReadOnlyInline):
    """The model's choices of action for this exception, used or not, and why."""

    model = ActionChoice
    verbose_name_plural = "action choices (AI)"
    fields = [
        "created_at",
        "candidates",
        "kind",
        "decision",
        "cause",
        "confidence",
        "success_probability",
        "rationale",
        "model",
        "cost_usd",
        "detail",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]

    @admin.display(description="rationale")
    def rationale(self, obj: ActionChoice) -> str:
        return (obj.reply or {}).get("rationale", "") or "-"


@admin.register(ActionRun)
class ActionRunAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "exception_link",
        "kind",
        "target",
        "badge",
        "chosen_by",
        "needs_approval",
        "decided_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "chosen_by", "needs_approval", "tenant"]
    search_fields = ["exception__order__external_id", "detail", "decided_by"]
    list_select_related = ["tenant", "exception", "exception__order", "exception__tenant"]
    date_hierarchy = "created_at"
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = [
        "exception_link",
        "kind",
        "target",
        "badge",
        "chosen_by",
        "choice",
        "needs_approval",
        "decided_by",
        "decided_at",
        "decision_note",
        "detail",
        "request",
        "response",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related(*self.list_select_related, "choice")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_on_exception_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"exceptions.{ACT}")

    @admin.display(description="exception", ordering="exception_id")
    def exception_link(self, obj: ActionRun) -> str:
        url = reverse("admin:exceptions_orderexception_change", args=[obj.exception_id])
        exception = obj.exception
        return format_html(
            '<a href="{}">#{} {} on {} {}</a>',
            url,
            exception.pk,
            exception.reason_code_id,
            exception.tenant.slug,
            exception.order.external_id,
        )

    @admin.display(description="status", ordering="status")
    def badge(self, obj: ActionRun) -> str:
        return status_badge(obj)

    @admin.action(description="Approve (runs next)", permissions=[ACT])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        approve(self, request, queryset.values_list("exception_id", flat=True))

    @admin.action(description="Reject…", permissions=[ACT])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        ids = list(queryset.values_list("exception_id", flat=True))
        return reject(self, request, queryset, ids, "reject_selected")


class PlaybookActionInline(admin.TabularInline):
    """A reason code's playbook, on its catalogue page (Admin edits, others read)."""

    model = PlaybookAction
    extra = 0
    can_delete = False  # switch an action off with `active`: runs keep pointing at it
    fields = ["position", "kind", "target", "requires_approval", "active", "note"]
    ordering = ["position", "pk"]


@admin.register(PlaybookAction)
class PlaybookActionAdmin(TenantScopedAdmin):
    tenant_field = None  # one catalogue for every tenant
    list_display = ["reason_code", "position", "kind", "target", "requires_approval", "active"]
    list_filter = ["reason_code__automate", "kind", "target", "requires_approval", "active"]
    list_select_related = ["reason_code"]
    search_fields = ["reason_code__code", "kind", "note"]
    ordering = ["reason_code", "position", "pk"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ActionEndpoint)
class ActionEndpointAdmin(TenantScopedAdmin):
    list_display = ["tenant", "kind", "url", "enabled", "updated_at"]
    list_filter = ["kind", "enabled", "tenant"]
    list_select_related = ["tenant"]
    fields = ["tenant", "kind", "url", "enabled", "secret", "updated_at"]
    readonly_fields = ["updated_at"]
    # A receiver's address without a scheme is meant as https, never plain http.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
