"""Delivering the outbox: per channel, oldest first, one message per second, one sender at a time.

`notifications_send(channel=…)` is what the `exceptions.send_notifications` task
runs. Each call sends at most one message, holding the channel's `SlackChannel`
row lock (`SELECT … FOR UPDATE SKIP LOCKED`) for the duration, so two workers
never post to the same channel at once and a message is never posted twice. The
row's `next_send_at` is the channel's rate limit: the earliest moment the next
message may go, pushed out by 1/SLACK_MESSAGES_PER_SECOND after every call and
by Slack's `Retry-After` after a 429. The call answers how long until the
channel may send again when messages remain, and the task re-queues itself for
then; beat's `exceptions.send_pending_notifications` is the safety net for a
lost re-queue.

Decisions worth knowing:
- A worker that finds the channel locked gives up without re-queueing. The
  holder looks for what is left only after it has released the lock, so it sees
  every message committed before the loser gave up and re-queues itself for them.
- Every notification queues a send task, so a burst would otherwise become as
  many tasks polling the channel every second. Only one wake-up per moment is
  scheduled (`cache.add` on the moment); the other tasks end. If the cache is
  unavailable each task re-queues (more polling, nothing lost).
- Thread replies go under their exception's NEW message. When that message was
  never posted (skipped or failed) a status update is skipped, because a reply
  with no parent is noise and the change is in the admin's audit trail; an
  escalation is posted at the top level with the exception's headline, because
  it exists to get someone's attention.
- Skipping (no token, notifications off, no channel, tenant's alerting off) is
  recorded on the row with its reason and never raises; it uses no rate budget.
- Failures: a Slack error such as channel_not_found fails the message at once;
  network errors, 5xx and Slack's internal errors are tried MAX_ATTEMPTS times
  with a growing pause. A 429 is not the message's fault and does not count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ..config import alerting_for
from ..models import Notification, NotificationKind, NotificationStatus, SlackChannel
from . import metrics, slack_client
from .messages import headline

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
TRANSIENT_PAUSE = timedelta(seconds=10)  # times the attempts made so far
# No Celery countdown longer than beat's sweep interval: a longer wait is re-checked.
MAX_WAIT_SECONDS = 60.0
SKIP_BATCH = 50  # rows read at a time while skipping what cannot be sent
REPLY_KINDS = (NotificationKind.UPDATE, NotificationKind.ESCALATION)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    # Seconds until this channel may send again while messages remain; None: nothing
    # left, or another worker is already responsible for what is left.
    retry_in: float | None = None


def channels_with_pending() -> list[str]:
    """Channels with at least one pending notification (served by the partial index)."""
    pending = Notification.objects.filter(status=NotificationStatus.PENDING)
    return list(pending.order_by("channel").values_list("channel", flat=True).distinct())


def notifications_send(*, channel: str, clock: Clock = timezone.now) -> SendResult:
    """Send the channel's oldest pending message if its rate limit allows; never raises."""
    reason = _channel_skip_reason(channel)
    if reason:
        return SendResult(skipped=_skip_all_pending(channel, reason))

    SlackChannel.objects.get_or_create(name=channel)
    sent = skipped = failed = 0
    with transaction.atomic():
        slot = SlackChannel.objects.select_for_update(skip_locked=True).filter(name=channel).first()
        if slot is None:  # another worker is sending; it re-checks after letting go
            return SendResult()
        if slot.next_send_at is None or slot.next_send_at <= clock():
            sent, skipped, failed = _send_next(slot, clock)
        next_send_at = slot.next_send_at

    left = Notification.objects.filter(channel=channel, status=NotificationStatus.PENDING)
    retry_in = _wake_in(channel, next_send_at, clock()) if left.exists() else None
    return SendResult(sent=sent, skipped=skipped, failed=failed, retry_in=retry_in)


def _channel_skip_reason(channel: str) -> str:
    if not settings.SLACK_NOTIFICATION_ENABLED:
        return "Slack notifications are off (SLACK_NOTIFICATION_ENABLED)."
    if not settings.SLACK_BOT_TOKEN:
        return "No SLACK_BOT_TOKEN configured."
    if not channel:
        return "No Slack channel: set the tenant's channel in the admin or SLACK_DEFAULT_CHANNEL."
    return ""


def _skip_all_pending(channel: str, reason: str) -> int:
    pending = Notification.objects.filter(channel=channel, status=NotificationStatus.PENDING)
    total = 0
    for kind in NotificationKind.values:
        count = pending.filter(kind=kind).update(
            status=NotificationStatus.SKIPPED, skip_reason=reason
        )
        if count:
            metrics.NOTIFICATIONS.labels(kind, NotificationStatus.SKIPPED).inc(count)
        total += count
    return total


def _send_next(slot: SlackChannel, clock: Clock) -> tuple[int, int, int]:
    """Skip what cannot go, then post the oldest message that can: (sent, skipped, failed)."""
    skipped = 0
    pending = Notification.objects.filter(channel=slot.name, status=NotificationStatus.PENDING)
    while batch := list(pending.select_related("exception").order_by("pk")[:SKIP_BATCH]):
        for note in batch:
            thread_ts, text, reason = _addressing(note)
            if reason:
                _finish(note, NotificationStatus.SKIPPED, skip_reason=reason)
                skipped += 1
                continue
            status = _post(slot, note, text=text, thread_ts=thread_ts, clock=clock)
            return (
                int(status == NotificationStatus.SENT),
                skipped,
                int(status == NotificationStatus.FAILED),
            )
    return 0, skipped, 0


def _addressing(note: Notification) -> tuple[str, str, str]:
    """(thread_ts, text, skip reason) for a notification about to be sent."""
    if not alerting_for(note.tenant_id)[2]:
        return "", note.text, "Slack alerting is disabled for this tenant."
    if note.kind not in REPLY_KINDS or note.exception is None:
        return "", note.text, ""
    parent = (
        Notification.objects.filter(exception_id=note.exception_id, kind=NotificationKind.NEW)
        .order_by("-pk")
        .only("status", "slack_ts")
        .first()
    )
    if parent is not None and parent.status == NotificationStatus.SENT:
        return parent.slack_ts, note.text, ""
    if note.kind == NotificationKind.ESCALATION:
        return "", f"{headline(note.exception)}\n{note.text}", ""
    state = parent.status if parent else "missing"
    return "", note.text, f"Its exception's Slack message was not posted ({state})."


def _post(
    slot: SlackChannel, note: Notification, *, text: str, thread_ts: str, clock: Clock
) -> str:
    """Post one message and record what happened on it and on the channel's rate limit."""
    outcome = slack_client.post_message(
        channel=slot.name, text=text, blocks=note.blocks, thread_ts=thread_ts
    )
    now = clock()
    slot.next_send_at = now + _interval()
    match outcome:
        case slack_client.Posted(ts=ts):
            metrics.SEND_ATTEMPTS.labels("posted").inc()
            note.attempts += 1
            note.thread_ts, note.slack_ts, note.sent_at = thread_ts, ts, now
            _finish(note, NotificationStatus.SENT)
        case slack_client.RateLimited(retry_after=seconds):
            metrics.SEND_ATTEMPTS.labels("rate_limited").inc()
            slot.next_send_at = now + timedelta(seconds=max(seconds, _interval().total_seconds()))
            note.last_error = f"Rate limited by Slack (Retry-After {seconds:g} s)."
            note.save(update_fields=["last_error"])
        case slack_client.Failed(error=error, permanent=permanent):
            note.attempts += 1
            note.last_error = error
            if permanent or note.attempts >= MAX_ATTEMPTS:
                metrics.SEND_ATTEMPTS.labels("error").inc()
                _finish(note, NotificationStatus.FAILED)
                log.warning(
                    "slack notification failed",
                    extra={"notification": note.pk, "channel": slot.name, "error": error},
                )
            else:
                metrics.SEND_ATTEMPTS.labels("transient_error").inc()
                slot.next_send_at = now + TRANSIENT_PAUSE * note.attempts
                note.save(update_fields=["attempts", "last_error"])
    slot.save(update_fields=["next_send_at"])
    return note.status


def _finish(note: Notification, status: str, *, skip_reason: str = "") -> None:
    note.status = status
    note.skip_reason = skip_reason
    note.save(
        update_fields=[
            "status",
            "skip_reason",
            "attempts",
            "last_error",
            "thread_ts",
            "slack_ts",
            "sent_at",
        ]
    )
    metrics.NOTIFICATIONS.labels(note.kind, status).inc()


def _interval() -> timedelta:
    rate = settings.SLACK_MESSAGES_PER_SECOND
    return timedelta(seconds=1.0 / rate) if rate > 0 else timedelta(0)


def _wake_in(channel: str, next_send_at: datetime | None, now: datetime) -> float | None:
    """Seconds until the channel's next send, if this caller is the one to schedule it."""
    wait = 0.0 if next_send_at is None else (next_send_at - now).total_seconds()
    wait = min(max(wait, 0.0), MAX_WAIT_SECONDS)
    wake_at = now + timedelta(seconds=wait)
    key = f"e2a:slack-wake:{channel}:{wake_at.timestamp():.1f}"
    try:
        scheduled_here = cache.add(key, 1, timeout=int(wait) + 60)
    except Exception as exc:  # cache down: re-queue anyway (duplicates, never a loss)
        log.warning("slack wake-up dedup unavailable", extra={"error": str(exc)})
        scheduled_here = True
    return round(wait, 3) if scheduled_here else None
