from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from orders.models import Tenant, WebhookSecret, WebhookSecretKind
from orders.roles import ROLE_BY_OPTION
from orders.scopes import ALL_SCOPES
from orders.services.api_keys import api_key_create
from orders.services.staff import staff_user_save
from orders.services.tenants import tenant_create, webhook_secret_set

DEMO_SLUG = "demo-3pl"
# One login per role, so each role's console can be tried: demo-operator, demo-viewer, …
DEMO_ROLE_USERS = {f"demo-{option}": option for option in ROLE_BY_OPTION}


class Command(BaseCommand):
    help = (
        "First-run set-up for `make run`: the demo tenant demo-3pl with an API key and a "
        "Standard Webhooks secret, an admin login and one staff login per role, passwords "
        "printed once. Safe to run again: it creates only what is missing."
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
        secret_line = self._standard_secret(tenant)
        User = get_user_model()
        if not User.objects.filter(username=admin_user).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=admin_user, email="", password=password)
            lines.append(f"  Admin login:  {admin_user} / {password}")
        role_lines = self._role_users(tenant)
        created_nothing = not lines
        if secret_line:
            lines.append(secret_line)
        if lines:
            self.stdout.write("\nE²A demo credentials (shown once, keep them):")
            for line in lines:
                self.stdout.write(line)
            self.stdout.write("")
        if role_lines:
            self.stdout.write(f"Staff logins for {DEMO_SLUG}, one per role:")
            for line in role_lines:
                self.stdout.write(line)
            self.stdout.write("")
        if created_nothing:
            self.stdout.write(
                f"Demo tenant {DEMO_SLUG} and admin user exist already. A new key: "
                f"python manage.py create_api_key {DEMO_SLUG}"
            )

    def _standard_secret(self, tenant: Tenant) -> str:
        """A Standard Webhooks secret unless one is active, so `generate_events` sends
        part of the WMS/carrier traffic through /webhooks/standard out of the box."""
        active = WebhookSecret.objects.filter(
            tenant=tenant, kind=WebhookSecretKind.STANDARD, is_active=True
        )
        if active.exists():
            return ""
        saved = webhook_secret_set(tenant=tenant, kind=WebhookSecretKind.STANDARD, label="demo")
        return f"  Standard Webhooks secret for {DEMO_SLUG}: {saved.secret}"

    def _role_users(self, tenant: Tenant) -> list[str]:
        """One staff user per role for the demo tenant; a password only for a new one."""
        User = get_user_model()
        lines = []
        for username, role in DEMO_ROLE_USERS.items():
            if User.objects.filter(username=username).exists():
                lines.append(f"  {role:<9} {username}")
                continue
            saved = staff_user_save(username=username, role=role, tenant_slugs=[tenant.slug])
            lines.append(f"  {role:<9} {username} / {saved.generated_password}")
        return lines
