"""POST /slack/interactions: signed button clicks from linked operators change exceptions."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine

from exceptions.models import ExceptionActivity, SlackIdentity
from exceptions.notify.messages import ACTION_ACKNOWLEDGE, ACTION_RESOLVE, ACTION_SNOOZE_1H
from exceptions.services.raising import Finding, exception_raise
from orders.models import Order
from orders.services.staff import staff_user_save

from .slack_server import SIGNING_SECRET, FakeSlack, fake_slack

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
URL = "/slack/interactions"


@pytest.fixture
def slack(settings):
    with fake_slack(settings) as fake:
        yield fake


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def operator(tenant):
    """An Operator of acme (the role that may act) linked to a Slack user."""
    user = staff_user_save(username="anna", role="operator", tenant_slugs=[tenant.slug]).user
    SlackIdentity.objects.create(user=user, slack_user_id="U0ANNA", slack_team_id="T0E2A")
    return user


@pytest.fixture
def exc(tenant, slack):
    order = Order.objects.create(tenant=tenant, external_id="#1001", source="shopify")
    finding = Finding("SHIP_DELAY", {"carrier": "UPS"}, severity="HIGH")
    return exception_raise(order=order, finding=finding).exception


def payload(
    slack, action_id: str, value: Any, *, user: str = "U0ANNA", team: str = "T0E2A"
) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "anna"},
        "team": {"id": team},
        "response_url": f"{slack.base_url}actions/T0E2A/1/xyz",
        "actions": [{"action_id": action_id, "value": str(value), "type": "button"}],
    }


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return f"v0={digest.hexdigest()}"


def post(client, body: str | dict, *, timestamp: str | None = None, signature: str | None = None):
    if isinstance(body, dict):
        body = urlencode({"payload": json.dumps(body)})
    timestamp = timestamp or str(int(time.time()))
    headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp}
    headers["HTTP_X_SLACK_SIGNATURE"] = signature or sign(body, timestamp)
    return client.post(URL, data=body, content_type="application/x-www-form-urlencoded", **headers)


def ephemerals(slack) -> list[dict]:
    return [r.body for r in slack.requests if r.path.startswith("/actions/")]


def test_acknowledge_button(client, slack, operator, exc):
    response = post(client, payload(slack, ACTION_ACKNOWLEDGE, exc.pk))

    assert response.status_code == 200
    assert response.json()["text"] == f"Exception #{exc.pk} acknowledged."
    exc.refresh_from_db()
    assert exc.status == "ACKNOWLEDGED"
    assert exc.acknowledged_by == "slack:U0ANNA (anna)"
    activity = ExceptionActivity.objects.get(exception=exc, action="acknowledged")
    assert (activity.actor_type, activity.actor_user) == ("slack", operator)
    # The clicking user is told, in a message only they see.
    [told] = ephemerals(slack)
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"] == f"Exception #{exc.pk} acknowledged."


def test_snooze_button_snoozes_for_one_hour(client, slack, operator, exc):
    response = post(client, payload(slack, ACTION_SNOOZE_1H, exc.pk))

    assert response.status_code == 200
    assert "snoozed until 10:00 UTC" in response.json()["text"]
    exc.refresh_from_db()
    assert exc.snoozed_until == T0 + timedelta(hours=1)
    activity = ExceptionActivity.objects.get(exception=exc, action="snoozed")
    assert activity.actor_type == "slack" and activity.actor_label == "slack:U0ANNA (anna)"


def test_resolve_button(client, slack, operator, exc):
    response = post(client, payload(slack, ACTION_RESOLVE, exc.pk))

    assert response.status_code == 200
    exc.refresh_from_db()
    assert exc.status == "RESOLVED"
    assert exc.resolution_text == "Resolved from Slack by anna"
    assert exc.resolution_code == "FIXED"
    activity = ExceptionActivity.objects.get(exception=exc, action="resolved")
    assert activity.actor_type == "slack" and activity.actor_user == operator


def test_a_refused_transition_tells_the_user_what_is_allowed(client, slack, operator, exc):
    post(client, payload(slack, ACTION_RESOLVE, exc.pk))

    response = post(client, payload(slack, ACTION_ACKNOWLEDGE, exc.pk))

    assert response.status_code == 200  # Slack shows any other status as a generic error
    text = response.json()["text"]
    assert "Cannot acknowledge an exception that is RESOLVED" in text
    assert "allowed: reopen, close, edit_notes" in text
    assert ephemerals(slack)[-1]["text"] == text
    exc.refresh_from_db()
    assert exc.status == "RESOLVED"
    assert not ExceptionActivity.objects.filter(exception=exc, action="acknowledged").exists()


def test_a_vanished_exception_is_reported_not_an_error(client, slack, operator, exc):
    response = post(client, payload(slack, ACTION_ACKNOWLEDGE, exc.pk + 1000))
    assert response.status_code == 200
    assert "no longer exists" in response.json()["text"]


@pytest.mark.parametrize(
    ("timestamp_offset", "signature", "problem"),
    [
        (0, "v0=" + "0" * 64, "does not match"),
        (-301, None, "more than 5 minutes"),  # stale (a replay)
        (301, None, "more than 5 minutes"),  # from the future
        (0, "", "Missing"),
    ],
    ids=["bad", "stale", "future", "missing"],
)
def test_bad_signatures_are_refused(
    client, slack, operator, exc, timestamp_offset, signature, problem
):
    body = urlencode({"payload": json.dumps(payload(slack, ACTION_ACKNOWLEDGE, exc.pk))})
    timestamp = str(int(time.time()) + timestamp_offset)
    headers = {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": sign(body, timestamp) if signature is None else signature,
    }

    response = client.post(
        URL, data=body, content_type="application/x-www-form-urlencoded", **headers
    )

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert problem in response.json()["detail"]
    exc.refresh_from_db()
    assert exc.status == "OPEN"
    assert ephemerals(slack) == []


def test_signature_at_the_edge_of_the_window_is_accepted(client, slack, operator, exc):
    body = urlencode({"payload": json.dumps(payload(slack, ACTION_ACKNOWLEDGE, exc.pk))})
    assert post(client, body, timestamp=str(int(time.time()) - 300)).status_code == 200


def test_signed_with_another_secret_is_refused(client, slack, operator, exc):
    body = urlencode({"payload": json.dumps(payload(slack, ACTION_ACKNOWLEDGE, exc.pk))})
    timestamp = str(int(time.time()))
    response = post(client, body, timestamp=timestamp, signature=sign(body, timestamp, "other"))
    assert response.status_code == 401


def test_without_a_signing_secret_nothing_is_accepted(client, slack, operator, exc, settings):
    settings.SLACK_SIGNING_SECRET = ""
    response = post(client, payload(slack, ACTION_ACKNOWLEDGE, exc.pk))
    assert response.status_code == 403
    assert response.json()["error"] == "not_configured"


@pytest.mark.parametrize("case", ["unlinked", "inactive", "not_staff", "other_workspace"])
def test_unknown_slack_users_are_refused(client, slack, operator, exc, case):
    user, team = "U0ANNA", "T0E2A"
    if case == "unlinked":
        user = "U0MALLORY"
    elif case == "inactive":
        operator.is_active = False
        operator.save()
    elif case == "not_staff":
        operator.is_staff = False
        operator.save()
    else:
        team = "T0OTHER"

    response = post(client, payload(slack, ACTION_RESOLVE, exc.pk, user=user, team=team))

    assert response.status_code == 403
    assert response.json()["error"] == "unknown_slack_user"
    assert f"Slack user {user} is not linked" in response.json()["detail"]
    exc.refresh_from_db()
    assert exc.status == "OPEN"
    assert "not linked" in ephemerals(slack)[-1]["text"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("", "payload"),
        ("payload=not-json", "payload"),
        (urlencode({"payload": "[1, 2]"}), "payload"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}), "type"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}), "user.id"),
        ("no-payload=1", "payload"),
    ],
)
def test_malformed_payloads_are_400(client, slack, operator, body, field):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("action_id", "value", "field"),
    [
        ("delete_everything", "1", "actions[0].action_id"),
        (ACTION_ACKNOWLEDGE, "abc", "actions[0].value"),
        (ACTION_ACKNOWLEDGE, "-1", "actions[0].value"),
        (ACTION_ACKNOWLEDGE, "9" * 30, "actions[0].value"),
    ],
)
def test_malformed_actions_are_400(client, slack, operator, action_id, value, field):
    response = post(client, payload(slack, action_id, value))
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_no_actions_is_400(client, slack, operator):
    body = payload(slack, ACTION_ACKNOWLEDGE, 1)
    body["actions"] = []
    assert post(client, body).json()["field"] == "actions"


def test_only_post(client, slack):
    assert client.get(URL).status_code == 405


def test_response_url_elsewhere_is_not_called(client, slack, operator, exc):
    elsewhere = FakeSlack().start()  # a listening server on another port: not Slack's host
    try:
        body = payload(slack, ACTION_ACKNOWLEDGE, exc.pk)
        body["response_url"] = f"{elsewhere.base_url}actions/T1/1/abc"
        assert post(client, body).status_code == 200
        assert elsewhere.requests == [] and ephemerals(slack) == []
    finally:
        elsewhere.stop()
