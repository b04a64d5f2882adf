"""Which tenants a staff user works for.

A 3PL's staff rarely serve every merchant: an operator on one account must not
see (or act on) another merchant's orders. The membership row is the one fact
every admin screen and the staff session in the API scope by; superusers need
none and see every tenant.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .tenant import Tenant


class TenantMembership(models.Model):
    """A staff user belongs to a tenant; at most one row per pair (a database constraint)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="membership_unique_user_tenant"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "user"], name="membership_tenant_user")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant}"
