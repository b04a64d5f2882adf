"""Writing the audit trail: one row per change, with the fields before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Model

from ..actors import Actor
from ..metrics import count_activity
from ..models import ExceptionActivity, OrderException
from ..notify.outbox import queue_for_activity


def snapshot(exception: OrderException, fields: list[str]) -> dict[str, Any]:
    """The JSON-safe values of `fields` (foreign keys by id, times as ISO text)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(exception, name)
        if isinstance(value, Model):
            value = value.pk
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out


def activity_record(
    exception: OrderException,
    *,
    action: str,
    actor: Actor,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    from_status: str = "",
    note: str = "",
) -> ExceptionActivity:
    """Write the activity row and queue whatever notification it calls for."""
    row = ExceptionActivity.objects.create(
        tenant_id=exception.tenant_id,
        exception=exception,
        action=action,
        actor_type=actor.type,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label,
        from_status=from_status,
        to_status=exception.status if from_status else "",
        before=before or {},
        after=after or {},
        note=note,
        created_at=at,
    )
    queue_for_activity(exception, row)
    # Counted once the change is committed (a rolled-back transaction counts nothing).
    transaction.on_commit(lambda: count_activity(action, exception.reason_code_id, actor.type))
    return row
