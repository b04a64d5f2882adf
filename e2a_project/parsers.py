"""Strict, fast JSON parsing for every API request.

orjson rather than the standard library because it (1) parses large batches
several times faster, (2) refuses lone UTF-16 surrogates, which PostgreSQL cannot
store and would otherwise surface as a 500 at insert time, and (3) has a fixed
nesting limit, so a deeply nested body is a 400 instead of a RecursionError.

orjson's limit (1024 levels) is deeper than what the rest of the request can
handle: Django stores JSONField values with the standard library's encoder,
which recurses once per level and raised RecursionError (a 500) on a payload
1,000 levels deep. So a body is also refused beyond MAX_NESTING levels, far
more than any sender's document needs.

Before any of that, the body's objects, arrays and values are counted against its
path's budget (`body_limits`), so a body full of tiny items is refused before it
becomes millions of Python objects.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from .body_limits import BodyLimit, limit_for, too_many_items

MAX_NESTING = 64


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` levels (a walk without recursion)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def loads_strict(raw: bytes, limit: BodyLimit) -> Any:
    """Parse a JSON document within `limit`, or raise ParseError with the reason."""
    if problem := too_many_items(raw, limit):
        raise ParseError(problem)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"Body is not valid JSON: {exc}") from exc
    # Fewer brackets than the limit cannot nest beyond it: most bodies skip the walk.
    if (
        isinstance(document, dict | list)
        and raw.count(b"[") + raw.count(b"{") > MAX_NESTING
        and _deeper_than(document, MAX_NESTING)
    ):
        raise ParseError(f"Body is not accepted: JSON nested deeper than {MAX_NESTING} levels.")
    return document


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        limit = limit_for(request.path if request is not None else "")
        return loads_strict(stream.read() if stream is not None else b"", limit)
