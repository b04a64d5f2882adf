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
