"""How automation appears in the activity trail: its actor, and how a run is named there."""

from __future__ import annotations

from typing import Any

from ..actors import Actor
from ..models import ActionRun

AUTOMATION = Actor.system("automation")


def run_summary(run: ActionRun) -> dict[str, Any]:
    """The run as the activity row's `after` names it."""
    return {
        "run": run.pk,
        "kind": run.kind,
        "target": run.target,
        "chosen_by": run.chosen_by,
        "needs_approval": run.needs_approval,
    }
