"""The strict view of the rules path's cost: one raise with the analysis listener vs without.

For a recreated exception, the same finding (reason, stage, severity, lateness,
evidence) is raised again with `exception_raise` in its own transaction, after
the previous record was deleted (not timed), so every raise is an opening: once
with the ai app's listener unregistered
(`exceptions.analysis_hooks.unregister("ai.analysis")`), once registered with
the model off and Celery eager, so the `ai.analyze_exception` task runs in this
process on commit, inside the timed block. The sides alternate and swap first
place every round. This is the strictest denominator: the raise alone, without
the ingestion, the rules or the scan that found the problem, which the judged
ratio (the whole opening step, `recreate`) includes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class RaiseTiming:
    without: float  # seconds over all rounds
    with_listener: float
    openings: int  # per side
    explanations_with: int  # Explanation rows the "with" side recorded (must = openings)


def time_raise(*, exception_id: int, rounds: int) -> RaiseTiming:
    """Raise the exception's finding again, `rounds` times per side (see the module doc)."""
    from celery import current_app
    from django.db import transaction
    from django.test import override_settings

    from ai.dispatch import enqueue_analysis
    from exceptions import analysis_hooks
    from exceptions.models import Explanation, OrderException
    from exceptions.services.raising import Finding, exception_raise

    exception = OrderException.objects.select_related("order").get(pk=exception_id)
    order = exception.order
    finding = Finding(
        reason_code=exception.reason_code_id,
        evidence=exception.evidence,
        stage=exception.stage,
        severity=exception.severity,
        late_minutes=exception.late_minutes,
    )
    current_app.loader.import_default_modules()
    eager_before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    spent = {True: 0.0, False: 0.0}
    explanations = 0
    try:
        with override_settings(AI_PROVIDER_BASE_URL=""):
            for round_number in range(rounds):
                first = round_number % 2 == 0
                for listener in (first, not first):
                    OrderException.objects.filter(
                        order=order, reason_code_id=finding.reason_code
                    ).delete()
                    if listener:
                        analysis_hooks.register("ai.analysis", enqueue_analysis)
                    else:
                        analysis_hooks.unregister("ai.analysis")
                    started = time.perf_counter()
                    with transaction.atomic():
                        raised = exception_raise(order=order, finding=finding)
                    spent[listener] += time.perf_counter() - started
                    if listener:
                        explanations += Explanation.objects.filter(
                            exception_id=raised.exception.pk
                        ).count()
    finally:
        analysis_hooks.register("ai.analysis", enqueue_analysis)
        current_app.conf.task_always_eager = eager_before
    return RaiseTiming(spent[False], spent[True], rounds, explanations)
