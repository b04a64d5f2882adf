"""Prometheus metrics of automated actions (served with the rest at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTIONS = Counter(
    "e2a_actions_total",
    "Automated action runs finished, by kind and outcome (fixed, done, recorded, failed, "
    "rejected, cancelled).",
    ["kind", "outcome"],
)
APPROVALS_WAITING = Gauge(
    "e2a_action_approvals_waiting",
    "Automated actions waiting for an operator's approval, as of the last resolution pass.",
    multiprocess_mode="livemax",
)
BLOCKED = Gauge(
    "e2a_exceptions_blocked",
    "Open exceptions whose automation is blocked after its last failed attempt, as of the "
    "last resolution pass.",
    multiprocess_mode="livemax",
)


def count_run(kind: str, outcome: str) -> None:
    ACTIONS.labels(kind, outcome).inc()
