"""End to end through a real broker and a real Celery worker (CI: Redis + PostgreSQL)."""

from __future__ import annotations

import json
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from orders.models import OrderEvent

from .factories import TenantFactory, api_key_for, event_body
from .test_exactly_once import BrokerSwitch


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_ingested_event_is_processed_by_a_worker_through_redis(_eager_celery):
    app = _eager_celery
    switch = BrokerSwitch(app)
    switch.down()  # not eager
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    switch.use(f"{base}/7")  # a Redis database of its own for this test's queue
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    tenant = TenantFactory(slug="pipeline")
    key = api_key_for(tenant)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            response = Client().post(
                "/ingest/events",
                data=json.dumps(event_body(event_id="via-worker")),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
            assert response.status_code == 202
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if OrderEvent.objects.filter(
                    event_id="via-worker", processed_at__isnull=False
                ).exists():
                    break
                time.sleep(0.1)
    finally:
        switch.up()
    assert OrderEvent.objects.get(event_id="via-worker").processed_at is not None


def test_migrations_match_the_models(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_system_checks_pass():
    from django.core.management import call_command

    call_command("check", fail_level="WARNING")
