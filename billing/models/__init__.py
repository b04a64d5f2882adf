"""Billing's tables: tariffs (versioned rate sheets), invoices and their lines, and the
warehouse's storage snapshots and inbound receipts."""

from .adjustment import AdjustmentKind, AdjustmentStatus, CreditNote, InvoiceAdjustment
from .credit import AUTO_DECIDER, CreditStatus, SlaCredit
from .inventory import InboundReceipt, StorageSnapshot
from .invoice import (
    LINE_OPERATIONS,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
)
from .leak import RevenueLeak
from .state import BillingState
from .tariff import HANDLING_MULTIPLIER_FIELDS, Tariff, VolumeTier

__all__ = [
    "AUTO_DECIDER",
    "HANDLING_MULTIPLIER_FIELDS",
    "LINE_OPERATIONS",
    "AdjustmentKind",
    "AdjustmentStatus",
    "BillingState",
    "CreditNote",
    "CreditStatus",
    "InboundReceipt",
    "Invoice",
    "InvoiceAdjustment",
    "InvoiceCounter",
    "InvoiceLine",
    "InvoiceStatus",
    "LineKind",
    "RevenueLeak",
    "SlaCredit",
    "StorageSnapshot",
    "Tariff",
    "VolumeTier",
]
