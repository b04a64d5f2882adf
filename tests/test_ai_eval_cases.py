"""The labelled set of bench/ai_eval.py (fixtures/ai_eval/cases.json) and the catalogue.

The set must stay big enough to judge the analyst (≥ 60 cases, ≥ 5 for each of
the generator's 12 kinds, every case with facts to check), and one case of each
kind, replayed as the bench replays it, must open its expected exception with
an ops note from the catalogue that mentions every fact: this is the test that
fails when an edit to fixtures/reason_codes.yaml drops a fact a note needs.

Nothing under tests/ imports from bench/, so the matching rule (the file's
header spells it out) and the replay of a case are restated here in a few lines.
The sample is the case of each kind with the shortest replay (about 10 s on 2 cores).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exceptions.models import OrderException
from orders.demo.catalog import PROBLEM_KINDS, PROBLEM_REASONS
from orders.demo.generator import GeneratedEvent, GeneratedOrder
from orders.demo.replay import replay

from .factories import TenantFactory

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "ai_eval" / "cases.json"
DATA: dict[str, Any] = json.loads(CASES.read_text())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def mentions(note: str, alternative: str) -> bool:
    """Case-insensitive substring; an alternative starting with a digit must not follow
    a digit or '.' ("3 h" is in "3 hours", not in "13 h")."""
    text, wanted = note.lower(), alternative.lower()
    if not wanted[:1].isdigit():
        return wanted in text
    return re.search(r"(?<![\d.])" + re.escape(wanted), text) is not None


def missing(note: str, case: dict[str, Any]) -> list[str]:
    return [f["fact"] for f in case["facts"] if not any(mentions(note, a) for a in f["any_of"])]


def sample() -> list[Any]:
    return [pytest.param(c, id=c["id"]) for c in shortest_per_kind()]


def shortest_per_kind() -> list[dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for case in DATA["cases"]:
        span = _at(case["replay"]["end"]) - _at(case["replay"]["start"])
        best = by_kind.get(case["kind"])
        if best is None or span < _at(best["replay"]["end"]) - _at(best["replay"]["start"]):
            by_kind[case["kind"]] = case
    return list(by_kind.values())


def test_the_set_is_big_enough_and_every_case_has_facts() -> None:
    cases = DATA["cases"]
    assert len(cases) >= 60
    per_kind = Counter(c["kind"] for c in cases)
    assert set(per_kind) == set(PROBLEM_KINDS)
    assert min(per_kind.values()) >= 5, per_kind
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert case["expected_label"] == PROBLEM_REASONS[case["kind"]]
        names = [f["fact"] for f in case["facts"]]
        assert "order id" in names and "what to check" in names, case["id"]
        assert all(f["any_of"] and all(a.strip() for a in f["any_of"]) for f in case["facts"])
        assert case["events"], case["id"]


def test_the_matching_rule_is_the_one_the_file_states() -> None:
    assert "case-insensitively" in DATA["header"]["matching"]
    assert mentions("212 minutes past its deadline", "212 min")
    assert mentions("3.5 hours late", "3.5 h") and not mentions("13.5 h late", "3.5 h")
    assert mentions("Check the WMS log", "wms") and not mentions("picked", "packed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", sample())
def test_a_case_of_each_kind_opens_its_exception_and_the_rules_note_has_its_facts(
    case: dict[str, Any],
) -> None:
    tenant = TenantFactory(slug="ai-eval")
    order = GeneratedOrder(
        order_id=case["order_id"], placed_at=_at(case["events"][0]["at"]), problem=case["kind"]
    )
    for raw in case["events"]:
        topic = raw.get("shopify_topic", "")
        order.events.append(
            GeneratedEvent(
                occurred_at=_at(raw["at"]),
                body=raw["body"],
                shopify_topic=topic,
                shopify_body=raw["body"]["data"]["order"] if topic else None,
                webhook_id=raw.get("webhook_id", ""),
            )
        )
    replay(
        tenant=tenant,
        orders=[order],
        start=_at(case["replay"]["start"]),
        end=_at(case["replay"]["end"]),
        seed=DATA["header"]["seed"],
        step=timedelta(minutes=DATA["header"]["replay_step_minutes"]),
    )

    exception = OrderException.objects.filter(
        tenant=tenant, order__external_id=case["order_id"], reason_code_id=case["expected_label"]
    ).first()
    assert exception is not None, f"{case['expected_label']} did not open for {case['id']}"
    assert missing(exception.ops_note, case) == [], exception.ops_note
