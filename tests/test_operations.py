"""What engineers on call rely on: probes, metrics, correlation ids in logs, API docs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings as django_settings

from e2a_project.logging import structured_formatter
from orders.contract import DOCUMENTED_FIELDS
from orders.dispatch import followup_publisher
from orders.models import OrderEvent

from .factories import event_body
from .test_exactly_once import BrokerSwitch


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_with_retry_after_while_the_broker_is_down(client, _eager_celery):
    switch = BrokerSwitch(_eager_celery)
    switch.down()
    try:
        response = client.get("/readyz")
    finally:
        switch.up()
    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["checks"]["broker"] == "fail"


@pytest.mark.django_db
def test_metrics_count_events_by_outcome(api, client):
    api.post("/ingest/events", event_body(event_id="m1"))
    api.post("/ingest/events", event_body(event_id="m1"))
    api.post("/ingest/events", event_body(event_id="m2", event_type="weird.custom"))
    text = client.get("/metrics").content.decode()
    assert (
        'e2a_events_total{event_type="order_paid",outcome="accepted",source="wms",tenant="acme"}'
        in text
    )
    assert (
        'e2a_events_total{event_type="order_paid",outcome="duplicate",source="wms",tenant="acme"}'
        in text
    )
    assert 'event_type="other",outcome="accepted"' in text  # free-form types share one label
    assert "e2a_ingest_latency_seconds_bucket" in text
    assert "django_http_requests_total_by_method_total" in text


@pytest.fixture
def json_log_lines():
    """Capture log output through the production formatter, one dict per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured_formatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db(transaction=True)  # commits inside the request, as in production
def test_correlation_id_reaches_the_event_the_task_and_every_log_line(api, json_log_lines):
    response = api.post(
        "/ingest/events", event_body(occurred_at="garbage"), HTTP_X_CORRELATION_ID="trace-42"
    )
    assert response.status_code == 400
    response = api.post("/ingest/events", event_body(), HTTP_X_CORRELATION_ID="trace-42")
    assert response["X-Correlation-ID"] == "trace-42"
    assert OrderEvent.objects.get().correlation_id == "trace-42"
    lines = json_log_lines()
    by_event = {line["event"]: line for line in lines}
    assert by_event["payload dead-lettered"]["correlation_id"] == "trace-42"
    assert by_event["payload dead-lettered"]["service"] == "e2a"
    assert by_event["events processed"]["correlation_id"] == "trace-42"  # logged by the task


@pytest.mark.django_db(transaction=True)
def test_a_task_published_from_a_request_carries_the_id_in_its_message(
    api, _eager_celery, tmp_path
):
    """Through a real (filesystem) broker: the queued message holds the request's id."""
    switch = BrokerSwitch(_eager_celery)
    switch.down()  # not eager any more
    _eager_celery.conf.broker_transport_options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    switch.use("filesystem://")
    try:
        api.post("/ingest/events", event_body(), HTTP_X_CORRELATION_ID="trace-7")
        assert followup_publisher.wait_idle()
    finally:
        _eager_celery.conf.broker_transport_options = (
            django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
        )
        switch.up()
    messages = [json.loads(p.read_text()) for p in tmp_path.glob("*.msg")]
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "orders.process_events"
    assert messages[0]["headers"]["e2a_correlation_id"] == "trace-7"


@pytest.mark.django_db
def test_unsafe_correlation_ids_are_replaced(api):
    response = api.post("/ingest/events", event_body(), HTTP_X_CORRELATION_ID="bad id\twith space")
    assert response["X-Correlation-ID"] != "bad id\twith space"
    assert len(response["X-Correlation-ID"]) == 32


def test_openapi_schema_documents_the_contract_the_validator_enforces(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    documented = set(schema["components"]["schemas"]["EventSchemaRequest"]["properties"])
    assert documented == DOCUMENTED_FIELDS
    assert "/ingest/v2/events/batch" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_the_development_secret_key_is_shared_by_every_process_of_a_checkout(tmp_path):
    """Per-process keys would sign each gunicorn worker's sessions differently."""
    import stat

    from e2a_project.settings import _development_secret_key

    path = tmp_path / "var" / "secret_key"
    first = _development_secret_key(path)
    assert first.startswith("dev-") and len(first) > 40
    assert _development_secret_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
