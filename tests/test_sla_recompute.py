"""manage.py sla_recompute: show, then apply, a policy change to running clocks."""

from __future__ import annotations

from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from slas.models import Breach, SlaPolicy

from .sla_helpers import at, breaches, clock, send


def recompute(*args: str, when: str) -> str:
    out = StringIO()
    with time_machine.travel(at(when), tick=False):
        call_command("sla_recompute", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_recompute_previews_then_applies_a_new_policy_version(api, tenant):
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="tight")  # due 12:00
    send(api, "order_paid", "2026-06-03T11:30:00Z", order="roomy")  # due 13:30
    with time_machine.travel(at("2026-06-03T12:10:00Z"), tick=False):
        from slas.services.scan import sla_scan

        sla_scan()
    assert clock("tight", "pick").breached_at is not None

    # Staff shortage: from now on picks get 180 min, and ops want it for open orders too.
    SlaPolicy.objects.create(
        tenant=tenant, name="shortage", effective_from=at("2026-06-03T12:15:00Z"), pick_minutes=180
    )
    preview = recompute("--tenant", "acme", when="2026-06-03T12:20:00Z")
    assert (
        "tight pick: due 2026-06-03 12:00 → 2026-06-03 13:00 UTC (120 → 180 min), "
        "no longer breached" in preview
    )
    assert (
        "roomy pick: due 2026-06-03 13:30 → 2026-06-03 14:30 UTC (120 → 180 min), on time"
        in preview
    )
    assert "Nothing written" in preview
    assert clock("tight", "pick").due_at == at("2026-06-03T12:00:00Z")  # untouched

    applied = recompute("--tenant", "acme", "--apply", when="2026-06-03T12:20:00Z")
    assert "Applied. 2 open stage(s) change: 0 newly breached, 1 no longer breached." in applied
    tight = clock("tight", "pick")
    assert tight.due_at == at("2026-06-03T13:00:00Z") and tight.breached_at is None
    assert tight.policy.name == "shortage"
    [withdrawn] = breaches("tight")
    assert withdrawn.cleared_at == at("2026-06-03T12:20:00Z")
    # A later event on the order keeps the moved deadline (the order's memo agrees).
    send(api, "pick_started", "2026-06-03T12:25:00Z", order="tight")
    assert clock("tight", "pick").due_at == at("2026-06-03T13:00:00Z")
    assert recompute("--tenant", "acme", when="2026-06-03T12:21:00Z").startswith("0 open stage(s)")


@pytest.mark.django_db
def test_recompute_can_make_a_stage_newly_breached(api, tenant):
    send(api, "order_paid", "2026-06-03T10:00:00Z")  # due 12:00
    SlaPolicy.objects.create(
        tenant=tenant, name="strict", effective_from=at("2026-06-03T11:00:00Z"), pick_minutes=60
    )
    applied = recompute("--tenant", "acme", "--apply", when="2026-06-03T11:30:00Z")
    assert "newly breached" in applied
    [breach] = Breach.objects.all()
    assert (breach.detected_by, breach.late_minutes) == ("recompute", 30)


@pytest.mark.django_db
def test_recompute_refuses_an_unknown_tenant():
    with pytest.raises(CommandError, match="No tenant"):
        call_command("sla_recompute", "--tenant", "ghost")


@pytest.mark.django_db
def test_a_stage_recompute_breaches_keeps_ageing_in_severity(api, tenant):
    from slas.services.scan import sla_scan

    send(api, "order_paid", "2026-06-03T10:00:00Z", order="slow")  # due 12:00
    SlaPolicy.objects.create(
        tenant=tenant, name="tighter", effective_from=at("2026-06-03T10:30:00Z"), pick_minutes=60
    )
    recompute("--tenant", "acme", "--apply", when="2026-06-03T11:20:00Z")  # due 11:00: 20 min late
    [breach] = breaches("slow")
    assert (breach.detected_by, breach.severity) == ("recompute", "MEDIUM")  # 20 of 60 min
    # MEDIUM until 100 % late (12:00), then HIGH: the scan's ageing pass picks it up.
    assert clock("slow", "pick").severity_next_at == at("2026-06-03T12:00:00Z")
    assert sla_scan(now=at("2026-06-03T12:01:00Z")).severity_raised == 1
    breach.refresh_from_db()
    assert breach.severity == "HIGH"
