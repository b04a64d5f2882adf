"""Build `fixtures/ai_eval/cases.json`, the labelled set `bench/ai_eval.py` scores.

    .venv/bin/python bench/ai_eval_parts/build_cases.py   # about two minutes

Run once; the file is committed and the bench never regenerates it, so the set
stays the same when the generator changes. Every order is made by the demo
generator with a problem (problem share 1, kinds drawn from its shuffled bag,
so each run of 12 orders holds all 12 kinds), placed over one day from a fixed
Monday. A first replay of all of them together finds when E²A opened each
expected exception; each case then keeps its events, a replay window that ends
at the step in which its exception opened, and the facts a good ops note must
mention. The lateness fact is E²A's own figure at opening (the exception's
`late_minutes` after the case's replay), accepted in minutes or hours; the other
facts come from the events themselves (order id, skipped stage, postal code,
payment status, short SKU) or are the kind's "what to check" keywords.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import in_process_django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, as when run as a file


ORIGIN = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; replay steps are aligned to it
SEED = 1313
STEP = timedelta(minutes=30)
PER_KIND = 6
OUT = Path(__file__).resolve().parents[2] / "fixtures" / "ai_eval" / "cases.json"

# What to check, per reason code: one fact, any of these words.
CHECK_WORDS: dict[str, tuple[str, ...]] = {
    "PICK_DELAY": ("wave", "pick face", "pick list"),
    "PACK_DELAY": ("pack station", "packing station"),
    "SHIP_DELAY": ("carrier", "pickup", "staging"),
    "DELIVERY_DELAY": ("carrier", "tracking"),
    "MISSING_SCAN": ("scanner", "WMS"),
    "ADDRESS_INVALID": ("postal code", "zip"),
    "ADDRESS_ERROR": ("address",),
    "PAYMENT_FAILED": ("payment",),
    "INVENTORY_SHORTAGE": ("stock", "inventory"),
    "DAMAGED_PACKAGE": ("claim", "photograph", "document"),
    "CARRIER_ISSUE": ("carrier",),
    "CUSTOMER_UNAVAILABLE": ("customer", "recipient"),
}
# "How late" when the exception opened at its deadline (lateness under a minute).
JUST_LATE = ("past", "overdue", "late", "due")
TWO_ATTEMPTS = (
    "2 failed",
    "two failed",
    "2 delivery attempts",
    "two delivery attempts",
    "2 attempts",
    "two attempts",
    "second attempt",
    "second delivery attempt",
)
DELAY_STAGES = {
    "PICK_DELAY": "pick",
    "PACK_DELAY": "pack",
    "SHIP_DELAY": "ship",
    "DELIVERY_DELAY": "deliver",
}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _grid_floor(at: datetime) -> datetime:
    return ORIGIN + STEP * math.floor((at - ORIGIN) / STEP)


def _grid_ceil(at: datetime) -> datetime:
    return ORIGIN + STEP * math.ceil((at - ORIGIN) / STEP)


def late_alternatives(minutes: float) -> list[str]:
    """Minutes (either rounding) or hours (one decimal, or whole), with or without a space."""
    whole = {math.floor(minutes), math.ceil(minutes), round(minutes)}
    hours = minutes / 60
    out = [f"{m} min" for m in sorted(whole)] + [f"{m}min" for m in sorted(whole)]
    hour_figures = {f"{hours:.1f}", str(round(hours))}
    if hours >= 1:
        out += [f"{h} h" for h in sorted(hour_figures)] + [f"{h}h" for h in sorted(hour_figures)]
    return out


def facts_for(order: Any, reason: str, late_minutes: float | None) -> list[dict[str, Any]]:
    """The facts of one case (see the module docstring for where each comes from)."""
    facts: list[dict[str, Any]] = [{"fact": "order id", "any_of": [order.order_id]}]
    bodies = [e.body for e in order.events]
    types = {b["event_type"] for b in bodies}
    if reason in DELAY_STAGES:
        facts.append({"fact": "stage", "any_of": [DELAY_STAGES[reason]]})
        if late_minutes is not None and late_minutes >= 1:
            facts.append({"fact": "how late", "any_of": late_alternatives(late_minutes)})
        else:  # opened right at the deadline: no figure yet, but the note must say it is late
            facts.append({"fact": "how late", "any_of": list(JUST_LATE)})
    if reason == "MISSING_SCAN":
        facts.append(
            {"fact": "stage", "any_of": ["pick" if "pick_completed" not in types else "pack"]}
        )
    shop = bodies[-1]["data"]["order"] if "data" in bodies[-1] else None
    first_shop = bodies[0]["data"]["order"]
    if reason == "ADDRESS_ERROR":
        address = first_shop["shipping_address"]
        missing = "street" if not address.get("address1") else "city"
        wordings = ["street", "address line", "address1"] if missing == "street" else ["city"]
        facts.append({"fact": f"missing {missing}", "any_of": wordings})
    if reason == "CARRIER_ISSUE":
        failed = next(b for b in bodies if b["event_type"] == "delivery_failed")
        facts.append({"fact": "carrier name", "any_of": [failed["carrier"]]})
    if reason == "CUSTOMER_UNAVAILABLE":
        facts.append({"fact": "failed attempts", "any_of": list(TWO_ATTEMPTS)})
    if reason == "DAMAGED_PACKAGE":
        facts.append({"fact": "damage", "any_of": ["damage"]})
    if reason == "ADDRESS_INVALID":
        facts.append({"fact": "postal code", "any_of": [first_shop["shipping_address"]["zip"]]})
    if reason == "PAYMENT_FAILED":
        assert shop is not None
        facts.append({"fact": "payment status", "any_of": [shop["financial_status"]]})
    if reason == "INVENTORY_SHORTAGE":
        short = next(b for b in bodies if b["event_type"] == "inventory_shortage")
        facts.append({"fact": "short SKU", "any_of": [short["payload"]["lines"][0]["sku"]]})
    facts.append({"fact": "what to check", "any_of": list(CHECK_WORDS[reason])})
    return facts


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="e2a-ai-eval-build-"))
    in_process_django(
        model_from_environment=True, database_url=f"sqlite:///{workdir / 'build.sqlite3'}"
    )
    from django.core.management import call_command

    from ai_eval_parts.cases import load_cases
    from ai_eval_parts.recreate import replay_case, tenants
    from exceptions import analysis_hooks
    from exceptions.models import OrderException
    from orders.demo.catalog import PROBLEM_KINDS, PROBLEM_REASONS
    from orders.demo.generator import Generator
    from orders.demo.replay import replay

    call_command("migrate", verbosity=0)
    analysis_hooks.unregister("ai.analysis")  # only the opening matters here
    gen = Generator(seed=SEED, problem_share=1.0)
    count = PER_KIND * len(PROBLEM_KINDS)
    times = gen.placement_times(start=ORIGIN, end=ORIGIN + timedelta(days=1), count=count)
    orders = [gen.order(at) for at in times]
    assert Counter(o.problem for o in orders) == dict.fromkeys(PROBLEM_KINDS, PER_KIND)

    fresh = tenants("build")
    tenant = next(fresh)
    end = max(e.occurred_at for o in orders for e in o.events) + timedelta(hours=2)
    print(f"replaying {len(orders)} orders to {end:%d %b %H:%M} to find when each opened")
    replay(tenant=tenant, orders=orders, start=ORIGIN, end=end, seed=SEED, step=STEP)
    raw_cases: list[dict[str, Any]] = []
    numbers: Counter[str] = Counter()
    for order in orders:
        reason = PROBLEM_REASONS[order.problem]
        opened = (
            OrderException.objects.filter(
                tenant=tenant, order__external_id=order.order_id, reason_code_id=reason
            )
            .order_by("created_at")
            .first()
        )
        if opened is None:
            raise SystemExit(f"{order.order_id} ({order.problem}): {reason} never opened")
        numbers[order.problem] += 1
        events = []
        for e in order.events:
            if e.shopify_topic:
                assert e.shopify_body == e.body["data"]["order"]
            raw = {"at": _iso(e.occurred_at), "body": e.body}
            if e.shopify_topic:
                raw |= {"shopify_topic": e.shopify_topic, "webhook_id": e.webhook_id}
            events.append(raw)
        raw_cases.append(
            {
                "id": f"{order.problem}-{numbers[order.problem]}",
                "kind": order.problem,
                "expected_label": reason,
                "order_id": order.order_id,
                "replay": {
                    "start": _iso(_grid_floor(order.events[0].occurred_at)),
                    "end": _iso(_grid_ceil(opened.created_at)),
                },
                "events": events,
                "_order": order,
            }
        )

    # Each case alone, as the bench replays it: its lateness at opening.
    print("replaying each case alone for its facts")
    header = {
        "about": (
            "Labelled exceptions for bench/ai_eval.py, built by "
            "bench/ai_eval_parts/build_cases.py (generator seed "
            f"{SEED}, problem share 1, placed over one day from {_iso(ORIGIN)}). "
            "Replay each case's events from replay.start to replay.end in "
            f"{int(STEP.total_seconds() // 60)}-minute steps aligned to {_iso(ORIGIN)}; "
            "E²A then holds the expected_label exception as it opened."
        ),
        "matching": (
            "A note mentions a fact when it contains any of the fact's any_of strings, "
            "case-insensitively, as a substring; an alternative beginning with a digit must "
            "not be preceded by a digit or '.', so '3 h' matches '3 hours' but not '13 h'. "
            "A note is complete when it mentions every fact."
        ),
        "seed": SEED,
        "replay_origin": _iso(ORIGIN),
        "replay_step_minutes": int(STEP.total_seconds() // 60),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for raw in raw_cases:
        raw["facts"] = []
    _write(OUT, header, raw_cases)
    _, cases = load_cases(OUT)
    for raw, case in zip(raw_cases, cases, strict=True):
        exception = replay_case(case=case, tenant=next(fresh), step=STEP, seed=SEED).exception
        if exception is None:
            raise SystemExit(f"{case.id}: {case.expected_label} did not open when replayed alone")
        raw["facts"] = facts_for(raw["_order"], case.expected_label, exception.late_minutes)
    _write(OUT, header, raw_cases)
    print(f"wrote {len(raw_cases)} cases to {OUT}")
    return 0


def _write(path: Path, header: dict[str, Any], raw_cases: list[dict[str, Any]]) -> None:
    cases = [{k: v for k, v in raw.items() if not k.startswith("_")} for raw in raw_cases]
    # One line per event keeps the file diffable without making it enormous.
    lines = ["{", f' "header": {json.dumps(header, ensure_ascii=False)},', ' "cases": [']
    for n, case in enumerate(cases):
        events = case.pop("events")
        head = json.dumps(case, ensure_ascii=False)[:-1]
        body = ",\n".join(f"   {json.dumps(e, ensure_ascii=False)}" for e in events)
        tail = "," if n < len(cases) - 1 else ""
        lines.append(f'  {head}, "events": [\n{body}\n  ]}}{tail}')
    lines += [" ]", "}"]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
