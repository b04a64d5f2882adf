"""manage.py load_reason_codes [--update]: bring the catalogue and playbooks in line with
the fixtures."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from exceptions.automation.playbooks import PLAYBOOKS_FILE, playbooks_load
from exceptions.catalogue import CATALOGUE_FILE, catalogue_load
from exceptions.models import PlaybookAction, ReasonCode


class Command(BaseCommand):
    help = (
        "Add the reason codes of fixtures/reason_codes.yaml and the playbook actions of "
        "fixtures/playbooks.yaml that the database lacks; with --update, overwrite existing "
        "ones too (operators' edits are lost)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--update", action="store_true", help="Overwrite codes and actions that exist."
        )

    def handle(self, *args: Any, update: bool, **options: Any) -> None:
        with transaction.atomic():
            codes = catalogue_load(ReasonCode, update=update)
            actions = playbooks_load(PlaybookAction, ReasonCode, update=update)
        verb = "written" if update else "added"
        self.stdout.write(
            f"Reason codes {verb} from {CATALOGUE_FILE.name}: {', '.join(codes) or 'none'}"
        )
        self.stdout.write(
            f"Playbook actions {verb} from {PLAYBOOKS_FILE.name}: {', '.join(actions) or 'none'}"
        )
