"""Who may choose an action instead of the rules: the `ai` app registers here.

The rules take the playbook's first action not yet done. When a chooser is
registered (the ai app, in its ready()) and more than one action is open, it is
asked, outside any transaction and before the record is claimed; it records its
own `ActionChoice` row (used, or why not) and returns it. A choice that was not
used, or a chooser that raises, leaves the rules' choice standing: automation
never waits on a model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..models import ActionChoice, OrderException, PlaybookAction

log = logging.getLogger(__name__)

Chooser = Callable[[OrderException, list[PlaybookAction]], ActionChoice | None]

_choosers: dict[str, Chooser] = {}


def register(name: str, chooser: Chooser) -> None:
    _choosers[name] = chooser


def unregister(name: str) -> None:
    _choosers.pop(name, None)


def choose(exception: OrderException, candidates: list[PlaybookAction]) -> ActionChoice | None:
    """The registered chooser's recorded choice; None without a chooser, with one
    candidate, or when it broke."""
    if len(candidates) < 2 or not _choosers:
        return None
    chooser = next(iter(_choosers.values()))
    try:
        return chooser(exception, candidates)
    except Exception:
        log.exception(
            "action chooser broke; the rules choose", extra={"exception_id": exception.pk}
        )
        return None
