"""Personal data never leaves: what is removed before anything reaches a model.

Two layers. Keys that hold personal data (names, emails, phones, street lines,
whole customer records) are dropped wherever they appear in the facts sent. And
every string sent is scrubbed of this order's own personal values and of
anything shaped like an email address or a phone number, so a carrier's free
text ("left with J. Novak, +49 30 1234567") cannot carry them either. Postal
code, city and country stay: they are what an address problem is judged by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
PERSONAL_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address1",
        "address2",
        "street",
        "company",
        "customer",
        "billing_address",
        "shipping_address",
        "signed_by",
        "recipient",
        "contact_email",
        "note",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International numbers (+ and 7 or more digits, any grouping) and North American
# ones ((555) 123-4567, 555.123.4567); not dates (2026-11-20) nor plain ids.
_PHONE = re.compile(r"\+\d[\d\s().-]{5,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")


class Redactor:
    """Scrubs one order's facts; `personal` are the values known to be personal."""

    def __init__(self, personal: Iterable[str]) -> None:
        values = {v.strip() for v in personal if isinstance(v, str) and len(v.strip()) >= 3}
        # Longest first, so "Jana Novak" goes before "Jana".
        self._values = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        for personal in self._values:
            value = re.sub(re.escape(personal), REDACTED, value, flags=re.IGNORECASE)
        value = _EMAIL.sub(REDACTED, value)
        return _PHONE.sub(lambda m: REDACTED if _digits(m.group()) >= 7 else m.group(), value)

    def facts(self, value: Any) -> Any:
        """A copy of JSON-like facts without personal keys and with strings scrubbed."""
        if isinstance(value, dict):
            return {
                k: self.facts(v) for k, v in value.items() if str(k).lower() not in PERSONAL_KEYS
            }
        if isinstance(value, list):
            return [self.facts(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def personal_values(customer: dict[str, Any], address: dict[str, Any]) -> list[str]:
    """The order's own personal values, wherever the sender put them."""
    values: list[str] = []
    for record in (customer or {}, address or {}):
        for key in ("name", "first_name", "last_name", "email", "phone", "address1", "address2"):
            value = record.get(key)
            if isinstance(value, str):
                values.append(value)
        first, last = record.get("first_name"), record.get("last_name")
        if isinstance(first, str) and isinstance(last, str):
            values.append(f"{first} {last}")
    return values
