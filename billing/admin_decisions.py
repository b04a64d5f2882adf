"""What billing's decision screens share (SLA credits, adjustments): read-only rows
that come from the rules, and one action shape for Finance's decisions: list the rows
that can still be decided, ask for the reason, then decide each and report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from e2a_project.admin_pages import confirm_with_reason, reason_form, reason_given
from orders.admin_scoping import TenantScopedAdmin


class ReadOnlyAdmin(TenantScopedAdmin):
    """Rows the rules write: nothing is added, edited or deleted in the console."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept with the decision, e.g. 'Confirmed: the wave started 3 h late'.",
    )


def decide_selected(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    approve: bool,
    noun: str,
    template: str,
    open_rows: QuerySet,
    decide: Callable[[Any, str, str], Any],
    name: Callable[[Any], str],
    refusals: tuple[type[Exception], ...],
) -> HttpResponse | None:
    """The reason page first; once posted back with a reason, `decide(row, by, reason)`
    for each selected row, refusals reported per row."""
    verb = "Approve" if approve else "Reject"
    form = reason_form(DecisionForm, request)
    if not reason_given(form, request):
        return confirm_with_reason(
            modeladmin,
            request,
            template,
            title=f"{verb} {noun}",
            form=form,
            objects=open_rows,
            selected=queryset,
            action_name=f"{verb.lower()}_selected",
        )
    by, reason = request.user.get_username(), form.cleaned_data["reason"]
    done, refused = [], []
    for row in queryset:
        try:
            decide(row, by, reason)
            done.append(name(row))
        except refusals as exc:
            refused.append(str(exc))
    if done:
        word = "Approved" if approve else "Rejected"
        modeladmin.message_user(request, f"{word}: {', '.join(done)}.", messages.SUCCESS)
    for problem in refused:
        modeladmin.message_user(request, problem, messages.WARNING)
    return None


class DecisionActions:
    """The actions Approve… and Reject… for a ModelAdmin that names the permission they
    need (`decision_permission`) and decides rows in `_decide`."""

    decision_permission: str

    def _decide(
        self, request: HttpRequest, queryset: QuerySet, *, approve: bool
    ) -> HttpResponse | None:
        raise NotImplementedError

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.decision_permission)

    @admin.action(description="Approve…", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject…", permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset, approve=False)
