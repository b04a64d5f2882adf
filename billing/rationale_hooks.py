"""Who may reword an adjustment's rationale: the `ai` app registers here (billing never
imports it).

The validation writes every rationale from the computation ("pack fee missing for
order #1042: pack_completed evt-889 at 2026-10-20 11:00"). A registered writer may
offer a friendlier sentence for the merchant; it is kept beside the computed one,
never instead of it, and only if every number it mentions is one the computed
rationale or the amount already states: the numbers always come from the
computation. Without a writer (the ai app not installed, no model configured) the
computed rationale stands alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from orders.currencies import format_amount

from .models import InvoiceAdjustment

logger = logging.getLogger(__name__)

Writer = Callable[[InvoiceAdjustment], "tuple[str, str] | None"]  # (text, who) or None

_writers: dict[str, Writer] = {}
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def register(name: str, writer: Writer) -> None:
    """Register under a name; registering the same name again replaces it."""
    _writers[name] = writer


def unregister(name: str) -> None:
    _writers.pop(name, None)


def numbers_in(text: str) -> set[str]:
    """The figures a text states, normalised ("1,042" and "1042" are one figure)."""
    return {match.replace(",", "") for match in _NUMBER.findall(text)}


def stated_numbers(adjustment: InvoiceAdjustment) -> set[str]:
    amount = format_amount(abs(adjustment.amount_cents), adjustment.invoice.currency)
    facts = f"{adjustment.rationale} {amount} {adjustment.invoice}"
    return numbers_in(facts)


def adjustment_reword(adjustment: InvoiceAdjustment) -> bool:
    """Ask the registered writers, in order, for a friendlier rationale; keep the first
    whose figures are all stated by the computation. True when one was kept."""
    for name, writer in list(_writers.items()):
        try:
            offered = writer(adjustment)
        except Exception:  # a writer's failure must never stop billing
            logger.exception("rationale writer failed", extra={"writer": name})
            continue
        if offered is None:
            continue
        text, who = offered
        invented = numbers_in(text) - stated_numbers(adjustment)
        if invented:
            logger.info(
                "rationale refused: figures not in the computation",
                extra={"writer": name, "figures": sorted(invented)},
            )
            continue
        adjustment.friendly_rationale = text.strip()[:500]
        adjustment.friendly_by = who[:80]
        adjustment.save(update_fields=["friendly_rationale", "friendly_by"])
        return True
    return False


def has_writers() -> bool:
    return bool(_writers)
