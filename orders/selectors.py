"""Read-side queries of the orders app."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from .models import ApiKey, Tenant, TenantMembership
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
