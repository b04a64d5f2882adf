"""A body's JSON items are counted before it is parsed (`e2a_project/body_limits.py`).

Bytes alone do not bound a worker's memory: 16 MiB of `{},{},…` parsed to 762 MiB.
So each path also has a budget of objects and values, checked on the raw bytes;
these tests hold the budgets to what senders really send and to what they refuse.
"""

from __future__ import annotations

import json

import pytest

from e2a_project.body_limits import (
    BATCH_MAX_CONTAINERS,
    BATCH_MAX_VALUES,
    SINGLE_MAX_CONTAINERS,
    limit_for,
    too_many_items,
)
from orders.models import DeadLetter, OrderEvent

from .factories import event_body

BATCH = "/ingest/v2/events/batch"


def test_a_full_batch_of_real_events_with_lines_is_within_its_budget():
    lines = [{"sku": f"SKU-{n}", "quantity": 2, "price": "9.90", "title": "Mug, blue"}
             for n in range(30)]  # fmt: skip
    events = [
        event_body(event_id=f"e-{i}", payload={"lines": lines, "note": "Leave at the door"})
        for i in range(1000)
    ]
    raw = json.dumps({"batch_id": "day", "events": events}).encode()

    assert too_many_items(raw, limit_for(BATCH)) == ""


def test_a_large_warehouse_stock_snapshot_is_within_its_budget():
    rows = [{"sku": f"SKU-{n}", "units": 12, "received_on": "2026-11-02"} for n in range(100_000)]
    raw = json.dumps({"day": "2026-12-01", "rows": rows}).encode()

    assert too_many_items(raw, limit_for("/api/billing/storage")) == ""


def test_a_big_shopify_order_is_within_the_single_budget():
    line = {
        "id": 1,
        "sku": "MUG-1",
        "quantity": 1,
        "price": "9.90",
        "tax_lines": [{"rate": 0.19, "price": "1.58", "title": "VAT"}],
        "discount_allocations": [{"amount": "1.00", "discount_application_index": 0}],
        "properties": [{"name": "engraving", "value": "Anna"}],
    }
    raw = json.dumps({"id": 1, "line_items": [line] * 500, "shipping_lines": []}).encode()

    assert too_many_items(raw, limit_for("/webhooks/shopify/acme")) == ""


@pytest.mark.django_db
def test_a_batch_of_tiny_items_is_refused_before_it_is_parsed(api):
    raw = b'{"events": [' + b",".join([b"0"] * (BATCH_MAX_VALUES + 1)) + b"]}"

    response = api.post(BATCH, raw=raw)

    assert response.status_code == 400
    assert f"more than the {BATCH_MAX_VALUES:,}" in response.json()["detail"]
    assert OrderEvent.objects.count() == 0 and DeadLetter.objects.count() == 0


@pytest.mark.django_db
def test_a_batch_of_empty_objects_is_refused_by_their_count(api):
    raw = b'{"events": [' + b",".join([b"{}"] * BATCH_MAX_CONTAINERS) + b"]}"

    response = api.post(BATCH, raw=raw)

    assert response.status_code == 400
    assert "JSON objects and arrays" in response.json()["detail"]
    assert OrderEvent.objects.count() == 0


@pytest.mark.django_db
def test_one_event_carrying_thousands_of_objects_is_refused(api):
    body = event_body(payload={"lines": [{}] * SINGLE_MAX_CONTAINERS})

    response = api.post("/ingest/events", body)

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert OrderEvent.objects.count() == 0


@pytest.mark.django_db
def test_an_ordinary_event_still_goes_through(api):
    response = api.post("/ingest/events", event_body(payload={"lines": [{"sku": "A"}] * 50}))

    assert response.status_code == 202
