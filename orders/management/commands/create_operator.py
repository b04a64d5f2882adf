"""`manage.py create_operator`: a staff login with one role, bound to named tenants."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.roles import ROLE_BY_OPTION
from orders.services.staff import staff_user_save


class Command(BaseCommand):
    help = (
        "Create or update a staff user with one role (operator, finance, viewer, admin) for "
        "the named tenants. A new user's password is printed once; --password-stdin sets one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_BY_OPTION))
        parser.add_argument(
            "--tenant",
            dest="tenants",
            action="append",
            required=True,
            metavar="SLUG",
            help="A tenant the user works for; repeat for several. Replaces earlier ones.",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input (first line), e.g. from a vault.",
        )

    def handle(
        self,
        *args: Any,
        username: str,
        role: str,
        tenants: list[str],
        password_stdin: bool,
        **options: Any,
    ) -> None:
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
        try:
            saved = staff_user_save(
                username=username, role=role, tenant_slugs=tenants, password=password
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        verb = "Created" if saved.created else "Updated"
        slugs = ", ".join(t.slug for t in saved.tenants)
        self.stdout.write(f"{verb} {role} {saved.user.username} for {slugs}.")
        if saved.generated_password:
            self.stdout.write(f"Password (shown once, keep it safe): {saved.generated_password}")
