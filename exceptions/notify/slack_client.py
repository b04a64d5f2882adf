"""The one place E²A talks to Slack's Web API, through slack-sdk.

Every call answers with a typed outcome instead of raising: `Posted`,
`RateLimited` (HTTP 429 with Slack's `Retry-After`) or `Failed` (with the error
text and whether trying again could help). The SDK's own retry handlers are
switched off: the sender is the one retry layer, because only it knows the
channel's rate limit and how many attempts a message has had.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
# Answering an interaction must fit in Slack's 3 s budget for the whole request.
RESPONSE_URL_TIMEOUT_SECONDS = 2
# Slack sends Retry-After with every 429; this is only for a reply that lacks it.
DEFAULT_RETRY_AFTER = 1.0
# Slack `error` codes that may succeed if sent again; any other `ok: false` answer
# (channel_not_found, not_in_channel, invalid_auth, invalid_blocks, …) is permanent.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
RESPONSE_URL_HOSTS = frozenset({"hooks.slack.com"})


@dataclass(frozen=True, slots=True)
class Posted:
    ts: str
    channel: str


@dataclass(frozen=True, slots=True)
class RateLimited:
    retry_after: float  # seconds


@dataclass(frozen=True, slots=True)
class Failed:
    error: str
    permanent: bool


PostOutcome = Posted | RateLimited | Failed


def post_message(
    *, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str = ""
) -> PostOutcome:
    """chat.postMessage with the bot token; never raises for Slack or network errors."""
    client = WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[],
    )
    try:
        response = client.chat_postMessage(
            channel=channel, text=text, blocks=blocks or None, thread_ts=thread_ts or None
        )
    except SlackApiError as exc:
        return _api_error(exc)
    except (SlackClientError, OSError, ValueError) as exc:  # network, timeout, bad JSON
        return Failed(f"{type(exc).__name__}: {exc}", permanent=False)
    ts = str(response.get("ts") or "")
    if not ts:  # nothing to thread replies on, and nothing to prove it was posted
        return Failed("Slack answered ok without a message ts", permanent=True)
    return Posted(ts=ts, channel=str(response.get("channel") or ""))


def _api_error(exc: SlackApiError) -> PostOutcome:
    status = exc.response.status_code
    if status == 429:
        return RateLimited(retry_after_seconds(exc.response.headers))
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    permanent = status < 500 and error not in TRANSIENT_ERRORS
    return Failed(error, permanent=permanent)


def retry_after_seconds(headers: Any) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    headers = headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(raw, list):  # the SDK gives header lists on some paths
        raw = raw[0] if raw else None
    if raw is None:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(raw) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def response_url_allowed(url: str) -> bool:
    """Only Slack's hooks host (or the configured API host, e.g. a test server) is posted to."""
    parts = urlsplit(url or "")
    api = urlsplit(settings.SLACK_API_URL)
    if parts.scheme == "https" and parts.hostname in RESPONSE_URL_HOSTS:
        return True
    return bool(parts.hostname) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


def respond(response_url: str, text: str) -> bool:
    """Show `text` only to the user who clicked (ephemeral); False if it could not be sent."""
    if not response_url_allowed(response_url):
        log.warning("slack response_url refused", extra={"response_url": response_url[:200]})
        return False
    client = WebhookClient(response_url, timeout=RESPONSE_URL_TIMEOUT_SECONDS, retry_handlers=[])
    try:
        response = client.send(text=text, response_type="ephemeral", replace_original=False)
    except (SlackClientError, OSError, ValueError) as exc:
        log.warning("slack response_url failed", extra={"error": str(exc)})
        return False
    return response.status_code == 200
