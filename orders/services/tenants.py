"""tenant_create and webhook secret management."""

from __future__ import annotations

import base64
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Tenant, WebhookSecret, WebhookSecretKind


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin).") from exc
    return name


def tenant_create(*, slug: str, name: str = "", timezone: str = "UTC") -> Tenant:
    validate_timezone(timezone)
    tenant = Tenant(slug=slug, name=name or slug, timezone=timezone)
    tenant.full_clean()
    tenant.save()
    return tenant


def generate_webhook_secret(kind: str) -> str:
    """A new random secret: `whsec_<base64>` for Standard Webhooks, hex for Shopify."""
    if kind == WebhookSecretKind.STANDARD:
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_hex(32)


def validate_webhook_secret(kind: str, secret: str) -> None:
    if kind == WebhookSecretKind.STANDARD:
        if not secret.startswith("whsec_"):
            raise ValidationError("Standard Webhooks secrets start with 'whsec_'.")
        try:
            decoded = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError as exc:
            raise ValidationError("After 'whsec_' the secret must be base64.") from exc
        if len(decoded) < 24:
            raise ValidationError("Standard Webhooks secrets must hold at least 24 bytes.")
    elif len(secret) < 16:
        raise ValidationError("A Shopify secret is at least 16 characters.")


@transaction.atomic
def webhook_secret_set(
    *,
    tenant: Tenant,
    kind: str,
    secret: str | None = None,
    label: str = "",
    deactivate_others: bool = False,
) -> WebhookSecret:
    """Add an active secret (generated when none is given).

    Older secrets stay active unless `deactivate_others`, so a rotation can run
    while deliveries signed with the old secret are still arriving.
    """
    if kind not in WebhookSecretKind.values:
        raise ValidationError(f"kind must be one of {', '.join(WebhookSecretKind.values)}.")
    value = secret or generate_webhook_secret(kind)
    validate_webhook_secret(kind, value)
    if deactivate_others:
        WebhookSecret.objects.filter(tenant=tenant, kind=kind, is_active=True).update(
            is_active=False
        )
    obj, _ = WebhookSecret.objects.update_or_create(
        tenant=tenant, kind=kind, secret=value, defaults={"is_active": True, "label": label}
    )
    return obj
