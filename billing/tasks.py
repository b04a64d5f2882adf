"""Celery tasks of the billing app: thin wrappers that call one service each."""

from __future__ import annotations

from celery import shared_task

from .nightly import billing_nightly


@shared_task(name="billing.nightly", acks_late=True, reject_on_worker_lost=True)
def nightly() -> int:
    """Hourly from beat; each tenant's drafts are refreshed once per local day, after 02:00.

    Idempotent: a tenant already done today is skipped (compare-and-swap on its
    billing state), so a redelivered or doubled run refreshes nothing twice.
    """
    return len(billing_nightly())
