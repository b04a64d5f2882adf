"""api_key_create / api_key_revoke and the hashing both sides share."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.utils import timezone

from ..models import ApiKey, Tenant

KEY_PREFIX = "e2a_"


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    api_key: ApiKey
    raw: str  # shown once, never stored


def api_key_create(*, tenant: Tenant, name: str = "") -> IssuedKey:
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        tenant=tenant, name=name, prefix=raw[: ApiKey.PREFIX_LENGTH], key_hash=hash_api_key(raw)
    )
    return IssuedKey(api_key=key, raw=raw)


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke once; returns False when it was already revoked.

    This process forgets the key at once; other web processes within
    API_KEY_CACHE_SECONDS (see orders.selectors).
    """
    from ..selectors import forget_verified_keys  # selectors import this module

    revoked = bool(
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
    forget_verified_keys(api_key.key_hash)
    return revoked
