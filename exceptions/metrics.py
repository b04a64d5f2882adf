"""Prometheus metrics of the exception records (served with the rest at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

ACTIVITY = Counter(
    "e2a_exception_activity_total",
    "Changes to exceptions, by action (opened, recurred, acknowledged, escalated, "
    "resolved, auto_resolved, reopened, closed, …), reason code and who acted "
    "(user, api_key, slack, system).",
    ["action", "reason", "actor"],
)


def count_activity(action: str, reason: str, actor: str) -> None:
    ACTIVITY.labels(action, reason, actor).inc()
