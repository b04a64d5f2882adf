"""Stage clocks and breaches: the SLA state of each stage of each order.

A `StageClock` is the per-stage record of a clock that has started (pick at
payment, pack at pick, ship at pack, delivery at handover). The truth is the
order's memo (`Order.sla_clocks`, see `slas.memo`), kept with the event; the row
copies it, written by the worker's follow-up for the event, or at once when a
breach must hang on it (see `slas.services.clock_rows`). The scan finds stuck
stages through the order's deadline column and missing scans and ageing breaches
through partial indexes here that hold only the rows still in play, so its cost
follows the due rows, not the number of open orders.

A `Breach` is one missed clock (or one missing scan). The exceptions app hangs
its exception record on it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orders.models import Order, Tenant

from .calendar import BusinessCalendar
from .policy import SlaPolicy


class Stage(models.TextChoices):
    PICK = "pick", "Pick"
    PACK = "pack", "Pack"
    SHIP = "ship", "Ship"
    DELIVERY = "delivery", "Delivery"


class StopReason(models.TextChoices):
    LATER_STAGE = "later_stage", "A later stage was reported"
    CANCELLED = "cancelled", "Order cancelled"


class Severity(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"
    CRITICAL = "CRITICAL", "Critical"


SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}


class BreachReason(models.TextChoices):
    PICK_DELAY = "PICK_DELAY", "Pick delay"
    PACK_DELAY = "PACK_DELAY", "Pack delay"
    SHIP_DELAY = "SHIP_DELAY", "Ship delay"
    DELIVERY_DELAY = "DELIVERY_DELAY", "Delivery delay"
    MISSING_SCAN = "MISSING_SCAN", "Missing scan"


DELAY_REASON = {
    Stage.PICK: BreachReason.PICK_DELAY,
    Stage.PACK: BreachReason.PACK_DELAY,
    Stage.SHIP: BreachReason.SHIP_DELAY,
    Stage.DELIVERY: BreachReason.DELIVERY_DELAY,
}


class StageClock(models.Model):
    # This table takes a row for nearly every ingested event, so its foreign keys
    # cost as little as they can. None gets an index of its own: (order, stage) is
    # unique and leads with order_id, and tenants, policies and calendars are never
    # deleted in bulk from here. Tenant and policy also have no database
    # constraint: every clock would otherwise check (and KEY SHARE-lock) the same
    # tenant row and the one default policy row at commit, a hot spot for
    # concurrent ingests. Their integrity holds by other means: tenant_id is always
    # the order's own (and the order's foreign key is enforced), and a policy is
    # never deleted while clocks use it (PROTECT, checked by Django; the default
    # cannot be deleted at all).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="stage_clocks", db_index=False
    )
    stage = models.CharField(max_length=16, choices=Stage.choices)
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        db_index=False,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Blank: 24×7.",
    )
    business_time = models.BooleanField(
        help_text="Lateness and remaining time are counted in the calendar's working time."
    )
    started_at = models.DateTimeField()
    allowed_minutes = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    explanation = models.TextField()
    explanation_detail = models.JSONField(default=dict)
    high_volume = models.BooleanField(
        default=False, help_text="The tenant was above its hourly threshold when it started."
    )
    inputs_key = models.CharField(
        max_length=64, help_text="What the deadline was computed from; a change recomputes it."
    )
    met_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=16, choices=StopReason.choices, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    missing_scan_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A later stage was reported; no own scan of this stage by then: MISSING_SCAN.",
    )
    missing_scan_flagged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the scan recorded the missing scan."
    )
    severity_next_at = models.DateTimeField(
        null=True, blank=True, help_text="When a stuck breach next rises in severity."
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["order_id", "started_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "stage"], name="clock_one_per_stage"),
            models.CheckConstraint(
                condition=Q(due_at__gt=models.F("started_at")), name="clock_due_after_start"
            ),
            models.CheckConstraint(
                condition=Q(warn_at__lte=models.F("due_at")), name="clock_warn_before_due"
            ),
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True, stopped_by="")
                | Q(stopped_at__isnull=False) & ~Q(stopped_by=""),
                name="clock_stop_has_reason",
            ),
        ]
        indexes = [
            # The scan's passes over rows (stuck stages and the at-risk list are found
            # through the order's deadline columns, `orders.Order.sla_due_at`/`sla_warn_at`).
            models.Index(
                fields=["missing_scan_due_at"],
                condition=Q(
                    met_at__isnull=True,
                    missing_scan_due_at__isnull=False,
                    missing_scan_flagged_at__isnull=True,
                ),
                name="clock_missing_scan_due",
            ),
            # The dashboard's on-time %: clocks that ended in a window, per tenant
            # (e2a_project.dashboard). Partial, so the running clocks the ingest path
            # keeps rewriting are not in them; met and stopped-by-a-later-stage are
            # the two ways a clock ends that count.
            models.Index(
                fields=["tenant", "met_at", "due_at"],
                condition=Q(met_at__isnull=False),
                name="clock_tenant_met",
            ),
            models.Index(
                fields=["tenant", "stopped_at"],
                condition=Q(stopped_by=StopReason.LATER_STAGE, met_at__isnull=True),
                name="clock_tenant_skipped",
            ),
            models.Index(
                fields=["severity_next_at"],
                condition=Q(
                    severity_next_at__isnull=False, met_at__isnull=True, stopped_at__isnull=True
                ),
                name="clock_severity_next",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stage} of order {self.order_id}"


class DetectedBy(models.TextChoices):
    EVENT = "event", "A late event"
    SCAN = "scan", "The scan (no completing event)"
    RECOMPUTE = "recompute", "sla_recompute"


class Breach(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="sla_breaches")
    clock = models.ForeignKey(StageClock, on_delete=models.CASCADE, related_name="breaches")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    reason_code = models.CharField(max_length=32, choices=BreachReason.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    detected_at = models.DateTimeField()
    detected_by = models.CharField(max_length=16, choices=DetectedBy.choices)
    allowed_minutes = models.PositiveIntegerField()
    actual_minutes = models.FloatField(help_text="Elapsed from clock start, in the clock's time.")
    late_minutes = models.FloatField()
    final = models.BooleanField(
        default=False, help_text="The stage completed: its lateness will not grow any more."
    )
    cleared_at = models.DateTimeField(
        null=True, blank=True, help_text="The missing scan arrived, or the breach was retracted."
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-detected_at"]
        verbose_name_plural = "breaches"
        constraints = [
            models.UniqueConstraint(fields=["clock", "reason_code"], name="breach_once_per_clock"),
            models.CheckConstraint(
                condition=Q(late_minutes__gte=0), name="breach_late_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-detected_at"], name="breach_tenant_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.reason_code} on order {self.order_id} ({self.severity})"
