"""Exclusion constraints that PostgreSQL enforces and SQLite leaves to the services.

Overlapping working periods or peak seasons, written by any path that skips the
admin (the shell, an import, a future API), used to reach the clock code and fail
every event of the tenant. PostgreSQL can refuse such rows itself with an
exclusion constraint (GiST, equality on the owner needs the `btree_gist`
extension, which migration 0006 enables). SQLite has no such constraint, so there
the rule is kept by `slas.services.calendars` and the models' `clean()`; the same
migrations run on both, which is why this class emits no SQL on other databases.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, IntegerRangeField
from django.db import DEFAULT_DB_ALIAS
from django.db.models import F, Func, IntegerField, Value
from django.db.models.functions import Cast, ExtractHour, ExtractMinute, Mod


class PostgresExclusionConstraint(ExclusionConstraint):
    """An ExclusionConstraint on PostgreSQL, nothing on any other database.

    `validate()` does nothing: the models' `clean()` checks the same rule in Python
    on every database with a message that names the other period; running this
    constraint's own query as well would only repeat the error.
    """

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model: Any, schema_editor: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().remove_sql(model, schema_editor)

    def validate(
        self,
        model: Any,
        instance: Any,
        exclude: Any = None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        return None


def _minute_of_day(field: str) -> Any:
    return ExtractHour(field) * 60 + ExtractMinute(field)


def working_period_range() -> Func:
    """`int4range(open, close)` in minutes after midnight, half-open, 00:00 close = 1440.

    `(m + 1439) % 1440 + 1` maps 00:00 to 1440 and leaves every other minute as it
    is: plain arithmetic, so the index expression stays immutable.
    """
    return Func(
        Cast(_minute_of_day("opens_at"), IntegerField()),
        Cast(Mod(_minute_of_day("closes_at") + 1439, 1440) + 1, IntegerField()),
        function="int4range",
        output_field=IntegerRangeField(),
    )


def season_range() -> Func:
    """`daterange(starts_on, ends_on, '[]')`: both ends inclusive, as the model says."""
    return Func(
        F("starts_on"),
        F("ends_on"),
        Value("[]"),
        function="daterange",
        output_field=DateRangeField(),
    )


__all__ = [
    "PostgresExclusionConstraint",
    "season_range",
    "working_period_range",
]
