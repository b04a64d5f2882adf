"""factory_boy factories and small builders for tests."""

from __future__ import annotations

import itertools
from typing import Any

import factory

from orders.models import Tenant
from orders.services.api_keys import api_key_create

_counter = itertools.count(1)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    timezone = "UTC"


def api_key_for(tenant: Tenant) -> str:
    return api_key_create(tenant=tenant, name="test").raw


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
