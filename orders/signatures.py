"""Webhook signature checks: Shopify HMAC and Standard Webhooks.

Both accept any of several active secrets, so a rotation never drops deliveries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from secrets import token_bytes

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError


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


# Whole seconds, as the specification sends them. The standardwebhooks package reads the
# header with float() and signs str(floor(...)), so "1700000000.0", " 1700000000" or
# "01700000000" would pass under the signature of "1700000000": a header that is not
# the one signed. Only the canonical form is accepted, so what was signed is what was sent.
_TIMESTAMP_RE = re.compile(r"[1-9][0-9]{0,11}")


def _well_formed_signatures(header: str) -> str:
    """Keep the "v1,<base64>" entries of a signature header, dropping malformed ones.

    A sender may list several signatures (one per active secret); one malformed
    entry must not hide a valid one.
    """
    kept = []
    for entry in header.split():
        version, _, signature = entry.partition(",")
        if version != "v1" or not signature:
            continue
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            continue
        kept.append(entry)
    return " ".join(kept)


def standard_verify(
    *, body: bytes, headers: Mapping[str, str], secrets: Iterable[str]
) -> str | None:
    """Verify webhook-id/-timestamp/-signature (±5 minutes); returns None or the reason.

    The standardwebhooks package implements the scheme (its tolerance is fixed at
    the specification's five minutes). A stored secret it cannot decode is skipped
    rather than failing the check for the valid ones.
    """
    wanted = {
        k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    if not all(wanted.values()):
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    if not _TIMESTAMP_RE.fullmatch(wanted["webhook-timestamp"]):
        return "malformed webhook-timestamp header (whole seconds since the epoch)"
    wanted["webhook-signature"] = _well_formed_signatures(wanted["webhook-signature"])
    if not wanted["webhook-signature"]:
        return "malformed signature header"
    verifiers = []
    for secret in secrets:
        try:
            verifiers.append(Webhook(secret))
        except (EmptyWebhookSecretError, binascii.Error, ValueError, RuntimeError):
            continue  # an undecodable stored secret can never match
    # With no usable secret (unknown tenant, none set up) check against a throwaway
    # key, so stale or malformed headers get the same answer as a wrong secret.
    usable = bool(verifiers)
    reason = "no matching signature"
    for verifier in verifiers or [Webhook(token_bytes(32))]:
        try:
            verifier.verify(body, wanted, json_parse=False)
        except WebhookVerificationError as exc:
            reason = str(exc).lower()
            if "timestamp" in reason:
                return reason  # the same answer for every secret
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "malformed signature header or body"
        else:
            if usable:
                return None
    return reason
