"""Per case: recreate the exception, then analyse it on the rules path and the model path.

The rules path is `exception_analyze` with the model switched off for the call
(`AI_PROVIDER_BASE_URL` empty): it records a kept-rules Explanation and the
exception keeps the catalogue's notes, which are what is scored. The model path
is the same call with the environment's model: its own ops note (the reply, used
or not) and its label are scored, and the note the exception ends with is
reported too. Both run right after the case's replay, before any other case is
replayed, so each exception is analysed as it opened.

Each case is also replayed a second time in a twin tenant, so that the step in
which its exception opened is timed without and with the analysis listener,
side by side (see `recreate` and `evaluate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.test import override_settings

from ai_eval_parts.cases import Case, missing_facts
from ai_eval_parts.recreate import Recreated, replay_case, tenants
from ai_eval_parts.timing import RaiseTiming, time_raise
from orders.models import Tenant

SWEEP_TASK = "ai.sweep_unexplained"


@dataclass(slots=True)
class PathResult:
    """One analysis of one case: the Explanation's decision and cause, and the notes."""

    decision: str
    cause: str
    label: str
    note: str  # the note scored: the catalogue's (rules) or the reply's (model)
    final_note: str  # what the exception shows afterwards
    seconds: float
    missing: list[str] = field(default_factory=list)
    final_missing: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CaseResult:
    case: Case
    exception_id: int | None
    opened: bool
    step_without: float  # seconds of the opening step, analysis listener unregistered
    step_with: float  # the same step in a twin tenant, listener registered (model off)
    rules: PathResult | None = None
    model: PathResult | None = None
    raising: RaiseTiming | None = None


def evaluate(
    *,
    cases: list[Case],
    step: timedelta,
    seed: int,
    with_model: bool,
    raise_rounds: int = 5,
    before_model_call: Callable[[Case], None] | None = None,
    on_case: Callable[[int, CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Replay every case twice (without and with the listener, alternating which goes
    first) and analyse the exception of the replay without it; `before_model_call`
    lets a fake model queue its reply."""
    from exceptions.models import ExplanationTrigger

    fresh = tenants("ai-eval")
    results: list[CaseResult] = []
    for number, case in enumerate(cases, start=1):
        sides: dict[bool, Recreated] = {}
        for listener in (False, True) if number % 2 else (True, False):
            sides[listener] = _replay_side(case, next(fresh), step, seed, listener=listener)
        exception = sides[False].exception
        result = CaseResult(
            case,
            exception.pk if exception else None,
            exception is not None and sides[True].exception is not None,
            step_without=sides[False].last_step_seconds,
            step_with=sides[True].last_step_seconds,
        )
        if exception is not None:
            with override_settings(AI_PROVIDER_BASE_URL=""):
                result.rules = _analyse(case, exception.pk, ExplanationTrigger.MANUAL, rules=True)
            if with_model:
                if before_model_call is not None:
                    before_model_call(case)
                result.model = _analyse(case, exception.pk, ExplanationTrigger.MANUAL, rules=False)
            result.raising = time_raise(exception_id=exception.pk, rounds=raise_rounds)
        for side in sides.values():
            _forget(side.tenant)
        results.append(result)
        if on_case is not None:
            on_case(number, result)
    return results


def _replay_side(
    case: Case, tenant: Tenant, step: timedelta, seed: int, *, listener: bool
) -> Recreated:
    """One replay of the case: "with" is the app as configured, model off (its analyses
    run eagerly on commit, inside the timed step); "without" has no analysis at all,
    neither the listener nor beat's sweep of unanalysed exceptions."""
    from django.conf import settings

    from ai.dispatch import enqueue_analysis
    from exceptions import analysis_hooks

    schedule = dict(settings.CELERY_BEAT_SCHEDULE)
    if listener:
        analysis_hooks.register("ai.analysis", enqueue_analysis)
    else:
        analysis_hooks.unregister("ai.analysis")
        schedule = {k: v for k, v in schedule.items() if v["task"] != SWEEP_TASK}
    try:
        with override_settings(AI_PROVIDER_BASE_URL="", CELERY_BEAT_SCHEDULE=schedule):
            return replay_case(case=case, tenant=tenant, step=step, seed=seed)
    finally:
        analysis_hooks.register("ai.analysis", enqueue_analysis)


def _forget(tenant: Tenant) -> None:
    """Delete a finished case's tenant and everything of it, so that no later case's
    replay scans, escalates or analyses its orders (the simulated clock goes back to
    each case's own start). Billing's records (the replay's nightly run drafts an
    invoice), events, orders and dead letters protect their tenant or orders, so they
    go first, each before what it points at; the rest cascades."""
    from billing.models import (
        CreditNote,
        InboundReceipt,
        Invoice,
        InvoiceAdjustment,
        InvoiceLine,
        SlaCredit,
        StorageSnapshot,
        Tariff,
    )
    from orders.models import DeadLetter, Order, OrderEvent

    SlaCredit.objects.filter(tenant=tenant).delete()
    InvoiceLine.objects.filter(invoice__tenant=tenant).delete()
    CreditNote.objects.filter(invoice__tenant=tenant).delete()
    InvoiceAdjustment.objects.filter(invoice__tenant=tenant).delete()
    Invoice.objects.filter(tenant=tenant).delete()
    Tariff.objects.filter(tenant=tenant).delete()
    StorageSnapshot.objects.filter(tenant=tenant).delete()
    InboundReceipt.objects.filter(tenant=tenant).delete()
    OrderEvent.objects.filter(tenant=tenant).delete()
    Order.objects.filter(tenant=tenant).delete()
    DeadLetter.objects.filter(tenant=tenant).delete()
    tenant.delete()


def _analyse(case: Case, exception_id: int, trigger: str, *, rules: bool) -> PathResult:
    from ai.analysis import exception_analyze
    from exceptions.models import OrderException

    started = time.perf_counter()
    row = exception_analyze(exception_id=exception_id, trigger=trigger)
    seconds = time.perf_counter() - started
    final_note = OrderException.objects.values_list("ops_note", flat=True).get(pk=exception_id)
    note = final_note if rules else str((row.reply or {}).get("ops_note") or "")
    return PathResult(
        decision=row.decision,
        cause=row.cause,
        label=row.label,
        note=note,
        final_note=final_note,
        seconds=seconds,
        missing=missing_facts(note, case.facts),
        final_missing=missing_facts(final_note, case.facts),
    )
