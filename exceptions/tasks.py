"""Celery tasks of the exceptions app: thin wrappers that call one service each."""

from __future__ import annotations

from celery import shared_task

from .dispatch import enqueue_notifications
from .notify.digest import digests_send
from .notify.sender import channels_with_pending, notifications_send
from .services.escalation import exceptions_escalate


@shared_task(name="exceptions.escalate", acks_late=True, reject_on_worker_lost=True)
def escalate() -> dict[str, int]:
    """Escalate what nobody acted on in time; close what stayed resolved."""
    return exceptions_escalate()


@shared_task(name="exceptions.send_notifications", acks_late=True, reject_on_worker_lost=True)
def send_notifications(channel: str) -> int:
    """Send a channel's pending Slack messages as its rate limit allows; re-queue the rest."""
    result = notifications_send(channel=channel)
    if result.retry_in is not None:
        enqueue_notifications(channel, countdown=result.retry_in)
    return result.sent


@shared_task(
    name="exceptions.send_pending_notifications", acks_late=True, reject_on_worker_lost=True
)
def send_pending_notifications() -> int:
    """Beat's safety net: queue a send for every channel with pending messages."""
    channels = channels_with_pending()
    for channel in channels:
        enqueue_notifications(channel)
    return len(channels)


@shared_task(name="exceptions.send_digests", acks_late=True, reject_on_worker_lost=True)
def send_digests() -> int:
    """Queue each tenant's digest of the exceptions below the posting threshold, when due."""
    return digests_send()
