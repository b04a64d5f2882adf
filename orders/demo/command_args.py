"""What the demo commands (generate_events, demo_tour) check and parse alike."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import CommandError

from ..models import Tenant


def demo_tenant(*, command: str, slug: str) -> Tenant:
    """The tenant to fill with invented orders, or a CommandError saying why not.

    Refused with APP_ENV=production: invented orders must never reach a real
    warehouse's console, invoices or Slack.
    """
    if settings.APP_ENV == "production":
        raise CommandError(f"{command} refuses to run with APP_ENV=production.")
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(
            f"Tenant {slug!r} does not exist; create it with `manage.py create_tenant` "
            "or `manage.py bootstrap_demo` (which creates demo-3pl)."
        )
    return tenant


def aware_datetime(value: str) -> datetime:
    """An ISO 8601 time for --now; without an offset it is read as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
