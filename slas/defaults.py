"""The default SLA policy, read from `fixtures/sla_default_policy.yaml`.

Written so that a migration can call it with its historical models: it sets
only the fields the given model has, so later migrations that add fields keep
this loader working.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.db import IntegrityError, transaction

DEFAULT_POLICY_FILE = (
    Path(__file__).resolve().parent.parent / "fixtures" / "sla_default_policy.yaml"
)


def read_default_policy(path: Path = DEFAULT_POLICY_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or "name" not in data:
        raise ValueError(f"{path} does not hold an SLA policy mapping")
    return data


def default_policy_upsert(
    policy_model: Any, season_model: Any, path: Path = DEFAULT_POLICY_FILE, *, strict: bool = True
) -> Any:
    """Create or update the default policy version named in the file (tenant blank).

    `strict=False` (migrations) skips fields the historical model does not have yet.
    """
    data = read_default_policy(path)
    seasons = data.pop("peak_seasons", []) or []
    effective_from = dt.datetime.fromisoformat(
        str(data.pop("effective_from")).replace("Z", "+00:00")
    )
    fields = {f.name: f for f in policy_model._meta.get_fields()}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in fields:
            if strict:
                raise ValueError(f"{path}: unknown SLA policy field {name!r}")
            continue
        if fields[name].get_internal_type() == "DecimalField":
            value = Decimal(str(value))
        values[name] = value
    policy, _ = policy_model.objects.update_or_create(
        tenant=None, warehouse="", service_level="", effective_from=effective_from, defaults=values
    )
    policy.peak_seasons.all().delete()
    season_model.objects.bulk_create(
        season_model(policy=policy, name=s["name"], starts_on=s["starts_on"], ends_on=s["ends_on"])
        for s in seasons
    )
    return policy


def ensure_default_policy() -> None:
    """Recreate the default policy from the file if no default version exists.

    The migration loads it, but a database flushed by tests, or a default deleted
    by hand, would otherwise leave new tenants' orders off the clock. Runs in a
    savepoint: if another process creates it at the same moment, the unique
    constraint refuses the second copy and this one just goes on.
    """
    from .models import PeakSeason, SlaPolicy

    if SlaPolicy.objects.filter(tenant__isnull=True, warehouse="", service_level="").exists():
        return
    try:
        with transaction.atomic():
            default_policy_upsert(SlaPolicy, PeakSeason)
    except IntegrityError:
        pass
