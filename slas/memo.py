"""The clock memo on the order row (`Order.sla_clocks`) and the deadlines derived from it.

The memo is the truth about each stage's clock: ingestion keeps it in the
transaction that stores the event, with the order row locked, and everything
else that changes a clock (the scan breaching a stuck stage, sla_recompute)
changes it with the order row locked too. One entry per started stage:

    s start, hv high volume, k inputs key, p policy id, c calendar id,
    bt business time, a allowed minutes, d due, w warning (the deadline);
    m met, x stopped, xb stopped by, ms missing-scan deadline (the progress);
    lb a late completion's breach is on record; b when the scan (or
    sla_recompute) breached the stage while it ran.

From it follow the order's deadline columns (`sla_due_at`, `sla_warn_at`,
`sla_stage`): the earliest deadline among the stages that still run and are
not breached. The stage chain (each stage starts when the one before completes,
and a later stage's event stops every earlier one) lets at most one stage run
at a time, so these columns describe that stage exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orders.models import Order

DEADLINE_FIELDS = ("sla_due_at", "sla_warn_at", "sla_stage")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def waiting(entry: dict[str, Any]) -> bool:
    """Running (not met, not stopped) and not breached yet: its deadline is ahead of it."""
    return not entry.get("m") and not entry.get("x") and not entry.get("b")


def next_deadline(memo: dict[str, Any]) -> tuple[datetime | None, datetime | None, str]:
    """(due, warn, stage) of the waiting stage due first, or (None, None, "")."""
    best: tuple[datetime | None, datetime | None, str] = (None, None, "")
    for stage, entry in memo.items():
        if waiting(entry):
            due = dt(entry["d"])
            if best[0] is None or due < best[0]:
                best = (due, dt(entry["w"]), stage)
    return best


def set_deadlines(order: Order, memo: dict[str, Any]) -> None:
    """Store `memo` on the order with the deadline columns it implies (not saved)."""
    order.sla_clocks = memo
    order.sla_due_at, order.sla_warn_at, order.sla_stage = next_deadline(memo)
