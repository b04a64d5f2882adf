"""Severity of a breach from how late it is relative to the stage's allowance.

With the default bands (25 / 100 / 300 %), a pick allowed 120 minutes is LOW
under 30 minutes late, MEDIUM under 120, HIGH under 360, CRITICAL beyond. A
stuck stage keeps ageing, so the scan asks `next_rise_minutes` when to look again.
"""

from __future__ import annotations

from .models import Severity, SlaPolicy


def _bands(policy: SlaPolicy) -> tuple[tuple[int, Severity], ...]:
    return (
        (policy.severity_low_below_percent, Severity.LOW),
        (policy.severity_medium_below_percent, Severity.MEDIUM),
        (policy.severity_high_below_percent, Severity.HIGH),
    )


def severity_for(late_minutes: float, allowed_minutes: int, policy: SlaPolicy) -> Severity:
    percent = 100 * late_minutes / max(allowed_minutes, 1)
    for below, severity in _bands(policy):
        if percent < below:
            return severity
    return Severity.CRITICAL


def next_rise_minutes(late_minutes: float, allowed_minutes: int, policy: SlaPolicy) -> float | None:
    """Lateness (minutes) at which the severity next rises; None once CRITICAL."""
    for below, _ in _bands(policy):
        threshold = below * max(allowed_minutes, 1) / 100
        if late_minutes < threshold:
            return threshold
    return None
