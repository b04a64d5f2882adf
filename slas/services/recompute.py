"""clocks_recompute: move open stages' deadlines onto the policy as it is now.

A policy change never moves a running clock by itself (an operator should not
see deadlines jump because someone saved a form). When it should, for example
after granting more time during a staff shortage, `manage.py sla_recompute`
shows what would change, which stages would become breached or stop being
breached, and applies it only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from orders.models import Order, Tenant

from ..breach_listeners import breaches_changed
from ..config import TenantSlaConfig, config_for, forget_config, is_high_volume
from ..deadlines import DeadlinePlan, inputs_key, plan_deadline
from ..models import DELAY_REASON, Breach, BusinessCalendar, DetectedBy, SlaPolicy, StageClock
from .breaches import breach_for, breaches_save
from .clocks import deadline_memo, facts_of


@dataclass(frozen=True, slots=True)
class ClockChange:
    clock: StageClock
    order_id: str
    old_due: datetime
    new_due: datetime
    old_allowed: int
    new_allowed: int
    was_breached: bool
    now_breached: bool
    explanation: str

    @property
    def verdict(self) -> str:
        if self.now_breached and not self.was_breached:
            return "newly breached"
        if self.was_breached and not self.now_breached:
            return "no longer breached"
        return "breached" if self.now_breached else "on time"


def clocks_recompute(
    *, tenant: Tenant, now: datetime, apply: bool, version_at_start: bool = False
) -> list[ClockChange]:
    """The open stages (not met, not stopped) whose deadline the current policy moves.

    By default each clock takes the policy version in force now; with
    `version_at_start` the version in force when it started (this only picks up
    versions edited in place).
    """
    forget_config()
    config = config_for(tenant)
    changes: list[ClockChange] = []
    with transaction.atomic():
        clocks = list(
            StageClock.objects.select_for_update(of=("self", "order"))
            .filter(tenant=tenant, met_at__isnull=True, stopped_at__isnull=True)
            .select_related("order", "policy")
            .order_by("pk")
        )
        for clock in clocks:
            facts = facts_of(clock.order)
            policy = config.policy_for(
                warehouse=facts.warehouse,
                service_level=facts.service_level,
                at=clock.started_at if version_at_start else now,
            )
            if policy is None:
                continue
            choice = config.calendar_for(facts.warehouse)
            plan = plan_deadline(
                stage=clock.stage,
                started_at=clock.started_at,
                facts=facts,
                policy=policy,
                calendar=choice.working,
                always_open=config.always_open,
                high_volume=clock.high_volume
                or is_high_volume(tenant.pk, clock.started_at, policy.high_volume_orders_per_hour),
            )
            if plan.due_at == clock.due_at and plan.allowed_minutes == clock.allowed_minutes:
                continue
            change = ClockChange(
                clock=clock,
                order_id=clock.order.external_id,
                old_due=clock.due_at,
                new_due=plan.due_at,
                old_allowed=clock.allowed_minutes,
                new_allowed=plan.allowed_minutes,
                was_breached=clock.breached_at is not None,
                now_breached=plan.due_at <= now,
                explanation=plan.explanation,
            )
            changes.append(change)
            if apply:
                _apply(config, clock, plan, policy, choice.row, change, now, tenant)
        if apply:
            fields = [
                "policy",
                "calendar",
                "business_time",
                "allowed_minutes",
                "due_at",
                "warn_at",
                "explanation",
                "explanation_detail",
                "inputs_key",
                "breached_at",
                "severity_next_at",
                "updated_at",
            ]
            StageClock.objects.bulk_update([c.clock for c in changes], fields)
            # The orders' memos (Order.sla_clocks) must agree, or the next event
            # would put the old deadline back.
            orders = {c.clock.order_id: c.clock.order for c in changes}
            Order.objects.bulk_update(list(orders.values()), ["sla_clocks"])
    return changes


def _apply(
    config: TenantSlaConfig,
    clock: StageClock,
    plan: DeadlinePlan,
    policy: SlaPolicy,
    calendar_row: BusinessCalendar | None,
    change: ClockChange,
    now: datetime,
    tenant: Tenant,
) -> None:
    clock.policy = policy
    clock.calendar = calendar_row
    clock.business_time = plan.business_time
    clock.allowed_minutes = plan.allowed_minutes
    clock.due_at = plan.due_at
    clock.warn_at = plan.warn_at
    clock.explanation = plan.explanation
    clock.explanation_detail = plan.detail
    clock.inputs_key = inputs_key(
        stage=clock.stage,
        started_at=clock.started_at,
        policy_id=policy.pk,
        calendar_id=calendar_row.pk if calendar_row is not None else None,
        facts=facts_of(clock.order),
        high_volume=clock.high_volume,
    )
    clock.updated_at = now
    memo = dict(clock.order.sla_clocks or {})
    memo[clock.stage] = {
        **memo.get(clock.stage, {}),
        **deadline_memo(plan, policy.pk, clock.calendar_id, clock.inputs_key),
    }
    clock.order.sla_clocks = memo
    reason = DELAY_REASON[clock.stage]
    if change.verdict == "newly breached":
        clock.breached_at = now
        breaches_save(
            [
                breach_for(
                    config,
                    clock,
                    reason=reason,
                    at=now,
                    until=now,
                    detected_by=DetectedBy.RECOMPUTE,
                    final=False,
                )
            ],
            tenant_slug=tenant.slug,
            overwrite=True,
        )
    elif change.verdict == "no longer breached":
        clock.breached_at = None
        clock.severity_next_at = None
        Breach.objects.filter(clock=clock, reason_code=reason, cleared_at__isnull=True).update(
            cleared_at=now, updated_at=now
        )
        breaches_changed({clock.order_id}, now)
