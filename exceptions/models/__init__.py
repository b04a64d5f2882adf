"""Models of the exceptions app: the record operators work on, and what hangs on it."""

from .activity import ActorType, ExceptionActivity
from .automation import (
    ACTIVE_RUN_STATUSES,
    FINAL_RUN_STATUSES,
    SUCCEEDED_RUN_STATUSES,
    ActionChoice,
    ActionEndpoint,
    ActionKind,
    ActionRun,
    ActionTarget,
    ChosenBy,
    PlaybookAction,
    RunStatus,
)
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
    "ACTIVE_RUN_STATUSES",
    "ACTIVE_STATUSES",
    "FINAL_RUN_STATUSES",
    "SUCCEEDED_RUN_STATUSES",
    "ActionChoice",
    "ActionEndpoint",
    "ActionKind",
    "ActionRun",
    "ActionTarget",
    "ActorType",
    "ChosenBy",
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
    "PlaybookAction",
    "ReasonCode",
    "RunStatus",
    "SlackChannel",
    "SlackIdentity",
    "TenantAlerting",
]
