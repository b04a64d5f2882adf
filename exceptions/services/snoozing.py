"""Snoozing until the warehouse next opens: the "until tomorrow" of the triage list.

An operator at 17:50 on a Friday who snoozes a pick delay means "when the floor is
back", not "in four hours" (Saturday night) nor "tomorrow 00:00". The calendar
that runs the order's SLA clocks knows when that is: the tenant's calendar for the
order's warehouse (`slas.config`). A site that never closes has no next opening;
there the snooze runs to the next local midnight, the plain reading of "tomorrow".
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from slas.business_time import WorkingCalendar, next_shift_start
from slas.config import config_for

from ..actors import Actor
from ..models import OrderException
from .lifecycle import exception_snooze


def site_calendar(exception: OrderException) -> WorkingCalendar:
    """The working calendar of the warehouse handling the exception's order."""
    return config_for(exception.tenant).calendar_for(exception.order.warehouse).working


def next_opening_for(exception: OrderException, now: datetime) -> datetime:
    """When the site handling the exception's order next opens after `now` (UTC)."""
    calendar = site_calendar(exception)
    opening = next_shift_start(calendar, now)
    if opening is None:
        local_day = now.astimezone(calendar.tz).date()
        opening = datetime.combine(local_day + timedelta(days=1), time(), tzinfo=calendar.tz)
    return opening.astimezone(UTC)


def exception_snooze_until_opening(
    *,
    exception_id: int,
    actor: Actor,
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> OrderException:
    """Snooze to the next opening of the order's warehouse (see the module docstring)."""
    now = now or timezone.now()
    scope = OrderException.objects.select_related("tenant", "order")
    if tenant_id is not None:
        scope = scope.filter(tenant_id=tenant_id)
    exception = scope.get(pk=exception_id)
    until = next_opening_for(exception, now)
    zone = site_calendar(exception).tz
    return exception_snooze(
        exception_id=exception_id,
        until=until,
        actor=actor,
        tenant_id=tenant_id,
        now=now,
        note=f"Until the site next opens: {until.astimezone(zone):%a %d %b %H:%M %Z}.",
    )
