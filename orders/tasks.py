"""Celery tasks of the orders app: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from .services.processing import events_process, events_sweep_unprocessed


@shared_task(name="orders.process_events", acks_late=True, reject_on_worker_lost=True)
def process_events(event_ids: list[int]) -> int:
    return events_process(event_ids=event_ids)


@shared_task(name="orders.sweep_unprocessed_events", acks_late=True, reject_on_worker_lost=True)
def sweep_unprocessed_events() -> int:
    return events_sweep_unprocessed()
