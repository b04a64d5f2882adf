"""A parked follow-up becomes a SYSTEM_ERROR the operator sees in triage.

Once an event's follow-up is parked (orders.services.followup_failures), the
order's SLA clocks and exceptions no longer follow its events, and nothing else
would tell anyone. The exception names the event, the failing handler, the
attempts and the last error, and stays open until a person resolves it: a
replay that succeeds does not prove that what the order missed meanwhile is right.
"""

from __future__ import annotations

from orders.models import FollowUpFailure, Order

from ..actors import Actor
from .raising import Finding, exception_raise

WORKER = Actor.system("worker")


def exceptions_open_for_parked_followup(order: Order, failure: FollowUpFailure) -> None:
    event = failure.event
    finding = Finding(
        "SYSTEM_ERROR",
        {
            "source": "worker",
            "rule": "followup_parked",
            "reason": (
                f"E²A's follow-up of event {event.source}:{event.event_id} ({event.event_type}) "
                f"failed {failure.attempts} times in {failure.handler} and is parked; "
                "replay it under Orders → Follow-up failures once fixed"
            ),
            "event_id": event.event_id,
            "handler": failure.handler,
            "attempts": failure.attempts,
            "last_error": failure.last_error[:500],
        },
        correlation_id=event.correlation_id,
    )
    exception_raise(order=order, finding=finding, actor=WORKER)
