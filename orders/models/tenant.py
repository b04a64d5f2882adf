"""Tenants (the merchants a 3PL ships for) and the credentials they send with."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone
from django.utils.functional import cached_property

from ..currencies import CURRENCY_CHOICES, DEFAULT_CURRENCY, EXPONENTS, validate_currency
from ..scopes import DEFAULT_SCOPES_DB, canonical_scope_strings, scopes_from_db


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
    currency = models.CharField(
        max_length=3,
        choices=CURRENCY_CHOICES,
        default=DEFAULT_CURRENCY,
        validators=[validate_currency],
        help_text="ISO 4217 code the tenant is invoiced in; amounts are in its minor unit.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive tenants' keys are refused.")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__in=sorted(EXPONENTS)), name="tenant_currency_iso4217"
            ),
        ]

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
    scopes = models.CharField(
        max_length=200,
        default=DEFAULT_SCOPES_DB,
        help_text="What the key may do: scope names in canonical order, space-separated "
        "(see orders.scopes). Change them through api_key_set_scopes, which audits.",
    )

    class Meta:
        ordering = ["tenant__slug", "-created_at"]
        verbose_name = "API key"
        constraints = [
            # Only canonical, non-empty sets of known scopes: a typo or a duplicate
            # written by any path (shell, raw SQL, a bad migration) is refused.
            models.CheckConstraint(
                condition=Q(scopes__in=canonical_scope_strings()), name="api_key_scopes_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant.slug})"

    @cached_property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set, parsed once per loaded key.

        Authentication caches the loaded key (orders.selectors), so the permission
        check on every request is a set lookup, not a parse nor a query.
        """
        return scopes_from_db(self.scopes)


class ApiKeyScopeChange(models.Model):
    """The audit of a key's scopes: who gave it which scopes, when, before → after.

    A model rather than the admin's LogEntry because scopes change through a
    service that the admin, commands and later APIs share: each of them is
    recorded in the same transaction as the change, whoever made it, and the
    record cannot be lost with the admin's history. `before` is empty for the
    scopes a key was issued with.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="scope_changes")
    changed_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: a management command or migration, not a person in the console.",
    )
    changed_by_name = models.CharField(
        max_length=150,
        blank=True,
        help_text="The username at the time, kept if the user is deleted later.",
    )
    before = models.CharField(max_length=200, blank=True)
    after = models.CharField(max_length=200)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = "API key scope change"
        indexes = [models.Index(fields=["api_key", "changed_at"], name="api_key_scope_change_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(after__in=canonical_scope_strings()),
                name="api_key_scope_change_after_known",
            ),
            models.CheckConstraint(
                condition=Q(before="") | Q(before__in=canonical_scope_strings()),
                name="api_key_scope_change_before_known",
            ),
            # A change that changes nothing is not a change.
            models.CheckConstraint(
                condition=~Q(before=models.F("after")), name="api_key_scope_change_changes"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.before or '∅'} → {self.after}"


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
