"""The ops lead of the demo tour: works the exception list while on shift.

A replayed week with nobody at the console ends with every exception escalated
to CRITICAL, which is true of an unattended warehouse and useless as a first
look. This simulated operator acknowledges what opens while on shift within
tens of minutes, resolves most of it a few hours later with a plausible
resolution, and leaves some open, so the console, the stats and later the
dashboard show what a working warehouse looks like. Each decision comes from
the exception's id, so the same seed makes the same week.

Used only by `manage.py demo_tour`; it acts through the same lifecycle services
an operator's clicks call.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model

from orders.models import Tenant

from .actors import Actor
from .automation.services import NothingWaiting, action_approve, action_reject
from .models import ActionRun, ExceptionStatus, OrderException, RunStatus
from .services import lifecycle
from .transitions import TransitionRefused

OPERATOR_USERNAME = "demo-operator"  # bootstrap_demo's Operator login
LEFT_OPEN_SHARE = 0.25  # acknowledged, then left: the work still on the desk
REJECTED_SHARE = 0.2  # automated actions waiting for approval that the operator refuses

RESOLUTIONS = {
    "PICK_DELAY": "Picked from the overflow location; wave re-prioritised.",
    "PACK_DELAY": "Packed by the second shift; station backlog cleared.",
    "SHIP_DELAY": "Handed to the carrier on the next collection.",
    "DELIVERY_DELAY": "Carrier confirmed delivery; customer informed of the delay.",
    "MISSING_SCAN": "Scan back-filled from the station log; scanner re-paired.",
    "ADDRESS_INVALID": "Customer confirmed the postal code; address corrected.",
    "ADDRESS_ERROR": "Customer supplied the missing street; label reprinted.",
    "PAYMENT_FAILED": "Merchant cancelled the order; nothing to ship.",
    "INVENTORY_SHORTAGE": "Stock found in receiving; order released for picking.",
    "DAMAGED_PACKAGE": "Replacement picked and packed; damaged unit written off.",
    "CARRIER_ISSUE": "Carrier trace opened; parcel moving again.",
    "CUSTOMER_UNAVAILABLE": "Customer chose pickup at the access point.",
}


def _fraction(pk: int, salt: str) -> float:
    """A stable number in [0, 1) for this exception and decision."""
    digest = hashlib.blake2b(f"{salt}:{pk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def on_shift(at: datetime, tz: ZoneInfo) -> bool:
    """Weekdays 07:00–19:00 and Saturday mornings, in the tenant's time zone."""
    local = at.astimezone(tz)
    if local.weekday() < 5:
        return 7 <= local.hour < 19
    return local.weekday() == 5 and 8 <= local.hour < 14


class DemoOperator:
    """One ops lead for one tenant; `work(now)` is called at every replay step."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.tz = ZoneInfo(tenant.timezone)
        user = get_user_model().objects.filter(username=OPERATOR_USERNAME).first()
        self.actor = Actor.for_user(user) if user else Actor.system(OPERATOR_USERNAME)

    def work(self, now: datetime) -> None:
        if not on_shift(now, self.tz):
            return
        self._decide_waiting_actions(now)
        active = OrderException.objects.filter(
            tenant=self.tenant,
            status__in=[ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED],
        ).values_list("pk", "status", "reason_code_id", "first_seen_at", "acknowledged_at")
        for pk, status, reason, seen, acknowledged in list(active):
            try:
                if status == ExceptionStatus.OPEN:
                    react = timedelta(minutes=10 + 40 * _fraction(pk, "react"))
                    if now - seen >= react:
                        lifecycle.exception_acknowledge(
                            exception_id=pk, actor=self.actor, now=now, note="Looking into it."
                        )
                elif _fraction(pk, "leave") >= LEFT_OPEN_SHARE and acknowledged is not None:
                    fix = timedelta(hours=1 + 5 * _fraction(pk, "fix"))
                    if now - acknowledged >= fix:
                        lifecycle.exception_resolve(
                            exception_id=pk,
                            resolution=RESOLUTIONS.get(reason, "Handled with the merchant."),
                            actor=self.actor,
                            now=now,
                        )
            except TransitionRefused:
                continue  # changed by E²A itself meanwhile (auto-resolved, reopened)

    def _decide_waiting_actions(self, now: datetime) -> None:
        """Approve most automated actions waiting for a person within half an hour; refuse
        some, saying why, as an ops lead who knows the floor would."""
        waiting = ActionRun.objects.filter(
            tenant=self.tenant, status=RunStatus.AWAITING_APPROVAL
        ).values_list("pk", "exception_id", "created_at")
        for pk, exception_id, proposed in list(waiting):
            if now - proposed < timedelta(minutes=5 + 25 * _fraction(pk, "approve")):
                continue
            try:
                if _fraction(pk, "reject") < REJECTED_SHARE:
                    action_reject(
                        exception_id=exception_id,
                        run_id=pk,
                        actor=self.actor,
                        reason="Handled on the floor already; no need to hold it.",
                        now=now,
                    )
                else:
                    action_approve(exception_id=exception_id, run_id=pk, actor=self.actor, now=now)
            except (TransitionRefused, NothingWaiting):
                continue  # the exception moved on meanwhile
