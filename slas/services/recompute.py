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
from django.db.models import Q

from orders.db import update_fields
from orders.models import Order, Tenant

from ..breach_listeners import breaches_changed
from ..config import TenantSlaConfig, config_for, forget_config
from ..deadlines import DeadlinePlan, inputs_key, plan_deadline
from ..memo import DEADLINE_FIELDS, ClockEntry, read_memo, set_deadlines
from ..models import DELAY_REASON, Breach, DetectedBy, StageClock
from .breaches import breach_for, breaches_save, elapsed_minutes, next_rise_at
from .clock_rows import clocks_save, facts_of, memo_clock, stored_rows


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
    versions edited in place). Works on the orders' memos, the truth about their
    clocks, with the order rows locked as ingestion and the scan lock them: an
    open stage is either still waiting for its deadline (the order's `sla_due_at`
    is set) or breached by the scan, which wrote its row.
    """
    forget_config()
    config = config_for(tenant)
    changes: list[ClockChange] = []
    with transaction.atomic():
        breached_open = StageClock.objects.filter(
            tenant=tenant, breached_at__isnull=False, met_at__isnull=True, stopped_at__isnull=True
        ).values("order_id")
        scope = Order.objects.filter(
            Q(sla_due_at__isnull=False) | Q(pk__in=breached_open), tenant=tenant
        ).order_by("external_id")
        if apply:  # a preview writes nothing, so it holds up no ingestion
            scope = scope.select_for_update(of=("self",))
        orders = list(scope)
        rows = stored_rows(o.pk for o in orders)
        touched: dict[int, Order] = {}
        for order in orders:
            order.tenant = tenant
            memo = read_memo(order)
            for stage, entry in memo.items():
                if entry.met_at is not None or entry.stopped_at is not None:
                    continue
                found = _recompute_stage(config, order, stage, entry, now, version_at_start)
                if found is None:
                    continue
                plan, moved = found
                change = ClockChange(
                    clock=memo_clock(
                        config,
                        order,
                        stage,
                        moved,
                        now=now,
                        row=rows.get((order.pk, stage)),
                        explained=(plan.explanation, plan.detail),
                    ),
                    order_id=order.external_id,
                    old_due=entry.due_at,
                    new_due=plan.due_at,
                    old_allowed=entry.allowed_minutes,
                    new_allowed=plan.allowed_minutes,
                    was_breached=entry.breached_at is not None,
                    now_breached=plan.due_at <= now,
                    explanation=plan.explanation,
                )
                changes.append(change)
                memo[stage] = moved
                touched[order.pk] = order
            # The memo must agree, or the next event would put the old deadline back.
            set_deadlines(order, memo)
        if apply:
            _apply(config, changes, now, tenant)
            update_fields(Order, list(touched.values()), ("sla_clocks", *DEADLINE_FIELDS))
    return changes


def _recompute_stage(
    config: TenantSlaConfig,
    order: Order,
    stage: str,
    entry: ClockEntry,
    now: datetime,
    version_at_start: bool,
) -> tuple[DeadlinePlan, ClockEntry] | None:
    """The stage's plan under the policy in force, and its memo entry moved onto it;
    None when the deadline does not move."""
    facts = facts_of(order)
    started = entry.started_at
    policy = config.policy_for(
        warehouse=facts.warehouse,
        service_level=facts.service_level,
        at=started if version_at_start else now,
    )
    if policy is None:
        return None
    choice = config.calendar_for(facts.warehouse)
    high_volume = bool(entry.high_volume)
    plan = plan_deadline(
        stage=stage,
        started_at=started,
        facts=facts,
        policy=policy,
        calendar=choice.working,
        always_open=config.always_open,
        high_volume=high_volume,  # judged once, when the clock started (see clocks)
    )
    if plan.due_at == entry.due_at and plan.allowed_minutes == entry.allowed_minutes:
        return None
    calendar_id = choice.row.pk if choice.row is not None else None
    key = inputs_key(
        stage=stage,
        started_at=started,
        policy_id=policy.pk,
        calendar_id=calendar_id,
        facts=facts,
        high_volume=high_volume,
    )
    moved = entry.replan(plan=plan, policy_id=policy.pk, calendar_id=calendar_id, inputs_key=key)
    # Newly breached, or still breached (since then); or the breach no longer stands.
    return plan, moved.breach(now) if plan.due_at <= now else moved.withdraw()


def _apply(
    config: TenantSlaConfig, changes: list[ClockChange], now: datetime, tenant: Tenant
) -> None:
    """Write the moved clocks' rows and record or withdraw their breaches."""
    clocks = [c.clock for c in changes]
    for change in changes:
        clock = change.clock
        if change.now_breached:
            # Ageing picks a stuck stage up again from here (the due time may have moved).
            late = max(elapsed_minutes(config, clock, now)[1], 0.0)
            clock.severity_next_at = next_rise_at(config, clock, late)
        else:
            clock.severity_next_at = None
    clocks_save(clocks, also=("severity_next_at",))
    newly = [c.clock for c in changes if c.verdict == "newly breached"]
    breaches_save(
        [
            breach_for(
                config,
                clock,
                reason=DELAY_REASON[clock.stage],
                at=now,
                until=now,
                detected_by=DetectedBy.RECOMPUTE,
                final=False,
            )
            for clock in newly
        ],
        tenant_slug=tenant.slug,
        overwrite=True,
    )
    cleared = [c.clock for c in changes if c.verdict == "no longer breached"]
    for clock in cleared:
        Breach.objects.filter(
            clock=clock, reason_code=DELAY_REASON[clock.stage], cleared_at__isnull=True
        ).update(cleared_at=now, updated_at=now)
    breaches_changed({c.order_id for c in cleared}, now)
