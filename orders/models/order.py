"""The Order projection: what E²A currently knows about one order.

It is rebuilt from events only by `orders.projection`, which makes the result
independent of arrival order (see that module).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .tenant import Tenant


class OrderStatus(models.TextChoices):
    CREATED = "created", "Created"
    PAID = "paid", "Paid"
    PICKING = "picking", "Picking"
    PICKED = "picked", "Picked"
    PACKING = "packing", "Packing"
    PACKED = "packed", "Packed"
    LABEL_PRINTED = "label_printed", "Label printed"
    MANIFESTED = "manifested", "Manifested"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned"
    CANCELLED = "cancelled", "Cancelled"


class ServiceLevel(models.TextChoices):
    STANDARD = "standard", "Standard"
    EXPRESS = "express", "Express"
    OVERNIGHT = "overnight", "Overnight"


HANDLING_FLAGS = ("oversized", "hazmat", "fragile", "rush", "gift_wrap")


class Order(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255, help_text="The sender's order id, e.g. #1001.")
    source = models.CharField(max_length=32, help_text="Who first told E²A about the order.")
    channel = models.CharField(max_length=64, blank=True, help_text="Sales channel, e.g. web.")
    status = models.CharField(max_length=32, choices=OrderStatus.choices, blank=True)
    status_as_of = models.DateTimeField(
        null=True, blank=True, help_text="occurred_at of the event that set the status."
    )

    # Stage times: the first time each stage was reported (event occurred_at).
    placed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    pick_started_at = models.DateTimeField(null=True, blank=True)
    picked_at = models.DateTimeField(null=True, blank=True)
    pack_started_at = models.DateTimeField(null=True, blank=True)
    packed_at = models.DateTimeField(null=True, blank=True)
    label_printed_at = models.DateTimeField(null=True, blank=True)
    manifested_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    in_transit_at = models.DateTimeField(null=True, blank=True)
    out_for_delivery_at = models.DateTimeField(null=True, blank=True)
    delivery_failed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    failed_delivery_attempts = models.PositiveIntegerField(default=0)

    # Attributes: the newest reported value of each (see orders.projection).
    service_level = models.CharField(
        max_length=16, choices=ServiceLevel.choices, default=ServiceLevel.STANDARD
    )
    handling = models.JSONField(default=list, blank=True, help_text=", ".join(HANDLING_FLAGS))
    line_count = models.PositiveIntegerField(null=True, blank=True)
    items_count = models.PositiveIntegerField(null=True, blank=True)
    total_amount_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    financial_status = models.CharField(max_length=32, blank=True)
    # The earlier E²A's senders say "payment trouble" here rather than in the status.
    # A database default too: ingestion inserts orders with raw SQL (orders.db).
    payment_issues = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The sender flagged payment issues (payment_issues: true on its order).",
    )
    carrier = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=128, blank=True)
    warehouse = models.CharField(max_length=64, blank=True)
    exception_reason = models.CharField(max_length=255, blank=True)
    customer = models.JSONField(default=dict, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    line_items = models.JSONField(default=list, blank=True)
    shipping_lines = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attribute_versions = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Per attribute, the (time, event) version of its value; newer wins.",
    )

    sla_clocks = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The SLA engine's working copy of this order's stage clocks, kept on the "
        "row so an event reads and writes it with the order at no extra statement.",
    )
    # The SLA engine's next deadlines, kept from `sla_clocks` by the same UPDATE that
    # stores the projection, so that an on-time event writes no other row. Indexed only
    # where set: the beat scan reads `sla_due_at <= now`, the at-risk list and gauge
    # `sla_warn_at <= now`, and both cost what is due or at risk, not the open orders.
    sla_due_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Earliest deadline of a running, not yet breached SLA stage.",
    )
    sla_warn_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Its warning time."
    )
    sla_stage = models.CharField(
        max_length=16, blank=True, editable=False, help_text="The stage that deadline is for."
    )
    event_count = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_event_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "external_id"], name="order_unique_external_id_per_tenant"
            ),
            models.CheckConstraint(
                condition=~Q(external_id=""), name="order_external_id_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(total_amount_cents__isnull=True) | Q(total_amount_cents__gte=0),
                name="order_total_not_negative",
            ),
            # One running stage's deadline, its warning and its name, all or nothing.
            models.CheckConstraint(
                condition=Q(sla_due_at__isnull=True, sla_warn_at__isnull=True, sla_stage="")
                | Q(
                    sla_due_at__isnull=False,
                    sla_warn_at__lte=models.F("sla_due_at"),
                    sla_stage__gt="",
                ),
                name="order_sla_deadline_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="order_tenant_status"),
            # The SLA engine's "paid orders in the last hour" (high-volume multiplier).
            models.Index(fields=["tenant", "paid_at"], name="order_tenant_paid"),
            models.Index(fields=["tenant", "-last_event_at"], name="order_tenant_recent"),
            models.Index(
                fields=["sla_due_at"], condition=Q(sla_due_at__isnull=False), name="order_sla_due"
            ),
            models.Index(
                fields=["sla_warn_at"],
                condition=Q(sla_warn_at__isnull=False),
                name="order_sla_warn",
            ),
        ]

    def __str__(self) -> str:
        # As operators say it, the merchant then its order number, when the tenant
        # was read with the order; never a query per row of a list for it.
        if Order.tenant.is_cached(self):
            return f"{self.tenant.slug} {self.external_id}"
        return self.external_id
