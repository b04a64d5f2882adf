"""Tenants (the merchants a 3PL ships for) and the credentials they send with."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone


class Tenant(models.Model):
    """A merchant account. Every order, event and credential belongs to exactly one."""

    slug = models.SlugField(
        max_length=64, unique=True, help_text="Stable id senders use, e.g. demo-3pl."
    )
    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="IANA time zone; event times sent without an offset are read in it.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive tenants' keys are refused.")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """A bearer key for the ingest and operations APIs.

    Only a SHA-256 of the key is stored: keys are 256-bit random tokens, so a slow
    password hash would buy nothing and cost every request. The first characters
    are kept in clear as `prefix` so operators can tell keys apart.
    """

    PREFIX_LENGTH = 12

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(
        max_length=100, blank=True, help_text="What the key is for, e.g. 'WMS'."
    )
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant__slug", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant.slug})"


class WebhookSecretKind(models.TextChoices):
    SHOPIFY = "shopify", "Shopify (X-Shopify-Hmac-Sha256)"
    STANDARD = "standard", "Standard Webhooks (webhook-signature)"


class WebhookSecret(models.Model):
    """A signing secret for signed webhooks.

    Several may be active for one tenant and kind at once: during rotation the
    sender signs with the new secret while deliveries signed with the old one are
    still in flight. The secret is kept in clear because verifying an HMAC needs it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_secrets")
    kind = models.CharField(max_length=16, choices=WebhookSecretKind.choices)
    secret = models.CharField(max_length=255)
    label = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["tenant__slug", "kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "secret"], name="webhook_secret_unique_per_tenant_kind"
            ),
            models.CheckConstraint(condition=~Q(secret=""), name="webhook_secret_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.kind} {self.masked}"

    @property
    def masked(self) -> str:
        return f"{self.secret[:10]}…" if len(self.secret) > 14 else "…"
