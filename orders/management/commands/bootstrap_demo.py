from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from orders.models import Tenant
from orders.roles import ROLE_BY_OPTION
from orders.scopes import ALL_SCOPES
from orders.services.api_keys import api_key_create
from orders.services.staff import staff_user_save
from orders.services.tenants import tenant_create

DEMO_SLUG = "demo-3pl"
# One login per role, so each role's console can be tried: demo-operator, demo-viewer, …
DEMO_ROLE_USERS = {f"demo-{option}": option for option in ROLE_BY_OPTION}


class Command(BaseCommand):
    help = (
        "First-run set-up for `make run`: the demo tenant demo-3pl with an API key, an "
        "admin login and one staff login per role, passwords printed once. Safe to run "
        "again: it creates only what is missing."
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
        role_lines = self._role_users(tenant)
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
        if not lines:
            self.stdout.write(
                f"Demo tenant {DEMO_SLUG} and admin user exist already. A new key: "
                f"python manage.py create_api_key {DEMO_SLUG}"
            )

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
