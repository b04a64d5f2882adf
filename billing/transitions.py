"""The one table of an invoice's status changes, checked in one place."""

from __future__ import annotations

from .models import InvoiceStatus

S = InvoiceStatus

TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "issue": (frozenset({S.DRAFT}), S.ISSUED),
    "mark_paid": (frozenset({S.ISSUED}), S.PAID),
    "void": (frozenset({S.DRAFT, S.ISSUED}), S.VOID),
}


class InvoiceTransitionRefused(Exception):
    """An action the invoice's status does not allow; the message says what would be."""

    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        allowed = allowed_actions(status)
        words = ", ".join(a.replace("_", " ") for a in allowed) or "nothing"
        super().__init__(
            f"Cannot {action.replace('_', ' ')} an invoice that is {status}; allowed: {words}."
        )


def allowed_actions(status: str) -> list[str]:
    return [action for action, (sources, _to) in TRANSITIONS.items() if status in sources]


def check(action: str, status: str) -> str:
    """The status `action` moves an invoice in `status` to; refused otherwise."""
    sources, to = TRANSITIONS[action]
    if status not in sources:
        raise InvoiceTransitionRefused(action, status)
    return to
