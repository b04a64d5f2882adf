"""factory_boy factories and small builders for tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import factory
from standardwebhooks.webhooks import Webhook

from orders.models import Tenant
from orders.scopes import ALL_SCOPES
from orders.services.api_keys import api_key_create

_counter = itertools.count(1)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    timezone = "UTC"


def api_key_for(tenant: Tenant, scopes: Iterable[str] = ALL_SCOPES) -> str:
    """A raw key; every scope unless the test is about scopes."""
    return api_key_create(tenant=tenant, name="test", scopes=scopes).raw


def event_body(**overrides: Any) -> dict[str, Any]:
    """A valid event in the ingest contract; override any field."""
    body: dict[str, Any] = {
        "source": "wms",
        "event_type": "order_paid",
        "event_id": f"evt-{next(_counter)}",
        "order_id": "#1001",
        "occurred_at": "2026-11-27T10:00:00Z",
    }
    body.update(overrides)
    return body


def signed_standard_post(client, tenant_slug: str, secret: str, body: Any, *, msg_id: str):
    """POST a body to the tenant's Standard Webhooks endpoint, signed now with `secret`."""
    raw = json.dumps(body)
    sent_at = datetime.now(UTC)
    return client.post(
        f"/webhooks/standard/{tenant_slug}",
        data=raw,
        content_type="application/json",
        HTTP_WEBHOOK_ID=msg_id,
        HTTP_WEBHOOK_TIMESTAMP=str(int(sent_at.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(secret).sign(msg_id, sent_at, raw),
    )


def ingest_event(tenant: Tenant, **overrides: Any) -> Any:
    """Store one event through the ingest service, validated as the API would; the OrderEvent.

    `occurred_at` may be given as an aware datetime.
    """
    from orders.models import OrderEvent
    from orders.services.delivery import TenantEventValidator
    from orders.services.ingest import events_ingest

    if isinstance(overrides.get("occurred_at"), datetime):
        overrides["occurred_at"] = overrides["occurred_at"].isoformat()
    event = TenantEventValidator.for_tenant(tenant)(event_body(**overrides))
    [result] = events_ingest(tenant=tenant, events=[(0, event)], channel="event")
    return OrderEvent.objects.get(pk=result.event_pk)
