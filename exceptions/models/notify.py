"""Slack notifications: where each tenant's go, who may act from Slack, and the outbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orders.models import Tenant
from slas.models import Severity

from .record import OrderException


class TenantAlerting(models.Model):
    """A tenant's notification settings (a tenant without a row uses the defaults)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="alerting")
    slack_channel = models.CharField(
        max_length=80, blank=True, help_text="Channel id or name; blank: SLACK_DEFAULT_CHANNEL."
    )
    min_severity = models.CharField(
        max_length=16,
        choices=Severity.choices,
        blank=True,
        help_text="Post new exceptions at or above this; the rest go to the digest. "
        "Blank: SLACK_MIN_SEVERITY.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "tenant alerting"
        verbose_name_plural = "tenant alerting"

    def __str__(self) -> str:
        return f"alerting for {self.tenant_id}"


class SlackIdentity(models.Model):
    """Maps a Slack user to the operator account whose permissions it acts with."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="slack")
    slack_user_id = models.CharField(max_length=32, unique=True, help_text="e.g. U024BE7LH")
    slack_team_id = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name_plural = "Slack identities"

    def __str__(self) -> str:
        return f"{self.slack_user_id} → {self.user}"


class SlackChannel(models.Model):
    """Per-channel send state: the rate limit (and Slack's Retry-After), and the send slot.

    The slot is a lease, not a row lock: a sender takes it in one short statement,
    calls Slack with no transaction open, and gives it back with the answer. A
    sender that died holding it loses it when `lease_expires_at` passes.
    """

    name = models.CharField(max_length=80, unique=True)
    next_send_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(lease_token="") & Q(lease_expires_at__isnull=True))
                | (~Q(lease_token="") & Q(lease_expires_at__isnull=False)),
                name="slack_channel_lease_whole",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class NotificationKind(models.TextChoices):
    NEW = "new", "New exception"
    UPDATE = "update", "Status change (thread reply)"
    ESCALATION = "escalation", "Escalation (thread reply)"
    DIGEST = "digest", "Digest"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One Slack message to send, written in the transaction that caused it (an outbox)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    exception = models.ForeignKey(
        OrderException,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    channel = models.CharField(max_length=80, blank=True)
    text = models.TextField()
    blocks = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    skip_reason = models.CharField(max_length=200, blank=True)
    thread_ts = models.CharField(max_length=32, blank=True)
    slack_ts = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=NotificationStatus.SKIPPED) | ~Q(skip_reason=""),
                name="notification_skip_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=NotificationStatus.SENT) | ~Q(slack_ts=""),
                name="notification_sent_has_ts",
            ),
        ]
        indexes = [
            # The sender's queue: pending messages per channel, oldest first.
            models.Index(
                fields=["channel", "id"],
                condition=Q(status=NotificationStatus.PENDING),
                name="notification_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel or '?'} ({self.status})"
