"""The `stats` report's section on automated actions: what was tried and how it went.

One query for all tenants: runs by kind and status (all time), plus the open
records whose automation is blocked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count

from orders.models import Tenant

from ..models import ACTIVE_STATUSES, ActionRun, OrderException, RunStatus
from ..stats import Cell, StatsTable

COLUMNS = (
    RunStatus.FIXED,
    RunStatus.DONE,
    RunStatus.RECORDED,
    RunStatus.FAILED,
    RunStatus.AWAITING_APPROVAL,
    RunStatus.REJECTED,
    RunStatus.CANCELLED,
)
HEADERS = ("kind", "fixed", "done", "recorded", "failed", "waiting", "rejected", "cancelled")


def actions_section(*, tenants: Sequence[Tenant], now: datetime) -> dict[int, list[StatsTable]]:
    ids = [t.pk for t in tenants]
    cells: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    for row in (
        ActionRun.objects.filter(tenant_id__in=ids)
        .values("tenant_id", "kind", "status")
        .annotate(n=Count("pk"))
    ):
        cells[row["tenant_id"]][(row["kind"], row["status"])] = row["n"]
    blocked = dict(
        OrderException.objects.filter(tenant_id__in=ids, blocked=True, status__in=ACTIVE_STATUSES)
        .values("tenant_id")
        .annotate(n=Count("pk"))
        .values_list("tenant_id", "n")
    )
    tables = {}
    for tenant in tenants:
        mine = cells.get(tenant.pk, {})
        rows: list[tuple[Cell, ...]] = [
            (kind, *(mine.get((kind, status), 0) for status in COLUMNS))
            for kind in sorted({kind for kind, _ in mine})
        ]
        stuck: list[tuple[Cell, ...]] = (
            [("open, blocked after failed attempts", blocked[tenant.pk])]
            if blocked.get(tenant.pk)
            else []
        )
        tables[tenant.pk] = [
            StatsTable("Automated actions by kind and outcome", HEADERS, rows, "none tried"),
            StatsTable("Automation blocked", ("", "exceptions"), stuck, "nothing blocked"),
        ]
    return tables
