"""What production must be told, checked before anything starts.

The development defaults (a SQLite file and a filesystem broker under `var/`, a key
generated per checkout) are right for a laptop and quietly wrong for production:
two web machines would each write their own database, and a worker on a third
would never see a task. With `APP_ENV=production` every process refuses to start
until they are replaced, naming each missing piece at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

# Brokers that live inside one machine (or one process): a task published on one
# host is never seen by a worker on another.
LOCAL_BROKER_SCHEMES = ("filesystem://", "memory://")


def production_problems(environ: Mapping[str, str]) -> list[str]:
    """Everything that keeps this environment from running as production."""
    problems = []
    if not environ.get("SECRET_KEY", "").strip():
        problems.append("SECRET_KEY is not set (sessions and CSRF tokens are signed with it)")
    database = environ.get("DATABASE_URL", "").strip()
    if not database:
        problems.append("DATABASE_URL is not set (e.g. postgres://user:pass@db:5432/e2a)")
    elif database.startswith("sqlite"):
        problems.append(
            "DATABASE_URL names SQLite; every process must share one PostgreSQL database"
        )
    broker = environ.get("CELERY_BROKER_URL", "").strip()
    if not broker:
        problems.append("CELERY_BROKER_URL is not set (e.g. redis://redis:6379/1)")
    elif broker.startswith(LOCAL_BROKER_SCHEMES):
        problems.append(
            f"CELERY_BROKER_URL uses a broker local to one machine ({broker.split(':')[0]}); "
            "workers elsewhere would never see its tasks"
        )
    if environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        problems.append("DEBUG is on (error pages would show settings and source)")
    return problems


def refuse_unsafe_production(environ: Mapping[str, str]) -> None:
    problems = production_problems(environ)
    if problems:
        raise ImproperlyConfigured(
            "APP_ENV=production, but: " + "; ".join(problems) + ". See README, "
            '"Running in production".'
        )
