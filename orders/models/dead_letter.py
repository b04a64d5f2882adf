"""Dead letters: requests that were authentic and well-formed JSON but could not be applied."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .event import OrderEvent
from .tenant import Tenant


class DeadLetterKind(models.TextChoices):
    EVENT = "event", "Single event"
    BATCH = "batch", "Batch envelope"
    BATCH_ITEM = "batch_item", "Batch item"
    SHOPIFY = "shopify", "Shopify webhook"
    STANDARD = "standard", "Standard webhook"


class DeadLetter(models.Model):
    """Kept so nothing a sender delivered is lost; replayable after a fix.

    A sender that retries the same body does not pile up rows: the body hash is
    unique per tenant and kind and a repeat only counts `times_received`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="dead_letters")
    kind = models.CharField(max_length=16, choices=DeadLetterKind.choices)
    source = models.CharField(max_length=32, blank=True, help_text="Fixed by the path, if any.")
    reason = models.TextField()
    errors = models.JSONField(default=dict, blank=True)
    raw_body = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    headers = models.JSONField(default=dict, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    times_received = models.PositiveIntegerField(default=1)
    replay_attempts = models.PositiveIntegerField(default=0)
    last_replay_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set once a replay stored it."
    )
    replay_result = models.TextField(blank=True)
    event = models.ForeignKey(
        OrderEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_received_at"]
        # Replaying re-runs ingestion on the tenant's behalf: more than an edit.
        permissions = [("replay_dead_letter", "Can replay dead letters")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "body_sha256"], name="dead_letter_unique_body"
            ),
        ]
        indexes = [
            models.Index(fields=["replayed_at", "received_at"], name="dead_letter_pending"),
        ]

    def __str__(self) -> str:
        return f"dead letter {self.pk} ({self.kind}): {self.reason[:60]}"
