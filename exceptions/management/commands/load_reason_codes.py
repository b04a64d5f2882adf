"""manage.py load_reason_codes [--update]: bring the catalogue in line with the fixture."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from exceptions.catalogue import CATALOGUE_FILE, catalogue_load
from exceptions.models import ReasonCode


class Command(BaseCommand):
    help = (
        "Add the reason codes of fixtures/reason_codes.yaml that the database lacks; "
        "with --update, overwrite existing ones too (operators' edits are lost)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--update", action="store_true", help="Overwrite codes that already exist."
        )

    def handle(self, *args: Any, update: bool, **options: Any) -> None:
        with transaction.atomic():
            written = catalogue_load(ReasonCode, update=update)
        verb = "written" if update else "added"
        names = ", ".join(written) or "none"
        self.stdout.write(f"Reason codes {verb} from {CATALOGUE_FILE.name}: {names}")
