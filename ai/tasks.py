"""Celery tasks of the ai app (queue `ai`): thin, idempotent, never failing on the model."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from exceptions.models import ExplanationTrigger, FallbackCause, OrderException
from exceptions.services.explanations import Analysis, analysis_key, exception_explain

from .analysis import exception_analyze
from .dispatch import enqueue_analysis
from .selectors import unexplained_exception_ids

log = logging.getLogger(__name__)

SWEEP_LIMIT = 500


@shared_task(
    name="ai.analyze_exception",
    acks_late=True,
    reject_on_worker_lost=True,
    # The model call ends within AI_TIMEOUT_SECONDS; these only catch a stuck worker.
    soft_time_limit=settings.AI_TIMEOUT_SECONDS + 15,
    time_limit=settings.AI_TIMEOUT_SECONDS + 30,
)
def analyze_exception(exception_id: int, trigger: str = ExplanationTrigger.AUTO) -> str:
    """Analyse one exception; an automatic run of an already analysed state does nothing."""
    try:
        row = exception_analyze(exception_id=exception_id, trigger=trigger, once=True)
    except SoftTimeLimitExceeded:
        exception = OrderException.objects.get(pk=exception_id)
        row = exception_explain(
            exception_id=exception_id,
            analysis=Analysis(
                key=analysis_key(exception),
                trigger=trigger,
                cause=FallbackCause.TIMEOUT,
                detail="the task's soft time limit passed",
            ),
            now=timezone.now(),
        )
    if row is None:
        return "done before"
    return row.cause or row.decision


@shared_task(name="ai.sweep_unexplained", acks_late=True, reject_on_worker_lost=True)
def sweep_unexplained() -> int:
    """Beat's safety net: queue exceptions whose current state was never analysed."""
    before = timezone.now() - timedelta(seconds=settings.AI_SWEEP_AFTER_SECONDS)
    ids = unexplained_exception_ids(changed_before=before, limit=SWEEP_LIMIT)
    for exception_id in ids:
        enqueue_analysis(exception_id, "sweep")
    if ids:
        log.info("queued unanalysed exceptions", extra={"count": len(ids)})
    return len(ids)
