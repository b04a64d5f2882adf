"""E²A detection score: what the demo generator made against what E²A opened.

    .venv/bin/python bench/detect_eval.py               # 2,000 orders (about 5 minutes)
    .venv/bin/python bench/detect_eval.py --orders 300  # a quicker look

It generates orders with a fixed seed, placed over one week from a fixed start
(about 13 % with a known problem of a known kind), and replays them through E²A
under a simulated clock (`orders.demo.replay`): events arrive when they happen,
their follow-ups run, and beat's jobs (SLA scan, escalation, …) run at the times
they would have, until every order's story has been told. Then it prints the
confusion table (`exceptions.detection_score`): per kind made, the reason E²A
should open, how often it did (recall) and every other reason it opened; and
precision over all exceptions opened. Goals: recall ≥ 95 % for every kind,
precision ≥ 99 %, problem share 13 % ± 3.

Everything runs in this process against a fresh SQLite file in a temporary
directory (no services needed), or against `--database-url`, a local PostgreSQL
database whose name contains "bench" (dropped and created).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    BenchError,
    in_process_django,
    libpq_url,
    machine_notes,
    progress,
    recreate_database,
    run,
)

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; the week holds a weekend
SEED = 2026
GOAL_RECALL = 0.95
GOAL_PRECISION = 0.99
SHARE_RANGE = (0.10, 0.16)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--database-url", default="", help="PostgreSQL (name with 'bench')")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="e2a-detect-eval-"))
    if args.database_url:
        recreate_database(args.database_url)
        database_url = args.database_url
    else:
        database_url = f"sqlite:///{workdir / 'detect.sqlite3'}"
    in_process_django(database_url)

    from django.core.management import call_command

    from exceptions.detection_score import detection_score
    from orders.demo.generator import Generator
    from orders.demo.replay import StepReport, replay
    from orders.services.tenants import tenant_create

    progress(f"migrating {libpq_url(database_url) if args.database_url else database_url}")
    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug="detect-eval", name="Detection score", timezone="UTC")
    gen = Generator(seed=args.seed)
    times = gen.placement_times(start=START, end=START + timedelta(days=7), count=args.orders)
    orders = [gen.order(at) for at in times]
    events = sum(len(o.events) for o in orders)
    # Until every story is told: the last event, then two hours for the scans'
    # grace periods and the last beat runs.
    end = max(e.occurred_at for o in orders for e in o.events) + timedelta(hours=2)
    progress(f"{len(orders):,} orders, {events:,} events; replaying {START:%d %b} → {end:%d %b}")
    started = time.monotonic()

    def report(step: StepReport) -> None:
        if step.step % 200 == 0 or step.step == step.steps:
            progress(f"  {step.at:%d %b %H:%M}: {step.delivered:,}/{events:,} events delivered")

    tally = replay(
        tenant=tenant, orders=orders, start=START, end=end, seed=args.seed, on_step=report
    )
    seconds = time.monotonic() - started
    if tally.counts["accepted"] != events:
        raise BenchError(f"only {tally.counts['accepted']} of {events} events accepted: {tally}")
    score = detection_score(tenant=tenant, orders=orders, shown_by=end - timedelta(hours=2))

    print("E²A detection score (bench/detect_eval.py)")
    for note in machine_notes():
        print(note)
    print(
        f"seed {args.seed}, orders placed {START:%a %d %b %Y} + 7 days, replayed in "
        f"{seconds:.0f} s ({events / seconds:.0f} events/s)\n"
    )
    print(score.table())
    print()
    lowest = score.lowest_recall()
    checks = [
        (
            f"recall ≥ {100 * GOAL_RECALL:.0f} % for every kind",
            lowest is not None and lowest[1] >= GOAL_RECALL,
        ),
        (f"precision ≥ {100 * GOAL_PRECISION:.0f} %", score.precision >= GOAL_PRECISION),
        ("problem share 13 % ± 3", SHARE_RANGE[0] <= score.problem_share <= SHARE_RANGE[1]),
    ]
    for goal, met in checks:
        print(f"  {'met    ' if met else 'NOT MET'}  {goal}")
    print(f"\nsummary: {score.summary()}")
    return 0 if all(met for _, met in checks) else 1


if __name__ == "__main__":
    run(main, interrupted="detect_eval interrupted")
