"""What an API key may do: the scope names, defined once.

A key is a bearer token handed to a sender (a WMS, a store, a carrier bridge)
or to an integration that reads and acts. Most only ever post events, so a key
carries only the scopes it was issued with and every API-key view names the
scope each of its methods needs (`orders.permissions.HasScope`).

A key's scopes are stored as one canonical string (the names in declaration
order, space-separated, like an OAuth scope string), and the database accepts
only the canonical strings of non-empty subsets of this set
(`api_key_scopes_known`). That works the same on SQLite and PostgreSQL: a JSON
list would need `contained_by`, which SQLite lacks, and an ArrayField is
PostgreSQL-only. The price is 2ⁿ−1 values in the constraint, which is fine for
the handful of scopes an API has. Adding a scope here changes the constraint,
so `makemigrations` writes the migration that lets the database accept it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from django.db import models


class ApiKeyScope(models.TextChoices):
    """The scopes, in the canonical order of the stored string."""

    INGEST = "ingest", "ingest: post events to /ingest/…"
    READ = "read", "read: GET orders, SLA and exceptions"
    ACT = "act", "act: exception actions and notes"
    AI = "ai", "ai: ask for an exception's re-analysis (model calls cost money)"
    # Invoices show what a merchant is charged and the events behind every charge:
    # an accounting system's key needs this, a sender's or an ops tool's does not.
    FINANCE = "finance", "finance: read invoices and their evidence"
    # Later issues add theirs here with the views that need them; the constraint's
    # migration follows from makemigrations.


# Every scope there is (the demo key, an operations integration). Keys from before
# scopes got `ingest read act`, frozen in migration 0008, not this tuple.
ALL_SCOPES: tuple[ApiKeyScope, ...] = tuple(ApiKeyScope)
# Most keys belong to a sender that only posts events.
DEFAULT_SCOPES: tuple[ApiKeyScope, ...] = (ApiKeyScope.INGEST,)
SEPARATOR = " "


class UnknownScope(ValueError):
    """A scope name that is not one of ApiKeyScope's; the message names the known ones."""


def parse_scopes(names: Iterable[str]) -> tuple[ApiKeyScope, ...]:
    """Scope names (any order, repeats allowed) → the scopes, in canonical order.

    Raises UnknownScope naming the bad name and the known ones, or for an empty set.
    """
    wanted = set()
    for name in names:
        cleaned = name.strip().lower()
        if not cleaned:
            continue
        if cleaned not in ApiKeyScope.values:
            raise UnknownScope(
                f"Unknown scope {name.strip()!r}; known scopes: {', '.join(ApiKeyScope.values)}."
            )
        wanted.add(cleaned)
    if not wanted:
        raise UnknownScope(f"Name at least one scope of: {', '.join(ApiKeyScope.values)}.")
    return tuple(scope for scope in ApiKeyScope if scope.value in wanted)


def scopes_to_db(scopes: Iterable[str]) -> str:
    """The canonical stored string of these scopes (validated)."""
    return SEPARATOR.join(scope.value for scope in parse_scopes(scopes))


def scopes_from_db(value: str) -> frozenset[str]:
    return frozenset(value.split(SEPARATOR)) if value else frozenset()


def canonical_scope_strings() -> list[str]:
    """Every value the database accepts: each non-empty subset, in canonical order."""
    names = ApiKeyScope.values
    return [
        SEPARATOR.join(subset)
        for size in range(1, len(names) + 1)
        for subset in combinations(names, size)
    ]


ALL_SCOPES_DB = scopes_to_db(ALL_SCOPES)
DEFAULT_SCOPES_DB = scopes_to_db(DEFAULT_SCOPES)
