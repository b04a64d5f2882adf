"""The exception page's read-outs: the order's timeline, its stage clocks, the notes' source.

What an operator needs to act sits on one screen: what happened to the order and
when, each stage's clock with its deadline explained in words (the SLA engine's
own sentence), and who wrote the notes (model and prompt version, or the rules,
or a colleague). Each read-out is a small HTML table built here and shown as a
read-only field, so the page stays Django's stock change form.
"""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from orders.models import OrderEvent
from slas.business_time import format_minutes
from slas.selectors import clock_view
from slas.services.clock_rows import order_clocks

from .models import OrderException
from .services.lifecycle import client_note_sent_at

TIMELINE_LIMIT = 60

CLOCK_STATES = {
    "on_time": "running, on time",
    "at_risk": "running, at risk",
    "breached": "running, late",
    "met": "met",
    "met_late": "met late",
    "scan_missing": "stopped: a later stage came without this scan",
    "cancelled": "stopped: order cancelled",
}


def _when(value: datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def _short_when(value: datetime | None) -> str:
    """A clock's times, short enough to leave the deadline's explanation room: "30 Nov 13:35"."""
    return f"{timezone.localtime(value):%d %b %H:%M}" if value else "—"


def order_timeline(exception: OrderException) -> str:
    """The order's events in the order they happened (the newest TIMELINE_LIMIT)."""
    events = list(
        OrderEvent.objects.filter(order_id=exception.order_id)
        .order_by("-occurred_at", "-pk")
        .values("pk", "occurred_at", "received_at", "event_type", "source")[:TIMELINE_LIMIT]
    )
    if not events:
        return "No events stored for this order."
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
        (
            (
                _when(e["occurred_at"]),
                reverse("admin:orders_orderevent_change", args=[e["pk"]]),
                e["event_type"],
                e["source"],
                _when(e["received_at"]),
            )
            for e in reversed(events)
        ),
    )
    more = (
        format_html("<p>Showing the latest {} events.</p>", TIMELINE_LIMIT)
        if len(events) == TIMELINE_LIMIT
        else ""
    )
    return format_html(
        '<table class="e2a-readout"><thead><tr><th>happened</th><th>event</th>'
        "<th>from</th><th>received</th></tr></thead><tbody>{}</tbody></table>{}",
        rows,
        more,
    )


def stage_clocks(exception: OrderException, now: datetime) -> str:
    """Each started stage: its state, deadline and the engine's explanation of it."""
    order = exception.order
    order.tenant = exception.tenant
    views = [clock_view(exception.tenant, clock, now) for clock in order_clocks(order, now=now)]
    if not views:
        return "No SLA clock has started for this order."
    rows = []
    for view in views:
        clock = view.clock
        state = CLOCK_STATES.get(view.state, view.state)
        if view.late_minutes:
            state = format_html("{}, {} late", state, format_minutes(view.late_minutes))
        elif view.remaining_minutes is not None:
            state = format_html("{}, {} left", state, format_minutes(view.remaining_minutes))
        rows.append(
            (
                clock.get_stage_display(),
                f"e2a-clock-{view.state}",
                state,
                _short_when(clock.started_at),
                _short_when(clock.due_at),
                _short_when(clock.met_at),
                clock.explanation,
            )
        )
    body = format_html_join(
        "",
        '<tr><td>{}</td><td class="{}">{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td class="e2a-explain">{}</td></tr>',
        rows,
    )
    return format_html(
        '<table class="e2a-readout"><thead><tr><th>stage</th><th>state</th><th>started</th>'
        "<th>due</th><th>met</th><th>why this deadline</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


def notes_source(exception: OrderException) -> str:
    """Who wrote the notes shown and with what: model, confidence and prompt version."""
    explanation = exception.current_explanation
    if exception.explanation_source == "operator":
        return "An operator wrote them; no later analysis replaces them."
    if explanation is None:
        return "The catalogue's templates (not analysed yet)."
    prompt = (
        f"prompt {explanation.prompt_name} v{explanation.prompt_version}"
        if explanation.prompt_name
        else "no prompt"
    )
    if exception.explanation_source == "ai":
        return format_html(
            "The model {}, confidence {}, {} ({}).",
            explanation.model,
            f"{explanation.confidence:.2f}" if explanation.confidence is not None else "?",
            prompt,
            _when(explanation.created_at),
        )
    cause = explanation.get_cause_display() if explanation.cause else "kept by the gate"
    return format_html(
        "The catalogue's templates: {} (last analysis {}, {}).",
        cause,
        _when(explanation.created_at),
        prompt,
    )


def sent_at(exception: OrderException) -> datetime | None:
    """When the client note went to the customer, read once per page: the form's
    read-only fields and the read-out below both ask, and Django asks for the
    read-only fields more than once while it builds a change page."""
    if "_client_note_sent_at" not in exception.__dict__:
        exception.__dict__["_client_note_sent_at"] = client_note_sent_at(exception.pk)
    return exception.__dict__["_client_note_sent_at"]


def client_note_state(exception: OrderException) -> str:
    """Whether the client note has gone to the customer (then it is no longer editable)."""
    sent = sent_at(exception)
    if sent is not None:
        return format_html("Sent to the customer {}; it can no longer be changed.", _when(sent))
    if not exception.reason_code.client_visible:
        return "Not sent: this reason code is not shown to customers."
    return "Not sent yet; you can edit it above."
