"""Deliver generated events: over HTTP like real senders, or in-process (`--direct`).

Both paths cut the stream into the same parcels (`plan_parcels`): native Shopify
webhooks for the store's order events when they can be signed, and the WMS and
carrier events as a mix of single posts, batches and, when the tenant has a
Standard Webhooks secret, Standard Webhooks deliveries, because that mix is what
the ingest endpoints see in production. In-process delivery builds the same
`Delivery` objects the views build, so it exercises validation, dead-lettering
and storage exactly as HTTP does, minus authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from standardwebhooks.webhooks import Webhook

from ..models import Tenant
from ..models.dead_letter import DeadLetterKind
from ..services.dead_letters import kept_headers
from ..services.delivery import Delivery, delivery_receive
from .generator import GeneratedEvent

BATCH_SHARE = 0.4  # share of WMS/carrier parcels sent as a batch
MAX_BATCH = 50
STANDARD_SHARE = 0.2  # share of WMS/carrier parcels sent as Standard Webhooks, when signable


@dataclass(frozen=True, slots=True)
class Parcel:
    """One request's worth: a single event, a batch, a native Shopify webhook or a
    Standard Webhooks delivery."""

    kind: str  # "event", "batch", "shopify" or "standard"
    events: tuple[GeneratedEvent, ...]


@dataclass(slots=True)
class Tally:
    """What the senders' answers said, for the summary."""

    counts: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def add(self, status: str, n: int = 1) -> None:
        self.counts[status] += n

    @property
    def sent(self) -> int:
        return sum(self.counts.values())


def plan_parcels(
    events: Iterable[GeneratedEvent],
    *,
    rng: random.Random,
    native_shopify: bool,
    standard_webhooks: bool = False,
) -> list[Parcel]:
    """Cut events (in delivery order) into parcels; the rng keeps it deterministic.

    Without `standard_webhooks` the rng is drawn exactly as before that kind
    existed, so a seed's plan for a tenant without the secret does not change.
    """
    parcels: list[Parcel] = []
    pending: list[GeneratedEvent] = []

    def flush() -> None:
        while pending:
            if standard_webhooks and rng.random() < STANDARD_SHARE:
                size = 1  # the endpoint takes one event per delivery
                parcels.append(Parcel("standard", (pending[0],)))
            elif rng.random() < BATCH_SHARE:
                size = min(len(pending), rng.randint(2, MAX_BATCH))
                parcels.append(Parcel("batch", tuple(pending[:size])))
            else:
                size = 1
                parcels.append(Parcel("event", (pending[0],)))
            del pending[:size]

    for event in events:
        if event.shopify_topic and native_shopify:
            flush()
            parcels.append(Parcel("shopify", (event,)))
        else:
            pending.append(event)
    flush()
    return parcels


class Sender(Protocol):
    native_shopify: bool
    standard_webhooks: bool

    def send(self, parcel: Parcel, tally: Tally) -> None: ...

    def close(self) -> None: ...


def _shopify_headers(event: GeneratedEvent) -> dict[str, str]:
    return {
        "X-Shopify-Topic": event.shopify_topic,
        "X-Shopify-Webhook-Id": event.webhook_id,
        "X-Shopify-Triggered-At": event.body["occurred_at"],
    }


def _standard_message_id(event: GeneratedEvent) -> str:
    """The webhook-id: derived from the event, so a rerun is the same message again."""
    return f"msg_{event.body['event_id']}"


def _standard_headers(event: GeneratedEvent, *, sent_at: int) -> dict[str, str]:
    """webhook-id and webhook-timestamp; the timestamp is when it is sent (the
    endpoint refuses one more than five minutes off), not when the event occurred."""
    return {"webhook-id": _standard_message_id(event), "webhook-timestamp": str(sent_at)}


class DirectSender:
    """In-process: `delivery_receive` with the Delivery a view would build."""

    native_shopify = True  # no signature to make in-process
    standard_webhooks = True

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def send(self, parcel: Parcel, tally: Tally) -> None:
        tally.requests += 1
        headers: dict[str, str] = {}
        fixed_source: str | None = None
        if parcel.kind == "shopify":
            [event] = parcel.events
            kind, body, fixed_source = DeadLetterKind.SHOPIFY, event.shopify_body, "shopify"
            headers = _shopify_headers(event)
        elif parcel.kind == "standard":
            [event] = parcel.events
            kind, body = DeadLetterKind.STANDARD, event.body
            # As the view hands them over: canonical names, signature left out.
            headers = kept_headers(
                {"Content-Type": "application/json"}
                | _standard_headers(event, sent_at=int(time.time()))
            )
        elif parcel.kind == "batch":
            kind, body = DeadLetterKind.BATCH, {"events": [e.body for e in parcel.events]}
        else:
            kind, body = DeadLetterKind.EVENT, parcel.events[0].body
        received = delivery_receive(
            Delivery(
                tenant=self.tenant,
                kind=kind,
                body=body,
                raw_body=json.dumps(body),
                headers=headers,
                fixed_source=fixed_source,
                correlation_id="generate_events",
                may_contain_nul=False,
            )
        )
        if received.dead_letter is not None or received.refused:
            tally.add("rejected", len(parcel.events))
        for result in received.results:
            tally.add(result.status)

    def close(self) -> None:
        pass


class HttpSender:
    """Over HTTP with the tenant's API key; Shopify and Standard Webhooks deliveries
    signed when the tenant has a secret of that kind."""

    def __init__(
        self,
        *,
        base_url: str,
        tenant_slug: str,
        api_key: str,
        shopify_secret: str | None,
        standard_secret: str | None = None,
    ) -> None:
        self.tenant_slug = tenant_slug
        self.shopify_secret = shopify_secret
        self.native_shopify = bool(shopify_secret)
        self.standard_signer = Webhook(standard_secret) if standard_secret else None
        self.standard_webhooks = self.standard_signer is not None
        # The key goes only to /ingest: a store or a carrier's webhook carries its
        # signature, never E²A's API key, and the generator sends what they send.
        self.key_header = {"Authorization": f"Bearer {api_key}"}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=30.0)

    def send(self, parcel: Parcel, tally: Tally) -> None:
        tally.requests += 1
        try:
            if parcel.kind == "shopify":
                self._shopify(parcel.events[0], tally)
            elif parcel.kind == "standard":
                self._standard(parcel.events[0], tally)
            elif parcel.kind == "batch":
                answer = self.client.post(
                    "/ingest/v2/events/batch",
                    json={"events": [e.body for e in parcel.events]},
                    headers=self.key_header,
                )
                if answer.status_code != 200:
                    tally.add("rejected", len(parcel.events))
                    return
                for result in answer.json().get("results", []):
                    tally.add(str(result.get("status", "rejected")))
            else:
                answer = self.client.post(
                    "/ingest/events", json=parcel.events[0].body, headers=self.key_header
                )
                tally.add(self._status(answer))
        except httpx.HTTPError:
            tally.add("failed", len(parcel.events))

    def _shopify(self, event: GeneratedEvent, tally: Tally) -> None:
        assert self.shopify_secret is not None
        raw = json.dumps(event.shopify_body).encode()
        digest = hmac.new(self.shopify_secret.encode(), raw, hashlib.sha256).digest()
        answer = self.client.post(
            f"/webhooks/shopify/{self.tenant_slug}",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
                **_shopify_headers(event),
            },
        )
        tally.add(self._status(answer))

    def _standard(self, event: GeneratedEvent, tally: Tally) -> None:
        assert self.standard_signer is not None
        raw = json.dumps(event.body).encode()
        sent_at = int(time.time())
        headers = _standard_headers(event, sent_at=sent_at)
        signature = self.standard_signer.sign(
            headers["webhook-id"], datetime.fromtimestamp(sent_at, UTC), raw
        )
        answer = self.client.post(
            f"/webhooks/standard/{self.tenant_slug}",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "webhook-signature": signature,
                **headers,
            },
        )
        tally.add(self._status(answer))

    @staticmethod
    def _status(answer: httpx.Response) -> str:
        if answer.status_code in (200, 202):
            body: Any = answer.json()
            status = body.get("status") if isinstance(body, dict) else None
            return status if status in ("accepted", "duplicate") else "rejected"
        return "rejected"

    def close(self) -> None:
        self.client.close()
