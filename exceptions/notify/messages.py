"""What the Slack messages say: plain text for notifications and logs, blocks for Slack."""

from __future__ import annotations

from typing import Any

from ..models import ExceptionActivity, OrderException

SEVERITY_EMOJI = {
    "LOW": ":large_blue_circle:",
    "MEDIUM": ":large_yellow_circle:",
    "HIGH": ":large_orange_circle:",
    "CRITICAL": ":red_circle:",
}

# Slack action ids of the buttons on a new-exception message (see notify.interactions).
ACTION_ACKNOWLEDGE = "exception_acknowledge"
ACTION_SNOOZE_1H = "exception_snooze_1h"
ACTION_RESOLVE = "exception_resolve"


def headline(exception: OrderException) -> str:
    late = f", {round(exception.late_minutes)} min late" if exception.late_minutes else ""
    return (
        f"{SEVERITY_EMOJI.get(exception.severity, '')} {exception.severity} "
        f"{exception.reason_code_id} on order {exception.order.external_id} "
        f"({exception.tenant.slug}{late})"
    ).strip()


def new_exception(exception: OrderException) -> tuple[str, list[dict[str, Any]]]:
    text = headline(exception)
    if exception.ops_note:
        text += f"\n{exception.ops_note}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Exception #{exception.pk} · {exception.status}"}
            ],
        },
        {
            "type": "actions",
            "block_id": f"exception:{exception.pk}",
            "elements": [
                _button("Acknowledge", ACTION_ACKNOWLEDGE, exception, style="primary"),
                _button("Snooze 1 h", ACTION_SNOOZE_1H, exception),
                _button("Resolve", ACTION_RESOLVE, exception),
            ],
        },
    ]
    return text, blocks


def status_change(exception: OrderException, activity: ExceptionActivity) -> str:
    what = activity.action.replace("_", " ")
    if activity.action == "escalated":
        what = f"escalated to level {exception.escalation_level} ({exception.severity})"
    elif activity.action == "explained":
        return f"Exception #{exception.pk}: {activity.note}\n> {exception.ops_note}"
    elif activity.from_status and activity.from_status != exception.status:
        what = f"{what}: {activity.from_status} → {exception.status}"
    text = f"Exception #{exception.pk} {what} by {activity.actor_label}"
    if activity.note:
        text += f"\n> {activity.note}"
    return text


def _button(label: str, action_id: str, exception: OrderException, **extra: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": str(exception.pk),
        **extra,
    }
