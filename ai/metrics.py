"""Prometheus metrics of the model client (served with the rest at /metrics).

Labels are bounded on purpose: the outcome is `ok` or one of the three failure causes,
never the model name a server reports (OpenRouter answers with dated variants) nor
anything from the prompt.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "e2a_ai_requests_total",
    "Structured model calls, by outcome (ok, timeout, invalid_reply, error).",
    ["outcome"],
)
LATENCY = Histogram(
    "e2a_ai_request_latency_seconds",
    "Time of one structured model call, retries and their waits included, by outcome.",
    ["outcome"],
    buckets=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
TOKENS = Counter(
    "e2a_ai_tokens_total",
    "Tokens the model servers reported, by direction (in: prompt, out: completion).",
    ["direction"],
)
HTTP_ATTEMPTS = Counter(
    "e2a_ai_http_attempts_total",
    "HTTP requests to the model server, by outcome (ok, rate_limited, server_error, "
    "client_error, connect_error, timeout).",
    ["outcome"],
)


def record_call(
    outcome: str, seconds: float, *, prompt_tokens: int = 0, completion_tokens: int = 0
) -> None:
    """One finished call: its outcome, its duration and the tokens it was billed for."""
    REQUESTS.labels(outcome).inc()
    LATENCY.labels(outcome).observe(seconds)
    if prompt_tokens:
        TOKENS.labels("in").inc(prompt_tokens)
    if completion_tokens:
        TOKENS.labels("out").inc(completion_tokens)


def count_attempt(outcome: str) -> None:
    HTTP_ATTEMPTS.labels(outcome).inc()


ANALYSES = Counter(
    "e2a_ai_analyses_total",
    "Analyses of exceptions, by decision (used, kept_rules) and fallback cause (blank when used).",
    ["decision", "cause"],
)
COST = Counter("e2a_ai_cost_usd_total", "What the model calls cost, in US dollars.")


def record_analysis(*, decision: str, cause: str, cost_usd: float = 0.0) -> None:
    """Counted once the analysis is recorded (cost only for calls that were made)."""
    ANALYSES.labels(decision=decision, cause=cause).inc()
    if cost_usd:
        COST.inc(cost_usd)


ACTION_CHOICES = Counter(
    "e2a_ai_action_choices_total",
    "The model's choices of automated action, by decision (used, kept_rules) and fallback "
    "cause (blank when used).",
    ["decision", "cause"],
)


def record_action_choice(*, decision: str, cause: str, cost_usd: float = 0.0) -> None:
    ACTION_CHOICES.labels(decision=decision, cause=cause).inc()
    if cost_usd:
        COST.inc(cost_usd)
