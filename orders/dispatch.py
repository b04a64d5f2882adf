"""Queue follow-up work without importing tasks (no service ↔ task import cycle).

Tasks are sent by name. A publish that fails (broker down) is logged and
swallowed: the events are already committed with `processed_at` empty, and the
beat sweep (`orders.sweep_unprocessed_events`) queues them again.

Ingest requests go through `publish_followups`, which hands the ids to the
process's coalescing publisher (orders.followup_publisher) unless coalescing is
off (`FOLLOWUP_COALESCE_MS=0`) or tasks run eagerly (tests), where it publishes
at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app
from django.conf import settings

from e2a_project.celery import CORRELATION_TASK_HEADER

from .followup_publisher import FollowupPublisher

log = logging.getLogger(__name__)

PROCESS_EVENTS_TASK = "orders.process_events"
FOLLOW_UP_CHUNK = 100


def send_by_name(
    name: str,
    *,
    args: list,
    argsrepr: str | None = None,
    correlation_id: str | None = None,
    countdown: float | None = None,
) -> None:
    """Publish a task by its registered name (honours eager mode in tests).

    `argsrepr` spares Celery a safe repr() of long id lists for its message headers.
    `correlation_id` is for publishers outside a request's context (the coalescing
    thread); otherwise the id bound to the current request or task is attached.
    """
    headers = {CORRELATION_TASK_HEADER: correlation_id} if correlation_id else None
    task = current_app.tasks.get(name)
    if task is None:
        current_app.send_task(
            name, args=args, argsrepr=argsrepr, headers=headers, countdown=countdown
        )
    else:
        task.apply_async(args=args, argsrepr=argsrepr, headers=headers, countdown=countdown)


def enqueue_event_followups(event_ids: Sequence[int], correlation_id: str | None = None) -> int:
    """Publish follow-up tasks for these events now; returns how many were published."""
    published = 0
    for start in range(0, len(event_ids), FOLLOW_UP_CHUNK):
        chunk = list(event_ids[start : start + FOLLOW_UP_CHUNK])
        try:
            send_by_name(
                PROCESS_EVENTS_TASK,
                args=[chunk],
                argsrepr=f"[{len(chunk)} event ids from {chunk[0]}]",
                correlation_id=correlation_id,
            )
        except Exception as exc:  # broker unreachable: the sweep will catch up
            log.error(
                "follow-up publish failed; the sweep will re-queue",
                extra={"event_ids": chunk[:10], "count": len(chunk), "error": repr(exc)},
            )
            continue
        published += len(chunk)
    return published


def _coalesce_seconds() -> float:
    return settings.FOLLOWUP_COALESCE_MS / 1000


def _min_interval_seconds() -> float:
    return settings.FOLLOWUP_MIN_INTERVAL_MS / 1000


followup_publisher = FollowupPublisher(
    enqueue_event_followups, _coalesce_seconds, _min_interval_seconds
)


def publish_followups(event_ids: Sequence[int], correlation_id: str) -> None:
    """Queue the follow-ups of just-committed events (call from `on_commit`)."""
    if settings.FOLLOWUP_COALESCE_MS <= 0 or current_app.conf.task_always_eager:
        enqueue_event_followups(event_ids)
    else:
        followup_publisher.submit(event_ids, correlation_id)
