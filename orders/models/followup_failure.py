"""FollowUpFailure: an event whose worker follow-up keeps failing, and where it stands.

Kept beside OrderEvent rather than on it: ingestion inserts events on its hot path
and never edits them, and only a handful of events ever fail. A row exists while
the event's follow-up is failing: it is retried with a growing pause, and after
FOLLOWUP_MAX_ATTEMPTS it is parked (the event is then settled, so the sweep no
longer sees it) until an operator replays it. A follow-up that succeeds deletes
its row.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .event import OrderEvent


class FollowUpFailure(models.Model):
    event = models.OneToOneField(
        OrderEvent, on_delete=models.CASCADE, related_name="followup_failure"
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="Failed runs since the last replay."
    )
    handler = models.CharField(max_length=64, help_text="The follow-up handler that raised.")
    last_error = models.TextField()
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(help_text="The sweep leaves the event alone until then.")
    parked_at = models.DateTimeField(
        null=True, blank=True, help_text="Set after the last allowed attempt: waits for a replay."
    )
    replays = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_failed_at"]
        verbose_name = "follow-up failure"
        # Replaying re-queues the worker's follow-ups: more than an edit.
        permissions = [("replay_followup_failure", "Can replay parked follow-ups")]
        constraints = [
            # Only an event that failed at least once since its last replay is parked.
            models.CheckConstraint(
                condition=Q(parked_at__isnull=True) | Q(attempts__gte=1),
                name="followup_failure_parked_after_attempts",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-last_failed_at"],
                name="followup_failure_parked",
                condition=Q(parked_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        state = "parked" if self.parked_at else f"retry at {self.next_attempt_at:%H:%M}"
        return f"follow-up of {self.event} failed {self.attempts}× ({state})"
