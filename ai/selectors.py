"""Reads of the ai app: which exceptions still wait for an analysis of their state."""

from __future__ import annotations

from datetime import datetime

from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from exceptions.models import ACTIVE_STATUSES, Explanation, ExplanationTrigger, OrderException


def unexplained_exception_ids(*, changed_before: datetime, limit: int) -> list[int]:
    """Active exceptions whose current key (severity, occurrences) has no automatic
    analysis yet and that changed before `changed_before` (their own task had time)."""
    current_key = Concat(
        Cast(OuterRef("pk"), CharField()),
        Value(":"),
        OuterRef("severity"),
        Value(":"),
        Cast(OuterRef("occurrence_count"), CharField()),
        output_field=CharField(),
    )
    analysed = Explanation.objects.filter(
        exception=OuterRef("pk"), trigger=ExplanationTrigger.AUTO, key=current_key
    )
    return list(
        OrderException.objects.filter(status__in=ACTIVE_STATUSES, updated_at__lt=changed_before)
        .exclude(Exists(analysed))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
