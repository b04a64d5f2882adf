"""Revenue leaks: shipped orders without the pick or pack evidence that would bill them.

"No evidence, no charge" means a scan the warehouse forgot is money it never bills;
this proxy gives Finance a screen of its own over those orders (`billing.leaks`).
The order's stage times are stamped from the same events billing counts as evidence
(`pick_completed` → `picked_at`, `pack_completed` → `packed_at`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orders.models import Order

MISSING_PICK = Q(picked_at__isnull=True)
MISSING_PACK = Q(packed_at__isnull=True)
LEAKING = Q(shipped_at__isnull=False) & (MISSING_PICK | MISSING_PACK)


class LeakManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(LEAKING)


class RevenueLeak(Order):
    objects = LeakManager()

    class Meta:
        proxy = True
        verbose_name = "revenue leak"
        verbose_name_plural = "revenue leaks"
