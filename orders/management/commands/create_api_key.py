from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.models import Tenant
from orders.services.api_keys import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once and stored only as a hash."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("--name", default="", help="What the key is for, e.g. 'WMS'.")

    def handle(self, *args: Any, tenant: str, name: str, **options: Any) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}; create it with create_tenant.")
        issued = api_key_create(tenant=found, name=name)
        self.stdout.write(f"API key for {found.slug} (shown once, keep it safe):")
        self.stdout.write(issued.raw)
