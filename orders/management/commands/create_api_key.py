from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.models import Tenant
from orders.scopes import DEFAULT_SCOPES, ApiKeyScope, UnknownScope, parse_scopes
from orders.services.api_keys import api_key_create


class Command(BaseCommand):
    help = (
        "Issue an API key for a tenant. The key is printed once and stored only as a hash. "
        "It may only ingest unless --scopes says more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("--name", default="", help="What the key is for, e.g. 'WMS'.")
        parser.add_argument(
            "--scopes",
            default=",".join(DEFAULT_SCOPES),
            help=(
                "Comma-separated scopes of: "
                f"{', '.join(ApiKeyScope.values)} (default: %(default)s, what a sender "
                "needs; an integration that reads and acts on exceptions: ingest,read,act)."
            ),
        )

    def handle(self, *args: Any, tenant: str, name: str, scopes: str, **options: Any) -> None:
        try:
            wanted = parse_scopes(scopes.split(","))
        except UnknownScope as exc:
            raise CommandError(f"--scopes: {exc}") from exc
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}; create it with create_tenant.")
        issued = api_key_create(tenant=found, name=name, scopes=wanted)
        self.stdout.write(
            f"API key for {found.slug} with scopes {issued.api_key.scopes} "
            "(shown once, keep it safe):"
        )
        self.stdout.write(issued.raw)
