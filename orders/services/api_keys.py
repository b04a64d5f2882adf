"""api_key_create / api_key_set_scopes / api_key_revoke and the hashing both sides share."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import ApiKey, ApiKeyScopeChange, Tenant
from ..scopes import DEFAULT_SCOPES, scopes_to_db

KEY_PREFIX = "e2a_"


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    api_key: ApiKey
    raw: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str = "",
    scopes: Iterable[str] = DEFAULT_SCOPES,
    issued_by: Any = None,
) -> IssuedKey:
    """Issue a key with these scopes (default: ingest only, what a sender needs).

    Raises orders.scopes.UnknownScope for an unknown or empty set. The scopes it
    is issued with are the first entry of its scope audit.
    """
    stored = scopes_to_db(scopes)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=raw[: ApiKey.PREFIX_LENGTH],
        key_hash=hash_api_key(raw),
        scopes=stored,
    )
    _audit_scopes(api_key=key, before="", after=stored, changed_by=issued_by)
    return IssuedKey(api_key=key, raw=raw)


def api_key_set_scopes(*, api_key: ApiKey, scopes: Iterable[str], changed_by: Any = None) -> bool:
    """Give the key exactly these scopes; returns False when they are its scopes already.

    The change and its audit entry (who, when, before → after) commit together,
    the row locked so two editors at once each record the scopes they replaced.
    This process forgets the cached key at once; other web processes within
    API_KEY_CACHE_SECONDS (see orders.selectors), as for a revocation.
    Raises orders.scopes.UnknownScope for an unknown or empty set.
    """
    from ..selectors import forget_verified_keys  # selectors import this module

    stored = scopes_to_db(scopes)
    with transaction.atomic():
        before = (
            ApiKey.objects.select_for_update().values_list("scopes", flat=True).get(pk=api_key.pk)
        )
        if before == stored:
            return False
        ApiKey.objects.filter(pk=api_key.pk).update(scopes=stored)
        _audit_scopes(api_key=api_key, before=before, after=stored, changed_by=changed_by)
    api_key.scopes = stored
    api_key.__dict__.pop("scope_set", None)  # the cached parse of the old value
    forget_verified_keys(api_key.key_hash)
    return True


def _audit_scopes(*, api_key: ApiKey, before: str, after: str, changed_by: Any) -> None:
    user = changed_by if getattr(changed_by, "pk", None) is not None else None
    ApiKeyScopeChange.objects.create(
        api_key=api_key,
        before=before,
        after=after,
        changed_by=user,
        changed_by_name=user.get_username() if user is not None else "",
    )


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
