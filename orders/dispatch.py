"""Queue follow-up work without importing tasks (no service ↔ task import cycle).

Tasks are sent by name. A publish that fails (broker down) is logged and
swallowed: the events are already committed with `processed_at` empty, and the
beat sweep (`orders.sweep_unprocessed_events`) queues them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app

log = logging.getLogger(__name__)

PROCESS_EVENTS_TASK = "orders.process_events"
FOLLOW_UP_CHUNK = 100


def send_by_name(name: str, *, args: list, argsrepr: str | None = None) -> None:
    """Publish a task by its registered name (honours eager mode in tests).

    `argsrepr` spares Celery a safe repr() of long id lists for its message headers.
    """
    task = current_app.tasks.get(name)
    if task is None:
        current_app.send_task(name, args=args, argsrepr=argsrepr)
    else:
        task.apply_async(args=args, argsrepr=argsrepr)


def enqueue_event_followups(event_ids: Sequence[int]) -> int:
    """Publish follow-up tasks for these events; returns how many were published."""
    published = 0
    for start in range(0, len(event_ids), FOLLOW_UP_CHUNK):
        chunk = list(event_ids[start : start + FOLLOW_UP_CHUNK])
        try:
            send_by_name(
                PROCESS_EVENTS_TASK,
                args=[chunk],
                argsrepr=f"[{len(chunk)} event ids from {chunk[0]}]",
            )
        except Exception as exc:  # broker unreachable: the sweep will catch up
            log.error(
                "follow-up publish failed; the sweep will re-queue",
                extra={"event_ids": chunk[:10], "count": len(chunk), "error": repr(exc)},
            )
            continue
        published += len(chunk)
    return published
