"""OrderEvent: one received lifecycle event, stored exactly once and never edited."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .order import Order
from .tenant import Tenant


class IngestChannel(models.TextChoices):
    EVENT = "event", "POST /ingest/events (and typed paths)"
    BATCH = "batch", "POST /ingest/v2/events/batch"
    SHOPIFY = "shopify", "Shopify webhook"
    STANDARD = "standard", "Standard Webhooks"
    REPLAY = "replay", "Dead-letter replay"


class OrderEvent(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="events")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="events")
    source = models.CharField(max_length=32)
    event_type = models.CharField(max_length=64)
    event_id = models.CharField(max_length=255)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=16, choices=IngestChannel.choices)
    payload = models.JSONField(help_text="The event exactly as the sender sent it.")
    correlation_id = models.CharField(max_length=128, blank=True)
    processed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When the worker finished with the event: its follow-up ran, or was parked "
            "after repeated failures (see Follow-up failures); empty = still owed."
        ),
    )

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source", "event_id"], name="event_unique_per_tenant_source"
            ),
            models.CheckConstraint(condition=~Q(event_id=""), name="event_id_not_empty"),
        ]
        indexes = [
            models.Index(fields=["order", "occurred_at"], name="event_order_timeline"),
            # What arrived lately, per tenant (the dashboard's "events in the last
            # hour"): without it the count reads every event the tenant ever sent.
            # Appended at the right edge on insert, as received_at only grows.
            models.Index(fields=["tenant", "received_at"], name="event_tenant_received"),
            # The sweep reads only events still owed a follow-up: a small partial index.
            models.Index(
                fields=["received_at"],
                name="event_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id} {self.event_type}"
