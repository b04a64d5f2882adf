"""Loading the playbooks from `fixtures/playbooks.yaml`, and the rules they must keep.

Like the catalogue loader, it takes the model classes so that a migration can
call it with its historical models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..models.automation import ActionKind, ActionTarget

PLAYBOOKS_FILE = Path(__file__).resolve().parent.parent.parent / "fixtures" / "playbooks.yaml"
ACTION_KEYS = {"kind", "target", "requires_approval", "active", "note"}


def playbook_errors(*, kind: str, code: Any) -> dict[str, str]:
    """What is wrong with putting an action of `kind` in `code`'s playbook (empty: nothing).

    The one rule that crosses tables: a client note goes only to customers of codes
    the catalogue lets the merchant see. The runner checks it again before sending.
    """
    if kind == ActionKind.SEND_CLIENT_NOTE and code is not None and not code.client_visible:
        return {"kind": f"{code.code} is not client-visible: its client note is never sent."}
    return {}


def read_playbooks(path: Path = PLAYBOOKS_FILE) -> dict[str, list[dict[str, Any]]]:
    """The file's playbooks, checked: known kinds and targets, known keys, lists of actions."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not map reason codes to lists of actions")
    for code, actions in data.items():
        if not isinstance(actions, list):
            raise ValueError(f"{path}: {code} is not a list of actions")
        for action in actions:
            if not isinstance(action, dict) or not set(action) <= ACTION_KEYS:
                raise ValueError(f"{path}: {code} has an action with unknown keys: {action!r}")
            if action.get("kind") not in ActionKind.values:
                raise ValueError(f"{path}: {code} has an unknown kind {action.get('kind')!r}")
            if action.get("target") not in ActionTarget.values:
                raise ValueError(f"{path}: {code} has an unknown target {action.get('target')!r}")
    return data


def playbooks_load(
    action_model: Any, code_model: Any, *, path: Path = PLAYBOOKS_FILE, update: bool = False
) -> list[str]:
    """Create the playbook actions the database lacks (with `update`, overwrite the others).

    Returns "CODE:kind" for each action written. Codes missing from the catalogue
    are skipped; a client note for a code that is not client-visible is refused.
    """
    codes = {c.code: c for c in code_model.objects.all()}
    written = []
    for code, actions in read_playbooks(path).items():
        entry = codes.get(code)
        if entry is None:
            continue
        for position, action in enumerate(actions, start=1):
            errors = playbook_errors(kind=action["kind"], code=entry)
            if errors:
                raise ValueError(f"{path}: {errors['kind']}")
            values = {
                "target": action["target"],
                "position": position,
                "requires_approval": bool(action.get("requires_approval", False)),
                "active": bool(action.get("active", True)),
                "note": action.get("note", ""),
            }
            existing = action_model.objects.filter(reason_code=entry, kind=action["kind"])
            if existing.exists():
                if update:
                    existing.update(**values)
                    written.append(f"{code}:{action['kind']}")
                continue
            action_model.objects.create(reason_code=entry, kind=action["kind"], **values)
            written.append(f"{code}:{action['kind']}")
    return written


def ensure_playbooks() -> None:
    """Restore the fixture's playbooks if the table is empty (a database emptied by hand,
    or a test flush), as the catalogue restores itself. Operators switch an action off
    with `active` (the admin offers no delete), so an empty table is never a choice."""
    from ..models import PlaybookAction, ReasonCode

    if not PlaybookAction.objects.exists():
        playbooks_load(PlaybookAction, ReasonCode)
