"""Replay generated orders through E²A under a simulated clock.

A backfill delivers a week of events at once, stamped as received now; E²A then
sees every stage at once and cannot judge it as it would have in real time (a
scan skipped a week ago is given its grace period from now). A replay instead
moves the clock through the period step by step, as a warehouse lives it: at
each step it delivers the events whose time has come, their follow-ups run
(eagerly, in this process), and then every beat job that would have been due by
then runs once. So clocks, scans, detection and notes happen at the moments they
would have, and the result can be scored against what the generator meant.

Used by `manage.py demo_tour` (the finite tour of `make demo`) and by
`bench/detect_eval.py`. The simulated clock is time-machine's, a development
dependency: a replay is a tool for a developer's machine, never for production.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from celery.schedules import maybe_schedule
from django.conf import settings

from ..models import Tenant
from .generator import GeneratedEvent, GeneratedOrder
from .send import DirectSender, Tally, plan_parcels

DEFAULT_STEP = timedelta(minutes=30)


class ReplayUnavailable(RuntimeError):
    """The simulated clock (time-machine) is not installed."""


@dataclass(frozen=True, slots=True)
class StepReport:
    """Where a replay stands after one step, for a progress display."""

    at: datetime
    step: int
    steps: int
    delivered: int


def _travel(at: datetime) -> Any:
    try:
        import time_machine
    except ImportError as exc:  # pragma: no cover - the dev extras are installed in tests
        raise ReplayUnavailable(
            "A replay needs the development dependencies (time-machine): run `make install`."
        ) from exc
    return time_machine.travel(at, tick=False)


@contextlib.contextmanager
def _tasks_run_here() -> Iterator[None]:
    """Every task runs in this process as it is sent, as in tests; restored after."""
    app = current_app
    app.loader.import_default_modules()  # register every app's tasks by name
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


class _Beat:
    """Beat's schedule, run by hand: each job once whenever it would have been due."""

    def __init__(self, start: datetime) -> None:
        self.entries = [
            (entry["task"], maybe_schedule(entry["schedule"], app=current_app))
            for entry in settings.CELERY_BEAT_SCHEDULE.values()
        ]
        self.last_run = dict.fromkeys((task for task, _ in self.entries), start)

    def run_due(self, now: datetime) -> None:
        for task, schedule in self.entries:
            due, _next = schedule.is_due(self.last_run[task])
            if due:
                current_app.tasks[task].apply()
                self.last_run[task] = now


def replay(
    *,
    tenant: Tenant,
    orders: Sequence[GeneratedOrder],
    start: datetime,
    end: datetime,
    seed: int,
    step: timedelta = DEFAULT_STEP,
    on_step: Callable[[StepReport], None] | None = None,
    each_step: Callable[[datetime], None] | None = None,
) -> Tally:
    """Live through [start, end] in `step`s; returns what the deliveries answered.

    Events are delivered in-process (`DirectSender`, the same parcels as over
    HTTP) at the end of the step their `occurred_at` falls in; events after `end`
    are not delivered. `seed` keeps the parcel mix reproducible. `each_step(now)`
    runs inside the simulated clock after beat's jobs (the demo's operator);
    `on_step` runs outside it (progress display).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible parcel mix, not secrets
    pending: list[GeneratedEvent] = sorted(
        (e for o in orders for e in o.events if e.occurred_at <= end),
        key=lambda e: e.occurred_at,
    )
    sender = DirectSender(tenant)
    tally = Tally()
    steps = max(1, -(-int((end - start).total_seconds()) // int(step.total_seconds())))
    beat = _Beat(start)
    sent = 0
    with _tasks_run_here():
        for number in range(1, steps + 1):
            now = min(start + step * number, end)
            with _travel(now):
                due = []
                while sent < len(pending) and pending[sent].occurred_at <= now:
                    due.append(pending[sent])
                    sent += 1
                for parcel in plan_parcels(
                    due,
                    rng=rng,
                    native_shopify=sender.native_shopify,
                    standard_webhooks=sender.standard_webhooks,
                ):
                    sender.send(parcel, tally)
                beat.run_due(now)
                if each_step is not None:
                    each_step(now)
            if on_step is not None:
                on_step(StepReport(at=now, step=number, steps=steps, delivered=sent))
    sender.close()
    return tally
