"""Loading the reason-code catalogue from `fixtures/reason_codes.yaml`, and reading it.

The loader takes the model class so that a migration can call it with its
historical model.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "reason_codes.yaml"


def read_catalogue(path: Path = CATALOGUE_FILE) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "code" in e for e in entries
    ):
        raise ValueError(f"{path} does not hold a list of reason codes")
    return entries


def catalogue_load(model: Any, *, path: Path = CATALOGUE_FILE, update: bool = False) -> list[str]:
    """Create the codes the database lacks (and, with `update`, overwrite the others).

    Returns the codes written. Without `update` an operator's edits are kept.
    """
    written = []
    for entry in read_catalogue(path):
        values = dict(entry)
        code = values.pop("code")
        for name in ("escalation_hours", "resolve_hours"):
            values[name] = Decimal(str(values[name]))
        if update:
            model.objects.update_or_create(code=code, defaults=values)
            written.append(code)
        elif not model.objects.filter(code=code).exists():
            model.objects.create(code=code, **values)
            written.append(code)
    return written


def reason_code_get(code: str) -> Any:
    """The catalogue entry for `code`, restoring the fixture's codes if the table lost them.

    Like the default SLA policy, the catalogue must always be there for detection
    to work; a database emptied by hand (or a test flush) gets the fixture back
    rather than failing on every breach. Raises DoesNotExist for a code the
    fixture does not know either.
    """
    from .models import ReasonCode

    try:
        return ReasonCode.objects.get(code=code)
    except ReasonCode.DoesNotExist:
        catalogue_load(ReasonCode)
        return ReasonCode.objects.get(code=code)
