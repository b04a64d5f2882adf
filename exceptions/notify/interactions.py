"""POST /slack/interactions: the Acknowledge, Snooze 1 h and Resolve buttons.

Slack posts a form with one field, `payload`, holding a `block_actions` JSON
document, signed with the app's signing secret: `X-Slack-Signature` is
`v0=` + HMAC-SHA256(secret, `v0:{X-Slack-Request-Timestamp}:{raw body}`), and a
timestamp more than five minutes off is refused as a possible replay.

The clicking Slack user must be linked (SlackIdentity) to an active staff user,
the same people who may work exceptions in the admin, held to the same rules:
their role must grant `exceptions.act_on_exception` and they must work for the
exception's tenant (else the click is refused, 200 with a note, as Slack wants,
and another tenant's exception reads as gone); the change is then made
by the ordinary lifecycle service with `Actor.for_slack`, so the audit trail and
the thread reply say who did it.

Answers, decided for how Slack behaves (it shows any non-200 as a generic
"something went wrong" and discards the body):
- 401: signature missing, wrong or stale. 403: SLACK_SIGNING_SECRET unset (no
  request can be trusted; not a 503, which would promise that retrying helps),
  or a Slack user who is not a linked operator. 400: a malformed payload.
- 200 for every click that was understood, including a transition the
  exception's status refuses (someone else acted first) and an exception that is
  gone: the user is told what happened in a message only they can see, sent to
  the payload's `response_url` and repeated in the response body.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from orders.models import TenantMembership

from ..actors import Actor
from ..models import OrderException, SlackIdentity
from ..services import lifecycle
from ..transitions import TransitionRefused
from . import metrics, slack_client
from .messages import ACTION_ACKNOWLEDGE, ACTION_RESOLVE, ACTION_SNOOZE_1H

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_SECONDS = 5 * 60
SNOOZE = timedelta(hours=1)
MAX_EXCEPTION_ID = 2**63 - 1


class BadPayload(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ButtonClick:
    slack_user_id: str
    team_id: str
    action_id: str
    exception_id: int
    response_url: str


def signature_problem(
    *, body: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> str:
    """Why the request is not Slack's, or "" if its v0 signature is good and fresh."""
    if not timestamp or not signature:
        return "Missing X-Slack-Request-Timestamp or X-Slack-Signature."
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a Unix time."
    if abs(now - sent_at) > MAX_CLOCK_SKEW_SECONDS:
        return "X-Slack-Request-Timestamp is more than 5 minutes off (a replay?)."
    expected = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "X-Slack-Signature does not match the body."
    return ""


def parse_click(body: bytes) -> ButtonClick:
    """The button click in a block_actions payload; raises BadPayload naming the field."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise BadPayload("payload", "The body is not UTF-8.") from exc
    raw = form.get("payload", [""])[0]
    if not raw:
        raise BadPayload("payload", "Expected a form field `payload` holding JSON.")
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise BadPayload("payload", f"Not JSON: {exc}.") from exc
    if not isinstance(payload, dict):
        raise BadPayload("payload", "Expected a JSON object.")
    if payload.get("type") != "block_actions":
        raise BadPayload("type", "Only block_actions payloads (button clicks) are handled.")
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise BadPayload("user.id", "Missing the Slack user id.")
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, dict):
        raise BadPayload("actions", "Expected at least one action.")
    action_id = action.get("action_id")
    if action_id not in HANDLERS:
        raise BadPayload("actions[0].action_id", f"Unknown action {action_id!r}.")
    value = action.get("value")
    if not isinstance(value, str) or not value.isdigit() or not 0 < int(value) <= MAX_EXCEPTION_ID:
        raise BadPayload("actions[0].value", "Expected an exception id.")
    team = payload.get("team")
    response_url = payload.get("response_url")
    return ButtonClick(
        slack_user_id=user_id,
        team_id=str(team.get("id") or "") if isinstance(team, dict) else "",
        action_id=action_id,
        exception_id=int(value),
        response_url=response_url if isinstance(response_url, str) else "",
    )


def operator_for(click: ButtonClick) -> AbstractBaseUser | None:
    """The active staff user linked to the clicking Slack user (in the same workspace)."""
    identity = (
        SlackIdentity.objects.select_related("user")
        .filter(slack_user_id=click.slack_user_id)
        .first()
    )
    if identity is None or not (identity.user.is_active and identity.user.is_staff):
        return None
    if identity.slack_team_id and click.team_id and identity.slack_team_id != click.team_id:
        return None
    return identity.user


def _acknowledge(exception_id: int, actor: Actor, user: AbstractBaseUser, now: datetime) -> str:
    lifecycle.exception_acknowledge(exception_id=exception_id, actor=actor, now=now)
    return f"Exception #{exception_id} acknowledged."


def _snooze(exception_id: int, actor: Actor, user: AbstractBaseUser, now: datetime) -> str:
    until = now + SNOOZE
    lifecycle.exception_snooze(exception_id=exception_id, until=until, actor=actor, now=now)
    return f"Exception #{exception_id} snoozed until {until:%H:%M} UTC."


def _resolve(exception_id: int, actor: Actor, user: AbstractBaseUser, now: datetime) -> str:
    lifecycle.exception_resolve(
        exception_id=exception_id,
        resolution=f"Resolved from Slack by {user.get_username()}",
        resolution_code=lifecycle.ResolutionCode.FIXED,
        actor=actor,
        now=now,
    )
    return f"Exception #{exception_id} resolved."


Handler = Callable[[int, Actor, AbstractBaseUser, datetime], str]
HANDLERS: dict[str, Handler] = {
    ACTION_ACKNOWLEDGE: _acknowledge,
    ACTION_SNOOZE_1H: _snooze,
    ACTION_RESOLVE: _resolve,
}


def interaction_apply(*, click: ButtonClick, user: AbstractBaseUser) -> tuple[str, str]:
    """Make the change the button asks for: (outcome, what to tell the user)."""
    tenant_id = (
        OrderException.objects.filter(pk=click.exception_id)
        .values_list("tenant_id", flat=True)
        .first()
    )
    if tenant_id is None or not (
        user.is_superuser
        or TenantMembership.objects.filter(user_id=user.pk, tenant_id=tenant_id).exists()
    ):
        return "not_found", f"Exception #{click.exception_id} no longer exists."
    if not user.has_perm("exceptions.act_on_exception"):
        return "forbidden", "Your role may read exceptions but not act on them."
    actor = Actor.for_slack(user, click.slack_user_id)
    handler = HANDLERS[click.action_id]
    try:
        return "applied", handler(click.exception_id, actor, user, timezone.now())
    except OrderException.DoesNotExist:
        return "not_found", f"Exception #{click.exception_id} no longer exists."
    except TransitionRefused as exc:
        return "refused", str(exc)
    except lifecycle.InvalidChange as exc:
        return "invalid", str(exc)


def _error(status: int, error: str, detail: str, **extra: str) -> JsonResponse:
    metrics.INTERACTIONS.labels(error).inc()
    return JsonResponse({"error": error, "detail": detail, **extra}, status=status)


def _tell(click: ButtonClick, text: str) -> None:
    if click.response_url:
        slack_client.respond(click.response_url, text)


@csrf_exempt
@require_POST
def slack_interactions(request: HttpRequest) -> JsonResponse:
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        log.error("slack interaction refused: SLACK_SIGNING_SECRET is not set")
        return _error(403, "not_configured", "Slack interactions are not configured here.")
    body = request.body
    problem = signature_problem(
        body=body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
        secret=secret,
        now=time.time(),
    )
    if problem:
        return _error(401, "bad_signature", problem)
    try:
        click = parse_click(body)
    except BadPayload as exc:
        return _error(400, "bad_payload", str(exc), field=exc.field)
    user = operator_for(click)
    if user is None:
        detail = (
            f"Slack user {click.slack_user_id} is not linked to an active E²A operator; "
            "an admin can link it under Slack identities."
        )
        _tell(click, detail)
        return _error(403, "unknown_slack_user", detail)
    outcome, text = interaction_apply(click=click, user=user)
    metrics.INTERACTIONS.labels(outcome).inc()
    _tell(click, text)
    return JsonResponse({"response_type": "ephemeral", "replace_original": False, "text": text})
