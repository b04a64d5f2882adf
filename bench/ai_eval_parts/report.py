"""The tables `bench/ai_eval.py` prints: completeness per kind, labels, causes, timing."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ai_eval_parts.analyse import CaseResult, PathResult


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "    —  "


def completeness_table(results: list[CaseResult], *, with_model: bool) -> list[str]:
    """Per kind: cases, complete rules notes, complete model notes, and which facts failed."""
    kinds: dict[str, list[CaseResult]] = {}
    for r in results:
        kinds.setdefault(r.case.kind, []).append(r)
    head = f"{'kind':<22}{'label':<22}{'cases':>5}  {'rules':>7}"
    head += f"  {'model':>7}" if with_model else ""
    lines = [head + "  facts missed (rules" + (" / model)" if with_model else ")")]
    for kind, rows in kinds.items():
        opened = [r for r in rows if r.rules]
        rules_ok = sum(1 for r in opened if not r.rules.missing)
        line = f"{kind:<22}{rows[0].case.expected_label:<22}{len(rows):>5}"
        line += f"  {rules_ok:>3}/{len(rows):<3}"
        if with_model:
            model_ok = sum(1 for r in opened if r.model and not r.model.missing)
            line += f"  {model_ok:>3}/{len(rows):<3}"
        missed = _missed(r.rules for r in opened)
        if len(opened) < len(rows):
            missed = f"{len(rows) - len(opened)} not opened; " + missed
        if with_model:
            missed += " / " + _missed(r.model for r in opened if r.model)
        lines.append(f"{line}  {missed}")
    return lines


def _missed(paths: Iterable[PathResult | None]) -> str:
    counts = Counter(name for p in paths if p for name in p.missing)
    return ", ".join(f"{name} ×{n}" for name, n in counts.most_common()) or "none"


def share_complete(
    paths: list[PathResult | None], total: int, *, final: bool = False
) -> tuple[int, int]:
    ok = sum(1 for p in paths if p and not (p.final_missing if final else p.missing))
    return ok, total


def label_accuracy(results: list[CaseResult]) -> tuple[int, int, int, int]:
    """(right among replies, replies with a label, used, analyses)."""
    model = [(r.case, r.model) for r in results if r.model]
    replies = [(c, m) for c, m in model if m.label]
    right = sum(1 for c, m in replies if m.label == c.expected_label)
    used = sum(1 for _, m in model if m.decision == "used")
    return right, len(replies), used, len(model)


def causes_table(results: list[CaseResult], *, with_model: bool) -> list[str]:
    """Fallback rate by cause, from the Explanation rows each path recorded."""
    lines = []
    paths = [("rules", [r.rules for r in results if r.rules])]
    if with_model:
        paths.append(("model", [r.model for r in results if r.model]))
    for name, rows in paths:
        counts = Counter(p.cause or "(used)" for p in rows)
        kept = sum(n for cause, n in counts.items() if cause != "(used)")
        shown = ", ".join(
            f"{cause} {n} ({_pct(n, len(rows)).strip()})" for cause, n in counts.most_common()
        )
        lines.append(
            f"  {name:<6} {len(rows):>3} Explanation rows: fallback {_pct(kept, len(rows)).strip()}"
            f" — {shown}"
        )
    return lines


@dataclass(frozen=True, slots=True)
class StepRatio:
    """The judged ratio: the opening steps' total time with the listener ÷ without."""

    cases: int
    without: float
    with_listener: float
    per_case: list[float]

    @property
    def ratio(self) -> float:
        return self.with_listener / self.without if self.without else float("inf")


def step_ratio(results: list[CaseResult]) -> StepRatio:
    opened = [r for r in results if r.opened]
    return StepRatio(
        cases=len(opened),
        without=sum(r.step_without for r in opened),
        with_listener=sum(r.step_with for r in opened),
        per_case=[r.step_with / r.step_without for r in opened if r.step_without],
    )


def timing_lines(results: list[CaseResult], steps: StepRatio) -> list[str]:
    raising = [r.raising for r in results if r.raising]
    raise_without = sum(t.without for t in raising)
    raise_with = sum(t.with_listener for t in raising)
    raises = sum(t.openings for t in raising)
    analyse = [r.rules.seconds for r in results if r.rules]
    raise_ms = 1000 * raise_without / raises if raises else 0.0
    analyse_ms = 1000 * statistics.median(analyse) if analyse else 0.0
    spread = sorted(steps.per_case)
    quartiles = statistics.quantiles(spread, n=4) if len(spread) > 1 else spread * 3
    return [
        f"  {steps.cases} cases, each replayed twice (alternating which goes first); timed: the",
        "  30-minute step in which its exception opened (deliveries, follow-ups, detection and",
        "  every beat job of that step), in a tenant of its own each time",
        f"  opening step without analysis (no listener, no sweep)  "
        f"{1000 * steps.without / steps.cases:7.1f} ms per case",
        f"  opening step with the listener (model off, eager)      "
        f"{1000 * steps.with_listener / steps.cases:7.1f} ms per case",
        f"  ratio with ÷ without (judged)                          {steps.ratio:7.2f}"
        f"   (per case: median {statistics.median(spread):.2f},"
        f" quartiles {quartiles[0]:.2f}–{quartiles[2]:.2f}, max {spread[-1]:.2f})",
        f"  strict, for information: the raise alone ({raises} per side, alternated):"
        f" {raise_ms:.2f} ms without,",
        f"    {1000 * raise_with / raises if raises else 0:.2f} ms with the listener,"
        f" ratio {raise_with / raise_without if raise_without else 0:.2f}"
        f" ({sum(t.explanations_with for t in raising)} Explanation rows recorded)",
        f"  info: exception_analyze on the rules path alone, median {analyse_ms:.2f} ms"
        f" = {analyse_ms / raise_ms if raise_ms else 0:.2f} × that raise without analysis",
    ]
