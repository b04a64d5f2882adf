"""Prometheus metrics of the SLA engine."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BREACHES = Counter(
    "e2a_sla_breaches_total",
    "Stage breaches recorded, by how they were found.",
    ["tenant", "stage", "reason", "detected_by"],
)
AT_RISK = Gauge(
    "e2a_sla_at_risk_stages",
    "Running stage clocks past their warning time, as of the last scan.",
    ["tenant"],
    multiprocess_mode="livemax",
)
SCAN_SECONDS = Histogram(
    "e2a_sla_scan_duration_seconds",
    "Wall time of one SLA scan.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SCAN_LAG = Gauge(
    "e2a_sla_scan_lag_seconds",
    "Age of the oldest due deadline not yet breached, as of the end of the last scan.",
    multiprocess_mode="livemax",
)
SCAN_CLAIMED = Counter(
    "e2a_sla_scan_claimed_total", "Clock rows the scan claimed, by what it did.", ["action"]
)

INVALID_CALENDARS = Counter(
    "e2a_sla_invalid_calendars_total",
    "Loads of a tenant's SLA configuration that met a business calendar the clock "
    "cannot use (overlapping hours, unknown time zone); its clocks ran 24×7 instead. "
    "Each process counts once per load (SLA_CONFIG_CACHE_SECONDS), so any rise means "
    "a calendar to fix.",
    ["tenant"],
)


def count_breaches(rows: list[tuple[str, str, str, str]]) -> None:
    """Count (tenant slug, stage, reason, detected_by) tuples; call after commit."""
    for tenant, stage, reason, detected_by in rows:
        BREACHES.labels(tenant, stage, reason, detected_by).inc()
