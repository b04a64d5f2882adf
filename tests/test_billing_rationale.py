"""The AI analyst rewords an adjustment's computed rationale for the merchant, against
a real local chat-completions server; billing keeps the text only when every figure
in it is one the computation stated, and the amount always comes from the computation."""

from __future__ import annotations

import json

import pytest

from billing.models import InvoiceAdjustment, LineKind
from billing.nightly import reword_new_adjustments
from billing.services import adjustment_decide, invoice_refresh
from billing.validation import invoice_validate
from tests.billing_helpers import order_with, shipped_on
from tests.test_billing_adjustments import (  # the same October, issued
    ISSUE_DAY,
    NOVEMBER,
    late_pack_of_order_3,
    october_issued,  # noqa: F401 (a fixture)
    tenant,  # noqa: F401 (a fixture)
)

from .llm_server import Canned

pytestmark = pytest.mark.django_db


def note(text: str, confidence: float = 0.9) -> Canned:
    content = {"text": text, "confidence": confidence}
    return Canned(
        body={
            "model": "openai/gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": json.dumps(content)},
                }
            ],
            "usage": {"prompt_tokens": 200, "completion_tokens": 40},
        }
    )


@pytest.fixture
def proposal(tenant, october_issued) -> InvoiceAdjustment:  # noqa: F811
    late_pack_of_order_3(tenant)
    invoice_validate(invoice=october_issued, now=ISSUE_DAY)
    return InvoiceAdjustment.objects.get()


def test_a_reworded_note_with_the_computations_figures_is_kept_and_printed(
    tenant,  # noqa: F811
    proposal,
    llm_server,
):
    friendly = (
        "We packed order #3 on 2026-10-20 at 11:00 (scan evt-889), but the scan reached "
        "us after invoice DEMO-3PL-2026-0001 was issued, so 0.15 USD is added."
    )
    llm_server.queue_reply(note(friendly))

    assert reword_new_adjustments(tenant=tenant) == 1

    proposal.refresh_from_db()
    assert proposal.friendly_rationale == friendly
    assert proposal.friendly_by == "openai/gpt-4o-mini via billing_adjustment.v1"
    assert proposal.amount_cents == 15  # the computation's, whatever the text says
    [request] = llm_server.requests
    assert "pack fee missing for order #3" in json.dumps(request.body)

    order_with(tenant, "#4", shipped_on(3, 11))
    invoice_refresh(tenant=tenant, period=NOVEMBER)
    adjustment_decide(adjustment=proposal, approve=True, by="fin", reason="ok")
    line = tenant.invoices.get(period=NOVEMBER).lines.get(kind=LineKind.ADJUSTMENT)
    assert line.description == f"Correction to DEMO-3PL-2026-0001: {friendly}"


def test_a_note_with_a_figure_the_computation_did_not_state_is_refused(
    tenant,  # noqa: F811
    proposal,
    llm_server,
):
    llm_server.queue_reply(note("Order #3 was packed late; we add 1.50 USD for the trouble."))

    assert reword_new_adjustments(tenant=tenant) == 0

    proposal.refresh_from_db()
    assert (proposal.friendly_rationale, proposal.friendly_by) == ("", "")


def test_an_unsure_note_is_not_used(tenant, proposal, llm_server):  # noqa: F811
    llm_server.queue_reply(note("Order #3 was packed.", confidence=0.3))
    assert reword_new_adjustments(tenant=tenant) == 0


def test_without_a_model_the_computed_rationale_stands(tenant, proposal, settings):  # noqa: F811
    settings.AI_PROVIDER_BASE_URL = ""
    assert reword_new_adjustments(tenant=tenant) == 0
    proposal.refresh_from_db()
    assert proposal.friendly_rationale == ""
