"""Exactly once under concurrency, with and without Redis, and nothing lost to a broker outage."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from orders.dispatch import followup_publisher
from orders.models import Order, OrderEvent
from orders.services.processing import events_sweep_unprocessed

from .factories import TenantFactory, api_key_for, event_body


def _post_concurrently(key: str, bodies: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> int:
        try:
            client = Client()
            barrier.wait(timeout=10)
            return client.post(
                "/ingest/events",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            ).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis_state", [pytest.param("up", marks=pytest.mark.redis), "down"])
def test_fifty_concurrent_identical_posts_store_one_event(settings, redis_state):
    if redis_state == "down":
        settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: Redis is down
    tenant = TenantFactory(slug=f"race-{redis_state}")
    key = api_key_for(tenant)
    body = event_body(event_id="same-event", order_id="#race")

    codes = _post_concurrently(key, [body] * 50)

    assert sorted(codes) == [200] * 49 + [202]
    assert OrderEvent.objects.filter(event_id="same-event").count() == 1
    assert Order.objects.get(external_id="#race").event_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_different_events_on_one_order_all_count():
    tenant = TenantFactory(slug="busy")
    key = api_key_for(tenant)
    bodies = [event_body(event_id=f"e{i}", order_id="#busy") for i in range(30)]

    codes = _post_concurrently(key, bodies)

    assert codes == [202] * 30
    assert Order.objects.get(external_id="#busy").event_count == 30  # no lost update


class BrokerSwitch:
    """Point Celery at a port where no broker listens (a real outage), and back.

    The read and write URLs are switched, not `broker_url`: Celery lets the
    CELERY_BROKER_URL environment variable (set in CI) win over `broker_url`.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.saved = (app.conf.get("broker_read_url"), app.conf.get("broker_write_url"))

    def use(self, url: str | None, write_url: str | None = None) -> None:
        self.app.conf.broker_read_url = url
        self.app.conf.broker_write_url = write_url or url
        self.app._after_fork()  # drop the connection and producer pools of the old URL

    def down(self) -> None:
        self.app.conf.task_always_eager = False
        self.use("redis://127.0.0.1:1/0")

    def up(self) -> None:
        followup_publisher.wait_idle()  # nothing of this test's goes to the next broker
        self.use(*self.saved)
        self.app.conf.task_always_eager = True


@pytest.fixture
def broker(_eager_celery):
    switch = BrokerSwitch(_eager_celery)
    yield switch
    switch.up()


@pytest.mark.django_db(transaction=True)
def test_broker_outage_after_commit_loses_nothing(broker, caplog):
    broker.down()
    tenant = TenantFactory(slug="outage")
    key = api_key_for(tenant)
    response = Client().post(
        "/ingest/events",
        data=json.dumps(event_body(event_id="during-outage")),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 202  # the sender is done: the event is stored
    assert followup_publisher.wait_idle()  # the publisher thread has tried the broker
    event = OrderEvent.objects.get(event_id="during-outage")
    assert event.processed_at is None  # its follow-up could not be queued
    assert "follow-up publish failed" in caplog.text

    # The broker is back: the beat sweep finds the event and its follow-up runs.
    broker.up()
    from datetime import timedelta

    assert events_sweep_unprocessed(older_than=timedelta(0)) == 1
    event.refresh_from_db()
    assert event.processed_at is not None
    assert events_sweep_unprocessed(older_than=timedelta(0)) == 0


@pytest.mark.django_db
def test_sweep_leaves_recent_events_to_their_own_task(api):
    api.post("/ingest/events", event_body())  # on_commit never fires inside this test's transaction
    assert events_sweep_unprocessed() == 0  # younger than INGEST_SWEEP_AFTER_SECONDS


@pytest.mark.django_db
def test_processing_twice_does_no_double_work(api):
    from orders.services.processing import events_process

    api.post("/ingest/events", event_body())
    pk = OrderEvent.objects.get().pk
    assert events_process(event_ids=[pk]) == 1
    assert events_process(event_ids=[pk]) == 0


@pytest.mark.django_db
def test_registered_follow_up_handlers_see_each_new_event_once(api):
    """The hook later apps (SLA evaluation) hang their work on."""
    from orders import followups
    from orders.services.processing import events_process

    seen: list[tuple[str, list[str]]] = []
    followups.register(
        "test-recorder",
        lambda batch: seen.extend((o.external_id, [e.event_id for e in evs]) for o, evs in batch),
        rank=followups.ANALYSIS,
    )
    try:
        api.post("/ingest/events", event_body(event_id="f1", order_id="#F"))
        api.post("/ingest/events", event_body(event_id="f2", order_id="#F"))
        ids = list(OrderEvent.objects.values_list("pk", flat=True))
        events_process(event_ids=ids)
        events_process(event_ids=ids)  # already processed: handlers are not called again
    finally:
        followups.unregister("test-recorder")
    assert seen == [("#F", ["f1", "f2"])]
