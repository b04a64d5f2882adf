"""Structured (JSON) logs with the request's correlation id on every line.

The correlation id lives in a context variable (structlog.contextvars), bound by
`CorrelationIdMiddleware` for a request and by the Celery signal handlers in
`e2a_project.celery` for a task, so any `logging.getLogger(...)` call made while
handling either carries it without passing it around.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from structlog.contextvars import (
    bind_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)

CORRELATION_KEY = "correlation_id"


def structured_formatter(renderer: str = "json", service: str = "e2a") -> logging.Formatter:
    """Build the stdlib formatter used by every handler (see settings.LOGGING)."""

    def add_service(_logger: object, _name: str, event: dict) -> dict:
        event.setdefault("service", service)
        return event

    shared = [
        add_service,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final = (
        structlog.dev.ConsoleRenderer(colors=False)
        if renderer == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            final,
        ],
    )


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str | None:
    return get_contextvars().get(CORRELATION_KEY)


def bind_correlation_id(value: str) -> None:
    clear_contextvars()
    bind_contextvars(**{CORRELATION_KEY: value})


def unbind_correlation_id() -> None:
    clear_contextvars()


@contextmanager
def correlation_scope(value: str | None) -> Iterator[None]:
    """Bind `value` for the block and restore the previous id after it.

    A task that processes events of several requests binds each event's own id
    while it works on that event, then goes back to the task's id.
    """
    if not value:
        yield
        return
    previous = current_correlation_id()
    bind_contextvars(**{CORRELATION_KEY: value})
    try:
        yield
    finally:
        if previous is None:
            unbind_contextvars(CORRELATION_KEY)
        else:
            bind_contextvars(**{CORRELATION_KEY: previous})
