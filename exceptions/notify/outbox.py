"""The notification outbox: Slack messages written in the transaction that causes them.

A new exception at or above the tenant's threshold gets its own message with
buttons; its later status changes and escalations become replies in that
message's thread. Exceptions below the threshold are left to the digest. The
sender (`notify.sender`) delivers pending rows after commit, per channel and
rate limited, so a Slack outage never loses or blocks an exception change.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import QuerySet

from slas.models import SEVERITY_RANK

from ..config import alerting_for
from ..models import (
    ExceptionActivity,
    Notification,
    NotificationKind,
    NotificationStatus,
    OrderException,
)
from . import messages, metrics
from .sender import channel_skip_reason

# Activity that earns a thread reply on the exception's Slack message.
REPLY_ACTIONS = {
    "acknowledged",
    "started",
    "assigned",
    "snoozed",
    "resolved",
    "auto_resolved",
    "reopened",
    "closed",
    "escalated",
    "explained",  # the notes changed: the thread gets the new ops note
    # Automated actions: what was tried and what came back, and what waits for a person.
    "attempt_succeeded",
    "attempt_failed",
    "action_proposed",
    "action_approved",
    "action_rejected",
}


def queue_for_activity(exception: OrderException, activity: ExceptionActivity) -> None:
    if activity.action == "opened":
        _queue_new(exception)
    elif activity.action in REPLY_ACTIONS:
        _queue_reply(exception, activity)


def _queue_new(exception: OrderException, *, escalated: bool = False) -> None:
    """Its own message with buttons: at or above the threshold, or once it escalates."""
    channel, minimum, enabled = alerting_for(exception.tenant_id)
    below = SEVERITY_RANK[exception.severity] < SEVERITY_RANK[minimum]
    if not enabled or (below and not escalated):
        return  # the digest covers it
    text, blocks = messages.new_exception(exception)
    if escalated:
        text = f"Escalated to level {exception.escalation_level}: {text}"
        blocks[0]["text"]["text"] = text
    _add(exception, NotificationKind.NEW, channel, text, blocks)


def _queue_reply(exception: OrderException, activity: ExceptionActivity) -> None:
    parent = (
        Notification.objects.filter(exception=exception, kind=NotificationKind.NEW)
        .only("pk", "channel")
        .first()
    )
    if parent is None:
        # Never posted on its own (it opened below the threshold): every escalation
        # is announced, so the first one earns it a message of its own, which later
        # changes reply to.
        if activity.action == "escalated":
            _queue_new(exception, escalated=True)
        return
    kind = (
        NotificationKind.ESCALATION if activity.action == "escalated" else NotificationKind.UPDATE
    )
    _add(exception, kind, parent.channel, messages.status_change(exception, activity), [])


def _add(exception: OrderException, kind: str, channel: str, text: str, blocks: list) -> None:
    # Skipped for the configuration (Slack off, no token, no channel) is known now: the
    # row says so at once, as the sender would have, and no send task is queued for it.
    reason = channel_skip_reason(channel)
    Notification.objects.create(
        tenant_id=exception.tenant_id,
        exception=exception,
        kind=kind,
        channel=channel,
        text=text,
        blocks=blocks,
        created_at=exception.updated_at,
        status=NotificationStatus.SKIPPED if reason else NotificationStatus.PENDING,
        skip_reason=reason,
    )
    if reason:
        skipped = metrics.NOTIFICATIONS.labels(kind, NotificationStatus.SKIPPED)
        transaction.on_commit(skipped.inc)
    else:
        transaction.on_commit(partial(_dispatch, channel))


def _dispatch(channel: str) -> None:
    from ..dispatch import enqueue_notifications

    enqueue_notifications(channel)


def notifications_send_again(*, notifications: QuerySet[Notification]) -> int:
    """Put failed or skipped messages back in the outbox; returns how many.

    Compare-and-swap on the status: a message another operator already queued
    again (or one that was sent meanwhile) is not touched twice. The count and
    the error are reset, so the message gets the sender's full attempts.
    """
    again = notifications.filter(status__in=[NotificationStatus.FAILED, NotificationStatus.SKIPPED])
    with transaction.atomic():
        channels = set(again.values_list("channel", flat=True))
        count = again.update(
            status=NotificationStatus.PENDING, skip_reason="", last_error="", attempts=0
        )
        for channel in channels:
            transaction.on_commit(lambda c=channel: _dispatch(c))
    return count
