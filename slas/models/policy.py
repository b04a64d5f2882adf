"""SLA policies: how long each stage may take, versioned by the time they take effect.

A policy applies to a tenant (or, with no tenant, to every tenant without one of
its own: the default), optionally narrowed to one warehouse and/or one service
level. Each (scope, effective_from) is one version; a stage's clock uses the
version in force when the clock started, so editing policy never moves a
deadline that is already running (`manage.py sla_recompute` does that on purpose).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, ProtectedError, Q
from django.utils import timezone

from orders.models import Order, ServiceLevel, Tenant

from ..calendar_rules import check_peak_seasons
from .constraints import PostgresExclusionConstraint, season_range


class ClockMode(models.TextChoices):
    BUSINESS = "business", "Business time (calendar hours)"
    CALENDAR = "calendar", "Calendar time (24×7)"


class DeliveryClockMode(models.TextChoices):
    BUSINESS_DAYS = "business_days", "Business days (Mon–Fri, not holidays)"
    CALENDAR_DAYS = "calendar_days", "Calendar days"


def _multiplier(default: str, help_text: str) -> models.DecimalField:
    return models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=help_text,
    )


def _minutes(default: int, help_text: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        default=default, validators=[MinValueValidator(1)], help_text=help_text
    )


MULTIPLIER_FIELDS = (
    "weekend_multiplier",
    "holiday_multiplier",
    "high_volume_multiplier",
    "peak_season_multiplier",
    "oversized_multiplier",
    "hazmat_multiplier",
    "fragile_multiplier",
)
POSITIVE_FIELDS = (
    "pick_minutes",
    "pack_minutes",
    "ship_minutes",
    "delivery_days_standard",
    "delivery_days_express",
    "delivery_days_overnight",
    "missing_scan_buffer_minutes",
    "ops_notice_after_minutes",
    "customer_notice_after_minutes",
    "escalation_after_minutes",
    "high_volume_orders_per_hour",
)


def policy_may_be_in_use(policy: SlaPolicy) -> bool:
    """A version that has been in force may be named by a running clock.

    A clock records its policy version first in the order's memo (in the ingest
    transaction) and a moment later in its `StageClock` row (the worker's
    follow-up). The row's PROTECT foreign key guards the second; this guards the
    first: while orders exist that could have started a clock under the version,
    it is history, superseded by a new version rather than deleted.
    """
    if policy.effective_from > timezone.now():
        return False
    orders = Order.objects.all()
    if policy.tenant_id is not None:
        orders = orders.filter(tenant_id=policy.tenant_id)
    return orders.exists()


def _refuse_deleting_history(policies: list[SlaPolicy]) -> None:
    in_use = [p for p in policies if policy_may_be_in_use(p)]
    if in_use:
        names = ", ".join(f"{p} (since {p.effective_from:%Y-%m-%d})" for p in in_use)
        raise ProtectedError(
            f"SLA policy versions in force may be used by running clocks: {names}. "
            "Add a new version instead of deleting them.",
            set(in_use),
        )


class SlaPolicyQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        _refuse_deleting_history(list(self))
        return super().delete()


class SlaPolicy(models.Model):
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_policies",
        help_text="Blank: the default policy for every tenant without its own.",
    )
    warehouse = models.CharField(max_length=64, blank=True, help_text="Blank: any warehouse.")
    service_level = models.CharField(
        max_length=16, choices=ServiceLevel.choices, blank=True, help_text="Blank: any."
    )
    name = models.CharField(max_length=100)
    effective_from = models.DateTimeField(
        default=timezone.now, help_text="Clocks that start at or after this use this version."
    )

    pick_minutes = _minutes(120, "From payment to pick completed.")
    pack_minutes = _minutes(180, "From pick completed to pack completed.")
    ship_minutes = _minutes(1440, "From pack completed to handover to the carrier.")
    pick_clock = models.CharField(max_length=16, choices=ClockMode.choices, default="business")
    pack_clock = models.CharField(max_length=16, choices=ClockMode.choices, default="business")
    ship_clock = models.CharField(max_length=16, choices=ClockMode.choices, default="business")
    delivery_days_standard = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)]
    )
    delivery_days_express = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)]
    )
    delivery_days_overnight = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)]
    )
    delivery_clock = models.CharField(
        max_length=16, choices=DeliveryClockMode.choices, default="business_days"
    )
    warn_percent = models.PositiveSmallIntegerField(
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="A stage is at risk once this share of its allowed time has passed.",
    )
    missing_scan_buffer_minutes = _minutes(
        60, "How long after a later stage's event an earlier stage's own scan may still come."
    )
    ops_notice_after_minutes = _minutes(30, "Tell operations once a stage is this late.")
    customer_notice_after_minutes = _minutes(60, "Tell the customer once a stage is this late.")
    escalation_after_minutes = _minutes(240, "Escalate once a stage is this late.")

    weekend_multiplier = _multiplier("1.5", "Clock starts on a Saturday or Sunday.")
    holiday_multiplier = _multiplier("2.0", "Clock starts on a holiday (replaces weekend).")
    high_volume_multiplier = _multiplier("1.3", "Tenant's last hour above the threshold.")
    high_volume_orders_per_hour = _minutes(100, "Paid orders in the hour before the clock starts.")
    peak_season_multiplier = _multiplier("1.4", "Clock starts inside a peak season.")
    oversized_multiplier = _multiplier("1.5", "Order flagged oversized.")
    hazmat_multiplier = _multiplier("2.0", "Order flagged hazmat.")
    fragile_multiplier = _multiplier("1.2", "Order flagged fragile.")

    severity_low_below_percent = models.PositiveSmallIntegerField(
        default=25, help_text="Late by less than this share of the allowance: LOW."
    )
    severity_medium_below_percent = models.PositiveSmallIntegerField(
        default=100, help_text="…less than this: MEDIUM."
    )
    severity_high_below_percent = models.PositiveSmallIntegerField(
        default=300, help_text="…less than this: HIGH; beyond it CRITICAL."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SlaPolicyQuerySet.as_manager()

    class Meta:
        ordering = ["tenant__slug", "warehouse", "service_level", "-effective_from"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "warehouse", "service_level", "effective_from"],
                condition=Q(tenant__isnull=False),
                name="policy_one_version_per_instant",
            ),
            models.UniqueConstraint(
                fields=["warehouse", "service_level", "effective_from"],
                condition=Q(tenant__isnull=True),
                name="default_policy_one_version_per_instant",
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gte": 1}), name=f"policy_{name}_min"
                )
                for name in (*MULTIPLIER_FIELDS, *POSITIVE_FIELDS)
            ],
            models.CheckConstraint(
                condition=Q(warn_percent__gte=1, warn_percent__lte=99), name="policy_warn_percent"
            ),
            models.CheckConstraint(
                condition=Q(severity_low_below_percent__gte=1)
                & Q(severity_medium_below_percent__gt=F("severity_low_below_percent"))
                & Q(severity_high_below_percent__gt=F("severity_medium_below_percent")),
                name="policy_severity_bands_ascending",
            ),
        ]

    def __str__(self) -> str:
        scope = "/".join(x for x in (self.warehouse, self.service_level) if x) or "all"
        owner = self.tenant.slug if self.tenant_id else "default"
        return f"{self.name} ({owner}, {scope}, from {self.effective_from:%Y-%m-%d %H:%M})"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse_deleting_history([self])
        return super().delete(*args, **kwargs)

    def delivery_days(self, service_level: str) -> int:
        return {
            ServiceLevel.EXPRESS: self.delivery_days_express,
            ServiceLevel.OVERNIGHT: self.delivery_days_overnight,
        }.get(service_level, self.delivery_days_standard)


class PeakSeason(models.Model):
    """A date range (in the calendar's zone) in which the peak multiplier applies."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="peak_seasons")
    name = models.CharField(max_length=100)
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="Inclusive.")

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="peak_season_ends_after_start"
            ),
            # Two seasons covering one day would make the multiplier's stated reason
            # depend on row order; PostgreSQL refuses them (SQLite: see the services).
            PostgresExclusionConstraint(
                name="peak_season_no_overlap",
                expressions=[
                    ("policy", RangeOperators.EQUAL),
                    (season_range(), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.starts_on}–{self.ends_on}"

    def clean(self) -> None:
        """Refuse a season overlapping another of the same policy (rule: slas.calendar_rules)."""
        super().clean()
        if self.starts_on is None or self.ends_on is None or self.policy_id is None:
            return
        others = PeakSeason.objects.filter(policy_id=self.policy_id)
        if self.pk is not None:
            others = others.exclude(pk=self.pk)
        check_peak_seasons(
            [
                (self.name, self.starts_on, self.ends_on),
                *others.values_list("name", "starts_on", "ends_on"),
            ]
        )
