"""Per-process copies of the reason-code catalogue and of tenants' alerting rows.

A scan that opens a thousand exceptions would otherwise read the same catalogue
row and the same alerting row a thousand times. Saving either in the admin
clears this process's copy at once (signals); other processes follow within
EXCEPTION_CONFIG_CACHE_SECONDS. Settings (SLACK_*) are read on every call, never
cached, so they always apply as configured.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from .catalogue import catalogue_load
from .models import ReasonCode, TenantAlerting

_lock = threading.Lock()
_reasons: dict[str, ReasonCode] = {}
_alerting: dict[int, TenantAlerting | None] = {}
_loaded_at = 0.0


def forget_config(**_: Any) -> None:
    global _loaded_at
    with _lock:
        _reasons.clear()
        _alerting.clear()
        _loaded_at = 0.0


def _fresh() -> None:
    """Drop the copies once they are older than the cache window."""
    global _loaded_at
    now = time.monotonic()
    if now - _loaded_at > settings.EXCEPTION_CONFIG_CACHE_SECONDS:
        with _lock:
            _reasons.clear()
            _alerting.clear()
            _loaded_at = now


def _catalogue() -> dict[str, ReasonCode]:
    """Every reason code, read in one query per cache window."""
    _fresh()
    if not _reasons:
        found = {r.code: r for r in ReasonCode.objects.all()}
        with _lock:
            _reasons.update(found)
    return _reasons


def reason_code(code: str) -> ReasonCode:
    """The catalogue entry for `code`, restoring the fixture's codes if the table lost them.

    Like the default SLA policy, the catalogue must always be there for detection
    to work; a database emptied by hand (or a test flush) gets the fixture back
    rather than failing on every breach. Raises DoesNotExist for a code the
    fixture does not know either.
    """
    found = _catalogue().get(code)
    if found is None:
        catalogue_load(ReasonCode)
        found = ReasonCode.objects.get(code=code)
        _reasons[code] = found
    return found


def active_codes() -> frozenset[str]:
    """The codes detection may open (an inactive code is kept for history only)."""
    if not _catalogue():
        reason_code("OTHER")  # restores an emptied catalogue
        forget_config()
    return frozenset(code for code, r in _catalogue().items() if r.active)


def alerting_for(tenant_id: int) -> tuple[str, str, bool]:
    """(channel, minimum severity, enabled) for a tenant, settings filling the blanks."""
    _fresh()
    if tenant_id not in _alerting:
        _alerting[tenant_id] = TenantAlerting.objects.filter(tenant_id=tenant_id).first()
    row = _alerting[tenant_id]
    channel = (row.slack_channel if row else "") or settings.SLACK_DEFAULT_CHANNEL
    minimum = (row.min_severity if row else "") or settings.SLACK_MIN_SEVERITY
    enabled = settings.SLACK_NOTIFICATION_ENABLED and (row.enabled if row else True)
    return channel, minimum, enabled


for _model in (ReasonCode, TenantAlerting):
    post_save.connect(forget_config, sender=_model, dispatch_uid=f"exceptions-config-{_model}")
    post_delete.connect(forget_config, sender=_model, dispatch_uid=f"exceptions-config-d-{_model}")
