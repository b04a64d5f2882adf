"""The triage list's parts: its default order, its filters and the cells an operator scans.

The list an operator works from answers "what do I do next": the most severe
first, within a severity the latest against its allowance, then the oldest. It
shows only the exceptions someone still has to act on unless asked otherwise
(`StatusFilter`), so a Monday morning does not open on last month's closed rows.
Every cell here reads the row and the relations the list selects with it: no
query per row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from orders.admin_scoping import staff_colleagues
from orders.selectors import tenants_for_user
from slas.business_time import format_minutes
from slas.models import SEVERITY_RANK

from .models import ACTIVE_STATUSES, ExceptionStatus, OrderException

# CRITICAL first: the rank as a database expression, so the list sorts in SQL.
SEVERITY_ORDER = Case(
    *(When(severity=name, then=Value(rank)) for name, rank in SEVERITY_RANK.items()),
    default=Value(-1),
    output_field=IntegerField(),
)

# The default order: severity, then lateness (unmeasured last), then age.
TRIAGE_ORDERING = [
    SEVERITY_ORDER.desc(),
    F("late_minutes").desc(nulls_last=True),
    F("first_seen_at").asc(),
    F("pk").asc(),
]

SOURCE_LABELS = {"ai": "AI", "rules": "rules", "operator": "operator"}


def minutes_since(then: datetime, now: datetime) -> float:
    return max((now - then).total_seconds() / 60, 0.0)


def short_duration(minutes: float) -> str:
    """A list cell's duration: "34 min", "3 h 12 min", "5 d 18 h" (minutes stop mattering)."""
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    if whole < 24 * 60:
        hours, rest = divmod(whole, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, rest = divmod(whole, 24 * 60)
    hours = rest // 60
    return f"{days} d {hours} h" if hours else f"{days} d"


def age_cell(obj: OrderException, now: datetime) -> str:
    """How long ago it was first seen, as "3 h 12 min" (the full time in the tooltip)."""
    local = timezone.localtime(obj.first_seen_at)
    return format_html(
        '<span title="First seen {}">{}</span>',
        f"{local:%Y-%m-%d %H:%M}",
        short_duration(minutes_since(obj.first_seen_at, now)),
    )


def lateness_cell(obj: OrderException) -> str:
    """How late the stage is, and that against what the SLA allowed (SLA reasons only)."""
    if obj.late_minutes is None:
        return "—"
    allowed = (obj.evidence or {}).get("allowed_minutes")
    late = short_duration(obj.late_minutes)
    if not isinstance(allowed, int | float) or allowed <= 0:
        return late
    share = round(100 * obj.late_minutes / allowed)
    return format_html(
        '<span title="Allowed {}; late by {} as of the last check">{} '
        '<span class="e2a-quiet">+{} %</span></span>',
        format_minutes(allowed),
        format_minutes(obj.late_minutes),
        late,
        share,
    )


def severity_cell(obj: OrderException) -> str:
    """A coloured badge; the escalation level beside it once it has been escalated."""
    level = (
        format_html(
            ' <span class="e2a-quiet" title="Escalation level">↑{}</span>', obj.escalation_level
        )
        if obj.escalation_level
        else ""
    )
    return format_html(
        '<span class="e2a-badge e2a-sev-{}">{}</span>{}',
        obj.severity.lower(),
        obj.get_severity_display(),
        level,
    )


def source_cell(obj: OrderException) -> str:
    """Who wrote the notes shown: AI (with its confidence), the rules, or an operator."""
    label = SOURCE_LABELS.get(obj.explanation_source, obj.explanation_source)
    if obj.explanation_source == "ai" and obj.explanation_confidence is not None:
        return format_html(
            '<span class="e2a-src e2a-src-ai" title="{}">AI {}</span>',
            obj.explanation_label or "model notes",
            f"{obj.explanation_confidence:.2f}",
        )
    return format_html('<span class="e2a-src e2a-src-{}">{}</span>', obj.explanation_source, label)


def reason_cell(obj: OrderException) -> str:
    """The reason code (its label in the tooltip) and the stage it is about, if any."""
    stage = (
        format_html(' <span class="e2a-quiet">· {}</span>', obj.get_stage_display().lower())
        if obj.stage
        else ""
    )
    return format_html(
        '<span title="{}">{}</span>{}', obj.reason_code.label, obj.reason_code_id, stage
    )


def status_cell(obj: OrderException, now: datetime) -> str:
    """The status, and until when it is snoozed while it is."""
    status = obj.get_status_display()
    if obj.snoozed_until is None or obj.snoozed_until <= now:
        return status
    local = timezone.localtime(obj.snoozed_until)
    return format_html(
        '{}<br><span class="e2a-quiet" title="Snoozed until {}">snoozed to {}</span>',
        status,
        f"{local:%Y-%m-%d %H:%M}",
        f"{local:%a %H:%M}",
    )


# --- filters -----------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Status, defaulting to the ones someone still has to act on (OPEN, ACK, IN PROGRESS)."""

    title = "status"
    parameter_name = "status"
    ACTIVE = "active"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (self.ACTIVE, "Needs action (open, acknowledged, in progress)"),
            *ExceptionStatus.choices,
            (self.ALL, "All"),
        ]

    def value(self) -> str:
        return super().value() or self.ACTIVE

    def choices(self, changelist: Any):
        # Django's "All" clears the parameter, which here means the default (active):
        # offer the lookups only, each selected by its own value.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value == self.ACTIVE:
            return queryset.filter(status__in=ACTIVE_STATUSES)
        if value in ExceptionStatus.values:
            return queryset.filter(status=value)
        return queryset.none()  # an unknown status matches nothing, as a field filter would


AGE_BUCKETS: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
    "lt1h": ("< 1 h", None, timedelta(hours=1)),
    "1to4h": ("1–4 h", timedelta(hours=1), timedelta(hours=4)),
    "4to24h": ("4–24 h", timedelta(hours=4), timedelta(hours=24)),
    "gt24h": ("> 24 h", timedelta(hours=24), None),
}


class AgeFilter(admin.SimpleListFilter):
    """How long ago it was first seen, in the buckets a shift talks in."""

    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in AGE_BUCKETS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        bucket = AGE_BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        _, younger_than_min, older_bound = bucket
        now = timezone.now()
        condition = Q()
        if younger_than_min is not None:
            condition &= Q(first_seen_at__lte=now - younger_than_min)
        if older_bound is not None:
            condition &= Q(first_seen_at__gt=now - older_bound)
        return queryset.filter(condition)


class AssigneeFilter(admin.SimpleListFilter):
    """Mine, nobody's, or a colleague's (only staff who share a tenant are listed)."""

    title = "assigned to"
    parameter_name = "assigned"
    ME = "me"
    NOBODY = "nobody"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        colleagues = staff_colleagues(request).exclude(pk=request.user.pk).order_by("username")
        return [
            (self.ME, "Me"),
            (self.NOBODY, "Nobody"),
            *((str(u.pk), u.get_username()) for u in colleagues),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == self.ME:
            return queryset.filter(assignee=request.user)
        if value == self.NOBODY:
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class SnoozedFilter(admin.SimpleListFilter):
    title = "snoozed"
    parameter_name = "snoozed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Snoozed now"), ("no", "Not snoozed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        snoozed = Q(snoozed_until__gt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(snoozed)
        if self.value() == "no":
            return queryset.exclude(snoozed)
        return queryset


class EscalationFilter(admin.SimpleListFilter):
    """The escalation level, from 0 to the top one: fixed choices, so no scan to list them."""

    title = "escalation level"
    parameter_name = "escalation"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        top = settings.EXCEPTION_MAX_ESCALATION_LEVEL
        return [("0", "Not escalated"), *((str(n), f"Level {n}") for n in range(1, top + 1))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(escalation_level=int(value))
        return queryset


class TenantFilter(admin.SimpleListFilter):
    """The user's own tenants, read from their memberships rather than from the rows.

    Django's related-only filter would list the tenants found in the whole list, a
    pass over every exception on each page view; the memberships are a few rows.
    """

    title = "tenant"
    # The related filter's own name: links and the time zone of the list (admin_time_zone)
    # read the chosen tenant from it.
    parameter_name = "tenant__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(t.pk), t.slug) for t in tenants_for_user(user=request.user).order_by("slug")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(tenant_id=int(value)) if value and value.isdigit() else queryset


def shows_tenant_filter(request: HttpRequest) -> bool:
    """The tenant filter helps only someone who sees more than one tenant."""
    return tenants_for_user(user=request.user)[:2].count() > 1
