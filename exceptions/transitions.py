"""The one table of what may be done to an exception in each status.

Every service that changes an exception asks `check` first; the API turns a
refusal into a 409 that names what is allowed instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import ACTIVE_STATUSES, ExceptionStatus

S = ExceptionStatus
ACTIVE = frozenset(ACTIVE_STATUSES)


@dataclass(frozen=True, slots=True)
class Action:
    allowed_from: frozenset[str]
    to: str | None = None  # None: the status stays as it is


ACTIONS: dict[str, Action] = {
    "acknowledge": Action(frozenset({S.OPEN}), S.ACKNOWLEDGED),
    "start": Action(frozenset({S.OPEN, S.ACKNOWLEDGED}), S.IN_PROGRESS),
    "resolve": Action(ACTIVE, S.RESOLVED),
    "reopen": Action(frozenset({S.RESOLVED}), S.OPEN),
    "close": Action(frozenset({S.RESOLVED}), S.CLOSED),
    "assign": Action(ACTIVE),
    "snooze": Action(ACTIVE),
    "escalate": Action(ACTIVE),
    "edit_notes": Action(ACTIVE | {S.RESOLVED}),
    "record_attempt": Action(ACTIVE),
    # An automated action waiting for a person: approving runs it, rejecting drops it.
    "propose_action": Action(ACTIVE),
    "approve_action": Action(ACTIVE),
    "reject_action": Action(ACTIVE),
}


class TransitionRefused(Exception):
    """An action the exception's status does not allow."""

    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        self.allowed = allowed_actions(status)
        allowed = ", ".join(self.allowed) or "nothing (it is closed)"
        super().__init__(
            f"Cannot {action.replace('_', ' ')} an exception that is {status}; allowed: {allowed}."
        )


# Checked here but never offered to people as "allowed now": E²A records attempts and
# proposes actions itself, and approving or rejecting needs an action waiting.
NOT_OFFERED = frozenset({"record_attempt", "propose_action", "approve_action", "reject_action"})


def allowed_actions(status: str) -> list[str]:
    """What a person may do to an exception in `status` (the API's and console's list)."""
    return [
        name
        for name, action in ACTIONS.items()
        if status in action.allowed_from and name not in NOT_OFFERED
    ]


def check(action: str, status: str) -> str:
    """The status after `action` from `status`; raises TransitionRefused if not allowed."""
    rule = ACTIONS[action]
    if status not in rule.allowed_from:
        raise TransitionRefused(action, status)
    return rule.to or status
