"""Operator console screens of the SLA engine: lists stay cheap, forms refuse bad policy."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from slas.models import BusinessCalendar, SlaPolicy, StageClock
from slas.services.scan import sla_scan

from .factories import TenantFactory, ingest_event
from .sla_helpers import at

pytestmark = pytest.mark.django_db

MODELS = ["slapolicy", "businesscalendar", "stageclock", "breach"]


def populate(n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        tenant = TenantFactory(slug=f"merchant-{i}", timezone="Europe/Berlin")
        SlaPolicy.objects.create(
            tenant=tenant, name=f"policy {i}", effective_from=at("2026-01-01T00:00:00Z")
        )
        BusinessCalendar.objects.create(tenant=tenant, name=f"DC {i}", timezone="Europe/Berlin")
        ingest_event(
            tenant, event_id=f"e-{i}", order_id=f"#{1000 + i}", occurred_at="2026-11-27T10:00:00Z"
        )
    sla_scan(now=at("2026-11-28T10:00:00Z"))  # every pick is overdue: one breach each


def changelist(model: str) -> str:
    return reverse(f"admin:slas_{model}_changelist")


@pytest.mark.parametrize("model", MODELS)
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model
):
    populate(3)
    admin_client.get(changelist(model))
    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert "merchant-0" in response.content.decode() or model == "slapolicy"
    populate(12, start=3)
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(changelist(model))
    assert response.status_code == 200


def test_the_clock_list_says_each_stage_state_and_explains_it(admin_client):
    populate(1)
    page = admin_client.get(changelist("stageclock")).content.decode()
    assert "breached" in page
    clock = StageClock.objects.get()
    detail = admin_client.get(reverse("admin:slas_stageclock_change", args=[clock.pk]))
    assert detail.status_code == 200 and "pick due" in detail.content.decode()


def policy_form(**overrides) -> dict:
    data = {
        "name": "acme",
        "tenant": "",
        "warehouse": "",
        "service_level": "",
        "effective_from_0": "2026-06-01",
        "effective_from_1": "00:00:00",
        "peak_seasons-TOTAL_FORMS": "0",
        "peak_seasons-INITIAL_FORMS": "0",
        "peak_seasons-MIN_NUM_FORMS": "0",
        "peak_seasons-MAX_NUM_FORMS": "1000",
    }
    for field in SlaPolicy._meta.concrete_fields:
        if (
            field.name not in data
            and field.editable
            and not field.primary_key
            and field.name != "tenant"
        ) and field.has_default():
            data[field.name] = str(field.get_default())
    data.update(overrides)
    return data


def errors_of(response) -> str:
    return str(response.context["adminform"].form.errors) + str(
        [fs.non_form_errors() for fs in response.context["inline_admin_formsets"]]
    )


def test_a_valid_policy_is_saved(admin_client):
    tenant = TenantFactory(slug="acme")
    response = admin_client.post(reverse("admin:slas_slapolicy_add"), policy_form(tenant=tenant.pk))
    assert response.status_code == 302, errors_of(response)
    assert SlaPolicy.objects.get(tenant=tenant).pick_minutes == 120


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pick_minutes", "0", "greater than or equal to 1"),
        ("hazmat_multiplier", "0.5", "greater than or equal to 1"),
        ("warn_percent", "100", "less than or equal to 99"),
        ("severity_high_below_percent", "50", "Severity bands must rise"),
    ],
)
def test_the_policy_form_refuses_bad_values(admin_client, field, value, message):
    response = admin_client.post(reverse("admin:slas_slapolicy_add"), policy_form(**{field: value}))
    assert response.status_code == 200
    assert message in errors_of(response)


def test_two_versions_of_one_scope_cannot_start_at_the_same_instant(admin_client):
    tenant = TenantFactory(slug="acme")
    SlaPolicy.objects.create(tenant=tenant, name="v1", effective_from=at("2026-06-01T00:00:00Z"))
    response = admin_client.post(
        reverse("admin:slas_slapolicy_add"),
        policy_form(tenant=tenant.pk),  # the admin reads times in UTC (TIME_ZONE)
    )
    assert response.status_code == 200, "a second version at the same instant was saved"
    assert SlaPolicy.objects.filter(tenant=tenant).count() == 1


def test_overlapping_peak_seasons_are_refused(admin_client):
    data = policy_form(
        **{
            "peak_seasons-TOTAL_FORMS": "2",
            "peak_seasons-0-name": "Black Friday",
            "peak_seasons-0-starts_on": "2026-11-27",
            "peak_seasons-0-ends_on": "2026-11-30",
            "peak_seasons-1-name": "Cyber week",
            "peak_seasons-1-starts_on": "2026-11-30",
            "peak_seasons-1-ends_on": "2026-12-04",
        }
    )
    response = admin_client.post(reverse("admin:slas_slapolicy_add"), data)
    assert response.status_code == 200
    assert "overlap" in errors_of(response)


def test_the_default_policy_cannot_be_deleted(admin_client):
    default = SlaPolicy.objects.get(tenant__isnull=True, warehouse="", service_level="")
    response = admin_client.get(reverse("admin:slas_slapolicy_delete", args=[default.pk]))
    assert response.status_code == 403


def test_overlapping_working_hours_are_refused(admin_client):
    tenant = TenantFactory(slug="acme")
    data = {
        "tenant": tenant.pk,
        "warehouse": "",
        "name": "Main DC",
        "timezone": "Europe/Berlin",
        "hours-TOTAL_FORMS": "2",
        "hours-INITIAL_FORMS": "0",
        "hours-MIN_NUM_FORMS": "0",
        "hours-MAX_NUM_FORMS": "1000",
        "hours-0-weekday": "0",
        "hours-0-opens_at": "08:00",
        "hours-0-closes_at": "14:00",
        "hours-1-weekday": "0",
        "hours-1-opens_at": "13:00",
        "hours-1-closes_at": "18:00",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
        "holidays-MIN_NUM_FORMS": "0",
        "holidays-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(reverse("admin:slas_businesscalendar_add"), data)
    assert response.status_code == 200
    assert "overlap" in errors_of(response)
    data["hours-1-opens_at"] = "14:00"
    data["timezone"] = "Mars/Olympus"
    response = admin_client.post(reverse("admin:slas_businesscalendar_add"), data)
    assert "not an IANA time zone" in errors_of(response)
    data["timezone"] = "Europe/Berlin"
    response = admin_client.post(reverse("admin:slas_businesscalendar_add"), data)
    assert response.status_code == 302
    assert BusinessCalendar.objects.get().hours.count() == 2
