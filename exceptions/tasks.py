"""Celery tasks of the exceptions app: thin wrappers that call one service each."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .automation import services as automation_services
from .automation.runner import action_run_execute
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


# Upper bounds of an action task: the outbound call's tries with their backoff, and
# the model's choice before it. Only a stuck worker ever meets them.
CALL_SECONDS = settings.ACTION_HTTP_MAX_ATTEMPTS * (settings.ACTION_HTTP_TIMEOUT_SECONDS + 5) + 30
AI_CHOICE_SECONDS = settings.AI_TIMEOUT_SECONDS + 15


@shared_task(name="exceptions.resolution_pass", acks_late=True, reject_on_worker_lost=True)
def resolution_pass() -> dict[str, int]:
    """Beat: queue automation for every eligible exception; re-queue interrupted runs."""
    return automation_services.resolution_pass()


@shared_task(
    name="exceptions.automate",
    acks_late=True,
    reject_on_worker_lost=True,
    # The model's choice (AI_TIMEOUT_SECONDS) and the call (tries × timeout) bound it.
    soft_time_limit=AI_CHOICE_SECONDS + CALL_SECONDS,
    time_limit=AI_CHOICE_SECONDS + CALL_SECONDS + 15,
)
def automate(exception_id: int) -> str:
    """Choose, claim and (unless it needs approval) run one action for the exception."""
    run = automation_services.exception_automate(exception_id=exception_id)
    return run.status if run is not None else "nothing to do"


@shared_task(
    name="exceptions.run_action",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=CALL_SECONDS,
    time_limit=CALL_SECONDS + 15,
)
def run_action(run_id: int) -> str:
    """Run an approved action, or one a dead worker left running."""
    return action_run_execute(run_id=run_id).status
