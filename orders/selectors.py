"""Read-side queries of the orders app."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from .models import ApiKey, Order, OrderEvent, Tenant, TenantMembership
from .services.api_keys import hash_api_key

# Per-process cache of verified keys: {key hash: (ApiKey with its tenant, valid until)}.
# A busy sender would otherwise pay a database round trip per event just to be
# recognised. The price: revoking a key or deactivating a tenant takes up to
# API_KEY_CACHE_SECONDS to reach the other web processes (this one forgets at once).
_verified: dict[str, tuple[ApiKey, float]] = {}
_VERIFIED_MAX = 10_000


def api_key_for_token(raw: str) -> ApiKey | None:
    """The active key (tenant loaded) that this bearer token is, or None."""
    key_hash = hash_api_key(raw)
    now = time.monotonic()
    cached = _verified.get(key_hash)
    if cached is not None and cached[1] > now:
        return cached[0]
    key = (
        ApiKey.objects.select_related("tenant")
        .filter(key_hash=key_hash, revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    ttl = settings.API_KEY_CACHE_SECONDS
    if key is not None and ttl > 0:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key_hash] = (key, now + ttl)
    else:
        _verified.pop(key_hash, None)
    return key


def forget_verified_keys(key_hash: str | None = None) -> None:
    """Drop one cached key (by hash) or all of them."""
    if key_hash is None:
        _verified.clear()
    else:
        _verified.pop(key_hash, None)


def tenant_ids_for_user(*, user: Any) -> QuerySet[TenantMembership]:
    """The ids of the tenants a staff user works for, as a subquery (no query of its own).

    Callers filter with `tenant_id__in=…`, so scoping a list costs no extra round
    trip. Superusers have no rows and are not scoped: check `is_superuser` first.
    """
    return TenantMembership.objects.filter(user_id=user.pk).values("tenant_id")


def tenants_for_user(*, user: Any) -> QuerySet[Tenant]:
    """The tenants a staff user may see: all for a superuser, else their memberships."""
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(pk__in=tenant_ids_for_user(user=user))


def user_is_member(*, user: Any, tenant: Tenant) -> bool:
    """Whether `user` may work for `tenant` (superusers may work for every tenant)."""
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or TenantMembership.objects.filter(user=user, tenant=tenant).exists()


@dataclass(slots=True)
class EventCounts:
    """A tenant's stored events: all of them, per source, and those received lately."""

    total: int = 0
    recent: int = 0
    by_source: dict[str, tuple[int, int]] = field(default_factory=dict)  # source: (all, recent)


def event_counts_by_tenant(*, tenant_ids: Sequence[int], since: datetime) -> dict[int, EventCounts]:
    """Per tenant, events by source and how many were received at or after `since`.

    One grouped query for any number of tenants and events. "Recent" counts by
    `received_at`, not `occurred_at`: a backfill or a late sender writes events
    that happened days ago, and what an operator asks is what arrived lately.
    Tenants without events are absent from the result.
    """
    rows = (
        OrderEvent.objects.filter(tenant_id__in=tenant_ids)
        .order_by()
        .values_list("tenant_id", "source")
        .annotate(n=Count("pk"), recent=Count("pk", filter=Q(received_at__gte=since)))
    )
    counts: dict[int, EventCounts] = {}
    for tenant_id, source, n, recent in rows:
        entry = counts.setdefault(tenant_id, EventCounts())
        entry.total += n
        entry.recent += recent
        entry.by_source[source] = (n, recent)
    return counts


def order_status_counts_by_tenant(*, tenant_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per tenant, how many orders are in each status (one grouped query, status index).

    Orders E²A has heard of but whose status no event has set yet count under "".
    Only statuses with orders appear.
    """
    rows = (
        Order.objects.filter(tenant_id__in=tenant_ids)
        .order_by()
        .values_list("tenant_id", "status")
        .annotate(n=Count("pk"))
    )
    counts: dict[int, dict[str, int]] = {}
    for tenant_id, status, n in rows:
        counts.setdefault(tenant_id, {})[status] = n
    return counts


def locked_order(order_id: int) -> Order:
    """The order under its row lock, with its tenant read, inside the caller's transaction.

    Only the order's own row is locked. FOR UPDATE over the join would lock the tenant
    as well, and every insert of that tenant's rows (events, orders, exceptions) checks
    its foreign key with a share lock on the tenant: ingestion would wait for the
    follow-up, and two follow-ups could deadlock through the tenant's row.
    """
    return Order.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=order_id)


def locked_orders(order_ids: Iterable[int], *, skip_held: bool = False) -> list[Order]:
    """Several orders under their row locks, with their tenants, like `locked_order`.

    The locks are taken in (tenant, external id) order, the order ingestion's upsert
    and the SLA scan lock orders in, so transactions that lock several orders wait for
    one another instead of deadlocking.

    `skip_held` leaves out the orders another transaction holds (SKIP LOCKED) instead
    of waiting for them; never waiting, it cannot deadlock whatever the caller holds.
    (SQLite has no row locks: there every order is free and the database's single
    writer keeps transactions apart.)
    """
    return list(
        Order.objects.select_for_update(of=("self",), skip_locked=skip_held)
        .select_related("tenant")
        .filter(pk__in=list(order_ids))
        .order_by("tenant_id", "external_id")
    )
