"""What the Schemathesis contract run needs beyond the schema: a demo tenant and signed calls.

Generated requests alone mostly stop at the door: random tenant slugs and
unsigned webhooks get 401, random exception ids 404, a random `tenant` claim
403. Those answers are checked too, but the run is only worth its time if many
cases also reach the code behind the door. So each case is steered, the same
way every time (a CRC of the generated value, not Python's salted `hash`), so CI
is deterministic:

* the API key of the demo tenant authenticates every call;
* a `tenant` claim (body or X-Tenant-Id) names the demo tenant for about half
  the cases and stays as generated for the rest;
* about half the exception ids and order ids name records that exist;
* webhook bodies with a usable tenant slug are signed with the tenant's secret,
  so the adapters see the generated bodies.

Only the request is steered; the answer is judged by the schema as generated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from django.urls import Resolver404, resolve
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook

from orders.adapters.shopify import SUPPORTED_TOPICS

DEMO_SLUG = "demo"
# Exactly the five checks the contract names.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
INGESTION = ("/ingest/", "/webhooks/")
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")


@dataclass(frozen=True, slots=True)
class DemoTenant:
    """The records a contract case may be steered to."""

    api_key: str
    shopify_secret: str
    standard_secret: str
    order_ids: tuple[str, ...]
    exception_ids: tuple[int, ...] = field(default=())


def _pick(value: Any) -> int:
    """A stable small number for a generated value: the same case is steered the same way."""
    return zlib.crc32(repr(value).encode())


def _claims_demo(body: Any, case_key: int) -> Any:
    """Name the demo tenant in string `tenant` claims of half the bodies."""
    if case_key % 2 or not isinstance(body, dict):
        return body
    steered = dict(body)
    if isinstance(steered.get("tenant"), str):
        steered["tenant"] = DEMO_SLUG
    if isinstance(steered.get("events"), list):
        steered["events"] = [_claims_demo(item, 0) for item in steered["events"]]
    return steered


def steer(case: Case, demo: DemoTenant) -> dict[str, Any]:
    """Adjust `case` towards the demo tenant's records; returns extra call() arguments."""
    key = _pick((case.path_parameters, case.query, case.headers, case.body))
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {demo.api_key}"}}
    params = case.path_parameters or {}
    if "exception_id" in params and demo.exception_ids and key % 2 == 0:
        params["exception_id"] = demo.exception_ids[key // 2 % len(demo.exception_ids)]
    if "external_id" in params and key % 2 == 0:
        params["external_id"] = demo.order_ids[key // 2 % len(demo.order_ids)]
    if case.headers and "X-Tenant-Id" in case.headers and key % 4 < 2:
        case.headers["X-Tenant-Id"] = DEMO_SLUG
    if _is_json_body(case):
        case.body = _claims_demo(case.body, key // 4)
    slug = params.get("tenant_slug")
    raw = _json_bytes(case)
    if isinstance(slug, str) and SLUG_RE.match(slug) and raw is not None:
        params["tenant_slug"] = DEMO_SLUG
        kwargs["data"] = raw
        if case.path.startswith("/webhooks/shopify/"):
            kwargs["headers"].update(_shopify_headers(demo, raw, key))
        else:
            kwargs["headers"].update(_standard_headers(demo, raw, key))
    return kwargs


def _json_bytes(case: Case) -> bytes | None:
    """The body as it will be sent and signed, or None where it is not plain JSON."""
    if not _is_json_body(case):
        return None
    try:
        return json.dumps(case.body).encode()
    except (TypeError, ValueError):  # negative data may hold bytes; sent unsigned then
        return None


def _is_json_body(case: Case) -> bool:
    media_type = (case.media_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" and not isinstance(case.body, NotSet)


def _shopify_headers(demo: DemoTenant, raw: bytes, key: int) -> dict[str, str]:
    digest = hmac.new(demo.shopify_secret.encode(), raw, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": SUPPORTED_TOPICS[key % len(SUPPORTED_TOPICS)],
        "X-Shopify-Webhook-Id": f"contract-{key}",
    }


def _standard_headers(demo: DemoTenant, raw: bytes, key: int) -> dict[str, str]:
    msg_id = f"msg_contract_{key}"
    sent_at = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(demo.standard_secret).sign(msg_id, sent_at, raw),
    }


def steer_invoice(case: Case, invoice_id: int) -> None:
    """Name the demo invoice in about half the cases with an `invoice_id` (the same ones
    every run: a CRC of the generated value); `steer` knows the other records."""
    params = case.path_parameters or {}
    if "invoice_id" in params and _pick(params["invoice_id"]) % 2 == 0:
        params["invoice_id"] = invoice_id


def served(url: str) -> bool:
    """Whether the URLconf routes this URL to a view (else the router's 404 answers first)."""
    try:
        resolve(unquote(urlsplit(url).path))
    except Resolver404:
        return False
    return True
