"""Models of the ai app."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q


class AiDailySpend(models.Model):
    """What the language model cost on one UTC day: one row overall, one per tenant.

    The rows are the daily budget's counters, shared by every worker on every
    machine; charges add to them with `UPDATE … SET x = x + n`, so concurrent
    workers never lose an increment. They live in the database, not in Redis, so a
    Redis restart cannot hand out the day's budget a second time.
    """

    day = models.DateField(help_text="UTC day the calls were made.")
    tenant = models.ForeignKey(
        "orders.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty on the row that counts every tenant together (the overall budget).",
    )
    tokens_in = models.PositiveBigIntegerField(default=0, help_text="Prompt tokens.")
    tokens_out = models.PositiveBigIntegerField(default=0, help_text="Completion tokens.")
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, default=Decimal("0"))
    calls = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(help_text="When the last call was charged.")

    class Meta:
        ordering = ["-day", "tenant_id"]
        verbose_name = "AI daily spend"
        verbose_name_plural = "AI daily spend"
        constraints = [
            # NULLs are distinct in a plain unique constraint, so (day, NULL) would
            # not be unique: one partial constraint each (SQLite and PostgreSQL).
            models.UniqueConstraint(
                fields=["day", "tenant"],
                condition=Q(tenant__isnull=False),
                name="ai_daily_spend_one_row_per_tenant_day",
            ),
            models.UniqueConstraint(
                fields=["day"],
                condition=Q(tenant__isnull=True),
                name="ai_daily_spend_one_overall_row_per_day",
            ),
        ]

    def __str__(self) -> str:
        who = self.tenant_id if self.tenant_id is not None else "all tenants"
        return f"{self.day} {who}: {self.tokens_in + self.tokens_out} tokens, ${self.cost_usd}"

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out
