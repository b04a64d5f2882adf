"""Carry the clock rows' scan breaches into the memo and fill the orders' deadline columns.

From here on the memo on the order row is the truth about a clock, including
whether the scan breached it ("b"), and `Order.sla_due_at`/`sla_warn_at`/
`sla_stage` name the next deadline the scan reads. Both are derived from the
rows written so far (which agree with the memos).
"""

from django.db import migrations
from django.db.models import Q

RUNNING = Q(met_at__isnull=True, stopped_at__isnull=True)
CHUNK = 2000


def forward(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    StageClock = apps.get_model("slas", "StageClock")
    order_ids = (
        StageClock.objects.filter(RUNNING).values_list("order_id", flat=True).distinct()
    )
    breached = StageClock.objects.filter(breached_at__isnull=False).values_list(
        "order_id", flat=True
    )
    ids = sorted(set(order_ids) | set(breached))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        clocks: dict[int, list] = {}
        for clock in StageClock.objects.filter(order_id__in=chunk):
            clocks.setdefault(clock.order_id, []).append(clock)
        orders = list(Order.objects.filter(pk__in=chunk))
        for order in orders:
            memo = dict(order.sla_clocks or {})
            waiting = []
            for clock in clocks.get(order.pk, []):
                entry = dict(memo.get(clock.stage) or {})
                if clock.breached_at is not None:
                    entry["b"] = clock.breached_at.isoformat()
                if entry:
                    memo[clock.stage] = entry
                if clock.met_at is None and clock.stopped_at is None and clock.breached_at is None:
                    waiting.append(clock)
            order.sla_clocks = memo
            first = min(waiting, key=lambda c: c.due_at, default=None)
            order.sla_due_at = first.due_at if first else None
            order.sla_warn_at = first.warn_at if first else None
            order.sla_stage = first.stage if first else ""
        Order.objects.bulk_update(orders, ["sla_clocks", "sla_due_at", "sla_warn_at", "sla_stage"])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_order_sla_deadlines"),
        ("slas", "0003_clock_fk_without_db_constraint"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
