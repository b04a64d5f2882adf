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
from ..contract import ContractError, EventIn, validate_event
from ..models import DeadLetter, OrderEvent, Tenant
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


def _event_objects(dead_letter: DeadLetter) -> list[Any]:
    """The event objects a dead letter holds, rebuilt as they were on receipt."""
    body = json.loads(dead_letter.raw_body)
    headers = kept_headers(dead_letter.headers)
    if dead_letter.kind == DeadLetterKind.SHOPIFY:
        return [
            shopify_webhook_event(
                topic=headers.get("X-Shopify-Topic", ""),
                webhook_id=headers.get("X-Shopify-Webhook-Id", ""),
                body=body,
                triggered_at=headers.get("X-Shopify-Triggered-At")
                or dead_letter.received_at.isoformat(),
            )
        ]
    # As on receipt: a Standard Webhooks Webhook-Id is the event id when the body has none.
    if (
        dead_letter.kind == DeadLetterKind.STANDARD
        and isinstance(body, dict)
        and not body.get("event_id")
        and headers.get("Webhook-Id")
    ):
        body = {**body, "event_id": headers["Webhook-Id"]}
    if dead_letter.kind == DeadLetterKind.BATCH:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise UnsupportedWebhook("The batch has no 'events' list.")
        return events  # envelope limits do not apply to a replay: each event stands alone
    return [body]


def _mark_failed(dead_letter: DeadLetter, now: Any, detail: str, errors: dict[str, Any]) -> None:
    DeadLetter.objects.filter(pk=dead_letter.pk).update(
        replay_attempts=F("replay_attempts") + 1,
        last_replay_at=now,
        replay_result=f"still failing: {detail}"[:2000],
        errors=errors,
    )


def dead_letter_replay(*, dead_letter: DeadLetter) -> ReplayResult:
    """Run a dead letter through ingestion again (signatures were checked on receipt).

    A single event replays whole or not at all. A batch envelope replays like a
    live batch: its valid events are stored and each invalid one becomes its own
    batch-item dead letter, so the envelope itself is done.
    """
    from .ingest import events_ingest  # local: ingest imports nothing from here

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
        objects = _event_objects(dead_letter)
    except (ValueError, UnsupportedWebhook) as exc:
        _mark_failed(dead_letter, now, str(exc), {"non_field_errors": [str(exc)]})
        return ReplayResult(dead_letter.pk, False, str(exc))

    valid: list[tuple[int, EventIn]] = []
    invalid: dict[int, ContractError] = {}
    for index, obj in enumerate(objects):
        try:
            valid.append(
                (
                    index,
                    validate_event(
                        obj,
                        tenant_tz=ZoneInfo(tenant.timezone),
                        now=now,
                        max_future=timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS),
                        fixed_source=dead_letter.source or None,
                    ),
                )
            )
        except ContractError as exc:
            invalid[index] = exc
    is_batch = dead_letter.kind == DeadLetterKind.BATCH
    if invalid and not is_batch:
        [exc] = invalid.values()
        _mark_failed(dead_letter, now, str(exc), exc.errors)
        return ReplayResult(dead_letter.pk, False, str(exc))
    for index, exc in invalid.items():
        dead_letter_record(
            tenant=tenant,
            kind=DeadLetterKind.BATCH_ITEM,
            raw_body=json.dumps(objects[index], sort_keys=True),
            reason=f"invalid batch item {index} (replay of dead letter {dead_letter.pk}): {exc}",
            errors=exc.errors,
            correlation_id=dead_letter.correlation_id,
        )
    results = events_ingest(
        tenant=tenant,
        events=valid,
        channel=IngestChannel.REPLAY,
        correlation_id=dead_letter.correlation_id,
    )
    stored_pk = None
    if not is_batch and valid:
        event = valid[0][1]
        # A duplicate was stored earlier (e.g. the sender retried after a fix): link that one.
        stored_pk = results[0].event_pk or (
            OrderEvent.objects.filter(tenant=tenant, source=event.source, event_id=event.event_id)
            .values_list("pk", flat=True)
            .first()
        )
        detail = results[0].status
        summary = f"{detail}: {event.source}:{event.event_id}"
    else:
        counts = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate")}
        summary = (
            f"batch: {counts['accepted']} accepted, {counts['duplicate']} duplicate, "
            f"{len(invalid)} kept as batch-item dead letters"
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
