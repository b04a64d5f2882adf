"""Webhook signature checks: Shopify HMAC and Standard Webhooks.

Both accept any of several active secrets, so a rotation never drops deliveries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_verify(*, body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw body."""
    if not signature:
        return False
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(
        hmac.compare_digest(hmac.new(s.encode(), body, hashlib.sha256).digest(), given)
        for s in secrets
    )


def standard_verify(*, body: bytes, headers: Mapping[str, str], secrets: Iterable[str]) -> str | None:
    """Verify webhook-id/-timestamp/-signature (±5 minutes); returns None or the reason.

    The standardwebhooks package implements the scheme; its parser raises plain
    ValueErrors on malformed headers, which count as a failed check here.
    """
    wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(wanted.values()):
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    reason = "no matching signature"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
        except WebhookVerificationError as exc:
            reason = str(exc).lower()
            if "timestamp" in reason:
                return reason  # same answer for every secret
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "malformed signature header or body"
        else:
            return None
    return reason
