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
    # A migration's historical model may predate a field the file has since gained
    # (a later migration adds it, with its own data step).
    known = {field.name for field in model._meta.get_fields()}
    entries = {}
    for entry in read_catalogue(path):
        values = {name: value for name, value in entry.items() if name in known}
        for name in ("escalation_hours", "resolve_hours"):
            values[name] = Decimal(str(values[name]))
        entries[values.pop("code")] = values
    if update:
        for code, values in entries.items():
            model.objects.update_or_create(code=code, defaults=values)
        return list(entries)
    present = set(model.objects.filter(code__in=entries).values_list("code", flat=True))
    missing = [code for code in entries if code not in present]
    # Two processes restoring at once must not fail on each other's rows.
    model.objects.bulk_create(
        [model(code=code, **entries[code]) for code in missing], ignore_conflicts=True
    )
    return missing
