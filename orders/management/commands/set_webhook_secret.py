from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.models import Tenant, WebhookSecretKind
from orders.services.tenants import webhook_secret_set


class Command(BaseCommand):
    help = (
        "Add an active webhook signing secret for a tenant. Existing secrets stay active "
        "(rotation) unless --replace is given. Without --secret one is generated and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("kind", choices=WebhookSecretKind.values)
        parser.add_argument("--secret", default=None)
        parser.add_argument("--label", default="")
        parser.add_argument("--replace", action="store_true", help="Deactivate the other secrets.")

    def handle(
        self,
        *args: Any,
        tenant: str,
        kind: str,
        secret: str | None,
        label: str,
        replace: bool,
        **options: Any,
    ) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            obj = webhook_secret_set(
                tenant=found, kind=kind, secret=secret, label=label, deactivate_others=replace
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Active {kind} secret for {found.slug}:")
        self.stdout.write(obj.secret if secret is None else obj.masked)
