"""Delivering the outbox: per channel, oldest first, one message per second, one sender at a time.

`notifications_send(channel=…)` is what the `exceptions.send_notifications` task
runs. Each call sends at most one message. Database rows change exactly once;
Slack messages are delivered at least once:

1. In one short statement the sender takes the channel's send slot, a lease on
   its `SlackChannel` row (`lease_token`, `lease_expires_at`), so two workers never
   post to the same channel at once. No transaction stays open after this.
2. It picks the oldest message that can go (skipping, in a short transaction,
   what cannot) and calls Slack, holding no database lock for the up to
   `slack_client.TIMEOUT_SECONDS` the call may take.
3. In a second short transaction it records Slack's answer on the message, but
   only while the message is still pending (compare-and-swap), moves the
   channel's rate limit on, and gives the lease back.

A worker that dies between Slack's answer and step 3 leaves the message pending
and the lease to expire (`LEASE`, longer than any Slack call); the next sender
then posts that message once more. That is the documented at-least-once delivery:
no notification, activity or exception row is ever written twice.

The row's `next_send_at` is the channel's rate limit: the earliest moment the next
message may go, pushed out by 1/SLACK_MESSAGES_PER_SECOND after every call and
by Slack's `Retry-After` after a 429. The call answers how long until the
channel may send again when messages remain, and the task re-queues itself for
then; beat's `exceptions.send_pending_notifications` is the safety net for a
lost re-queue or an expired lease.

Decisions worth knowing:
- A worker that finds the slot taken does not poll. The holder looks for what is
  left only after it has given the lease back, so it sees every message committed
  before the loser gave up and re-queues itself for them. The loser schedules one
  wake-up for the moment the lease runs out (shared by every loser of that lease),
  so a holder that died mid-call delays its channel by the lease, not by beat's
  minute sweep on top.
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
  What the configuration rules out is known when the row is written, so the
  outbox writes it skipped and queues no task; the sender skips what was waiting
  when the configuration changed.
- Failures: a Slack error such as channel_not_found fails the message at once;
  network errors, 5xx and Slack's internal errors are tried MAX_ATTEMPTS times
  with a growing pause. A 429 is not the message's fault and does not count.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
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
# How long a send slot stays taken: longer than any Slack call, short enough that
# a sender that died holding it stalls its channel only briefly.
LEASE = timedelta(seconds=slack_client.TIMEOUT_SECONDS + 20)
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
    reason = channel_skip_reason(channel)
    if reason:
        return SendResult(skipped=_skip_all_pending(channel, reason))

    SlackChannel.objects.get_or_create(name=channel)
    token = _lease_take(channel, clock())
    if token is None:  # another worker is sending; it re-checks after letting go
        return SendResult(retry_in=_wake_when_lease_ends(channel, clock()))
    try:
        sent, skipped, failed, next_send_at = _send_next(channel, token, clock)
    finally:
        _lease_give_back(channel, token)

    left = Notification.objects.filter(channel=channel, status=NotificationStatus.PENDING)
    retry_in = _wake_in(channel, next_send_at, clock()) if left.exists() else None
    return SendResult(sent=sent, skipped=skipped, failed=failed, retry_in=retry_in)


def _lease_take(channel: str, now: datetime) -> str | None:
    """The channel's send slot for this caller (its token), or None while another holds it."""
    token = secrets.token_hex(16)
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    taken = SlackChannel.objects.filter(free, name=channel).update(
        lease_token=token, lease_expires_at=now + LEASE
    )
    return token if taken else None


def _wake_when_lease_ends(channel: str, now: datetime) -> float | None:
    """One wake-up at the moment the holder's lease runs out, in case the holder died.

    A live holder gives the lease back long before and re-queues itself; the wake-up
    then finds the channel free and nothing (or the next message) to send. A dead
    one leaves its message pending: without this, it waits for beat's minute sweep.
    Every sender that finds the same lease taken computes the same moment, so
    `_wake_in`'s once-per-moment rule schedules one task for all of them.
    """
    expires = (
        SlackChannel.objects.filter(name=channel).values_list("lease_expires_at", flat=True).first()
    )
    if expires is None or expires <= now:
        return None  # given back meanwhile: its holder re-checks what is left
    return _wake_in(channel, expires, now)


def _lease_give_back(channel: str, token: str) -> None:
    # Only our own lease: if it expired and another sender took it, it is theirs.
    SlackChannel.objects.filter(name=channel, lease_token=token).update(
        lease_token="", lease_expires_at=None
    )


def channel_skip_reason(channel: str) -> str:
    """Why nothing can be posted to this channel with this configuration, or ""."""
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


def _send_next(channel: str, token: str, clock: Clock) -> tuple[int, int, int, datetime | None]:
    """Skip what cannot go, then post the oldest message that can.

    Returns (sent, skipped, failed, the channel's next_send_at).
    """
    slot = SlackChannel.objects.get(name=channel)
    if slot.next_send_at is not None and slot.next_send_at > clock():
        return 0, 0, 0, slot.next_send_at
    skipped = 0
    pending = Notification.objects.filter(channel=channel, status=NotificationStatus.PENDING)
    while batch := list(pending.select_related("exception").order_by("pk")[:SKIP_BATCH]):
        for note in batch:
            thread_ts, text, reason = _addressing(note)
            if reason:
                _finish(note, NotificationStatus.SKIPPED, skip_reason=reason)
                skipped += 1
                continue
            # No transaction is open here: Slack may take seconds to answer.
            outcome = slack_client.post_message(
                channel=channel, text=text, blocks=note.blocks, thread_ts=thread_ts
            )
            status, next_send_at = _record(note.pk, slot.pk, outcome, thread_ts, clock())
            return (
                int(status == NotificationStatus.SENT),
                skipped,
                int(status == NotificationStatus.FAILED),
                next_send_at,
            )
    return 0, skipped, 0, slot.next_send_at


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


def _record(
    note_pk: int,
    slot_pk: int,
    outcome: slack_client.PostOutcome,
    thread_ts: str,
    now: datetime,
) -> tuple[str, datetime | None]:
    """Write Slack's answer on the message and the channel's rate limit, once.

    Returns the message's status and the channel's next_send_at. A message no
    longer pending was recorded by a sender that took over an expired lease:
    Slack got it twice, the rows are left as that sender wrote them.
    """
    with transaction.atomic():
        slot = SlackChannel.objects.select_for_update().get(pk=slot_pk)
        note = Notification.objects.select_for_update().get(pk=note_pk)
        if note.status != NotificationStatus.PENDING:
            log.warning(
                "slack message recorded by another sender; it was posted twice",
                extra={"notification": note.pk, "channel": slot.name},
            )
            return note.status, slot.next_send_at
        slot.next_send_at = now + _interval()
        match outcome:
            case slack_client.Posted(ts=ts):
                metrics.SEND_ATTEMPTS.labels("posted").inc()
                note.attempts += 1
                note.thread_ts, note.slack_ts, note.sent_at = thread_ts, ts, now
                _finish(note, NotificationStatus.SENT)
            case slack_client.RateLimited(retry_after=seconds):
                metrics.SEND_ATTEMPTS.labels("rate_limited").inc()
                wait = max(seconds, _interval().total_seconds())
                slot.next_send_at = now + timedelta(seconds=wait)
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
        return note.status, slot.next_send_at


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
