"""The `stats` report's AI section: where the notes came from, and what the model cost.

Registered from AiConfig.ready() into the exceptions app's stats registry. Two
queries for all tenants together: explanations by decision and cause (all time),
and today's spend (UTC day, the budget's day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count

from exceptions.models import Explanation, FallbackCause
from exceptions.stats import Cell, StatsTable
from orders.models import Tenant

from .models import AiDailySpend


def ai_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    ids = [t.pk for t in tenants]
    decisions: dict[int, dict[str, int]] = defaultdict(dict)
    for row in (
        Explanation.objects.filter(tenant_id__in=ids)
        .values("tenant_id", "cause")
        .annotate(n=Count("pk"))
    ):
        decisions[row["tenant_id"]][row["cause"]] = row["n"]
    spend = {s.tenant_id: s for s in AiDailySpend.objects.filter(tenant_id__in=ids, day=now.date())}
    labels = dict(FallbackCause.choices)
    tables = {}
    for tenant in tenants:
        counts = decisions.get(tenant.pk, {})
        rows: list[tuple[Cell, ...]] = []
        if counts:
            rows.append(("model's notes used", counts.get("", 0)))
            rows += [
                (f"catalogue kept: {labels.get(cause, cause)}", n)
                for cause, n in sorted(counts.items())
                if cause
            ]
            rows.append(("total analyses", sum(counts.values())))
        today = spend.get(tenant.pk)
        spent = (
            [
                ("calls", today.calls),
                ("tokens in", today.tokens_in),
                ("tokens out", today.tokens_out),
                ("cost (USD)", f"{today.cost_usd:.4f}"),
            ]
            if today is not None
            else []
        )
        tables[tenant.pk] = [
            StatsTable("Notes: analyses by outcome", ("outcome", "exceptions"), rows, "none yet"),
            StatsTable(
                f"AI spend today ({now:%Y-%m-%d} UTC)", ("", "value"), spent, "no model calls"
            ),
        ]
    return tables
