"""Hostile bodies against every door a sender can knock on: a clear 4xx, nothing half-written.

Oversized bodies, JSON nested 100,000 deep (and just under the parser's own depth
limit), invalid UTF-8, NUL bytes in values and keys (escaped and raw), a batch with
more events than allowed, bodies just under the size limit full of tiny items,
wrong content types and an empty body, sent to /ingest/events, the batch endpoint,
the Shopify and Standard Webhooks endpoints (validly signed, so the body itself is
what gets judged) and the exceptions API (PATCH notes, POST acknowledge).

Each answer must be a 4xx with a JSON body saying what is wrong; the database
holds no event, order or exception change afterwards (a dead letter only where
the answer names it, as DESIGN.md's "Bad input" says a valid JSON document that
cannot be applied is kept). Memory is bounded by the server's own limits: the
peak Python allocation of each in-process request is measured with tracemalloc
and must stay within a multiple of the body limit, not grow with what the body
claims. Content-Length that lies is sent over a raw socket to the app served by
gunicorn, as in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from exceptions.models import ExceptionActivity, OrderException
from orders.models import DeadLetter, Order, OrderEvent
from orders.services.tenants import webhook_secret_set
from tests.exception_helpers import make_order, raise_exception
from tests.factories import api_key_for, event_body
from tests.reliability.matrix import FaultRow, record

pytestmark = pytest.mark.proof

SHOPIFY_SECRET = "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"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"acme-wms-signing-key-0001-abcdef").decode()
MIB = 1024 * 1024


# --- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    name: str
    method: str
    path: str  # "{exception}" is filled with the exception's id
    auth: str  # "key", "shopify" or "standard"
    limit: int  # the body limit the server applies to this path


def doors() -> list[Door]:
    single, batch = settings.INGEST_MAX_BODY_BYTES, settings.INGEST_BATCH_MAX_BODY_BYTES
    return [
        Door("ingest", "post", "/ingest/events", "key", single),
        Door("batch", "post", "/ingest/v2/events/batch", "key", batch),
        Door("shopify", "post", "/webhooks/shopify/acme", "shopify", single),
        Door("standard", "post", "/webhooks/standard/acme", "standard", single),
        Door("notes", "patch", "/api/exceptions/{exception}", "key", single),
        Door("acknowledge", "post", "/api/exceptions/{exception}/acknowledge", "key", single),
    ]


@dataclass
class World:
    client: Client
    key: str
    exception: OrderException


@pytest.fixture
def world(client, tenant) -> World:
    webhook_secret_set(tenant=tenant, kind="shopify", secret=SHOPIFY_SECRET)
    webhook_secret_set(tenant=tenant, kind="standard", secret=STANDARD_SECRET)
    exception = raise_exception(make_order(tenant, "#hostile"))
    return World(client, api_key_for(tenant), exception)


def signed_headers(door: Door, raw: bytes) -> dict[str, str]:
    if door.auth == "key":
        return {}
    if door.auth == "shopify":
        mac = hmac.new(SHOPIFY_SECRET.encode(), raw, hashlib.sha256).digest()
        return {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "wh-hostile",
            "X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode(),
        }
    ts = int(datetime.now(UTC).timestamp())
    key = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"msg_hostile.{ts}.".encode() + raw, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_hostile",
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def send(world: World, door: Door, raw: bytes, content_type: str = "application/json") -> Any:
    headers = signed_headers(door, raw)
    if door.auth == "key":
        headers["Authorization"] = f"Bearer {world.key}"
    path = door.path.format(exception=world.exception.pk)
    return getattr(world.client, door.method)(
        path, data=raw, content_type=content_type, headers=headers
    )


def state(world: World) -> dict[str, Any]:
    exception = OrderException.objects.get(pk=world.exception.pk)
    return {
        "events": OrderEvent.objects.count(),
        "orders": Order.objects.count(),
        "dead letters": DeadLetter.objects.count(),
        "activity": ExceptionActivity.objects.count(),
        "exception": (exception.status, exception.ops_note, exception.client_note),
    }


# --- the hostile bodies --------------------------------------------------------------


def _event_with(payload: Any) -> dict[str, Any]:
    return event_body(payload=payload)


def _for(door: Door, event: dict[str, Any]) -> dict[str, Any]:
    """The body a door expects, carrying the event's payload where the door reads text."""
    if door.name == "batch":
        return {"batch_id": "hostile", "events": [event]}
    if door.name in ("notes", "acknowledge"):
        payload = event.get("payload")
        # The payload's one key and value, as the field and its text.
        if isinstance(payload, dict) and len(payload) == 1:
            [(field, text)] = payload.items()
            if isinstance(text, str):
                name = "ops_note" if door.name == "notes" else "note"
                return {name: text} if field == "note" else {name: "x", field: text}
        return {"ops_note": payload, "note": payload}
    return event


def hostile_bodies(door: Door) -> Iterator[tuple[str, bytes, str]]:
    """(what, raw body, content type) for one door."""
    json_type = "application/json"
    yield "oversized", b'{"pad": "' + b"x" * door.limit + b'"}', json_type
    yield "100,000 levels of [", b"[" * 100_000, json_type
    yield "100,000 levels of {", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, json_type
    # Under orjson's own depth limit (1024): parsed, so everything after the parser
    # (validation, NUL checks, storing as JSON) meets the depth too.
    nested = b'{"n": ' * 1000 + b'"bottom"' + b"}" * 1000
    around = json.dumps(_for(door, _event_with({"note": "@@"}))).encode()
    yield "1,000 levels, parsed", around.replace(b'"@@"', nested), json_type
    # Just under the byte limit, all empty objects: counted, not parsed.
    count = (door.limit - len(around) - 2) // 3
    tiny = b"[" + b",".join([b"{}"] * count) + b"]"
    yield f"{count:,} empty objects", around.replace(b'"@@"', tiny), json_type
    good = json.dumps(_for(door, event_body())).encode()
    yield (
        "invalid UTF-8",
        good.replace(b'"wms"', b'"w\xff\xfems"', 1).replace(b'"order_paid"', b'"\xc3\x28"', 1),
        json_type,
    )
    yield "lone surrogate", good[:-1] + b', "x": "\\ud800"}', json_type
    yield (
        "escaped NUL in a value",
        json.dumps(_for(door, _event_with({"note": "a\x00b"}))).encode(),
        json_type,
    )
    yield (
        "escaped NUL in a key",
        json.dumps(_for(door, _event_with({"a\x00b": 1}))).encode(),
        json_type,
    )
    yield "raw NUL byte", good.replace(b'"wms"', b'"w\x00ms"', 1), json_type
    if door.name != "acknowledge":  # an action's note is optional: no body is no note
        yield "empty body", b"", json_type
    yield "not JSON", b"event_id=1&source=wms", "application/x-www-form-urlencoded"
    yield "text/plain", good, "text/plain"
    yield "multipart", b"--b\r\n\r\n--b--\r\n", "multipart/form-data; boundary=b"
    yield "a JSON string, not an object", b'"just a string"', json_type
    yield "trailing garbage", good + b"}}}", json_type


def batch_bodies() -> Iterator[tuple[str, bytes]]:
    limit, most = settings.INGEST_BATCH_MAX_BODY_BYTES, settings.INGEST_BATCH_MAX_EVENTS
    events = [event_body(event_id=f"too-many-{i}") for i in range(most + 1)]
    yield f"{most + 1} events", json.dumps({"batch_id": "big", "events": events}).encode()
    # Just under the limit, full of the smallest items JSON has: millions of them,
    # refused by their count before the parse would make each one a Python object.
    head, tail = b'{"batch_id": "tiny", "events": [', b"]}"
    for item in (b"0", b"{}"):
        count = (limit - len(head) - len(tail)) // (len(item) + 1)
        yield f"{count:,} tiny items ({item.decode()})", head + b",".join([item] * count) + tail


TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _record_the_row() -> Iterator[None]:
    yield
    if TALLY["sent"]:
        record(
            FaultRow(
                fault="Hostile bodies",
                what_was_done=(
                    "oversized, 100,000-deep, invalid UTF-8, NUL, huge-batch, millions of "
                    "tiny items just under the size limit, wrong-type and empty bodies to the "
                    "ingest, batch, Shopify, Standard Webhooks and exceptions endpoints; "
                    "Content-Length lying to gunicorn"
                ),
                sent=TALLY["sent"],
                stored=TALLY["stored"],
                refused=True,
                doubled=0,
                answers={k.removeprefix("http "): v for k, v in TALLY.items() if k[:5] == "http "},
                notes=(
                    "sent = hostile requests; stored = events, orders or exception changes "
                    "they left (0 due; a dead letter the 400 names is not counted)."
                ),
            )
        )


def judged(world: World, door: Door, what: str, send_it) -> tuple[Any, list[str]]:
    """Send, and list what is wrong with the answer and the database afterwards."""
    before = state(world)
    tracemalloc.start()
    try:
        response = send_it()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    after = state(world)
    TALLY["sent"] += 1
    TALLY[f"http {response.status_code}"] += 1

    problems = []
    label = f"{door.name} / {what}: {response.status_code}"
    body = None
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
    # Shopify drops a subscription that keeps failing, so a signed body that is valid
    # JSON but cannot be applied is acknowledged (200) and kept as a dead letter.
    acknowledged = (
        door.name == "shopify"
        and response.status_code == 200
        and isinstance(body, dict)
        and body.get("status") == "dead_lettered"
        and body.get("errors")
    )
    # A batch answers per event: every one rejected, each kept as a dead letter.
    rejected = 0
    if door.name == "batch" and response.status_code == 200 and isinstance(body, dict):
        results = body.get("results") or []
        if results and all(r["status"] == "rejected" and r.get("errors") for r in results):
            rejected = len(results)
    if not 400 <= response.status_code < 500 and not acknowledged and not rejected:
        problems.append(f"{label} is not a 4xx: {response.content[:300]!r}")
    if not rejected and not (isinstance(body, dict) and (body.get("detail") or body.get("errors"))):
        problems.append(
            f"{label} has no JSON body saying what is wrong: {response.content[:300]!r}"
        )
    named = rejected or int(isinstance(body, dict) and "dead_letter_id" in body)
    expected = dict(before, **{"dead letters": before["dead letters"] + named})
    if after != expected:
        TALLY["stored"] += 1
        problems.append(f"{label} changed the database: {before} -> {after}")
    # Twice the body limit plus a fixed allowance: a limit enforced before reading,
    # and no parse that blows a bounded body up into something much larger (the
    # body's items are counted first: `e2a_project/body_limits.py`).
    bound = 2 * door.limit + 32 * MIB
    if peak > bound:
        problems.append(f"{label} peaked at {peak / MIB:.0f} MiB (bound {bound / MIB:.0f} MiB)")
    return response, problems


# --- the runs ------------------------------------------------------------------------


@pytest.mark.parametrize("door", doors(), ids=lambda d: d.name)
def test_every_hostile_body_is_a_4xx_naming_the_problem_and_stores_nothing(world, door):
    problems: list[str] = []
    for what, raw, content_type in hostile_bodies(door):
        _, found = judged(world, door, what, lambda r=raw, c=content_type: send(world, door, r, c))
        problems += found
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("what", [w for w, _ in batch_bodies()])
def test_a_batch_too_long_is_refused_within_bounded_memory(world, what):
    door = next(d for d in doors() if d.name == "batch")
    raw = dict(batch_bodies())[what]
    assert len(raw) <= door.limit

    response, problems = judged(world, door, what, lambda: send(world, door, raw))

    assert problems == [], "\n".join(problems)
    assert response.status_code == 400
    reason = json.dumps(response.json())
    assert "events" in reason if what.endswith(" events") else "more than the" in reason


def test_an_oversized_body_is_refused_before_it_is_read(world):
    """A Content-Length over the limit is answered at once, whatever follows."""
    door = next(d for d in doors() if d.name == "ingest")
    response = world.client.post(
        door.path,
        data=b"{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.key}"},
        CONTENT_LENGTH=str(50 * 1024 * MIB),
    )
    TALLY["sent"] += 1
    TALLY[f"http {response.status_code}"] += 1

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["limit_bytes"] == door.limit


# --- Content-Length lying, against gunicorn ------------------------------------------


def _raw_request(url: str, head: bytes, body: bytes, *, close_after: bool = False) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        if close_after:
            sock.shutdown(socket.SHUT_WR)  # the client sends no more than it did
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_lying_content_length_gets_a_4xx_from_the_served_app(serve):
    app = serve()
    # A key of the served app's own database, so every case reaches the body.
    key = app.create_tenant_with_key("lying")
    good = json.dumps(event_body(event_id="lying")).encode()

    def head(length: str) -> bytes:
        return (
            f"POST /ingest/events HTTP/1.1\r\nHost: {app.url.removeprefix('http://')}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        ).encode()

    answers = {
        # Claims less than it sends: the server reads what was claimed (cut JSON).
        "shorter than the body": _raw_request(app.url, head(str(len(good) // 2)), good),
        # Claims more, then the client stops sending: no hang, a 400 once the
        # stream ends short.
        "longer than the body": _raw_request(
            app.url, head(str(len(good) + 500)), good, close_after=True
        ),
        "not a number": _raw_request(app.url, head("12abc"), good),
        "negative": _raw_request(app.url, head("-5"), good),
        "over the limit": _raw_request(app.url, head(str(10 * 1024 * MIB)), good),
    }
    for answer in answers.values():
        TALLY["sent"] += 1
        TALLY[f"http {_status(answer)}"] += 1

    statuses = {what: _status(answer) for what, answer in answers.items()}
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert 401 not in statuses.values(), statuses  # judged on the body, not the key
    assert statuses["over the limit"] == 413
    assert app.query("SELECT count(*) FROM orders_orderevent") == [(0,)]


@pytest.mark.django_db(transaction=True)
def test_a_slow_client_holds_one_worker_not_the_server(serve, tenant):
    """A client that sends half its body and stalls: another request is still served.

    This is what the README's buffering proxy is for: without it the stalled client
    holds a sync worker until gunicorn's timeout; with several workers the server
    still answers, and a proxy that buffers takes the stall off gunicorn altogether.
    """
    app = serve()
    host, port = app.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(
            b"POST /ingest/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"source": '
        )
        started = time.monotonic()
        answer = _raw_request(
            app.url,
            f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode(),
            b"",
        )
        waited = time.monotonic() - started
    TALLY["sent"] += 1
    TALLY[f"http {_status(answer)}"] += 1

    assert _status(answer) == 200
    assert waited < 10  # a safety bound: not waiting out the stalled client's timeout
