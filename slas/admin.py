"""Operator console screens: SLA policies, business calendars, stage clocks, breaches."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from orders.admin import ORDER_INLINES
from orders.admin_scoping import TenantScopedAdmin

from . import admin_columns  # noqa: F401  (the order list's stage cells and filter)
from .calendar_rules import check_peak_seasons, check_working_hours
from .config import calendar_description
from .models import (
    Breach,
    BusinessCalendar,
    Holiday,
    PeakSeason,
    SlaPolicy,
    StageClock,
    WorkingHours,
)
from .models.policy import policy_may_be_in_use
from .selectors import clock_state


def _kept(formset: forms.BaseInlineFormSet) -> list[dict[str, Any]]:
    """The cleaned rows of an inline formset that will exist after saving."""
    return [
        form.cleaned_data
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class PeakSeasonFormSet(forms.BaseInlineFormSet):
    """Judges the policy's seasons as one set, with the rule the model and services use."""

    def clean(self) -> None:
        super().clean()
        check_peak_seasons(
            (data.get("name", ""), data["starts_on"], data["ends_on"])
            for data in _kept(self)
            if data.get("starts_on") and data.get("ends_on")
        )


class PeakSeasonInline(admin.TabularInline):
    model = PeakSeason
    formset = PeakSeasonFormSet
    extra = 0


class SlaPolicyForm(forms.ModelForm):
    """The admin builds the fields from the fieldsets; this adds cross-field checks."""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, medium, high = (
            data.get("severity_low_below_percent"),
            data.get("severity_medium_below_percent"),
            data.get("severity_high_below_percent"),
        )
        if None not in (low, medium, high) and not (0 < low < medium < high):
            raise ValidationError("Severity bands must rise: low < medium < high (percent late).")
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(TenantScopedAdmin):
    shared_without_tenant = True  # the default policy: seen by all, changed by superusers
    form = SlaPolicyForm
    inlines = [PeakSeasonInline]
    list_display = [
        "name",
        "owner",
        "warehouse",
        "service_level",
        "effective_from",
        "in_force",
        "pick_minutes",
        "pack_minutes",
        "ship_minutes",
    ]
    list_filter = ["tenant", "service_level"]
    list_select_related = ["tenant"]
    search_fields = ["name", "tenant__slug", "warehouse"]
    fieldsets = [
        (None, {"fields": ["name", "tenant", "warehouse", "service_level", "effective_from"]}),
        (
            "Allowed time",
            {
                "fields": [
                    ("pick_minutes", "pick_clock"),
                    ("pack_minutes", "pack_clock"),
                    ("ship_minutes", "ship_clock"),
                    ("delivery_days_standard", "delivery_days_express", "delivery_days_overnight"),
                    "delivery_clock",
                    "warn_percent",
                    "missing_scan_buffer_minutes",
                ]
            },
        ),
        (
            "Multipliers (applied at the clock's start; they multiply)",
            {
                "fields": [
                    ("weekend_multiplier", "holiday_multiplier"),
                    ("high_volume_multiplier", "high_volume_orders_per_hour"),
                    "peak_season_multiplier",
                    ("oversized_multiplier", "hazmat_multiplier", "fragile_multiplier"),
                ]
            },
        ),
        (
            "Notices and severity",
            {
                "fields": [
                    "ops_notice_after_minutes",
                    "customer_notice_after_minutes",
                    "escalation_after_minutes",
                    (
                        "severity_low_below_percent",
                        "severity_medium_below_percent",
                        "severity_high_below_percent",
                    ),
                ]
            },
        ),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: SlaPolicy | None = None) -> bool:
        # The default policy keeps every tenant without its own on the clock.
        if (
            obj is not None
            and obj.tenant_id is None
            and not obj.warehouse
            and not obj.service_level
        ):
            return False
        if obj is not None and policy_may_be_in_use(obj):
            return False  # history: add a new version instead
        return super().has_delete_permission(request, obj)

    @admin.display(description="tenant", ordering="tenant__slug")
    def owner(self, obj: SlaPolicy) -> str:
        return obj.tenant.slug if obj.tenant_id else "default (all tenants)"

    def get_queryset(self, request: HttpRequest) -> Any:
        # "In force" = started, and no later version of the same scope has started.
        now = timezone.now()
        newer = SlaPolicy.objects.annotate(owner=Coalesce("tenant_id", 0)).filter(
            owner=Coalesce(OuterRef("tenant_id"), 0),
            warehouse=OuterRef("warehouse"),
            service_level=OuterRef("service_level"),
            effective_from__gt=OuterRef("effective_from"),
            effective_from__lte=now,
        )
        return (
            super()
            .get_queryset(request)
            .annotate(superseded=Exists(newer), started=Q(effective_from__lte=now))
        )

    @admin.display(boolean=True, description="in force")
    def in_force(self, obj: SlaPolicy) -> bool:
        return obj.started and not obj.superseded


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    """Judges the calendar's periods as one set, with the rule the model and services use."""

    def clean(self) -> None:
        super().clean()
        check_working_hours(
            (data["weekday"], data["opens_at"], data["closes_at"])
            for data in _kept(self)
            if data.get("weekday") is not None
            and data.get("opens_at") is not None
            and data.get("closes_at") is not None
        )


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(TenantScopedAdmin):
    inlines = [WorkingHoursInline, HolidayInline]
    list_display = ["name", "tenant", "warehouse", "timezone", "hours_text"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name", "tenant__slug", "warehouse"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("hours", "holidays")

    @admin.display(description="hours")
    def hours_text(self, obj: BusinessCalendar) -> str:
        return calendar_description(obj, obj.hours.all(), obj.holidays.all())


class ReadOnlyAdmin(TenantScopedAdmin):
    """Clocks and breaches are written by ingestion and the scan only."""

    @admin.display(description="order", ordering="order__external_id")
    def order_ref(self, obj: StageClock | Breach) -> str:
        return f"{obj.tenant.slug} {obj.order.external_id}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _OrderPageInline(admin.TabularInline):
    """Read-only rows on the order's admin page (see orders.admin.ORDER_INLINES)."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StageClockInline(_OrderPageInline):
    model = StageClock
    fk_name = "order"
    verbose_name_plural = "SLA clocks"
    fields = ["stage", "state", "due_at", "met_at", "breached_at", "allowed_minutes", "explanation"]
    readonly_fields = fields
    ordering = ["started_at"]

    @admin.display(description="state")
    def state(self, obj: StageClock) -> str:
        return clock_state(obj, timezone.now()).replace("_", " ")


class BreachInline(_OrderPageInline):
    model = Breach
    fk_name = "order"
    verbose_name_plural = "SLA breaches"
    fields = ["reason_code", "severity", "late_minutes", "detected_by", "detected_at", "cleared_at"]
    readonly_fields = fields


ORDER_INLINES.extend([StageClockInline, BreachInline])


@admin.register(StageClock)
class StageClockAdmin(ReadOnlyAdmin):
    list_display = [
        "order_ref",
        "stage",
        "state",
        "started_at",
        "due_at",
        "warn_at",
        "met_at",
        "breached_at",
        "allowed_minutes",
    ]
    list_filter = ["stage", "tenant", ("breached_at", admin.EmptyFieldListFilter)]
    list_select_related = ["order", "tenant"]
    search_fields = ["order__external_id"]
    date_hierarchy = "due_at"

    @admin.display(description="state")
    def state(self, obj: StageClock) -> str:
        return clock_state(obj, timezone.now()).replace("_", " ")


@admin.register(Breach)
class BreachAdmin(ReadOnlyAdmin):
    list_display = [
        "reason_code",
        "severity",
        "order_ref",
        "stage",
        "late_minutes",
        "allowed_minutes",
        "detected_by",
        "detected_at",
        "final",
        "cleared_at",
    ]
    list_filter = ["reason_code", "severity", "detected_by", "final", "tenant"]
    list_select_related = ["order", "tenant"]
    search_fields = ["order__external_id"]
    date_hierarchy = "detected_at"
