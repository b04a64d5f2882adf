"""The digest: every SLACK_DIGEST_MINUTES, one message per tenant about the rest.

"The rest" are the exceptions opened since the tenant's last digest that did
not get a Slack message of their own (below the tenant's threshold, or opened
while its alerting was off). The digest counts them by reason and severity,
names a few orders, and adds how many of the tenant's exceptions are open now.
Nothing new, no digest: the next one then covers the longer period.

Beat may run twice at once (a slow run overlapping the next, or two beats by
mistake). Each tenant is handled in a transaction that holds its row
(`FOR NO KEY UPDATE SKIP LOCKED`: order and event inserts that reference the
tenant are not blocked) and re-reads the last digest under that lock, so a
period gets one digest however many runs race for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from orders.models import Tenant
from slas.models import SEVERITY_RANK

from ..config import alerting_for
from ..dispatch import enqueue_notifications
from ..models import ACTIVE_STATUSES, Notification, NotificationKind, OrderException

EXAMPLES = 5
MAX_GROUP_LINES = 15  # keeps the message well inside Slack's 3,000-character section


def digests_send(*, now: datetime | None = None) -> int:
    """Queue the digest of every tenant whose period is over; returns how many were queued."""
    if not settings.SLACK_NOTIFICATION_ENABLED:
        return 0
    now = now or timezone.now()
    tenant_ids = Tenant.objects.order_by("pk").values_list("pk", flat=True)
    return sum(_digest_queue(tenant_id=tenant_id, now=now) for tenant_id in tenant_ids)


def _digest_queue(*, tenant_id: int, now: datetime) -> bool:
    channel, minimum, enabled = alerting_for(tenant_id)
    if not enabled or not channel:
        return False
    period = timedelta(minutes=settings.SLACK_DIGEST_MINUTES)
    with transaction.atomic():
        tenant = (
            Tenant.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(pk=tenant_id)
            .only("pk", "slug")
            .first()
        )
        if tenant is None:  # another run is doing this tenant's digest right now
            return False
        last = (
            Notification.objects.filter(tenant_id=tenant_id, kind=NotificationKind.DIGEST)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None and now - last < period:
            return False
        since = last or now - period
        posted = Notification.objects.filter(exception_id=OuterRef("pk"), kind=NotificationKind.NEW)
        new = OrderException.objects.filter(
            tenant_id=tenant_id, created_at__gte=since, created_at__lt=now
        ).filter(~Exists(posted))
        groups = list(
            new.values("reason_code", "severity").annotate(count=Count("pk")).order_by("-count")
        )
        if not groups:
            return False
        examples = list(new.select_related("order").order_by("-created_at", "-pk")[:EXAMPLES])
        open_counts = dict(
            OrderException.objects.filter(tenant_id=tenant_id, status__in=ACTIVE_STATUSES)
            .order_by()
            .values("severity")
            .annotate(count=Count("pk"))
            .values_list("severity", "count")
        )
        text = digest_text(
            tenant_slug=tenant.slug,
            minimum=minimum,
            since=since,
            groups=groups,
            examples=examples,
            open_counts=open_counts,
        )
        Notification.objects.create(
            tenant_id=tenant_id,
            kind=NotificationKind.DIGEST,
            channel=channel,
            text=text,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            created_at=now,
        )
        transaction.on_commit(partial(enqueue_notifications, channel))
    return True


def digest_text(
    *,
    tenant_slug: str,
    minimum: str,
    since: datetime,
    groups: list[dict],
    examples: list[OrderException],
    open_counts: dict[str, int],
) -> str:
    total = sum(group["count"] for group in groups)
    lines = [
        f"*Digest for {_escape(tenant_slug)}*: {total} new exception{'s' if total != 1 else ''} "
        f"below {minimum} since {since:%Y-%m-%d %H:%M} UTC"
    ]
    lines += [
        f"• {group['count']} × {group['reason_code']} ({group['severity']})"
        for group in groups[:MAX_GROUP_LINES]
    ]
    if len(groups) > MAX_GROUP_LINES:
        lines.append(f"• … and {len(groups) - MAX_GROUP_LINES} more kinds")
    lines.append(
        "Examples: "
        + ", ".join(
            f"order {_escape(e.order.external_id)} ({e.reason_code_id}, {e.severity}, #{e.pk})"
            for e in examples
        )
    )
    by_severity = sorted(open_counts.items(), key=lambda item: -SEVERITY_RANK.get(item[0], -1))
    if by_severity:
        counts = " · ".join(f"{count} {severity}" for severity, count in by_severity)
        lines.append(f"Open now: {counts} ({sum(open_counts.values())} in total)")
    else:
        lines.append("Open now: none")
    return "\n".join(lines)


def _escape(value: str) -> str:
    """Slack mrkdwn treats &, < and > as markup; merchant-supplied ids may contain them."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
