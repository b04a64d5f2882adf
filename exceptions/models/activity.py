"""The audit trail: every change to an exception, who made it, and what it was before."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orders.models import ApiKey, Tenant

from .record import OrderException


class ActorType(models.TextChoices):
    USER = "user", "Operator (admin or session)"
    API_KEY = "api_key", "API key"
    SLACK = "slack", "Slack user"
    SYSTEM = "system", "E²A"


class ExceptionActivity(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    exception = models.ForeignKey(OrderException, on_delete=models.CASCADE, related_name="activity")
    action = models.CharField(max_length=32)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(
        max_length=200, help_text="Who, readable even after the user or key is gone."
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "exception activity"
        constraints = [
            models.CheckConstraint(condition=~Q(actor_label=""), name="activity_actor_named"),
            models.CheckConstraint(condition=~Q(action=""), name="activity_action_named"),
        ]
        indexes = [
            models.Index(fields=["exception", "created_at"], name="activity_exception_time"),
            # MTTA/MTTR: acknowledgements and resolutions of a tenant in a period.
            models.Index(fields=["tenant", "action", "created_at"], name="activity_tenant_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"
