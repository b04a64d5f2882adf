"""Prometheus metrics of the Slack notifications (served with the rest at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "e2a_slack_notifications_total",
    "Slack notifications that reached a final state, by kind and status (sent/skipped/failed).",
    ["kind", "status"],
)
SEND_ATTEMPTS = Counter(
    "e2a_slack_send_attempts_total",
    "chat.postMessage calls, by outcome (posted, rate_limited, transient_error, error).",
    ["outcome"],
)
INTERACTIONS = Counter(
    "e2a_slack_interactions_total",
    "Requests to POST /slack/interactions, by outcome.",
    ["outcome"],
)
