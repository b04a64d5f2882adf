"""The coalescing follow-up publisher: fewer broker messages, nothing dropped."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from orders.dispatch import followup_publisher
from orders.followup_publisher import FollowupPublisher
from orders.models import OrderEvent

from .factories import TenantFactory, api_key_for, event_body
from .test_exactly_once import BrokerSwitch


class Recorder:
    """The publish side of a FollowupPublisher under test: keeps each call's arguments."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[list[int], str | None]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, event_ids: list[int], correlation_id: str | None) -> int:
        with self.lock:
            if self.fail_first:
                self.fail_first -= 1
                raise ConnectionError("broker unreachable")
            self.calls.append((event_ids, correlation_id))
        return len(event_ids)


def test_submissions_within_the_window_leave_as_one_publish():
    recorder, release = Recorder(), threading.Event()
    # The window stays open until the test releases it: no real time involved.
    publisher = FollowupPublisher(recorder, lambda: 1.0, sleep=lambda _s: release.wait(5))
    publisher.submit([1, 2], "req-a")
    publisher.submit([3], "req-b")
    publisher.submit([], "req-c")  # nothing to publish: not even a wake-up
    assert recorder.calls == []  # the window is still open
    release.set()
    assert publisher.wait_idle(timeout=5)
    assert recorder.calls == [([1, 2, 3], None)]  # mixed requests: no shared id


def test_a_single_request_keeps_its_correlation_id_on_the_message():
    recorder = Recorder()
    publisher = FollowupPublisher(recorder, lambda: 0.0)
    publisher.submit([7], "req-only")
    assert publisher.wait_idle(timeout=5)
    assert recorder.calls == [([7], "req-only")]


def test_a_failed_publish_does_not_stop_later_ones():
    recorder = Recorder(fail_first=1)
    publisher = FollowupPublisher(recorder, lambda: 0.0)
    publisher.submit([1], "a")
    assert publisher.wait_idle(timeout=5)
    publisher.submit([2], "b")
    assert publisher.wait_idle(timeout=5)
    assert recorder.calls == [([2], "b")]  # 1 is left to the sweep, 2 still goes out


class RecordingSleep:
    """Stands in for time.sleep: notes each requested wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_a_busy_publisher_keeps_the_minimum_interval_an_idle_one_only_the_window():
    recorder, sleep, now = Recorder(), RecordingSleep(), [1000.0]
    publisher = FollowupPublisher(
        recorder, lambda: 0.02, lambda: 60.0, sleep=sleep, monotonic=lambda: now[0]
    )
    publisher.submit([1], "first")
    assert publisher.wait_idle(timeout=5)
    now[0] += 0.5  # half a second later
    publisher.submit([2], "right after")
    assert publisher.wait_idle(timeout=5)
    assert recorder.calls == [([1], "first"), ([2], "right after")]
    first, second = sleep.waits
    assert first == 0.02  # nothing published before: just the coalescing window
    assert second == 59.5  # the previous publish was half a second ago: the rest of a minute


def test_flush_publishes_what_is_buffered_at_once():
    recorder = Recorder()
    publisher = FollowupPublisher(recorder, lambda: 60.0)
    publisher.submit([4, 5], "x")
    assert publisher.flush() == 2
    assert recorder.calls == [([4, 5], "x")]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_republish_its_parents_buffer():
    recorder = Recorder()
    publisher = FollowupPublisher(recorder, lambda: 60.0)
    publisher.submit([1], "parent")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it would publish, then leave at once
        os.close(read_end)
        os.write(write_end, str(publisher.flush()).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"0"
    os.close(read_end)
    assert publisher.flush() == 1  # the parent still owns its buffered id


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_requests_in_one_window_reach_a_real_worker_in_one_message(_eager_celery, settings):
    """Through Redis and a worker: several requests, one task, every event processed."""
    settings.FOLLOWUP_COALESCE_MS = 300  # wide enough that all posts below fall into it
    app = _eager_celery
    switch = BrokerSwitch(app)
    switch.down()
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    switch.use(f"{base}/8")
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    tenant = TenantFactory(slug="coalesced")
    key = api_key_for(tenant)
    client = Client()
    try:
        for n in range(3):
            response = client.post(
                "/ingest/events",
                data=json.dumps(event_body(event_id=f"c-{n}", order_id=f"o-{n}")),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
                HTTP_X_CORRELATION_ID=f"trace-{n}",
            )
            assert response.status_code == 202
        assert followup_publisher.wait_idle(timeout=5)
        with app.connection_for_write() as conn:
            queued = conn.default_channel.client.llen("ingest")
        assert queued == 1
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if not OrderEvent.objects.filter(processed_at__isnull=True).exists():
                    break
                time.sleep(0.1)
    finally:
        switch.up()
    assert not OrderEvent.objects.filter(processed_at__isnull=True).exists()
