"""Django set up in-process against a fresh SQLite file, as `bench/detect_eval.py` does.

The AI_* settings are passed through from the environment (a model configured in
the shell is the model judged); everything else that could reach shared state
(Redis, a broker, Slack) is forced to the embedded, private defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def configure_django(database_url: str) -> None:
    """Set the environment before Django reads it, then `django.setup()`."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="e2a_project.settings",
        DATABASE_URL=database_url,
        REDIS_URL="",  # the embedded defaults: nothing shared with other runs
        CELERY_BROKER_URL="",
        APP_ENV="development",
        DEBUG="false",
        LOG_LEVEL="ERROR",
        SLACK_BOT_TOKEN="",
    )
    os.environ.setdefault("AI_PROVIDER_BASE_URL", "")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
