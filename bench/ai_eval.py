"""E²A analyst evaluation: notes, labels and fallbacks on a labelled set of exceptions.

    .venv/bin/python bench/ai_eval.py                    # rules only (no model), about 2 min
    .venv/bin/python bench/ai_eval.py --with-fake-model  # + the model path against canned replies
    AI_PROVIDER_BASE_URL=http://127.0.0.1:11434/v1 AI_MODEL=llama3.1:8b \\
        .venv/bin/python bench/ai_eval.py                # + a real model

The set is `fixtures/ai_eval/cases.json` (72 orders, 6 for each of the demo
generator's 12 problem kinds, built by `bench/ai_eval_parts/build_cases.py`):
each case's stored events are replayed through E²A in-process under the
simulated clock, against a fresh SQLite file, until its exception opened; then
`exception_analyze` runs on the rules path (model off) and, if a model is
configured in the environment (AI_* passed through) or `--with-fake-model` is
given, on the model path. It prints, per path, note completeness (share of
cases whose ops note mentions every required fact), the model's label accuracy,
the fallback rate by cause from the Explanation rows, and the rules path's cost
on opening an exception (with the analysis listener ÷ without, side by side).

Goals (exit 1 when one is missed): rules note completeness 100 %, opening with
the rules analysis ≤ 1.2 × opening without it. Setup failures exit 2.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ai_eval_parts.cases import CASES_FILE, Case, load_cases, step_of
from common import BenchError, in_process_django, machine_notes, progress, run

if TYPE_CHECKING:
    from ai_eval_parts.fake_model import FakeModel

GOAL_COMPLETE = 1.0
GOAL_RATIO = 1.2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--with-fake-model", action="store_true", help="tests/llm_server.py, canned"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds per side")
    parser.add_argument("--cases", type=Path, default=CASES_FILE)
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    header, cases = load_cases(args.cases)
    if args.kinds:
        wanted = set(args.kinds.split(","))
        cases = [c for c in cases if c.kind in wanted]
    if not cases:
        raise BenchError("no cases selected")
    fake = None
    if args.with_fake_model:
        from ai_eval_parts.fake_model import FakeModel

        fake = FakeModel()
    workdir = Path(tempfile.mkdtemp(prefix="e2a-ai-eval-"))
    in_process_django(
        model_from_environment=True, database_url=f"sqlite:///{workdir / 'ai_eval.sqlite3'}"
    )
    try:
        return evaluate_and_report(args, header, cases, fake)
    finally:
        if fake is not None:
            fake.stop()


def evaluate_and_report(
    args: argparse.Namespace, header: dict, cases: list[Case], fake: FakeModel | None
) -> int:
    """Replay, analyse and time every case, then print the report; the exit status."""
    from ai_eval_parts.analyse import evaluate
    from ai_eval_parts.report import (
        causes_table,
        completeness_table,
        label_accuracy,
        share_complete,
        step_ratio,
        timing_lines,
    )
    from django.conf import settings
    from django.core.management import call_command

    from ai.client import model_configured

    call_command("migrate", verbosity=0)
    with_model = model_configured()
    if with_model:
        model = f"{settings.AI_MODEL} at {settings.AI_PROVIDER_BASE_URL}"
    else:
        model = "none configured: the rules path only"
    progress(f"{len(cases)} cases from {args.cases}; model: {model}")
    started = time.monotonic()

    def report(number: int, result: object) -> None:
        if number % 12 == 0 or number == len(cases):
            progress(f"  {number}/{len(cases)} cases replayed (twice), analysed and timed")

    results = evaluate(
        cases=cases,
        step=step_of(header),
        seed=int(header["seed"]),
        with_model=with_model,
        raise_rounds=args.rounds,
        before_model_call=fake.queue_for if fake is not None else None,
        on_case=report,
    )
    seconds = time.monotonic() - started
    not_opened = [r.case.id for r in results if not r.opened]

    print("E²A analyst evaluation (bench/ai_eval.py)")
    for note in machine_notes():
        print(note)
    kinds = len({c.kind for c in cases})
    print(f"{len(cases)} cases ({kinds} kinds) from {args.cases.name}; run took {seconds:.0f} s")
    print(f"model: {model}")
    if fake is not None:
        print(
            "  --with-fake-model: tests/llm_server.py answers each call with a canned good\n"
            "  reply made from the case's expected label and facts, so the model figures below\n"
            "  measure the plumbing (prompt, HTTP, parsing, gate, record) against canned\n"
            "  replies, not a model."
        )
    if not_opened:
        print(f"NOT OPENED when replayed: {', '.join(not_opened)}")
    print("\nNote completeness: the ops note mentions every required fact")
    print("\n".join(completeness_table(results, with_model=with_model)))
    rules_ok, total = share_complete([r.rules for r in results], len(results))
    print(f"\n  rules path: {rules_ok}/{total} complete = {_pct(rules_ok, total)}")
    if with_model:
        model_ok, _ = share_complete([r.model for r in results], total)
        final_ok, _ = share_complete([r.model for r in results], total, final=True)
        print(f"  model path: {model_ok}/{total} replies complete = {_pct(model_ok, total)}")
        print(
            f"  notes shown after the model path (its own or the kept rules'):"
            f" {final_ok}/{total} = {_pct(final_ok, total)}"
        )
        right, replies, used, analysed = label_accuracy(results)
        canned = "  [against canned replies]" if fake is not None else ""
        print(
            f"\nLabel accuracy (model): {right}/{replies} replies with a label"
            f" = {_pct(right, replies)} ({used} of {analysed} analyses used){canned}"
        )
    else:
        print("\nLabel accuracy (model): not measured, no model configured")
    print("\nFallback rate by cause (Explanation rows)")
    print("\n".join(causes_table(results, with_model=with_model)))
    print("\nThe rules path's cost on detection")
    steps = step_ratio(results)
    print("\n".join(timing_lines(results, steps)))

    raises_ok = all(r.raising.explanations_with == r.raising.openings for r in results if r.raising)
    checks = [
        (f"rules note completeness {100 * GOAL_COMPLETE:.0f} %", rules_ok == total),
        ("every case opened its expected exception", not not_opened),
        (
            f"opening step with the rules analysis ≤ {GOAL_RATIO} × without",
            steps.ratio <= GOAL_RATIO,
        ),
        ("every raise with the listener recorded one Explanation", raises_ok),
    ]
    print()
    for goal, met in checks:
        print(f"  {'met    ' if met else 'NOT MET'}  {goal}")
    return 0 if all(met for _, met in checks) else 1


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


if __name__ == "__main__":
    run(main, interrupted="ai_eval interrupted")
