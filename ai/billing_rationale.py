"""The billing writer: the model rewords an invoice adjustment's computed rationale for
the merchant.

Registered with `billing.rationale_hooks` in AiConfig.ready(). It goes through the
analyst's gate (no model, budget, breaker) and the analyst's confidence bar; below
it, or on any failure, it offers nothing and the computed rationale stands. Billing
keeps the text only if every figure in it is one the computation stated.
"""

from __future__ import annotations

from django.conf import settings
from pydantic import BaseModel, Field

from billing.models import InvoiceAdjustment
from orders.currencies import format_amount

from .calls import ask_model
from .client import model_configured
from .prompts import render_prompt

PROMPT = "billing_adjustment"


class RationaleReply(BaseModel):
    text: str = Field(min_length=1, max_length=400)
    confidence: float = Field(ge=0, le=1)


def adjustment_reword(adjustment: InvoiceAdjustment) -> tuple[str, str] | None:
    """(the friendlier sentence, "<model> via <prompt>.v<N>") or None."""
    if not model_configured():
        return None
    invoice = adjustment.invoice
    prompt = render_prompt(
        PROMPT,
        {
            "kind": adjustment.get_kind_display(),
            "invoice": str(invoice),
            "amount": format_amount(adjustment.amount_cents, invoice.currency),
            "owed_by": "the merchant" if adjustment.amount_cents > 0 else "the warehouse",
            "rationale": adjustment.rationale,
        },
    )
    answer = ask_model(
        tenant_id=invoice.tenant_id,
        prompt=prompt,
        output=RationaleReply,
        schema_name="billing_adjustment",
        purpose="billing_rationale",
    )
    data = answer.data
    if data is None or data.confidence < settings.AI_MIN_CONFIDENCE:
        return None
    return data.text, f"{answer.model} via {prompt.name}.v{prompt.version}"
