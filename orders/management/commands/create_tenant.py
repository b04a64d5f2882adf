from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from orders.services.tenants import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (merchant account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Stable id, e.g. demo-3pl.")
        parser.add_argument("--name", default="", help="Display name (defaults to the slug).")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Berlin.")

    def handle(self, *args: Any, slug: str, name: str, timezone: str, **options: Any) -> None:
        try:
            tenant = tenant_create(slug=slug, name=name, timezone=timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except IntegrityError as exc:  # created concurrently between the check and the insert
            raise CommandError(f"A tenant with slug {slug!r} already exists.") from exc
        self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.timezone})."))
