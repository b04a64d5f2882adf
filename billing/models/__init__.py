"""Billing's tables: tariffs (versioned rate sheets), invoices and their lines."""

from .credit import AUTO_DECIDER, CreditStatus, SlaCredit
from .invoice import Invoice, InvoiceCounter, InvoiceLine, InvoiceStatus, LineKind
from .state import BillingState
from .tariff import HANDLING_MULTIPLIER_FIELDS, Tariff, VolumeTier

__all__ = [
    "AUTO_DECIDER",
    "HANDLING_MULTIPLIER_FIELDS",
    "BillingState",
    "CreditStatus",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceStatus",
    "LineKind",
    "SlaCredit",
    "Tariff",
    "VolumeTier",
]
