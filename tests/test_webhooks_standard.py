"""POST /webhooks/standard/<tenant>: events in the E²A contract, signed per Standard Webhooks.

Signatures are computed here with hmac by hand (v1 = base64 HMAC-SHA256 over
"{webhook-id}.{webhook-timestamp}.{body}" keyed with the bytes after "whsec_"),
independent of the standardwebhooks package the endpoint uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from orders.models import DeadLetter, Order, OrderEvent, WebhookSecret
from orders.services.tenants import webhook_secret_set

from .factories import TenantFactory

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "sample_webhooks"
SECRET = "whsec_" + base64.b64encode(b"acme-wms-signing-key-0001-abcdef").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"acme-wms-signing-key-0002-uvwxyz").decode()
GLOBEX_SECRET = "whsec_" + base64.b64encode(b"globex-wms-signing-key-0001-zzzz").decode()
URL = "/webhooks/standard/acme"
NOW = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)  # an hour after the sample's pick

_message_ids = itertools.count(1)


def sample() -> dict[str, Any]:
    return json.loads((SAMPLES / "standard_wms_pick_completed.json").read_text())


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def deliver(
    client,
    body: dict[str, Any] | bytes,
    *,
    url: str = URL,
    secret: str = SECRET,
    msg_id: str | None = "auto",
    timestamp: int | str | None = "now",
    signature: str | None = "auto",
    content_type: str = "application/json",
):
    """POST one Standard Webhooks delivery; `None` leaves a header out."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    if msg_id == "auto":
        msg_id = f"msg_2pQ7rTz{next(_message_ids):05d}"
    if timestamp == "now":
        timestamp = int(datetime.now(UTC).timestamp())
    if signature == "auto":
        signature = sign(secret, msg_id or "", timestamp or "", raw)
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    headers = {k: str(v) for k, v in headers.items() if v is not None}
    return client.post(url, data=raw, content_type=content_type, headers=headers)


def nothing_stored() -> bool:
    return not (
        OrderEvent.objects.exists() or Order.objects.exists() or DeadLetter.objects.exists()
    )


@pytest.fixture
def wms(db, tenant):
    webhook_secret_set(tenant=tenant, kind="standard", secret=SECRET)
    return tenant


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- the happy path ------------------------------------------------------------------


def test_a_signed_event_is_accepted_and_projected(client, wms):
    response = deliver(client, sample(), msg_id="msg_pick_0042")

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert response.json()["event_id"] == "wms-pick-7f3c2a91-0042"
    assert response.json()["order_id"] == "#1001"
    event = OrderEvent.objects.get()
    assert (event.tenant, event.source, event.event_type) == (wms, "wms", "pick_completed")
    assert event.channel == "standard"
    assert event.payload["station"] == "PICK-04"
    assert event.payload["payload"]["pick_list_id"] == "PL-20261124-0042"
    order = Order.objects.get()
    assert order.status == "picked"
    assert order.picked_at == datetime(2026, 11, 24, 13, 2, 45, tzinfo=UTC)
    assert (order.warehouse, order.line_count, order.items_count) == ("BER-1", 3, 6)


def test_the_same_delivery_again_is_a_duplicate(client, wms, clock):
    body = sample()
    first = deliver(client, body, msg_id="msg_retry")
    clock.shift(timedelta(seconds=90))  # the sender retries later, with a fresh timestamp
    again = deliver(client, body, msg_id="msg_retry")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert OrderEvent.objects.count() == 1
    assert Order.objects.get().event_count == 1


def test_a_body_without_event_id_uses_the_webhook_id(client, wms):
    body = sample()
    del body["event_id"]

    first = deliver(client, body, msg_id="msg_no_event_id")
    again = deliver(client, body, msg_id="msg_no_event_id")

    assert first.status_code == 202
    assert first.json()["event_id"] == "msg_no_event_id"
    assert OrderEvent.objects.get().event_id == "msg_no_event_id"
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"


def test_the_body_event_id_wins_over_the_webhook_id(client, wms):
    deliver(client, sample(), msg_id="msg_a")
    response = deliver(client, sample(), msg_id="msg_b")  # same event, new message id

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert OrderEvent.objects.get().event_id == "wms-pick-7f3c2a91-0042"


# --- signatures ----------------------------------------------------------------------


def _signature_over(what: str) -> dict[str, Any]:
    """Header values whose signature was made over something else than what is sent."""
    body = json.dumps(sample()).encode()
    now = int(datetime.now(UTC).timestamp())
    return {
        "wrong secret": {"signature": sign(GLOBEX_SECRET, "msg_1", now, body)},
        "other message id": {"signature": sign(SECRET, "msg_2", now, body)},
        "other timestamp": {"signature": sign(SECRET, "msg_1", now - 1, body)},
        "other body": {"signature": sign(SECRET, "msg_1", now, body.replace(b"BER-1", b"HAM-2"))},
    }[what] | {"msg_id": "msg_1", "timestamp": now}


@pytest.mark.parametrize(
    "what", ["wrong secret", "other message id", "other timestamp", "other body"]
)
def test_a_signature_that_does_not_match_is_401_and_nothing_is_stored(client, wms, clock, what):
    response = deliver(client, sample(), **_signature_over(what))

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert nothing_stored()


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (timedelta(minutes=-6), False),  # stale: older than the 5-minute tolerance
        (timedelta(minutes=-4), True),
        (timedelta(0), True),
        (timedelta(minutes=4), True),
        (timedelta(minutes=6), False),  # too new: the sender's clock runs ahead
    ],
    ids=["6-min-old", "4-min-old", "now", "4-min-ahead", "6-min-ahead"],
)
def test_the_timestamp_must_be_within_five_minutes(client, wms, clock, age, accepted):
    timestamp = int((NOW + age).timestamp())

    response = deliver(client, sample(), timestamp=timestamp)

    if accepted:
        assert response.status_code == 202
    else:
        assert response.status_code == 401
        assert "timestamp" in response.json()["detail"]
        assert nothing_stored()


def test_a_replayed_capture_is_refused_once_it_is_stale(client, wms, clock):
    """An attacker replaying a captured delivery later cannot get past the tolerance."""
    body = json.dumps(sample()).encode()
    timestamp = int(NOW.timestamp())
    signature = sign(SECRET, "msg_captured", timestamp, body)
    captured = {"msg_id": "msg_captured", "timestamp": timestamp, "signature": signature}
    assert deliver(client, body, **captured).status_code == 202

    clock.shift(timedelta(minutes=10))
    response = deliver(client, body, **captured)

    assert response.status_code == 401
    assert OrderEvent.objects.count() == 1


@pytest.mark.parametrize(
    "header",
    [
        "v1",
        "v1 " + "A" * 44,
        "v1" + "A" * 44,
        "v1,",
        ",",
        "v1,not base64!!",
        "v1,abc",
        "v1,ü€",
        "v1,AAAA,BBBB",
        "v2,c2lnbmF0dXJl",
        "   ",
    ],
    ids=[
        "no-comma",
        "space-not-comma",
        "glued",
        "empty-signature",
        "only-comma",
        "not-base64",
        "bad-padding",
        "non-ascii",
        "two-commas",
        "unknown-version",
        "blank",
    ],
)
def test_a_malformed_signature_header_is_401_not_500(client, wms, header):
    response = deliver(client, sample(), signature=header)

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert nothing_stored()


@pytest.mark.parametrize("timestamp", ["yesterday", "", "1e400", "nan", "-1"], ids=str)
def test_a_malformed_timestamp_is_401(client, wms, timestamp):
    response = deliver(client, sample(), timestamp=timestamp)

    assert response.status_code == 401
    assert nothing_stored()


@pytest.mark.parametrize("written", ["{}.0", " {}", "{} ", "0{}", "+{}"])
def test_a_timestamp_written_otherwise_than_signed_is_401(client, wms, written):
    # The signature is made over "1796...": the same moment written another way is
    # not what was signed, even though it parses to the same second.
    now = int(datetime.now(UTC).timestamp())
    signature = sign(SECRET, "msg_1", now, json.dumps(sample()).encode())

    response = deliver(
        client, sample(), msg_id="msg_1", timestamp=written.format(now), signature=signature
    )

    assert response.status_code == 401
    assert "webhook-timestamp" in response.json()["detail"]
    assert nothing_stored()


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_401(client, wms, missing):
    leave_out = {
        "webhook-id": {"msg_id": None},
        "webhook-timestamp": {"timestamp": None},
        "webhook-signature": {"signature": None},
    }[missing]

    response = deliver(client, sample(), **leave_out)

    assert response.status_code == 401
    assert "missing" in response.json()["detail"]
    assert nothing_stored()


def test_rotation_accepts_either_secret_until_the_old_one_is_deactivated(client, wms):
    webhook_secret_set(tenant=wms, kind="standard", secret=NEW_SECRET, label="2026-11 rotation")

    assert deliver(client, sample(), secret=SECRET).status_code == 202
    second = sample() | {"event_id": "wms-pick-7f3c2a91-0043", "order_id": "#1002"}
    assert deliver(client, second, secret=NEW_SECRET).status_code == 202

    WebhookSecret.objects.filter(tenant=wms, secret=SECRET).update(is_active=False)
    third = sample() | {"event_id": "wms-pick-7f3c2a91-0044", "order_id": "#1003"}

    assert deliver(client, third, secret=SECRET).status_code == 401
    assert deliver(client, third, secret=NEW_SECRET).status_code == 202
    assert OrderEvent.objects.count() == 3


def test_one_matching_signature_among_several_is_enough(client, wms):
    body = json.dumps(sample()).encode()
    timestamp = int(datetime.now(UTC).timestamp())
    good = sign(SECRET, "msg_multi", timestamp, body)
    wrong = sign(GLOBEX_SECRET, "msg_multi", timestamp, body)
    v2 = "v2," + base64.b64encode(b"x" * 32).decode()

    response = deliver(
        client, body, msg_id="msg_multi", timestamp=timestamp, signature=f"{wrong} {v2} {good}"
    )

    assert response.status_code == 202


def test_several_signatures_none_matching_is_401(client, wms):
    body = json.dumps(sample()).encode()
    timestamp = int(datetime.now(UTC).timestamp())
    wrong = [sign(s, "msg_multi", timestamp, body) for s in (GLOBEX_SECRET, NEW_SECRET)]

    response = deliver(
        client, body, msg_id="msg_multi", timestamp=timestamp, signature=" ".join(wrong)
    )

    assert response.status_code == 401
    assert nothing_stored()


def test_a_sender_signing_with_old_and_new_secret_during_rotation_is_accepted(client, wms):
    """The sender may send both signatures while the receiver only knows one of them."""
    body = json.dumps(sample()).encode()
    timestamp = int(datetime.now(UTC).timestamp())
    both = " ".join(sign(s, "msg_both", timestamp, body) for s in (NEW_SECRET, SECRET))

    response = deliver(client, body, msg_id="msg_both", timestamp=timestamp, signature=both)

    assert response.status_code == 202


# --- tenants -------------------------------------------------------------------------


def test_a_body_signed_for_one_tenant_is_refused_at_another_tenants_url(client, wms):
    globex = TenantFactory(slug="globex")
    webhook_secret_set(tenant=globex, kind="standard", secret=GLOBEX_SECRET)

    response = deliver(client, sample(), url="/webhooks/standard/globex", secret=SECRET)

    assert response.status_code == 401
    assert nothing_stored()
    assert (
        deliver(client, sample(), url="/webhooks/standard/globex", secret=GLOBEX_SECRET).status_code
        == 202
    )
    assert Order.objects.get().tenant == globex


@pytest.mark.parametrize(
    "failure",
    [{"secret": GLOBEX_SECRET}, {"timestamp": 1_000_000_000}, {"signature": "v1"}],
    ids=["wrong-signature", "stale", "malformed"],
)
def test_an_unknown_tenant_gets_the_same_401_as_a_known_one(client, wms, failure):
    """No tenant enumeration: the answer does not tell whether the slug exists."""
    known = deliver(client, sample(), msg_id="msg_same", **failure)
    unknown = deliver(
        client, sample(), url="/webhooks/standard/no-such-tenant", msg_id="msg_same", **failure
    )

    assert unknown.status_code == known.status_code == 401
    assert unknown.json() == known.json()


def test_an_unknown_tenant_with_an_otherwise_valid_delivery_gets_a_plain_401(client, wms):
    wrong = deliver(client, sample(), secret=GLOBEX_SECRET)
    response = deliver(client, sample(), url="/webhooks/standard/no-such-tenant")

    assert response.status_code == 401
    assert response.json() == wrong.json()
    assert nothing_stored()


def test_an_inactive_tenant_is_refused(client, wms):
    wms.is_active = False
    wms.save()

    assert deliver(client, sample()).status_code == 401
    assert nothing_stored()


def test_a_shopify_secret_does_not_sign_standard_webhooks(client, tenant):
    webhook_secret_set(tenant=tenant, kind="shopify", secret=SECRET)

    assert deliver(client, sample(), secret=SECRET).status_code == 401
    assert nothing_stored()


# --- bad bodies ----------------------------------------------------------------------


def test_an_invalid_event_is_400_naming_the_fields_and_kept_as_a_dead_letter(client, wms):
    body = sample() | {"event_type": "Pick Completed!", "occurred_at": "yesterday"}
    del body["order_id"]

    response = deliver(client, body, msg_id="msg_invalid")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"event_type", "occurred_at", "order_id"}
    letter = DeadLetter.objects.get(pk=response.json()["dead_letter_id"])
    assert (letter.tenant, letter.kind) == (wms, "standard")
    assert json.loads(letter.raw_body) == body
    assert letter.headers["Webhook-Id"] == "msg_invalid"
    assert "Webhook-Signature" not in letter.headers
    assert not OrderEvent.objects.exists()
    assert not Order.objects.exists()


def test_a_body_that_is_not_an_object_is_400(client, wms):
    response = deliver(client, [sample()])

    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]
    assert not OrderEvent.objects.exists()


def test_a_non_json_content_type_is_415(client, wms):
    response = deliver(client, b"event_type=pick_completed", content_type="text/plain")

    assert response.status_code == 415
    assert nothing_stored()


def test_malformed_json_with_a_valid_signature_is_400(client, wms):
    response = deliver(client, b'{"source": "wms", ')

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert nothing_stored()


def test_a_bad_signature_is_checked_before_the_body(client, wms):
    response = deliver(client, b"not json", content_type="text/plain", secret=GLOBEX_SECRET)

    assert response.status_code == 401


def test_a_malformed_entry_does_not_hide_a_valid_signature(client, wms):
    raw = json.dumps(sample()).encode()
    timestamp = int(datetime.now(UTC).timestamp())
    good = sign(SECRET, "msg_mixed", timestamp, raw)
    response = deliver(
        client,
        raw,
        msg_id="msg_mixed",
        timestamp=timestamp,
        signature=f"v1,not*base64 garbage {good}",
    )
    assert response.status_code == 202


def test_an_undecodable_stored_secret_does_not_block_the_valid_one(client, wms):
    WebhookSecret.objects.create(
        tenant=wms, kind="standard", secret="whsec_"
    )  # bypassed validation
    WebhookSecret.objects.create(tenant=wms, kind="standard", secret="whsec_%%%")
    assert deliver(client, sample()).status_code == 202


@pytest.mark.parametrize("kind", ["standard", "shopify"])
def test_an_unsigned_options_request_gets_no_2xx(client, wms, kind):
    """Schemathesis without credentials (issue 18) got DRF's 200 view description here."""
    response = client.options(f"/webhooks/{kind}/{wms.slug}")
    assert response.status_code == 405
    assert "POST" in response["Allow"]
