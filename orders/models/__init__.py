"""Models of the orders app, one module per aggregate."""

from .dead_letter import DeadLetter
from .event import OrderEvent
from .followup_failure import FollowUpFailure
from .membership import TenantMembership
from .order import Order, OrderStatus, ServiceLevel
from .tenant import ApiKey, ApiKeyScopeChange, Tenant, WebhookSecret, WebhookSecretKind

__all__ = [
    "ApiKey",
    "ApiKeyScopeChange",
    "DeadLetter",
    "FollowUpFailure",
    "Order",
    "OrderEvent",
    "OrderStatus",
    "ServiceLevel",
    "Tenant",
    "TenantMembership",
    "WebhookSecret",
    "WebhookSecretKind",
]
