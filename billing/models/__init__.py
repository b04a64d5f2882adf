"""Billing's tables: tariffs (versioned rate sheets), invoices and their lines."""

from .invoice import Invoice, InvoiceCounter, InvoiceLine, InvoiceStatus, LineKind
from .state import BillingState
from .tariff import HANDLING_MULTIPLIER_FIELDS, Tariff, VolumeTier

__all__ = [
    "HANDLING_MULTIPLIER_FIELDS",
    "BillingState",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceStatus",
    "LineKind",
    "Tariff",
    "VolumeTier",
]
