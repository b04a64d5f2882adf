"""How much one request body may hold, by path: bytes, and JSON objects and values.

The byte limit is checked before the body is read (`BodySizeLimitMiddleware`).
The other two are checked before the body is parsed (`parsers.loads_strict`),
because bytes alone do not bound memory: a parsed JSON value is a Python object,
and the smallest JSON items are the dearest. 16 MiB of `0,0,0,…` parsed to
288 MiB, and of `{},{},…` to 762 MiB (5.6 million dicts), in one worker.

The counts are taken on the raw bytes in one pass each (`bytes.count`):
`{` and `[` bound the objects and arrays, `,` the values. Brackets and commas
inside strings are counted too, so the figures are upper bounds; the budgets
leave room for any document a sender really sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

# Paths whose bodies are batches: a thousand events, or a warehouse's day of stock
# (a row per SKU and lot, ~100,000 rows for a large one).
BATCH_PATHS: tuple[str, ...] = ("/ingest/v2/events/batch", "/api/billing/storage")

# A batch: 1,000 events with their lines, or 100,000 stock rows of three fields.
BATCH_MAX_CONTAINERS = 120_000
BATCH_MAX_VALUES = 600_000
# Anything else: one event, a Shopify order with hundreds of lines, an API call.
SINGLE_MAX_CONTAINERS = 20_000
SINGLE_MAX_VALUES = 100_000


@dataclass(frozen=True, slots=True)
class BodyLimit:
    bytes: int
    containers: int  # JSON objects and arrays
    values: int  # JSON values inside them


def limit_for(path: str) -> BodyLimit:
    if path.startswith(BATCH_PATHS):
        return BodyLimit(
            settings.INGEST_BATCH_MAX_BODY_BYTES, BATCH_MAX_CONTAINERS, BATCH_MAX_VALUES
        )
    return BodyLimit(settings.INGEST_MAX_BODY_BYTES, SINGLE_MAX_CONTAINERS, SINGLE_MAX_VALUES)


def body_limit_for(path: str) -> int:
    return limit_for(path).bytes


def too_many_items(raw: bytes, limit: BodyLimit) -> str:
    """Why the body holds more JSON items than its path allows ('' when it does not)."""
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > limit.containers:
        return (
            f"Body is not accepted: {containers:,} JSON objects and arrays, more than the"
            f" {limit.containers:,} this endpoint takes in one request."
        )
    values = raw.count(b",") + 1
    if values > limit.values:
        return (
            f"Body is not accepted: {values:,} JSON values, more than the"
            f" {limit.values:,} this endpoint takes in one request."
        )
    return ""
