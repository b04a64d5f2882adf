"""Models of the exceptions app: the record operators work on, and what hangs on it."""

from .activity import ActorType, ExceptionActivity
from .catalogue import ReasonCode
from .explanation import Explanation, ExplanationDecision, ExplanationTrigger, FallbackCause
from .notify import (
    Notification,
    NotificationKind,
    NotificationStatus,
    SlackChannel,
    SlackIdentity,
    TenantAlerting,
)
from .record import (
    ACTIVE_STATUSES,
    ExceptionBreach,
    ExceptionStatus,
    ExplanationSource,
    OrderException,
)

__all__ = [
    "ACTIVE_STATUSES",
    "ActorType",
    "ExceptionActivity",
    "ExceptionBreach",
    "ExceptionStatus",
    "Explanation",
    "ExplanationDecision",
    "ExplanationSource",
    "ExplanationTrigger",
    "FallbackCause",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "OrderException",
    "ReasonCode",
    "SlackChannel",
    "SlackIdentity",
    "TenantAlerting",
]
