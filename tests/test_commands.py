"""Management commands an operator runs by hand: set-up, credentials, replays."""

from __future__ import annotations

import json
import re
from datetime import datetime
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.models import ApiKey, DeadLetter, OrderEvent, Tenant, WebhookSecret
from orders.services.dead_letters import dead_letter_record, dead_letter_replay
from orders.services.tenants import generate_webhook_secret

from .factories import TenantFactory, event_body, signed_standard_post

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def ingest_with(client, raw_key: str):
    return client.post(
        "/ingest/events",
        data=event_body(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )


def standard_post(client, tenant_slug: str, secret: str, *, msg_id: str = "msg_1"):
    return signed_standard_post(
        client, tenant_slug, secret, event_body(event_id=msg_id), msg_id=msg_id
    )


def printed_key(output: str) -> str:
    keys = re.findall(r"e2a_\S+", output)
    assert len(keys) == 1, output
    return keys[0]


# create_tenant


def test_create_tenant(client):
    output = run("create_tenant", "acme", "--name", "Acme Corp", "--timezone", "Europe/Berlin")

    tenant = Tenant.objects.get()
    assert (tenant.slug, tenant.name, tenant.timezone, tenant.is_active) == (
        "acme",
        "Acme Corp",
        "Europe/Berlin",
        True,
    )
    assert "acme" in output


def test_create_tenant_name_defaults_to_the_slug():
    run("create_tenant", "globex")
    assert Tenant.objects.get().name == "globex"


def test_create_tenant_refuses_an_unknown_time_zone():
    with pytest.raises(CommandError, match="IANA"):
        run("create_tenant", "acme", "--timezone", "Mars/Olympus_Mons")
    assert not Tenant.objects.exists()


def test_create_tenant_refuses_a_duplicate_slug_with_a_clear_message():
    run("create_tenant", "acme")
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "acme", "--name", "Someone else")
    assert Tenant.objects.get().name == "acme"


def test_create_tenant_refuses_a_slug_that_is_not_a_slug():
    with pytest.raises(CommandError, match="slug"):
        run("create_tenant", "Acme Corp!")
    assert not Tenant.objects.exists()


# create_api_key


def test_create_api_key_prints_a_key_that_authenticates(client):
    TenantFactory(slug="acme")
    output = run("create_api_key", "acme", "--name", "WMS")

    raw = printed_key(output)
    key = ApiKey.objects.get()
    assert key.name == "WMS"
    assert raw not in (key.key_hash, key.prefix)
    assert ingest_with(client, raw).status_code == 202
    assert OrderEvent.objects.get().tenant.slug == "acme"


def test_create_api_key_for_an_unknown_tenant_fails():
    with pytest.raises(CommandError, match="nope"):
        run("create_api_key", "nope")
    assert not ApiKey.objects.exists()


# set_webhook_secret


def test_set_webhook_secret_generates_a_standard_secret_and_prints_it_once(client):
    TenantFactory(slug="acme")
    output = run("set_webhook_secret", "acme", "standard", "--label", "2026")

    stored = WebhookSecret.objects.get()
    assert stored.secret.startswith("whsec_")
    assert output.count(stored.secret) == 1
    assert (stored.label, stored.is_active, stored.kind) == ("2026", True, "standard")
    assert standard_post(client, "acme", stored.secret).status_code == 202


def test_set_webhook_secret_does_not_print_a_secret_it_was_given():
    TenantFactory(slug="acme")
    secret = generate_webhook_secret("standard")
    output = run("set_webhook_secret", "acme", "standard", "--secret", secret)
    assert WebhookSecret.objects.get().secret == secret
    assert secret not in output


@pytest.mark.parametrize(
    "bad",
    [
        "c2VjcmV0LXdpdGhvdXQtdGhlLXByZWZpeC0xMjM0NTY3OA==",  # base64 but no whsec_
        "whsec_not base64!",
        "whsec_c2hvcnQ=",  # too short
    ],
)
def test_set_webhook_secret_refuses_a_bad_standard_secret(bad):
    TenantFactory(slug="acme")
    with pytest.raises(CommandError):
        run("set_webhook_secret", "acme", "standard", "--secret", bad)
    assert not WebhookSecret.objects.exists()


def test_set_webhook_secret_for_an_unknown_tenant_fails():
    with pytest.raises(CommandError, match="nope"):
        run("set_webhook_secret", "nope", "standard")


def test_existing_secrets_stay_active_unless_replaced(client):
    TenantFactory(slug="acme")
    old = generate_webhook_secret("standard")
    new = generate_webhook_secret("standard")
    newest = generate_webhook_secret("standard")

    run("set_webhook_secret", "acme", "standard", "--secret", old)
    run("set_webhook_secret", "acme", "standard", "--secret", new)
    assert WebhookSecret.objects.filter(is_active=True).count() == 2
    assert standard_post(client, "acme", old, msg_id="m-1").status_code == 202
    assert standard_post(client, "acme", new, msg_id="m-2").status_code == 202

    run("set_webhook_secret", "acme", "standard", "--secret", newest, "--replace")
    assert list(WebhookSecret.objects.filter(is_active=True).values_list("secret", flat=True)) == [
        newest
    ]
    assert standard_post(client, "acme", old, msg_id="m-3").status_code == 401
    assert standard_post(client, "acme", newest, msg_id="m-4").status_code == 202


def test_replace_leaves_the_other_kind_alone():
    TenantFactory(slug="acme")
    run("set_webhook_secret", "acme", "shopify")
    run("set_webhook_secret", "acme", "standard", "--replace")
    assert WebhookSecret.objects.filter(is_active=True).count() == 2


# replay_dead_letters


def letter(tenant, *, event_id: str, broken: bool = False, at: str = "2026-11-20T08:00:00Z"):
    body = event_body(
        event_id=event_id, occurred_at="yesterday" if broken else "2026-11-19T10:00:00Z"
    )
    with time_machine.travel(datetime.fromisoformat(at), tick=False):
        return dead_letter_record(
            tenant=tenant, kind="event", raw_body=json.dumps(body), reason="invalid event"
        )


def test_replay_dead_letters_replays_all_pending_and_prints_counts():
    acme = TenantFactory(slug="acme")
    fixed = letter(acme, event_id="ok-1")
    broken = letter(acme, event_id="bad-1", broken=True)

    output = run("replay_dead_letters")

    assert "1 replayed, 1 still failing." in output
    assert f"#{fixed.pk}: replayed" in output
    assert f"#{broken.pk}: still failing" in output
    assert list(OrderEvent.objects.values_list("event_id", flat=True)) == ["ok-1"]
    fixed.refresh_from_db()
    assert fixed.replayed_at is not None
    assert fixed.event is not None


def test_replay_dead_letters_skips_already_replayed_ones():
    acme = TenantFactory(slug="acme")
    done = letter(acme, event_id="done")
    dead_letter_replay(dead_letter=done)
    pending = letter(acme, event_id="pending")

    output = run("replay_dead_letters")

    assert "1 replayed, 0 still failing." in output
    assert f"#{done.pk}" not in output
    assert f"#{pending.pk}: replayed" in output
    assert OrderEvent.objects.count() == 2
    done.refresh_from_db()
    assert done.replay_attempts == 1


def test_replay_dead_letters_by_id():
    acme = TenantFactory(slug="acme")
    one = letter(acme, event_id="one")
    two = letter(acme, event_id="two")
    three = letter(acme, event_id="three")

    output = run("replay_dead_letters", "--id", str(one.pk), "--id", str(three.pk))

    assert "2 replayed, 0 still failing." in output
    assert set(OrderEvent.objects.values_list("event_id", flat=True)) == {"one", "three"}
    assert DeadLetter.objects.get(pk=two.pk).replayed_at is None


def test_replay_dead_letters_since():
    acme = TenantFactory(slug="acme")
    letter(acme, event_id="old", at="2026-11-20T08:00:00Z")
    letter(acme, event_id="new", at="2026-11-27T08:00:00Z")

    output = run("replay_dead_letters", "--since", "2026-11-25T00:00:00Z")

    assert "1 replayed, 0 still failing." in output
    assert list(OrderEvent.objects.values_list("event_id", flat=True)) == ["new"]


@pytest.mark.parametrize("since", ["last week", "2026-11-25T00:00:00", "2026-13-45T00:00:00Z"])
def test_replay_dead_letters_refuses_a_since_without_a_usable_time(since):
    letter(TenantFactory(slug="acme"), event_id="x")
    with pytest.raises(CommandError, match="--since"):
        run("replay_dead_letters", "--since", since)
    assert not OrderEvent.objects.exists()


def test_replay_dead_letters_by_tenant():
    acme = TenantFactory(slug="acme")
    globex = TenantFactory(slug="globex")
    letter(acme, event_id="a-1")
    other = letter(globex, event_id="g-1")

    output = run("replay_dead_letters", "--tenant", "acme")

    assert "1 replayed, 0 still failing." in output
    assert OrderEvent.objects.get().tenant == acme
    assert DeadLetter.objects.get(pk=other.pk).replayed_at is None


def test_replay_dead_letters_for_an_unknown_tenant_fails():
    letter(TenantFactory(slug="acme"), event_id="a-1")
    with pytest.raises(CommandError, match="acmee"):
        run("replay_dead_letters", "--tenant", "acmee")


# bootstrap_demo


def test_bootstrap_demo_prints_credentials_that_work(client):
    output = run("bootstrap_demo")

    raw = printed_key(output)
    login = re.search(r"Admin login:\s+(\S+) / (\S+)", output)
    assert login, output
    username, password = login.groups()

    assert ingest_with(client, raw).status_code == 202
    assert OrderEvent.objects.get().tenant.slug == "demo-3pl"

    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/"
    assert response.context["user"].is_superuser


def test_bootstrap_demo_prints_a_standard_webhooks_secret_that_signs_once(client):
    first = run("bootstrap_demo")
    printed = re.search(r"Standard Webhooks secret for demo-3pl: (whsec_\S+)", first)
    assert printed, first

    body = event_body(source="wms", event_type="pick_started")
    answer = signed_standard_post(client, "demo-3pl", printed.group(1), body, msg_id="msg_boot")
    assert answer.status_code == 202
    assert OrderEvent.objects.get().channel == "standard"

    second = run("bootstrap_demo")
    assert "whsec_" not in second
    assert WebhookSecret.objects.filter(kind="standard").count() == 1


def test_bootstrap_demo_adds_the_secret_to_an_existing_demo_tenant():
    TenantFactory(slug="demo-3pl")
    output = run("bootstrap_demo")
    assert "Standard Webhooks secret for demo-3pl: whsec_" in output
    assert WebhookSecret.objects.get(tenant__slug="demo-3pl", kind="standard").is_active


def test_bootstrap_demo_second_run_creates_nothing_and_says_how_to_get_a_key():
    first = run("bootstrap_demo")
    counts = (Tenant.objects.count(), ApiKey.objects.count(), get_user_model().objects.count())

    second = run("bootstrap_demo")

    assert (
        Tenant.objects.count(),
        ApiKey.objects.count(),
        get_user_model().objects.count(),
    ) == counts
    assert "e2a_" not in second
    assert "Admin login" not in second
    assert "create_api_key demo-3pl" in second
    assert printed_key(first)
