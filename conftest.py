"""Test-suite wiring shared by every test package.

Where the suite runs decides what it runs against:
* CI (`.ci/run` sets E2A_REQUIRE_SERVICES=1, DATABASE_URL and REDIS_URL): the real
  PostgreSQL and Redis. If either cannot be reached the run stops with a failure,
  never a skip.
* A laptop with only Python: SQLite, no Redis. Tests marked `postgres` (real row
  locks and concurrent connections) or `redis` are skipped, each saying why.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("E2A_REQUIRE_SERVICES") == "1"


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _redis_problem() -> str | None:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return "REDIS_URL is not set"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} unreachable: {exc}"
    return None


def _postgres_problem() -> str | None:
    if not _is_postgres():
        return "DATABASE_URL is not a PostgreSQL URL"
    import psycopg

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable: {exc}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = [p for p in (_postgres_problem(), _redis_problem()) if p]
    if problems:
        pytest.exit("E2A_REQUIRE_SERVICES=1 but: " + "; ".join(problems), returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pg = _is_postgres()
    redis_problem = _redis_problem()
    for item in items:
        if "postgres" in item.keywords and not pg:
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (.ci/run does)")
            )
        if "redis" in item.keywords and redis_problem:
            item.add_marker(pytest.mark.skip(reason=f"needs Redis: {redis_problem}"))


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process in tests unless a test sets up a broker itself."""
    from e2a_project.celery import app

    # Register every app's tasks (a worker does this at start-up), so tasks sent by
    # name run eagerly here instead of going to a broker nobody consumes.
    app.loader.import_default_modules()
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Per-process memories (Redis outage, verified API keys, SLA configuration) start
    empty each test."""
    from exceptions.config import forget_config as forget_exception_config
    from orders import locks
    from orders.selectors import forget_verified_keys
    from slas.config import forget_config

    locks.reset_state()
    forget_verified_keys()
    forget_config()
    forget_exception_config()
    yield
    locks.reset_state()
    forget_verified_keys()
    forget_config()
    forget_exception_config()
