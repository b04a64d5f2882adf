"""The no-op task whose round trip is the pipeline latency's baseline.

Imported by the bench's worker (`celery … worker --include pipeline_parts.noop`, with
bench/ on PYTHONPATH). It does nothing but say when it ran: the time is pushed to a
Redis list the bench reads, so its round trip is measured the way a probe's is (the
effect's own timestamp minus the moment the client sent it).
"""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings


@shared_task(name="bench.noop", acks_late=True)
def noop(key: str, sent_at: float) -> None:
    ran_at = time.time()
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(key, f"{sent_at} {ran_at}")
    finally:
        client.close()
