"""How well detection found what the demo generator made: a confusion table.

The generator (`orders.demo`) knows which problem it worked into each order and
which reason code E²A should open for it; this module compares that with the
exceptions E²A actually opened. Used by `bench/detect_eval.py` (2,000 orders)
and by the detection test (a small replay), so both score the same way:

- recall per kind: of the orders made with that problem and shown by the end of
  the replay, the share with an exception of the expected reason;
- precision overall: of the exceptions opened on the generated orders, the share
  that fit the problem made. A delay of the very stage a problem stopped (a
  short pick never completes its pick) fits too: it is true, and the catalogue
  of follow-ons says which those are. Anything on a clean order does not fit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from orders.demo.catalog import PROBLEM_FOLLOW_ONS, PROBLEM_KINDS, PROBLEM_REASONS
from orders.demo.generator import GeneratedOrder
from orders.models import Tenant

from .models import OrderException

CLEAN = "clean"


@dataclass(slots=True)
class KindRow:
    """One row of the table: the orders made with one kind of problem (or clean)."""

    kind: str
    orders: int = 0
    shown: int = 0  # problem visible by the end of the replay
    found: int = 0  # shown, and the expected reason was opened
    opened: Counter[str] = field(default_factory=Counter)  # reason → orders with it

    @property
    def recall(self) -> float | None:
        return self.found / self.shown if self.shown else None


@dataclass(slots=True)
class DetectionScore:
    rows: dict[str, KindRow]
    exceptions: int
    fitting: int

    @property
    def orders(self) -> int:
        return sum(r.orders for r in self.rows.values())

    @property
    def problem_share(self) -> float:
        return 1 - self.rows[CLEAN].orders / self.orders if self.orders else 0.0

    @property
    def precision(self) -> float:
        return self.fitting / self.exceptions if self.exceptions else 1.0

    @property
    def on_clean_orders(self) -> int:
        return sum(self.rows[CLEAN].opened.values())

    def lowest_recall(self) -> tuple[str, float] | None:
        scored = [(r.recall, k) for k, r in self.rows.items() if r.recall is not None]
        if not scored:
            return None
        recall, kind = min(scored)
        return kind, recall

    def table(self) -> str:
        """The confusion table as text: kind made, expected reason, recall, and every
        reason code opened on those orders."""
        lines = [
            f"{'kind made':<21} {'orders':>6} {'expected':<21} {'found':>11} {'recall':>7}"
            "  reasons opened (orders)"
        ]
        for kind in (*PROBLEM_KINDS, CLEAN):
            row = self.rows[kind]
            expected = PROBLEM_REASONS.get(kind, "none")
            recall = "—" if row.recall is None else f"{100 * row.recall:.1f} %"
            found = f"{row.found}/{row.shown}" if kind != CLEAN else ""
            opened = ", ".join(f"{code} {n}" for code, n in sorted(row.opened.items())) or "none"
            lines.append(
                f"{kind:<21} {row.orders:>6} {expected:<21} {found:>11} {recall:>7}  {opened}"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        lowest = self.lowest_recall()
        kinds = sum(1 for r in self.rows.values() if r.recall is not None)
        if lowest is None:
            recall = "no problem shown"
        elif lowest[1] == 1:
            recall = f"recall 100.0 % for all {kinds} kinds"
        else:
            recall = f"lowest recall {100 * lowest[1]:.1f} % ({lowest[0]}) over {kinds} kinds"
        return (
            f"{self.orders:,} orders, {100 * self.problem_share:.1f} % with a problem; "
            f"{recall}; precision {100 * self.precision:.1f} % "
            f"({self.fitting} of {self.exceptions} exceptions fit the problem made, "
            f"{self.on_clean_orders} on clean orders)"
        )


def detection_score(
    *, tenant: Tenant, orders: Sequence[GeneratedOrder], shown_by: datetime
) -> DetectionScore:
    """Compare the exceptions opened for `tenant` with what `orders` were made with."""
    rows = {kind: KindRow(kind) for kind in (*PROBLEM_KINDS, CLEAN)}
    opened: dict[str, set[str]] = defaultdict(set)
    for external_id, reason in OrderException.objects.filter(
        tenant=tenant, order__external_id__in=[o.order_id for o in orders]
    ).values_list("order__external_id", "reason_code_id"):
        opened[external_id].add(reason)
    exceptions = fitting = 0
    for order in orders:
        kind = order.problem or CLEAN
        row = rows[kind]
        row.orders += 1
        reasons = opened.get(order.order_id, set())
        row.opened.update(reasons)
        exceptions += len(reasons)
        if order.problem:
            fitting += len(reasons & {PROBLEM_REASONS[kind], *PROBLEM_FOLLOW_ONS.get(kind, ())})
        if order.problem and order.problem_at is not None and order.problem_at <= shown_by:
            row.shown += 1
            row.found += PROBLEM_REASONS[kind] in reasons
    return DetectionScore(rows=rows, exceptions=exceptions, fitting=fitting)
