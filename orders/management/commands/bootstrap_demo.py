from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from orders.models import Tenant
from orders.scopes import ALL_SCOPES
from orders.services.api_keys import api_key_create
from orders.services.tenants import tenant_create

DEMO_SLUG = "demo-3pl"


class Command(BaseCommand):
    help = (
        "First-run set-up for `make run`: the demo tenant demo-3pl with an API key and an "
        "admin login, each printed once. Safe to run again: it creates only what is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-user", default="admin")

    @transaction.atomic
    def handle(self, *args: Any, admin_user: str, **options: Any) -> None:
        lines: list[str] = []
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(slug=DEMO_SLUG, name="Demo 3PL", timezone="UTC")
            # Every scope: the README's curl lines ingest, read and act with this key.
            issued = api_key_create(tenant=tenant, name="demo", scopes=ALL_SCOPES)
            lines.append(f"  API key for {DEMO_SLUG}: {issued.raw}")
        User = get_user_model()
        if not User.objects.filter(username=admin_user).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=admin_user, email="", password=password)
            lines.append(f"  Admin login:  {admin_user} / {password}")
        if lines:
            self.stdout.write("\nE²A demo credentials (shown once, keep them):")
            for line in lines:
                self.stdout.write(line)
            self.stdout.write("")
        else:
            self.stdout.write(
                f"Demo tenant {DEMO_SLUG} and admin user exist already. A new key: "
                f"python manage.py create_api_key {DEMO_SLUG}"
            )
