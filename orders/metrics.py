"""E²A's own Prometheus metrics for ingestion (served with django-prometheus's at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from .event_types import KNOWN_EVENT_TYPES

EVENTS = Counter(
    "e2a_events_total",
    "Events received, by tenant, source, event type and outcome.",
    ["tenant", "source", "event_type", "outcome"],
)
INGEST_LATENCY = Histogram(
    "e2a_ingest_latency_seconds",
    "Time to authenticate, validate and store an ingest request.",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DEAD_LETTERS = Counter(
    "e2a_dead_letters_total", "Payloads kept as dead letters.", ["tenant", "kind"]
)
FOLLOWUP_FAILURES = Counter(
    "e2a_followup_failures_total",
    "Failed event follow-ups: retrying (backing off) or parked (given up, awaiting replay).",
    ["outcome"],
)
FOLLOWUPS_SWEPT = Counter(
    "e2a_followups_swept_total", "Events re-queued by the sweep after a lost publish."
)


def count_event(tenant: str, source: str, event_type: str, outcome: str, count: int = 1) -> None:
    # Unknown types are free-form: fold them into one label value to bound cardinality.
    label = event_type if event_type in KNOWN_EVENT_TYPES else "other"
    EVENTS.labels(tenant, source or "unknown", label, outcome).inc(count)
