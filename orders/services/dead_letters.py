"""dead_letter_record / dead_letter_replay: keep what could not be applied, and retry it."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import metrics
from ..models import DeadLetter, OrderEvent, Tenant
from ..models.dead_letter import DeadLetterKind

log = logging.getLogger(__name__)

# Headers worth keeping for a replay or a diagnosis; credentials are never kept.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-Correlation-ID",
    "X-Tenant-Id",
    "X-Shopify-Topic",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Shop-Domain",
    "X-Shopify-Triggered-At",
    "X-Shopify-Api-Version",
    "Webhook-Id",
    "Webhook-Timestamp",
)


# Headers that tell two deliveries with the same body apart.
_IDENTITY_HEADERS = {
    DeadLetterKind.SHOPIFY: ("X-Shopify-Topic", "X-Shopify-Webhook-Id"),
    DeadLetterKind.STANDARD: ("Webhook-Id",),
}


def kept_headers(headers: Any) -> dict[str, str]:
    """The allow-listed headers, under their canonical names, whatever case they came in."""
    by_lower = {str(name).lower(): value for name, value in headers.items()}
    return {name: by_lower[name.lower()] for name in KEPT_HEADERS if name.lower() in by_lower}


def dead_letter_record(
    *,
    tenant: Tenant,
    kind: str,
    raw_body: str,
    reason: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    source: str = "",
    correlation_id: str = "",
) -> DeadLetter:
    """Store (or count again) one dead letter. Never raises for a repeat.

    A repeat is the same body *and* the same delivery identity: Shopify sends
    identical bodies for different topics (orders/paid, orders/updated), and each
    delivery must stay replayable on its own.
    """
    kept = kept_headers(headers or {})
    identity = "|".join(kept.get(h, "") for h in _IDENTITY_HEADERS.get(kind, ()))
    digest = hashlib.sha256(f"{identity}\n{raw_body}".encode()).hexdigest()
    now = timezone.now()
    defaults = {
        "source": source,
        "reason": reason,
        "errors": errors or {},
        "raw_body": raw_body,
        "headers": kept,  # never credentials, whoever calls
        "correlation_id": correlation_id,
        "received_at": now,
        "last_received_at": now,
    }
    for _ in range(2):  # a concurrent insert of the same body wins once; we count on it
        existing = DeadLetter.objects.filter(tenant=tenant, kind=kind, body_sha256=digest)
        if existing.update(times_received=F("times_received") + 1, last_received_at=now):
            return existing.get()
        try:
            with transaction.atomic():
                letter = DeadLetter.objects.create(
                    tenant=tenant, kind=kind, body_sha256=digest, **defaults
                )
        except IntegrityError:
            continue
        metrics.DEAD_LETTERS.labels(tenant.slug, kind).inc()
        log.warning(
            "payload dead-lettered",
            extra={"dead_letter_id": letter.pk, "kind": kind, "reason": reason[:200]},
        )
        return letter
    return DeadLetter.objects.get(tenant=tenant, kind=kind, body_sha256=digest)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    dead_letter_id: int
    ok: bool
    detail: str


def _mark_failed(dead_letter: DeadLetter, now: Any, detail: str, errors: dict[str, Any]) -> None:
    DeadLetter.objects.filter(pk=dead_letter.pk).update(
        replay_attempts=F("replay_attempts") + 1,
        last_replay_at=now,
        replay_result=f"still failing: {detail}"[:2000],
        errors=errors,
    )


def dead_letter_replay(*, dead_letter: DeadLetter) -> ReplayResult:
    """Run a dead letter through ingestion again (signatures were checked on receipt).

    It takes the live path (`delivery_receive`), so what a replay stores is what
    the delivery would have stored had it been valid then. A single event
    replays whole or not at all. A batch envelope replays like a live batch: its
    valid events are stored and each invalid one becomes its own batch-item dead
    letter, so the envelope itself is done.
    """
    from .delivery import Delivery, delivery_receive  # local: delivery records dead letters

    # Re-read: the caller's copy may predate a replay by another caller.
    replayed_at = (
        DeadLetter.objects.filter(pk=dead_letter.pk).values_list("replayed_at", flat=True).first()
    )
    if replayed_at is not None:
        dead_letter.replayed_at = replayed_at
        return ReplayResult(dead_letter.pk, True, "already replayed")
    tenant = dead_letter.tenant
    now = timezone.now()
    try:
        body = json.loads(dead_letter.raw_body)
    except ValueError as exc:
        _mark_failed(dead_letter, now, str(exc), {"non_field_errors": [str(exc)]})
        return ReplayResult(dead_letter.pk, False, str(exc))
    received = delivery_receive(
        Delivery(
            tenant=tenant,
            kind=dead_letter.kind,
            body=body,
            raw_body=dead_letter.raw_body,
            headers=dead_letter.headers,
            fixed_source=dead_letter.source or None,
            correlation_id=dead_letter.correlation_id,
            received_at=dead_letter.received_at,
            replay_of=dead_letter,
        )
    )
    if received.refused:
        _mark_failed(dead_letter, now, received.refused, received.errors)
        return ReplayResult(dead_letter.pk, False, received.refused)

    stored_pk = None
    if dead_letter.kind != DeadLetterKind.BATCH:
        [result] = received.results
        # A duplicate was stored earlier (e.g. the sender retried after a fix): link that one.
        stored_pk = result.event_pk or (
            OrderEvent.objects.filter(tenant=tenant, source=result.source, event_id=result.event_id)
            .values_list("pk", flat=True)
            .first()
        )
        detail = result.status
        summary = f"{detail}: {result.source}:{result.event_id}"
    else:
        counts = received.counts()
        summary = (
            f"batch: {counts['accepted']} accepted, {counts['duplicate']} duplicate, "
            f"{counts['rejected']} kept as batch-item dead letters"
        )
        detail = summary
    # Only the first successful replay marks it; a concurrent one found duplicates.
    DeadLetter.objects.filter(pk=dead_letter.pk, replayed_at__isnull=True).update(
        replay_attempts=F("replay_attempts") + 1,
        last_replay_at=now,
        replayed_at=now,
        replay_result=summary,
        event_id=stored_pk,
    )
    dead_letter.refresh_from_db()
    return ReplayResult(dead_letter.pk, True, detail)
