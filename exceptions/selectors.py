"""Read side of exceptions: the operator's list, one exception in full, and the team's numbers.

Every function takes the tenant and scopes by it, so a caller cannot forget to;
each returns rows with what rendering them needs already joined (no N+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)

from orders.models import Tenant
from slas.models import SEVERITY_RANK, Breach, Severity
from slas.selectors import OrderSla, order_sla

from .models import ActionRun, ExceptionActivity, ExceptionStatus, OrderException

# What the list may be sorted by (a leading "-" reverses); severity sorts by rank, not name.
ORDERING_FIELDS = (
    "last_seen_at",
    "first_seen_at",
    "created_at",
    "updated_at",
    "severity",
    "occurrence_count",
    "escalation_level",
)
DEFAULT_ORDERING = ("-last_seen_at",)

# MTTA counts from opening to the first sign someone took it on; MTTR to the
# first resolution, by an operator or by E²A when the condition cleared.
ACK_ACTIONS = ("acknowledged", "started")
RESOLVE_ACTIONS = ("resolved", "auto_resolved")

# Activity beyond this many rows (a long-stuck stage is refreshed often) is left
# out of the detail: the newest rows are the ones an operator reads.
ACTIVITY_LIMIT = 200

SEVERITY_RANK_EXPR = Case(
    *(When(severity=code, then=Value(rank)) for code, rank in SEVERITY_RANK.items()),
    output_field=IntegerField(),
)


def exception_list(
    *,
    tenant: Tenant,
    now: datetime,
    statuses: Sequence[str] = (),
    severities: Sequence[str] = (),
    reason_codes: Sequence[str] = (),
    order_id: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    older_than: timedelta | None = None,
    ordering: Sequence[str] = DEFAULT_ORDERING,
) -> QuerySet[OrderException]:
    """The tenant's exceptions matching every filter given, in `ordering` (newest activity first).

    `order_id` is the sender's order id; `older_than` keeps exceptions first seen
    more than that long before `now`. The tenant-first index serves the usual
    "open ones, newest first" view.
    """
    rows = OrderException.objects.filter(tenant=tenant).select_related(
        "order", "reason_code", "assignee"
    )
    if statuses:
        rows = rows.filter(status__in=statuses)
    if severities:
        rows = rows.filter(severity__in=severities)
    if reason_codes:
        rows = rows.filter(reason_code_id__in=reason_codes)
    if order_id is not None:
        rows = rows.filter(order__external_id=order_id)
    if unassigned:
        rows = rows.filter(assignee__isnull=True)
    elif assignee_id is not None:
        rows = rows.filter(assignee_id=assignee_id)
    if older_than is not None:
        rows = rows.filter(first_seen_at__lt=now - older_than)
    if any(key.lstrip("-") == "severity" for key in ordering):
        rows = rows.annotate(severity_rank=SEVERITY_RANK_EXPR)
    keys = [key + "_rank" if key.lstrip("-") == "severity" else key for key in ordering]
    # The primary key breaks ties, so pages never repeat or skip a row.
    tiebreak = "pk" if keys and not keys[-1].startswith("-") else "-pk"
    return rows.order_by(*keys, tiebreak)


def exception_get(*, tenant: Tenant, exception_id: int) -> OrderException:
    """One exception of this tenant; raises OrderException.DoesNotExist for another's."""
    return OrderException.objects.select_related("order", "reason_code", "assignee").get(
        tenant=tenant, pk=exception_id
    )


@dataclass(frozen=True, slots=True)
class ExceptionDetail:
    exception: OrderException
    order: OrderSla
    breaches: list[Breach]
    activity: list[ExceptionActivity]
    activity_truncated: bool
    actions: list[ActionRun]


def exception_detail(*, tenant: Tenant, exception_id: int, now: datetime) -> ExceptionDetail:
    """An exception with the evidence an operator weighs: the order's timeline and SLA clocks,
    the breaches it was opened for, and what has been done about it (oldest first)."""
    exception = exception_get(tenant=tenant, exception_id=exception_id)
    found = order_sla(tenant=tenant, external_id=exception.order.external_id, now=now)
    if found is None:  # the order is the exception's own (cascade), so it exists
        raise OrderException.DoesNotExist(f"Exception {exception_id} has no order.")
    breaches = list(
        Breach.objects.filter(exception_link__exception=exception).order_by("detected_at", "pk")
    )
    newest = list(exception.activity.order_by("-created_at", "-pk")[: ACTIVITY_LIMIT + 1])
    return ExceptionDetail(
        exception=exception,
        order=found,
        breaches=breaches,
        activity=newest[:ACTIVITY_LIMIT][::-1],
        activity_truncated=len(newest) > ACTIVITY_LIMIT,
        actions=list(exception.action_runs.order_by("-created_at", "-pk")[:ACTIVITY_LIMIT]),
    )


@dataclass(frozen=True, slots=True)
class ExceptionStats:
    since: datetime
    until: datetime
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_reason: dict[str, int]
    created: int
    acknowledged: int
    resolved: int
    mtta_minutes: float | None
    mttr_minutes: float | None


def minutes_of(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """Mean minutes from opening to first acknowledgement (MTTA) and resolution (MTTR)."""

    created: int
    acknowledged: int
    resolved: int
    mtta_minutes: float | None
    mttr_minutes: float | None


def response_times_of(exceptions: QuerySet[OrderException]) -> ResponseTimes:
    """MTTA and MTTR of these exceptions, in one aggregate query.

    Each exception's first acknowledgement (resolution) is the earliest of its
    activity rows with that action: one join with the activity, grouped by
    exception, then averaged (a correlated subquery per exception and figure cost
    four index probes a row, half a second over a busy week). Those not yet
    acknowledged (resolved) count in `created` but not in the mean, so one slow
    open case does not hide until it is closed.
    """

    def wait_until(actions: Sequence[str]) -> ExpressionWrapper:
        first = Min("activity__created_at", filter=Q(activity__action__in=actions))
        return ExpressionWrapper(first - F("created_at"), output_field=DurationField())

    times = (
        exceptions.order_by()
        .annotate(ack_wait=wait_until(ACK_ACTIONS), resolve_wait=wait_until(RESOLVE_ACTIONS))
        .aggregate(
            created=Count("pk"),
            acknowledged=Count("ack_wait"),
            resolved=Count("resolve_wait"),
            mtta=Avg("ack_wait"),
            mttr=Avg("resolve_wait"),
        )
    )
    return ResponseTimes(
        created=times["created"],
        acknowledged=times["acknowledged"],
        resolved=times["resolved"],
        mtta_minutes=minutes_of(times["mtta"]),
        mttr_minutes=minutes_of(times["mttr"]),
    )


def exception_stats(*, tenant: Tenant, since: datetime, until: datetime) -> ExceptionStats:
    """Counts of the exceptions first seen in [since, until), and MTTA/MTTR of those opened in it.

    Three aggregate queries whatever the number of rows: counts by status and
    severity (fixed choices, one pass), counts by reason (grouped), and the mean
    times, each exception's first acknowledgement and resolution read from its
    activity by a correlated subquery. Exceptions not yet acknowledged (resolved)
    count in `created` but not in the mean.
    """
    seen = OrderException.objects.filter(
        tenant=tenant, first_seen_at__gte=since, first_seen_at__lt=until
    ).order_by()
    counts = seen.aggregate(
        total=Count("pk"),
        **{f"status_{s}": Count("pk", filter=Q(status=s)) for s in ExceptionStatus.values},
        **{f"severity_{s}": Count("pk", filter=Q(severity=s)) for s in Severity.values},
    )
    by_reason = dict(
        seen.values_list("reason_code_id").annotate(n=Count("pk")).order_by("reason_code_id")
    )

    times = response_times_of(
        OrderException.objects.filter(tenant=tenant, created_at__gte=since, created_at__lt=until)
    )
    return ExceptionStats(
        since=since,
        until=until,
        total=counts["total"],
        by_status={s: counts[f"status_{s}"] for s in ExceptionStatus.values},
        by_severity={s: counts[f"severity_{s}"] for s in Severity.values},
        by_reason=by_reason,
        created=times.created,
        acknowledged=times.acknowledged,
        resolved=times.resolved,
        mtta_minutes=times.mtta_minutes,
        mttr_minutes=times.mttr_minutes,
    )


def exception_matrix_by_tenant(
    *, tenant_ids: Sequence[int]
) -> dict[int, dict[tuple[str, str], int]]:
    """Per tenant, exceptions counted by (reason code, status), in one grouped query.

    All exceptions ever opened, not a window: the matrix answers "what kinds of
    trouble does this merchant have and how far along are we with them". Pairs
    without exceptions are absent.
    """
    rows = (
        OrderException.objects.filter(tenant_id__in=tenant_ids)
        .order_by()
        .values_list("tenant_id", "reason_code_id", "status")
        .annotate(n=Count("pk"))
    )
    matrix: dict[int, dict[tuple[str, str], int]] = {}
    for tenant_id, reason, status, n in rows:
        matrix.setdefault(tenant_id, {})[(reason, status)] = n
    return matrix
