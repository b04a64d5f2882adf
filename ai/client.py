"""The one place E²A talks to a language model: any OpenAI-compatible chat API over httpx.

OpenRouter, OpenAI, Ollama's /v1, vLLM and llama.cpp all answer
`POST {AI_PROVIDER_BASE_URL}/chat/completions`. The caller gets either a validated
pydantic object (`StructuredReply.data`) or a `ModelFailure` whose `cause` is one of
`timeout`, `invalid_reply` or `error` — never a half-trusted reply: a truncated or
refused answer, or JSON that fails its schema, is a failure, not data.

Structured output is asked for with `response_format: json_schema` (strict). Servers
that refuse it (older Ollama, llama.cpp, some OpenRouter upstreams) get
`json_object` instead, with the schema spelled out in a system message; which base
URLs need that is remembered for the life of the process.

This module is the only retry layer for model calls (DESIGN.md: one retry layer for
external calls): connection errors, 408, 429 and 5xx are tried again, up to
AI_RETRY_MAX_ATTEMPTS requests in all, with capped exponential backoff and jitter,
honouring Retry-After, and never waiting past AI_TIMEOUT_SECONDS for the whole call.
Celery tasks and services above it must not retry a `ModelFailure` again.

Personal data: prompts and replies may carry names and addresses (the caller redacts
what it can). Nothing of their content is logged or put in a failure's `detail`; only
sizes, status codes, the model name, latency and the cause.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Literal, TypeVar

import httpx
import pydantic
from django.conf import settings

from . import metrics

log = logging.getLogger(__name__)

T = TypeVar("T", bound=pydantic.BaseModel)

Cause = Literal["timeout", "invalid_reply", "error"]
CAUSES: tuple[Cause, ...] = ("timeout", "invalid_reply", "error")

# Backoff between attempts when the server gives no Retry-After: 0.5 s, 1 s, 2 s, …
# capped, each scaled by a random factor in [0.5, 1) so workers that failed together
# do not come back together.
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
RETRY_STATUSES = frozenset({408, 429})
# A reply larger than this is not an exception note; reading it would only cost memory.
MAX_REPLY_BYTES = 1_000_000
# Words in a 400/422 that mean "this server does not do response_format json_schema".
_SCHEMA_REFUSAL_HINTS = ("response_format", "json_schema", "json schema", "structured output")

# Injectable for tests: the wait between attempts and the clock that bounds the call.
sleep: Callable[[float], None] = time.sleep
monotonic: Callable[[], float] = time.monotonic

# Base URLs (normalised) that refused json_schema: they get json_object from then on.
_json_object_only: set[str] = set()
_json_object_only_lock = threading.Lock()


class ModelFailure(Exception):
    """The model gave no usable answer. `cause` is one of CAUSES; `detail` says why.

    `detail` never contains prompt or reply text. The usage fields are filled when the
    server billed the failed call (a truncated or invalid reply still costs tokens), so
    a budget can count it.
    """

    def __init__(
        self,
        cause: Cause,
        detail: str,
        *,
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: Decimal | None = None,
        attempts: int = 0,
    ) -> None:
        if cause not in CAUSES:
            raise ValueError(f"unknown ModelFailure cause {cause!r}")
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost_usd = cost_usd
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class StructuredReply(Generic[T]):
    """A validated answer and what it cost."""

    data: T
    raw: str  # the message content as the server sent it (fences and chatter included)
    model: str  # as the server reports it (may be more specific than AI_MODEL)
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal | None  # OpenRouter's usage.cost; None when the server says nothing
    latency_ms: int  # the whole call, retries and their waits included
    attempts: int  # HTTP requests made, the json_object fallback included
    response_format: Literal["json_schema", "json_object"]


def model_configured() -> bool:
    """True when a model server is set up; otherwise notes come from the rules alone."""
    base = (settings.AI_PROVIDER_BASE_URL or "").strip()
    return bool(base) and base.lower() != "disabled"


def chat_structured(
    *,
    messages: list[dict[str, Any]],
    output: type[T],
    schema_name: str,
    max_tokens: int | None = None,
) -> StructuredReply[T]:
    """Ask the configured model for one JSON object matching `output`; validate it.

    Raises ModelFailure on every path that does not end in a valid `output`. The call
    takes at most about AI_TIMEOUT_SECONDS, whatever the server does.
    """
    if not model_configured():
        raise ModelFailure("error", "no model configured (AI_PROVIDER_BASE_URL is empty)")
    base = _normalise(settings.AI_PROVIDER_BASE_URL)
    budget = float(settings.AI_TIMEOUT_SECONDS)
    started = monotonic()
    call = _Call(base=base, deadline=started + budget, budget=budget)
    schema = strict_json_schema(output)
    fmt: Literal["json_schema", "json_object"] = (
        "json_object" if _needs_json_object(base) else "json_schema"
    )
    prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
    try:
        response = call.post(_request_body(messages, fmt, schema, schema_name, max_tokens))
        if fmt == "json_schema" and _refuses_json_schema(response):
            fmt = "json_object"
            if _remember_refusal(response):
                with _json_object_only_lock:
                    _json_object_only.add(base)
            log.warning(
                "model server refused response_format json_schema; using json_object",
                extra={"status": response.status_code, "error": _error_message(response)},
            )
            response = call.post(_request_body(messages, fmt, schema, schema_name, max_tokens))
        reply = _structured_reply(response, output, fmt=fmt, attempts=call.attempts)
    except ModelFailure as failure:
        failure.attempts = call.attempts
        seconds = monotonic() - started
        metrics.record_call(
            failure.cause,
            seconds,
            prompt_tokens=failure.prompt_tokens,
            completion_tokens=failure.completion_tokens,
        )
        log.warning(
            "model call failed",
            extra={
                "cause": failure.cause,
                "detail": failure.detail,
                "model": failure.model or settings.AI_MODEL,
                "attempts": call.attempts,
                "latency_ms": round(seconds * 1000),
                "prompt_chars": prompt_chars,
                "response_format": fmt,
            },
        )
        raise
    seconds = monotonic() - started
    reply = dataclasses.replace(reply, latency_ms=round(seconds * 1000))
    metrics.record_call(
        "ok",
        seconds,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )
    log.info(
        "model call ok",
        extra={
            "model": reply.model,
            "attempts": reply.attempts,
            "latency_ms": reply.latency_ms,
            "prompt_chars": prompt_chars,
            "reply_chars": len(reply.raw),
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "response_format": reply.response_format,
        },
    )
    return reply


# --- The JSON schema sent as response_format ---------------------------------------


def strict_json_schema(output: type[pydantic.BaseModel]) -> dict[str, Any]:
    """`output`'s JSON schema as strict mode wants it.

    OpenAI's strict structured outputs (and servers copying it) accept an object only if
    it forbids extra keys and lists every property as required; `default` is refused.
    Pydantic still applies defaults and constraints when it validates the reply.
    """
    schema = copy.deepcopy(output.model_json_schema())
    _make_strict(schema)
    return schema


_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def _make_strict(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _make_strict(item)
        return
    if not isinstance(node, dict):
        return
    node.pop("default", None)
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["additionalProperties"] = False
        node["required"] = list(properties)
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for schema in value.values():  # keys are names, not keywords
                _make_strict(schema)
        elif isinstance(value, dict | list):
            _make_strict(value)


def _request_body(
    messages: list[dict[str, Any]],
    fmt: Literal["json_schema", "json_object"],
    schema: dict[str, Any],
    schema_name: str,
    max_tokens: int | None,
) -> dict[str, Any]:
    if fmt == "json_schema":
        response_format: dict[str, Any] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "strict": True, "schema": schema},
        }
    else:
        # json_object only promises JSON, not which: the schema goes into the prompt.
        # (OpenAI also insists the word "JSON" appears in the messages in this mode.)
        response_format = {"type": "json_object"}
        instruction = (
            "Reply with exactly one JSON object and nothing else. It must match this "
            f"JSON schema ({schema_name}):\n{json.dumps(schema, separators=(',', ':'))}"
        )
        messages = [{"role": "system", "content": instruction}, *messages]
    body: dict[str, Any] = {
        "model": settings.AI_MODEL,
        "messages": messages,
        "max_tokens": max_tokens or settings.AI_MAX_REPLY_TOKENS,
        "response_format": response_format,
    }
    if "openrouter.ai" in settings.AI_PROVIDER_BASE_URL:
        body["usage"] = {"include": True}  # OpenRouter then reports usage.cost in USD
    return body


# --- HTTP: the one retry layer ---------------------------------------------------


@dataclass(slots=True)
class _Call:
    """One chat_structured call: its deadline and the HTTP requests made so far."""

    base: str
    deadline: float
    budget: float
    attempts: int = 0

    def post(self, body: dict[str, Any]) -> httpx.Response:
        """POST /chat/completions, retrying what may succeed later, within the deadline.

        Answers the first response that is not retried (2xx, or a 4xx other than
        408/429) and lets the caller judge it; raises ModelFailure otherwise.
        """
        url = f"{self.base}/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.AI_API_KEY:
            headers["Authorization"] = f"Bearer {settings.AI_API_KEY}"
        content = json.dumps(body).encode()
        tries = 0
        max_tries = max(1, int(settings.AI_RETRY_MAX_ATTEMPTS))
        while True:
            tries += 1
            remaining = self.deadline - monotonic()
            if remaining <= 0:
                raise ModelFailure("timeout", f"no reply within {self.budget:g} s")
            self.attempts += 1
            try:
                response = self._once(url, headers, content, remaining)
            except httpx.TimeoutException as exc:
                metrics.count_attempt("timeout")
                raise ModelFailure(
                    "timeout", f"no reply within {self.budget:g} s ({type(exc).__name__})"
                ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                metrics.count_attempt("connect_error")
                problem = f"{type(exc).__name__}: {exc}"
                wait = _backoff(tries)
            except httpx.HTTPError as exc:
                metrics.count_attempt("connect_error")
                raise ModelFailure("error", f"{type(exc).__name__}: {exc}") from exc
            else:
                status = response.status_code
                if status < 400:
                    metrics.count_attempt("ok")
                    return response
                if status not in RETRY_STATUSES and status < 500:
                    metrics.count_attempt("client_error")
                    return response
                metrics.count_attempt("rate_limited" if status == 429 else "server_error")
                problem = f"HTTP {status}: {_error_message(response)}"
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                wait = retry_after if retry_after is not None else _backoff(tries)
            if tries >= max_tries:
                raise ModelFailure("error", f"{problem} (after {tries} attempts)")
            if monotonic() + wait >= self.deadline:
                raise ModelFailure(
                    "error",
                    f"{problem}; waiting {wait:.1f} s to try again would pass the "
                    f"{self.budget:g} s budget",
                )
            sleep(wait)

    def _once(
        self, url: str, headers: dict[str, str], content: bytes, remaining: float
    ) -> httpx.Response:
        """One request; the body is read in chunks so a trickling server meets the deadline."""
        with (
            httpx.Client(timeout=httpx.Timeout(remaining), follow_redirects=False) as client,
            client.stream("POST", url, headers=headers, content=content) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if monotonic() > self.deadline:
                    raise httpx.ReadTimeout("the reply did not finish within the deadline")
                if size > MAX_REPLY_BYTES:
                    raise ModelFailure("invalid_reply", f"reply larger than {MAX_REPLY_BYTES} B")
            return httpx.Response(
                response.status_code, headers=response.headers, content=b"".join(chunks)
            )


def _backoff(tries: int) -> float:
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (tries - 1))
    return ceiling * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not secrecy)


def retry_after_seconds(raw: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if raw is None or not raw.strip():
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _normalise(base: str) -> str:
    return base.strip().rstrip("/")


def _needs_json_object(base: str) -> bool:
    with _json_object_only_lock:
        return base in _json_object_only


def forget_json_schema_refusals() -> None:
    """Ask every server for json_schema again (tests; or after upgrading a server)."""
    with _json_object_only_lock:
        _json_object_only.clear()


def _refuses_json_schema(response: httpx.Response) -> bool:
    if response.status_code not in (400, 422):
        return False
    text = response.text.lower()
    return any(hint in text for hint in _SCHEMA_REFUSAL_HINTS)


def _remember_refusal(response: httpx.Response) -> bool:
    """A server that lacks json_schema lacks it for every call; a schema it found
    invalid is E²A's bug in one schema, and must not downgrade the other calls."""
    return "invalid schema" not in response.text.lower()


def _error_message(response: httpx.Response) -> str:
    """The server's error message, short; the body is not echoed (it may quote input)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no JSON body"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or error.get("code") or "")
    elif isinstance(error, str):
        message = error
    else:
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
    return (message or response.reason_phrase or "error")[:200]


# --- The reply --------------------------------------------------------------------


def _structured_reply(
    response: httpx.Response,
    output: type[T],
    *,
    fmt: Literal["json_schema", "json_object"],
    attempts: int,
) -> StructuredReply[T]:
    if response.status_code >= 400:
        raise ModelFailure("error", f"HTTP {response.status_code}: {_error_message(response)}")
    try:
        body = response.json()
    except ValueError as exc:
        raise ModelFailure("invalid_reply", "the response body is not JSON") from exc
    if not isinstance(body, dict):
        raise ModelFailure("invalid_reply", "the response body is not a JSON object")
    model = str(body.get("model") or settings.AI_MODEL)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    billed = {
        "model": model,
        "prompt_tokens": _int(usage.get("prompt_tokens")),
        "completion_tokens": _int(usage.get("completion_tokens")),
        "cost_usd": _decimal(usage.get("cost")),
    }
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if body.get("error"):  # OpenRouter reports upstream errors in a 200 body
            raise ModelFailure("error", f"server error: {_error_message(response)}", **billed)
        raise ModelFailure("invalid_reply", "the reply has no choices", **billed)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    finish_reason = choice.get("finish_reason")
    if message.get("refusal") or finish_reason == "content_filter":
        raise ModelFailure("invalid_reply", "the model refused to answer", **billed)
    if finish_reason == "length":
        raise ModelFailure("invalid_reply", "the reply was cut off at max_tokens", **billed)
    raw = _content_text(message.get("content"))
    if not raw.strip():
        raise ModelFailure("invalid_reply", "the reply is empty", **billed)
    parsed = extract_json_object(raw)
    if parsed is None:
        raise ModelFailure("invalid_reply", "the reply holds no JSON object", **billed)
    try:
        data = output.model_validate(parsed)
    except pydantic.ValidationError as exc:
        raise ModelFailure("invalid_reply", _validation_summary(exc), **billed) from exc
    return StructuredReply(
        data=data,
        raw=raw,
        latency_ms=0,
        attempts=attempts,
        response_format=fmt,
        **billed,
    )


def _content_text(content: Any) -> str:
    """Message content as text; some servers send a list of parts instead of a string."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return ""


_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The one JSON object in a reply: bare, inside ``` fences, or with chatter around it.

    Reasoning models' <think> blocks are skipped. Answers None when there is no object.
    """
    text = _THINKING.sub("", text).strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _validation_summary(exc: pydantic.ValidationError) -> str:
    """Which fields failed and why, without the values (they may be personal data)."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False, include_context=False)
    ]
    shown = "; ".join(problems[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return f"the reply fails validation: {shown}{more}"[:500]


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None
