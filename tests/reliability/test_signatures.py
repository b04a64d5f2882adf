"""Signed endpoints under hostile signatures, and authentic deliveries replayed.

Hundreds of forged deliveries, generated from a fixed seed (so a failure names a
variant that can be run again): random bytes as a signature, headers left out,
stale timestamps both ways, signature lists shuffled and repeated without a valid
entry, the body tampered under its original signature, another tenant's secret,
a wrong version prefix, a valid signature moved to another webhook-id. Every one
must be answered 401 with a JSON body, none may store anything, and none may be
a 5xx. Then authentic deliveries replayed: once more, many times, and at once
from several threads: one row each, the replays answered 200 "duplicate".

Signatures are made here with hmac/hashlib, independent of orders.signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client

from orders.models import DeadLetter, Order, OrderEvent
from orders.services.tenants import webhook_secret_set
from tests.concurrency import at_once
from tests.factories import TenantFactory
from tests.reliability.matrix import FaultRow, record

pytestmark = pytest.mark.proof

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "sample_webhooks"
SHOPIFY_SECRET = "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"
GLOBEX_SHOPIFY_SECRET = "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"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"acme-wms-signing-key-0001-abcdef").decode()
GLOBEX_STANDARD_SECRET = "whsec_" + base64.b64encode(b"globex-wms-signing-key-0001-zzzz").decode()
SEED = 18  # issue 18; change it to explore, keep it fixed to reproduce
PER_KIND = 24  # variants per kind of forgery and endpoint: ~400 requests in all


# --- signing, by hand ----------------------------------------------------------------


def shopify_sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def standard_mac(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def standard_sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    return "v1," + standard_mac(secret, msg_id, timestamp, body)


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def shopify_body(rng: random.Random) -> bytes:
    body = json.loads((SAMPLES / "orders_create.json").read_text())
    body["name"] = f"#{rng.randrange(10_000, 99_999)}"
    return json.dumps(body).encode()


def standard_body(rng: random.Random) -> bytes:
    body = json.loads((SAMPLES / "standard_wms_pick_completed.json").read_text())
    body["event_id"] = f"wms-pick-{rng.getrandbits(40):010x}"
    return json.dumps(body).encode()


# --- the forgeries -------------------------------------------------------------------


@dataclass
class Forgery:
    kind: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _tamper(rng: random.Random, raw: bytes) -> bytes:
    """One byte flipped, or whitespace slipped in where JSON allows it."""
    if rng.random() < 0.5:
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([raw[at] ^ (1 << rng.randrange(8))]) + raw[at + 1 :]
    at = rng.choice([i for i, b in enumerate(raw) if b in b",:{}[]"])
    return raw[: at + 1] + rng.choice([b" ", b"\n", b"\t", b"  "]) + raw[at + 1 :]


def _random_signature(rng: random.Random) -> str:
    """Bytes that are not a valid signature: base64 of random bytes, or garbage."""
    choice = rng.randrange(4)
    if choice == 0:
        return base64.b64encode(rng.randbytes(32)).decode()
    if choice == 1:
        return base64.b64encode(rng.randbytes(rng.randrange(1, 80))).decode()
    if choice == 2:
        return rng.randbytes(32).hex()
    alphabet = "".join(chr(c) for c in range(33, 127))
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 120)))


def shopify_forgeries(rng: random.Random) -> Iterator[Forgery]:
    url = "/webhooks/shopify/acme"

    def base_headers(raw: bytes, **extra: str) -> dict[str, str]:
        return {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": f"wh-{rng.getrandbits(48):012x}",
            "X-Shopify-Hmac-Sha256": shopify_sign(SHOPIFY_SECRET, raw),
            **extra,
        }

    for _ in range(PER_KIND):
        raw = shopify_body(rng)
        yield Forgery(
            "random signature",
            url,
            raw,
            base_headers(raw, **{"X-Shopify-Hmac-Sha256": _random_signature(rng)}),
        )

        headers = base_headers(raw)
        del headers["X-Shopify-Hmac-Sha256"]
        if rng.random() < 0.3:
            headers["X-Shopify-Hmac-Sha256"] = ""
        yield Forgery("missing signature", url, raw, headers)

        yield Forgery("tampered body", url, _tamper(rng, raw), base_headers(raw))

        yield Forgery(
            "another tenant's secret",
            url,
            raw,
            base_headers(
                raw, **{"X-Shopify-Hmac-Sha256": shopify_sign(GLOBEX_SHOPIFY_SECRET, raw)}
            ),
        )
        # acme's valid signature sent to globex's endpoint, and to a tenant that does not exist
        yield Forgery(
            "another tenant's endpoint",
            rng.choice(["/webhooks/shopify/globex", "/webhooks/shopify/nobody"]),
            raw,
            base_headers(raw),
        )
        # the right HMAC in the wrong encoding (hex), or with a prefix
        digest = hmac.new(SHOPIFY_SECRET.encode(), raw, hashlib.sha256).digest()
        wrong_form = rng.choice(
            [digest.hex(), "sha256=" + base64.b64encode(digest).decode(), digest.hex().upper()]
        )
        yield Forgery(
            "wrong encoding", url, raw, base_headers(raw, **{"X-Shopify-Hmac-Sha256": wrong_form})
        )


def standard_forgeries(rng: random.Random) -> Iterator[Forgery]:
    url = "/webhooks/standard/acme"

    def signed(raw: bytes, *, msg_id: str | None = None, ts: int | None = None) -> dict[str, str]:
        msg_id = msg_id or f"msg_{rng.getrandbits(64):016x}"
        ts = now() if ts is None else ts
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": standard_sign(STANDARD_SECRET, msg_id, ts, raw),
        }

    def wrong_entry(raw: bytes, msg_id: str, ts: int) -> str:
        return rng.choice(
            [
                "v1," + base64.b64encode(rng.randbytes(32)).decode(),
                standard_sign(GLOBEX_STANDARD_SECRET, msg_id, ts, raw),
                standard_sign(STANDARD_SECRET, msg_id + "x", ts, raw),
                standard_sign(STANDARD_SECRET, msg_id, ts + 1, raw),
                "v1," + _random_signature(rng),
                "v1a," + standard_mac(STANDARD_SECRET, msg_id, ts, raw),
            ]
        )

    for _ in range(PER_KIND):
        raw = standard_body(rng)

        headers = signed(raw)
        headers["webhook-signature"] = rng.choice(["v1,", ""]) + _random_signature(rng)
        yield Forgery("random signature", url, raw, headers)

        headers = signed(raw)
        for name in rng.sample(sorted(headers), rng.randrange(1, 4)):
            if rng.random() < 0.3:
                headers[name] = ""
            else:
                del headers[name]
        yield Forgery("missing headers", url, raw, headers)

        # Stale: outside the five minutes, in the past or the future, correctly signed.
        skew = rng.choice([-1, 1]) * rng.randrange(301, 400 * 24 * 3600)
        yield Forgery("stale timestamp", url, raw, signed(raw, ts=now() + skew))

        # A list of entries, shuffled and repeated, none of them valid.
        headers = signed(raw)
        ts = int(headers["webhook-timestamp"])
        entries = [wrong_entry(raw, headers["webhook-id"], ts) for _ in range(rng.randrange(1, 6))]
        entries += rng.choices(entries, k=rng.randrange(0, 4))
        rng.shuffle(entries)
        headers["webhook-signature"] = " ".join(entries)
        yield Forgery("signature list without a valid entry", url, raw, headers)

        yield Forgery("tampered body", url, _tamper(rng, raw), signed(raw))

        msg_id = f"msg_{rng.getrandbits(64):016x}"
        ts = now()
        yield Forgery(
            "another tenant's secret",
            url,
            raw,
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": standard_sign(GLOBEX_STANDARD_SECRET, msg_id, ts, raw),
            },
        )

        headers = signed(raw)
        prefix = rng.choice(["v2,", "v1a,", "V1,", "v0,", "v1 ,", "v1;", ",", "v1,,"])
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", prefix, 1)
        yield Forgery("wrong version prefix", url, raw, headers)

        headers = signed(raw)
        headers["webhook-id"] = rng.choice(
            [headers["webhook-id"] + "0", f"msg_{rng.getrandbits(64):016x}", "x"]
        )
        yield Forgery("valid signature, another webhook-id", url, raw, headers)

        headers = signed(raw)
        headers["webhook-timestamp"] = rng.choice(
            [headers["webhook-timestamp"] + ".0", "NaN", "-1", "1e9", " " + str(now())]
        )
        yield Forgery("malformed timestamp", url, raw, headers)

        yield Forgery(
            "another tenant's endpoint",
            rng.choice(["/webhooks/standard/globex", "/webhooks/standard/nobody"]),
            raw,
            signed(raw),
        )


# --- fixtures ------------------------------------------------------------------------

TALLY: Counter[str] = Counter()  # this module's row for the fault matrix
_TALLY_LOCK = threading.Lock()  # replays are posted from threads too


@pytest.fixture(scope="module", autouse=True)
def _record_the_row() -> Iterator[None]:
    yield
    if TALLY["sent"]:
        record(
            FaultRow(
                fault="Hostile signatures",
                what_was_done=(
                    "forged Shopify and Standard Webhooks deliveries (random, missing, stale, "
                    "re-ordered, tampered, another tenant's) and authentic ones replayed, "
                    "also from threads at once"
                ),
                sent=TALLY["sent"],
                stored=TALLY["stored"],
                refused=True,
                doubled=TALLY["doubled"],
                answers={k.removeprefix("http "): v for k, v in TALLY.items() if k[:5] == "http "},
                notes=(
                    "sent = requests (forgeries and replays); stored = rows from forgeries "
                    "(0 due); doubled = replays stored a second time (0 due)."
                ),
            )
        )


@pytest.fixture
def tenants(db):
    acme = TenantFactory(slug="acme", name="Acme Teas")
    globex = TenantFactory(slug="globex", name="Globex")
    webhook_secret_set(tenant=acme, kind="shopify", secret=SHOPIFY_SECRET)
    webhook_secret_set(tenant=acme, kind="standard", secret=STANDARD_SECRET)
    webhook_secret_set(tenant=globex, kind="shopify", secret=GLOBEX_SHOPIFY_SECRET)
    webhook_secret_set(tenant=globex, kind="standard", secret=GLOBEX_STANDARD_SECRET)
    return acme, globex


def rows() -> tuple[int, int, int]:
    return OrderEvent.objects.count(), DeadLetter.objects.count(), Order.objects.count()


def post(client: Client, forgery: Forgery) -> Any:
    response = client.post(
        forgery.url,
        data=forgery.body,
        content_type="application/json",
        headers=forgery.headers,
    )
    with _TALLY_LOCK:
        TALLY["sent"] += 1
        TALLY[f"http {response.status_code}"] += 1
    return response


# --- forgeries: 401, nothing stored --------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "forgeries"),
    [("shopify", shopify_forgeries), ("standard", standard_forgeries)],
)
def test_every_forged_delivery_is_401_and_stores_nothing(
    client, tenants, endpoint: str, forgeries: Callable[[random.Random], Iterator[Forgery]]
):
    before = rows()
    wrong: list[str] = []
    kinds: Counter[str] = Counter()
    for forgery in forgeries(random.Random(f"{SEED}-{endpoint}")):
        kinds[forgery.kind] += 1
        response = post(client, forgery)
        body = response.json() if response["Content-Type"] == "application/json" else None
        if response.status_code != 401 or not body or body.get("code") != "bad_signature":
            wrong.append(
                f"{forgery.kind}: {response.status_code} {response.content[:200]!r} "
                f"headers={forgery.headers} url={forgery.url}"
            )
    after = rows()
    TALLY["stored"] += sum(after) - sum(before)

    assert wrong == [], f"{len(wrong)} forgeries not answered 401:\n" + "\n".join(wrong[:10])
    assert after == before == (0, 0, 0)
    assert min(kinds.values()) >= PER_KIND and len(kinds) >= 6


# --- authentic deliveries replayed: 200 duplicate, one row ---------------------------


def test_an_authentic_shopify_delivery_replayed_is_a_duplicate(client, tenants):
    raw = shopify_body(random.Random(SEED))
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b1e0c2d4-0001-4f7a-9c3e-5d2b8a6f1e0c",
        "X-Shopify-Hmac-Sha256": shopify_sign(SHOPIFY_SECRET, raw),
    }
    delivery = Forgery("replay", "/webhooks/shopify/acme", raw, headers)

    first = post(client, delivery)
    replays = [post(client, delivery) for _ in range(20)]  # Shopify signs no timestamp
    TALLY["doubled"] += max(OrderEvent.objects.count() - 1, 0)

    assert first.status_code == 202
    assert {(r.status_code, r.json()["status"]) for r in replays} == {(200, "duplicate")}
    assert OrderEvent.objects.count() == 1
    assert Order.objects.get().event_count == 1
    assert not DeadLetter.objects.exists()


def test_an_authentic_standard_delivery_replayed_within_its_window_is_a_duplicate(client, tenants):
    raw = standard_body(random.Random(SEED))
    sent_at = datetime.now(UTC).replace(microsecond=0)
    ts = int(sent_at.timestamp())
    headers = {
        "webhook-id": "msg_replayed",
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_sign(STANDARD_SECRET, "msg_replayed", ts, raw),
    }
    delivery = Forgery("replay", "/webhooks/standard/acme", raw, headers)

    with time_machine.travel(sent_at, tick=False) as clock:
        first = post(client, delivery)
        replays = []
        for _ in range(10):  # the very same headers, until the window closes
            clock.shift(timedelta(seconds=29))
            replays.append(post(client, delivery))
        clock.shift(timedelta(seconds=20))  # 5 min 10 s after signing: stale now
        late = post(client, delivery)
    TALLY["doubled"] += max(OrderEvent.objects.count() - 1, 0)

    assert first.status_code == 202
    assert {(r.status_code, r.json()["status"]) for r in replays} == {(200, "duplicate")}
    assert late.status_code == 401
    assert OrderEvent.objects.count() == 1
    assert Order.objects.get().event_count == 1
    assert not DeadLetter.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_authentic_deliveries_replayed_at_once_store_one_row_each():
    acme = TenantFactory(slug="acme-race")
    webhook_secret_set(tenant=acme, kind="shopify", secret=SHOPIFY_SECRET)
    webhook_secret_set(tenant=acme, kind="standard", secret=STANDARD_SECRET)
    rng = random.Random(SEED)
    shopify_raw, standard_raw = shopify_body(rng), standard_body(rng)
    ts = now()
    deliveries = [
        Forgery(
            "shopify replay",
            "/webhooks/shopify/acme-race",
            shopify_raw,
            {
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": "wh-race",
                "X-Shopify-Hmac-Sha256": shopify_sign(SHOPIFY_SECRET, shopify_raw),
            },
        ),
        Forgery(
            "standard replay",
            "/webhooks/standard/acme-race",
            standard_raw,
            {
                "webhook-id": "msg_race",
                "webhook-timestamp": str(ts),
                "webhook-signature": standard_sign(STANDARD_SECRET, "msg_race", ts, standard_raw),
            },
        ),
    ]
    for delivery in deliveries:
        codes = at_once(lambda d=delivery: post(Client(), d).status_code, threads=16)
        assert sorted(codes) == [200] * 15 + [202], delivery.kind
    TALLY["doubled"] += max(OrderEvent.objects.filter(tenant=acme).count() - 2, 0)

    assert OrderEvent.objects.filter(tenant=acme).count() == 2
    assert not DeadLetter.objects.exists()
