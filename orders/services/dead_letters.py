"""dead_letter_record / dead_letter_replay: keep what could not be applied, and retry it."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import metrics
from ..adapters.shopify import UnsupportedWebhook, shopify_webhook_event
from ..contract import ContractError, validate_event
from ..models import DeadLetter, Tenant
from ..models.dead_letter import DeadLetterKind
from ..models.event import IngestChannel

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


def kept_headers(headers: Any) -> dict[str, str]:
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


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
    """Store (or count again) one dead letter. Never raises for a repeat."""
    digest = hashlib.sha256(raw_body.encode()).hexdigest()
    now = timezone.now()
    defaults = {
        "source": source,
        "reason": reason,
        "errors": errors or {},
        "raw_body": raw_body,
        "headers": headers or {},
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


def dead_letter_replay(*, dead_letter: DeadLetter) -> ReplayResult:
    """Run a dead letter through ingestion again (signatures were checked on receipt)."""
    from .ingest import events_ingest  # local: ingest imports nothing from here

    if dead_letter.replayed_at is not None:
        return ReplayResult(dead_letter.pk, True, "already replayed")
    tenant = dead_letter.tenant
    now = timezone.now()
    try:
        body = json.loads(dead_letter.raw_body)
        if dead_letter.kind == DeadLetterKind.SHOPIFY:
            headers = dead_letter.headers
            body = shopify_webhook_event(
                topic=headers.get("X-Shopify-Topic", ""),
                webhook_id=headers.get("X-Shopify-Webhook-Id", ""),
                body=body,
                triggered_at=headers.get("X-Shopify-Triggered-At")
                or dead_letter.received_at.isoformat(),
            )
        event = validate_event(
            body,
            tenant_tz=ZoneInfo(tenant.timezone),
            now=now,
            max_future=timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS),
            fixed_source=dead_letter.source or None,
        )
    except (ValueError, UnsupportedWebhook) as exc:
        errors = exc.errors if isinstance(exc, ContractError) else {"non_field_errors": [str(exc)]}
        DeadLetter.objects.filter(pk=dead_letter.pk).update(
            replay_attempts=F("replay_attempts") + 1,
            last_replay_at=now,
            replay_result=f"still failing: {exc}",
            errors=errors,
        )
        return ReplayResult(dead_letter.pk, False, str(exc))
    [result] = events_ingest(
        tenant=tenant,
        events=[(0, event)],
        channel=IngestChannel.REPLAY,
        correlation_id=dead_letter.correlation_id,
    )
    from ..models import OrderEvent

    stored = OrderEvent.objects.filter(
        tenant=tenant, source=event.source, event_id=event.event_id
    ).only("pk").first()
    DeadLetter.objects.filter(pk=dead_letter.pk).update(
        replay_attempts=F("replay_attempts") + 1,
        last_replay_at=now,
        replayed_at=now,
        replay_result=f"{result.status}: {event.source}:{event.event_id}",
        event=stored,
    )
    return ReplayResult(dead_letter.pk, True, result.status)
