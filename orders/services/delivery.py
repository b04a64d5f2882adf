"""delivery_receive: the one path from an authenticated delivery to stored events.

Every way events arrive (POST /ingest/events and its typed paths, batches, Shopify
and Standard Webhooks) and the replay of a dead letter take this path, so a
replayed dead letter is read, validated, dead-lettered and stored exactly as a
live delivery would be. What differs between them is data on the `Delivery`:
its kind (how its body holds events), the sender's headers, a source fixed by
the path, and whether it replays an earlier dead letter. Views keep only
authentication and the shape of their answer.

A delivery holds one event or, for a batch, many. A single event that cannot be
applied is kept whole as a dead letter; a batch's invalid items each become a
batch-item dead letter while its valid ones are stored. A replay never files
its own delivery again: the caller marks the dead letter it replays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from .. import metrics
from ..adapters.shopify import UnsupportedWebhook, shopify_webhook_event
from ..contract import ContractError, EventIn, validate_event
from ..models import DeadLetter, Tenant
from ..models.dead_letter import DeadLetterKind
from ..models.event import IngestChannel
from .dead_letters import dead_letter_record, kept_headers
from .ingest import EventResult, events_ingest

BATCH_PRIORITIES = ("low", "normal", "high")

# How a live delivery of each kind is stored.
CHANNELS = {
    DeadLetterKind.EVENT: IngestChannel.EVENT,
    DeadLetterKind.BATCH: IngestChannel.BATCH,
    DeadLetterKind.SHOPIFY: IngestChannel.SHOPIFY,
    DeadLetterKind.STANDARD: IngestChannel.STANDARD,
}


@dataclass(frozen=True, slots=True)
class TenantEventValidator:
    """validate_event in one tenant's terms, with the clock and settings read once.

    A batch validates up to a thousand events; reading the time zone, the clock
    and the settings once per delivery instead of per event is most of its cost.
    """

    tenant_tz: tzinfo
    now: datetime
    max_future: timedelta

    @classmethod
    def for_tenant(cls, tenant: Tenant) -> TenantEventValidator:
        return cls(
            tenant_tz=ZoneInfo(tenant.timezone),
            now=timezone.now(),
            max_future=timedelta(seconds=settings.INGEST_MAX_FUTURE_SKEW_SECONDS),
        )

    def __call__(
        self, body: Any, *, fixed_source: str | None = None, may_contain_nul: bool = True
    ) -> EventIn:
        return validate_event(
            body,
            tenant_tz=self.tenant_tz,
            now=self.now,
            max_future=self.max_future,
            fixed_source=fixed_source,
            may_contain_nul=may_contain_nul,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One authenticated delivery, as its sender's channel handed it over."""

    tenant: Tenant
    kind: str  # a DeadLetterKind: how the body holds its events
    body: Any  # the parsed JSON
    raw_body: str  # the text kept should it become a dead letter
    headers: Mapping[str, str] = field(default_factory=dict)
    fixed_source: str | None = None  # a source the path fixes (/ingest/wms, Shopify)
    correlation_id: str = ""
    received_at: datetime | None = None
    # False when the raw JSON escaped no NUL: the validator skips looking for one.
    may_contain_nul: bool = True
    replay_of: DeadLetter | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What became of a delivery: a result per event, or why it was refused whole."""

    results: list[EventResult] = field(default_factory=list)
    # Set when the delivery as a whole could not be applied (kept as a dead letter,
    # unless it is itself a replay).
    refused: str = ""
    errors: dict[str, Any] = field(default_factory=dict)
    dead_letter: DeadLetter | None = None

    def counts(self) -> dict[str, int]:
        return {
            status: sum(1 for r in self.results if r.status == status)
            for status in ("accepted", "duplicate", "rejected")
        }


def delivery_receive(delivery: Delivery) -> Received:
    """Validate the delivery's events in its tenant's terms, keep what cannot be
    applied as dead letters, and store the rest exactly once."""
    try:
        objects = _event_objects(delivery)
    except (ValueError, UnsupportedWebhook) as exc:
        return _refuse(delivery, str(exc), {"non_field_errors": [str(exc)]})
    if delivery.kind == DeadLetterKind.BATCH and delivery.replay_of is None:
        problems = batch_envelope_problems(delivery.body)
        if problems:
            return _refuse(
                delivery, "; ".join(f"{k}: {v[0]}" for k, v in problems.items()), problems
            )

    validate = TenantEventValidator.for_tenant(delivery.tenant)
    valid: list[tuple[int, EventIn]] = []
    rejected: list[EventResult] = []
    for index, obj in enumerate(objects):
        try:
            event = validate(
                obj, fixed_source=delivery.fixed_source, may_contain_nul=delivery.may_contain_nul
            )
        except ContractError as exc:
            if delivery.kind != DeadLetterKind.BATCH:
                return _refuse(delivery, str(exc), exc.errors)
            rejected.append(_reject_item(delivery, index, obj, exc))
            continue
        valid.append((index, event))
    stored = events_ingest(
        tenant=delivery.tenant,
        events=valid,
        channel=IngestChannel.REPLAY if delivery.replay_of else CHANNELS[delivery.kind],
        correlation_id=delivery.correlation_id,
    )
    return Received(results=sorted([*stored, *rejected], key=lambda r: r.index))


def _event_objects(delivery: Delivery) -> list[Any]:
    """The event objects the delivery holds, in the event contract's shape."""
    body, headers = delivery.body, kept_headers(delivery.headers)
    if delivery.kind == DeadLetterKind.SHOPIFY:
        received = delivery.received_at or timezone.now()
        return [
            shopify_webhook_event(
                topic=headers.get("X-Shopify-Topic", "").strip(),
                webhook_id=headers.get("X-Shopify-Webhook-Id", "").strip(),
                body=body,
                triggered_at=headers.get("X-Shopify-Triggered-At") or received.isoformat(),
            )
        ]
    if delivery.kind == DeadLetterKind.STANDARD:
        # The message id is stable across the sender's retries: the event id when
        # the body carries none.
        webhook_id = headers.get("Webhook-Id")
        if isinstance(body, dict) and not body.get("event_id") and webhook_id:
            body = {**body, "event_id": webhook_id}
    if delivery.kind == DeadLetterKind.BATCH:
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            if delivery.replay_of is None:
                return []  # the envelope check names what is wrong
            raise UnsupportedWebhook("The batch has no 'events' list.")
        return events  # a replay skips the envelope's limits: each event stands alone
    return [body]


def batch_envelope_problems(body: Any) -> dict[str, list[str]]:
    """What is wrong with a live batch's envelope, by field (empty when nothing is)."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["The body must be a JSON object with an 'events' list."]}
    problems: dict[str, list[str]] = {}
    events = body.get("events")
    limit = settings.INGEST_BATCH_MAX_EVENTS
    if not isinstance(events, list) or not events:
        problems["events"] = ["Required: a non-empty list of events."]
    elif len(events) > limit:
        problems["events"] = [f"At most {limit} events per batch ({len(events)} sent); split it."]
    batch_id = body.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= 128):
        problems["batch_id"] = ["Must be a string of 1 to 128 characters."]
    priority = body.get("priority")
    if priority is not None and priority not in BATCH_PRIORITIES:
        problems["priority"] = [f"Must be one of {', '.join(BATCH_PRIORITIES)}."]
    return problems


# How a dead letter of each kind says why it was kept.
_REASONS = {
    DeadLetterKind.SHOPIFY: "shopify webhook not applied: ",
    DeadLetterKind.BATCH: "invalid batch: ",
}


def _refuse(delivery: Delivery, detail: str, errors: dict[str, Any]) -> Received:
    """The whole delivery cannot be applied: keep it (a replay keeps its own letter)."""
    if delivery.replay_of is not None:
        return Received(refused=detail, errors=errors)
    if delivery.kind in (DeadLetterKind.EVENT, DeadLetterKind.STANDARD):
        metrics.count_event(delivery.tenant.slug, delivery.fixed_source or "", "", "rejected")
    letter = dead_letter_record(
        tenant=delivery.tenant,
        kind=delivery.kind,
        source=delivery.fixed_source or "",
        raw_body=delivery.raw_body,
        reason=_REASONS.get(delivery.kind, "invalid event: ") + detail,
        errors=errors,
        headers=dict(delivery.headers),
        correlation_id=delivery.correlation_id,
    )
    return Received(refused=detail, errors=errors, dead_letter=letter)


def _reject_item(delivery: Delivery, index: int, item: Any, exc: ContractError) -> EventResult:
    """One invalid batch item: its own dead letter and a "rejected" result."""
    replay = delivery.replay_of
    where = f" (replay of dead letter {replay.pk})" if replay is not None else ""
    letter = dead_letter_record(
        tenant=delivery.tenant,
        kind=DeadLetterKind.BATCH_ITEM,
        # ASCII-escaped: an item may hold U+0000, which a text column refuses.
        raw_body=json.dumps(item, sort_keys=True),
        reason=f"invalid batch item {index}{where}: {exc}",
        errors=exc.errors,
        headers=dict(delivery.headers),
        correlation_id=delivery.correlation_id,
    )
    if replay is None:
        metrics.count_event(delivery.tenant.slug, "", "", "rejected")
    get = item.get if isinstance(item, dict) else (lambda _k: None)
    return EventResult(
        index=index,
        status="rejected",
        event_id=str(get("event_id")) if get("event_id") is not None else None,
        order_id=str(get("order_id")) if get("order_id") is not None else None,
        errors=exc.errors,
        dead_letter_id=letter.pk,
    )
