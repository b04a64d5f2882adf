"""Queue an analysis by task name (no service ↔ task import cycle)."""

from __future__ import annotations

import logging

from exceptions.models import ExplanationTrigger
from orders.dispatch import send_by_name

log = logging.getLogger(__name__)

ANALYZE_TASK = "ai.analyze_exception"


def enqueue_analysis(exception_id: int, why: str) -> None:
    """The exceptions app's analysis listener: `why` "manual" is a re-analysis asked
    for (always runs); anything else runs once per exception state. A failed publish
    is logged; the sweep queues the exception again later."""
    trigger = ExplanationTrigger.MANUAL if why == "manual" else ExplanationTrigger.AUTO
    try:
        send_by_name(ANALYZE_TASK, args=[exception_id, trigger])
    except Exception as exc:  # broker unreachable: ai.sweep_unexplained catches up
        log.error(
            "analysis publish failed; the sweep will queue it",
            extra={"exception_id": exception_id, "error": repr(exc)},
        )
