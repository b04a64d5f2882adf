"""The labelled set in `fixtures/ai_eval/cases.json`: loading it and matching facts.

A case is one generated order (its events, stored verbatim so the set does not
move when the generator changes), the reason code E²A must open for it, and the
facts a good ops note mentions. Each fact is a list of alternatives; a note
mentions the fact when it contains any alternative, compared case-insensitively
as a substring, except that an alternative beginning with a digit must not be
preceded by a digit or a decimal point (so "3 h" is not found in "13 h", while
"3 h" is found in "3 hours"). A note is complete when it mentions every fact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = ROOT / "fixtures" / "ai_eval" / "cases.json"


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a note must say: `name` for the report, `any_of` the accepted wordings."""

    name: str
    any_of: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    kind: str
    expected_label: str
    order_id: str
    replay_start: datetime
    replay_end: datetime
    events: list[dict[str, Any]]
    facts: tuple[Fact, ...]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_cases(path: Path = CASES_FILE) -> tuple[dict[str, Any], list[Case]]:
    """The file's header (seed, replay step, matching rule) and its cases, in file order."""
    data = json.loads(path.read_text())
    cases = [
        Case(
            id=raw["id"],
            kind=raw["kind"],
            expected_label=raw["expected_label"],
            order_id=raw["order_id"],
            replay_start=_at(raw["replay"]["start"]),
            replay_end=_at(raw["replay"]["end"]),
            events=raw["events"],
            facts=tuple(Fact(f["fact"], tuple(f["any_of"])) for f in raw["facts"]),
        )
        for raw in data["cases"]
    ]
    return data["header"], cases


def step_of(header: dict[str, Any]) -> timedelta:
    return timedelta(minutes=int(header["replay_step_minutes"]))


def mentions(note: str, alternative: str) -> bool:
    """The matching rule of the module docstring, for one alternative."""
    text, wanted = note.lower(), alternative.lower()
    if not wanted[:1].isdigit():
        return wanted in text
    return re.search(r"(?<![\d.])" + re.escape(wanted), text) is not None


def missing_facts(note: str, facts: tuple[Fact, ...]) -> list[str]:
    """The names of the facts the note does not mention (empty: complete)."""
    return [f.name for f in facts if not any(mentions(note, alt) for alt in f.any_of)]
