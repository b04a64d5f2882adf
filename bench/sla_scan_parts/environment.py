"""The process environment `bench/sla_scan.py` measures in: Django set up in this
process against the bench's own database and Redis databases, and those Redis
databases flushed.

Everything runs in-process (no gunicorn, no worker), so Django's settings must be
fixed here, before `django.setup()`, rather than inherited from a shell prepared for
the app, which points at the app's own databases.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import app_settings

from .config import Config

ROOT = Path(__file__).resolve().parents[2]  # the repository, where the Django project is


def configure_django(cfg: Config) -> None:
    os.environ.update(
        app_settings(
            database_url=cfg.database_url, redis_url=cfg.redis_url, broker_url=cfg.broker_url
        )
    )
    # django.test.Client sends Host: testserver. The settings' default list has it,
    # but a shell or a .env set up for the app may give ALLOWED_HOSTS without it.
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts = hosts or ["localhost", "127.0.0.1", "[::1]"]
    if "testserver" not in hosts and "*" not in hosts:
        hosts.append("testserver")
    os.environ["ALLOWED_HOSTS"] = ",".join(hosts)
    os.environ.setdefault("FOLLOWUP_COALESCE_MS", "20")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
