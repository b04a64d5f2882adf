"""GET /api/orders/<id> and GET /api/sla/at-risk, tenant-scoped, at a fixed clock."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import time_machine

from .conftest import ApiClient
from .factories import TenantFactory, api_key_for
from .sla_helpers import at, send


def get_at(api, when: str, path: str, params=None, **kw):
    with time_machine.travel(at(when), tick=False):
        return api.get(path, params, **kw)


@pytest.mark.django_db
def test_order_detail_shows_the_timeline_and_each_stage_clock(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    send(api, "pick_completed", "2026-06-03T12:30:00Z")
    response = get_at(api, "2026-06-03T13:00:00Z", f"/api/orders/{quote('#1001')}")
    assert response.status_code == 200
    body = response.json()
    assert body["order_id"] == "#1001" and body["status"] == "picked"
    assert [e["event_type"] for e in body["timeline"]] == ["order_paid", "pick_completed"]
    assert "payload" not in body["timeline"][0]
    pick, pack = body["stages"]
    assert pick["stage"] == "pick" and pick["state"] == "met_late"
    assert (pick["elapsed_minutes"], pick["late_minutes"], pick["remaining_minutes"]) == (
        150,
        30,
        None,
    )
    assert pick["explanation"].startswith("pick due Wed 03 Jun 14:00")  # Berlin wall time
    assert pack["state"] == "on_time"
    assert (pack["elapsed_minutes"], pack["remaining_minutes"]) == (30, 150)
    [breach] = body["breaches"]
    assert breach["reason_code"] == "PICK_DELAY" and breach["late_minutes"] == 30

    with_payload = get_at(api, "2026-06-03T13:00:00Z", "/api/orders/%231001", {"payload": "1"})
    assert with_payload.json()["timeline"][0]["payload"]["event_type"] == "order_paid"


@pytest.mark.django_db
def test_order_detail_is_scoped_to_the_keys_tenant(api, client):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    other = ApiClient(client, api_key_for(TenantFactory(slug="other")))
    response = get_at(other, "2026-06-03T11:00:00Z", "/api/orders/%231001")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert get_at(api, "2026-06-03T11:00:00Z", "/api/orders/%231001", key=None).status_code == 401
    assert get_at(api, "2026-06-03T11:00:00Z", "/api/orders/nope").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("order_id", ["%00x", "tab%09id", "x" * 256])
def test_an_order_id_ingestion_could_not_store_is_a_404(api, order_id):
    """Found by Schemathesis on PostgreSQL: a NUL in the path was a 500 (DataError)."""
    response = api.get(f"/api/orders/{order_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_at_risk_lists_stages_past_warning_soonest_due_first(api):
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="due-12:00")  # warn 11:36
    send(api, "order_paid", "2026-06-03T09:50:00Z", order="due-11:50")  # warn 11:26
    send(api, "order_paid", "2026-06-03T11:30:00Z", order="fresh")  # warn 13:06
    send(api, "order_paid", "2026-06-03T09:00:00Z", order="overdue")  # due 11:00: breached
    response = get_at(api, "2026-06-03T11:40:00Z", "/api/sla/at-risk")
    assert response.status_code == 200
    body = response.json()
    assert [r["order_id"] for r in body["results"]] == ["due-11:50", "due-12:00"]
    assert [r["remaining_minutes"] for r in body["results"]] == [10, 20]
    assert body["count"] == 2 and body["results"][0]["state"] == "at_risk"

    packs = get_at(api, "2026-06-03T11:40:00Z", "/api/sla/at-risk", {"stage": "pack"})
    assert packs.json()["results"] == []
    bad = get_at(api, "2026-06-03T11:40:00Z", "/api/sla/at-risk", {"stage": "lunch"})
    assert bad.status_code == 400 and "stage" in bad.json()["errors"]
    paged = get_at(api, "2026-06-03T11:40:00Z", "/api/sla/at-risk", {"limit": 1})
    assert len(paged.json()["results"]) == 1 and paged.json()["next"]


@pytest.mark.django_db
def test_at_risk_never_shows_another_tenants_stages(api, client):
    send(api, "order_paid", "2026-06-03T10:00:00Z")
    other = ApiClient(client, api_key_for(TenantFactory(slug="other")))
    assert get_at(other, "2026-06-03T11:40:00Z", "/api/sla/at-risk").json()["results"] == []
