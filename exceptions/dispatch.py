"""Queue exception work by task name, never by importing tasks (no import cycle).

A publish that fails (broker down) is logged and swallowed: the notification is
already stored as pending, and beat's `exceptions.send_pending_notifications`
picks it up.
"""

from __future__ import annotations

import logging

from orders.dispatch import send_by_name

log = logging.getLogger(__name__)

SEND_NOTIFICATIONS_TASK = "exceptions.send_notifications"


def enqueue_notifications(channel: str, *, countdown: float | None = None) -> bool:
    """Ask a worker to send the channel's pending notifications; False if the broker is down."""
    try:
        send_by_name(SEND_NOTIFICATIONS_TASK, args=[channel], countdown=countdown)
    except Exception as exc:  # the beat sweep sends it later
        log.warning("could not queue notifications", extra={"channel": channel, "error": str(exc)})
        return False
    return True


AUTOMATE_TASK = "exceptions.automate"
RUN_ACTION_TASK = "exceptions.run_action"


def enqueue_automate(exception_id: int) -> bool:
    """Ask a worker to choose and run an action for the record; the next pass retries a
    lost publish."""
    try:
        send_by_name(AUTOMATE_TASK, args=[exception_id])
    except Exception as exc:  # beat's resolution pass finds it again
        log.warning(
            "could not queue automation", extra={"exception_id": exception_id, "error": str(exc)}
        )
        return False
    return True


def enqueue_action_run(run_id: int) -> bool:
    """Ask a worker to run an approved (or recovered) action; the pass re-queues a lost one."""
    try:
        send_by_name(RUN_ACTION_TASK, args=[run_id])
    except Exception as exc:  # beat's resolution pass re-queues runs left ready
        log.warning("could not queue an action run", extra={"run_id": run_id, "error": str(exc)})
        return False
    return True
