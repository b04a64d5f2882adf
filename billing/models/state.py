"""Per tenant, the local day the nightly billing job last ran for it."""

from __future__ import annotations

from django.db import models

from orders.models import Tenant


class BillingState(models.Model):
    """The row two beats race for: the nightly refresh moves `last_run_on` forward with a
    compare-and-swap, and only the beat whose UPDATE matched does the work."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, primary_key=True, related_name="billing_state"
    )
    last_run_on = models.DateField(
        null=True, blank=True, help_text="Tenant-local date of the last nightly refresh."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    auto_issue = models.BooleanField(
        default=True,
        help_text="Issue last month's invoice on the 1st (tenant-local) when nothing awaits "
        "approval; off: Finance issues it.",
    )

    class Meta:
        verbose_name = "billing settings"
        verbose_name_plural = "billing settings"

    def __str__(self) -> str:
        return f"{self.tenant} billed through {self.last_run_on or 'never'}"
