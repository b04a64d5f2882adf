"""Who may see and do what: each role against each console screen, staff bound to tenants.

Two tenants hold look-alike data (the same order number, event ids, reason codes),
so a screen that forgot to scope would show the other tenant's row and say so.
The screens are read from `admin.site._registry`: a new screen of orders, slas,
exceptions or billing is covered by the isolation tests by itself, and the role
table below fails until it says who may open it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.inventory import StorageRow, storage_days_replace
from billing.models import (
    BillingState,
    CreditNote,
    InboundReceipt,
    Invoice,
    InvoiceAdjustment,
    SlaCredit,
)
from billing.periods import local_date
from billing.services import invoice_refresh
from exceptions.models import (
    ActionEndpoint,
    ActionRun,
    ExceptionStatus,
    Notification,
    OrderException,
    TenantAlerting,
)
from orders.admin_scoping import TenantScopedAdmin
from orders.models import (
    DeadLetter,
    FollowUpFailure,
    Order,
    Tenant,
    TenantMembership,
)
from orders.roles import ADMIN, FINANCE, OPERATOR, ROLES, VIEWER, roles_sync
from orders.services.api_keys import api_key_create
from orders.services.dead_letters import dead_letter_record
from orders.services.staff import staff_user_save
from orders.services.tenants import webhook_secret_set
from slas.models import BusinessCalendar, SlaPolicy

from .exception_helpers import raise_exception
from .factories import TenantFactory, event_body, ingest_event

pytestmark = pytest.mark.django_db

MINE, THEIRS = "north-3pl", "south-3pl"
APPS = {"orders", "slas", "exceptions", "billing"}
O, F, V, A = "operator", "finance", "viewer", "admin"  # noqa: E741 - the table reads best

# Which roles may open each screen (its list and its change page, read-only or not).
# A screen missing here fails test_every_screen_is_in_the_role_table.
SCREENS: dict[str, set[str]] = {
    "orders.tenant": {O, F, V, A},
    "orders.apikey": {O, V, A},
    "orders.webhooksecret": {A},
    "orders.order": {O, F, V, A},
    "orders.orderevent": {O, F, V, A},
    "orders.deadletter": {O, V, A},
    "orders.followupfailure": {O, V, A},
    "slas.slapolicy": {O, F, V, A},
    "slas.businesscalendar": {O, V, A},
    "slas.stageclock": {O, F, V, A},
    "slas.breach": {O, F, V, A},
    "exceptions.orderexception": {O, F, V, A},
    "exceptions.reasoncode": {O, F, V, A},
    "exceptions.tenantalerting": {O, V, A},
    "exceptions.notification": {O, V, A},
    "exceptions.slackidentity": {A},
    "exceptions.slackchannel": {A},
    # Automated actions: every role that works exceptions sees the runs and playbooks;
    # endpoints hold signing secrets, like webhook secrets: Admin only.
    "exceptions.actionrun": {O, V, A},
    "exceptions.playbookaction": {O, V, A},
    "exceptions.actionendpoint": {A},
    # Billing: what merchants pay is Finance's (and Admin's); the floor sees none of it.
    "billing.tariff": {F, A},
    "billing.invoice": {F, A},
    "billing.invoiceline": {F, A},
    "billing.slacredit": {F, A},
    "billing.invoiceadjustment": {F, A},
    "billing.creditnote": {F, A},
    "billing.revenueleak": {F, A},
    "billing.billingstate": {F, A},
    # The evidence of storage and receiving fees, read-only.
    "billing.storagesnapshot": {F, A},
    "billing.inboundreceipt": {F, A},
    # Users and groups: superusers only (whoever edits users can make a superuser).
    "auth.user": set(),
    "auth.group": set(),
    # Beat's schedules are set from code; only superusers look at them.
    "django_celery_beat.clockedschedule": set(),
    "django_celery_beat.crontabschedule": set(),
    "django_celery_beat.intervalschedule": set(),
    "django_celery_beat.periodictask": set(),
    "django_celery_beat.solarschedule": set(),
}

# Finance's billing permissions, exactly (Admin has every billing permission).
FINANCE_BILLING = {
    "view_invoice",
    "view_invoiceline",
    "issue_invoice",
    "mark_paid",
    "view_slacredit",
    "approve_credit",
    "view_tariff",
    "add_tariff",
    "change_tariff",
    "view_volumetier",
    "add_volumetier",
    "change_volumetier",
    "delete_volumetier",
    "view_storagesnapshot",
    "view_inboundreceipt",
    "view_invoiceadjustment",
    "decide_adjustment",
    "view_creditnote",
    "view_revenueleak",
    "view_billingstate",
    "change_billingstate",
}

LIFECYCLE = {
    "acknowledge",
    "start",
    "assign_to_me",
    "snooze_1h",
    "snooze_4h",
    "snooze_until_opening",
    "escalate",
    "resolve",
    "reopen",
    "close",
    "reanalyze",
    "approve_action",
    "reject_action",
}
APPROVALS = {"approve_selected", "reject_selected"}
INVOICING = {"refresh_selected", "issue_selected", "mark_paid_selected", "void_selected"}
# The bulk actions each role is offered (Django's "delete selected" aside, which only
# Admin gets, where a screen allows deleting at all).
ACTIONS: dict[str, dict[str, set[str]]] = {
    "exceptions.orderexception": {O: LIFECYCLE, F: set(), V: set(), A: LIFECYCLE},
    "orders.deadletter": {O: {"replay"}, V: set(), A: {"replay"}},
    "orders.followupfailure": {O: {"replay"}, V: set(), A: {"replay"}},
    "exceptions.notification": {O: {"send_again"}, V: set(), A: {"send_again"}},
    "exceptions.actionrun": {O: APPROVALS, V: set(), A: APPROVALS},
    "orders.apikey": {O: set(), V: set(), A: {"revoke"}},
    "billing.invoice": {F: INVOICING, A: INVOICING},
    "billing.tariff": {F: {"new_version"}, A: {"new_version"}},
    "billing.slacredit": {F: APPROVALS, A: APPROVALS},
    "billing.invoiceadjustment": {F: APPROVALS, A: APPROVALS},
}


def lookalike(slug: str) -> Tenant:
    """A tenant with a row on every tenant-bound screen, named as the other tenant's are."""
    tenant = TenantFactory(slug=slug, name=f"Merchant {slug}")
    api_key_create(tenant=tenant, name="WMS")
    webhook_secret_set(tenant=tenant, kind="standard", label="main")
    paid_at = timezone.now() - timedelta(hours=6)
    paid = ingest_event(
        tenant, event_type="order_paid", event_id="paid-1", order_id="#1001", occurred_at=paid_at
    )
    # Picked five hours after payment: late for the default 120 minutes, so a clock
    # and a breach are on record at once.
    picked_at = paid_at + timedelta(hours=5)
    ingest_event(
        tenant,
        event_type="pick_completed",
        event_id="pick-1",
        order_id="#1001",
        occurred_at=picked_at,
    )
    dead_letter_record(
        tenant=tenant,
        kind="event",
        raw_body=json.dumps(event_body(event_id="bad-1", occurred_at="yesterday")),
        reason="invalid event: occurred_at: bad",
        errors={"occurred_at": ["Not an ISO 8601 date-time."]},
        headers={},
    )
    now = timezone.now()
    FollowUpFailure.objects.create(
        event=paid, handler="sla", last_error="boom", attempts=5, next_attempt_at=now, parked_at=now
    )
    exception = raise_exception(Order.objects.get(tenant=tenant), "PICK_DELAY")
    Notification.objects.create(
        tenant=tenant,
        exception=exception,
        kind="new",
        text="PICK_DELAY",
        status="failed",
        created_at=now,
    )
    TenantAlerting.objects.create(tenant=tenant, slack_channel="#ops")
    ActionRun.objects.create(
        tenant=tenant,
        exception=exception,
        kind="hold_order",
        target="wms",
        status="awaiting_approval",
        needs_approval=True,
        created_at=now,
        updated_at=now,
    )
    ActionEndpoint.objects.create(
        tenant=tenant, kind="hold_order", url=f"https://{tenant.slug}.example/hold"
    )
    SlaPolicy.objects.create(tenant=tenant, name="Contract", effective_from=now)
    # A day of stock and a receipt, with the SKU and the reference the other tenant's have.
    today = local_date(now, tenant.timezone)
    storage_days_replace(
        tenant=tenant,
        days={today: [StorageRow(sku="SKU-1", received_on=today - timedelta(days=100), units=5)]},
    )
    InboundReceipt.objects.create(
        tenant=tenant, reference="ASN-1", received_at=now, units=10, cartons=1
    )
    BusinessCalendar.objects.create(tenant=tenant, name="Hours", timezone="UTC")
    # This month's draft: a tariff version, an invoice and its lines (the monthly top-up
    # at least), and the draft of the pick's month, with its line and its SLA credit.
    invoice_refresh(tenant=tenant, period=now.date())
    invoice_refresh(tenant=tenant, period=local_date(picked_at, tenant.timezone))
    assert SlaCredit.objects.filter(tenant=tenant).exists()
    # After issue: an adjustment, a credit note, the billing settings, and a revenue
    # leak (an order shipped without its pick or pack scan).
    invoice = Invoice.objects.filter(tenant=tenant).first()
    InvoiceAdjustment.objects.create(
        invoice=invoice,
        key="order:1",
        kind="correction",
        amount_cents=15,
        rationale=f"pack fee missing for {tenant.slug}",
        status="proposed",
    )
    CreditNote.objects.create(
        invoice=invoice, number=f"{tenant.slug}-CN", amount_cents=-100, reason="x", issued_by="f"
    )
    BillingState.objects.get_or_create(tenant=tenant)
    ingest_event(
        tenant, event_type="picked_up", event_id="ship-2", order_id="#1002", occurred_at=now
    )
    return tenant


@pytest.fixture(scope="module")
def tenants(django_db_setup, django_db_blocker) -> Iterator[tuple[Tenant, Tenant]]:
    """MINE and THEIRS, built once for the module (about 1.3 s per build, 45 tests).

    They are built in a transaction that stays open until the module's last test
    and is then rolled back; each test's own transaction nests in it as a savepoint,
    as in Django's TestCase.setUpTestData, so what a test changes is undone after it.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield lookalike(MINE), lookalike(THEIRS)
        transaction.set_rollback(True)


def login(role: str, *tenant_slugs: str) -> Client:
    """A browser logged in as a staff user of `role` working for `tenant_slugs` (MINE)."""
    user = staff_user_save(
        username=f"{role}-user", role=role, tenant_slugs=tenant_slugs or [MINE]
    ).user
    client = Client()
    client.force_login(user)
    return client


def registered() -> list[tuple[str, type, admin.ModelAdmin]]:
    return sorted(
        (
            (f"{model._meta.app_label}.{model._meta.model_name}", model, model_admin)
            for model, model_admin in admin.site._registry.items()
        ),
        key=lambda item: item[0],
    )


def tenant_screens() -> list[tuple[str, type, TenantScopedAdmin]]:
    return [
        (label, model, model_admin)
        for label, model, model_admin in registered()
        if model._meta.app_label in APPS and model_admin.tenant_field is not None
    ]


def url(label: str, view: str, *args) -> str:
    app_label, model_name = label.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def row_of(model, model_admin: TenantScopedAdmin, slug: str):
    """One row of `model` that belongs to the tenant `slug`."""
    path = model_admin.tenant_field
    lookup = "slug" if path == "" else f"{path}__slug"
    return model._default_manager.filter(**{lookup: slug}).order_by("pk").first()


def tenants_listed(model, model_admin: TenantScopedAdmin, queryset) -> set[str | None]:
    path = model_admin.tenant_field
    lookup = "slug" if path == "" else f"{path}__slug"
    pks = list(queryset.values_list("pk", flat=True))
    return set(model._default_manager.filter(pk__in=pks).values_list(lookup, flat=True))


# ---------------------------------------------------------------------- the roles


def test_every_screen_is_in_the_role_table():
    assert {label for label, _, _ in registered()} == set(SCREENS)


def test_every_screen_of_the_apps_is_tenant_scoped():
    for label, model, model_admin in registered():
        if model._meta.app_label in APPS:
            assert isinstance(model_admin, TenantScopedAdmin), label


def test_the_groups_hold_exactly_the_role_table():
    assert roles_sync() == {}  # every entry of the table names a real permission
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    viewer = Group.objects.get(name=VIEWER)
    assert not viewer.permissions.exclude(codename__startswith="view_").exists()
    operator = Group.objects.get(name=OPERATOR)
    assert {"act_on_exception", "replay_dead_letter", "replay_followup_failure"} <= set(
        operator.permissions.values_list("codename", flat=True)
    )
    finance = set(Group.objects.get(name=FINANCE).permissions.values_list("codename", flat=True))
    assert "view_orderexception" in finance and "act_on_exception" not in finance
    admin_perms = Group.objects.get(name=ADMIN).permissions
    assert admin_perms.filter(codename="change_tenant").exists()
    assert not admin_perms.filter(content_type__app_label="auth").exists()

    # Billing: Finance keeps rate sheets and invoices, Admin everything, the others nothing.
    billing = {
        role: set(
            Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="billing")
            .values_list("codename", flat=True)
        )
        for role in ROLES
    }
    assert billing[FINANCE] == FINANCE_BILLING
    assert billing[ADMIN] == set(
        Permission.objects.filter(content_type__app_label="billing").values_list(
            "codename", flat=True
        )
    )
    assert billing[ADMIN] > FINANCE_BILLING | {"delete_tariff", "delete_invoice"}
    assert billing[OPERATOR] == billing[VIEWER] == set()

    # The table is the truth: a permission granted by hand goes at the next sync.
    viewer.permissions.add(Permission.objects.get(codename="act_on_exception"))
    roles_sync()
    assert not viewer.permissions.filter(codename="act_on_exception").exists()


@pytest.mark.parametrize("role", [O, F, V, A])
def test_each_role_against_each_screen(tenants, role):
    """Every screen for one role: may it open the list and a row, which actions it gets."""
    client = login(role)
    for label, model, model_admin in registered():
        may_open = role in SCREENS[label]
        response = client.get(url(label, "changelist"))
        assert response.status_code == (200 if may_open else 403), (label, role)
        if not may_open:
            continue
        offered = set(model_admin.get_actions(response.wsgi_request))
        expected = ACTIONS.get(label, {}).get(role, set())
        assert offered - {"delete_selected"} == expected, (label, role)
        if role != A:
            assert "delete_selected" not in offered, label
        if not offered:
            assert 'name="action"' not in response.content.decode(), label
        obj = (
            row_of(model, model_admin, MINE)
            if model_admin.tenant_field is not None
            else model._default_manager.order_by("pk").first()
        )
        if obj is not None:
            assert client.get(url(label, "change", obj.pk)).status_code == 200, (label, role)


def test_a_viewer_sees_no_action_and_cannot_post_one(tenants):
    mine = OrderException.objects.get(tenant__slug=MINE)
    viewer = login(V)
    page = viewer.get(url("exceptions.orderexception", "changelist")).content.decode()
    assert 'name="action"' not in page  # no bulk-action bar at all
    viewer.post(
        url("exceptions.orderexception", "changelist"),
        {"action": "acknowledge", "_selected_action": [mine.pk]},
    )
    mine.refresh_from_db()
    assert mine.status == ExceptionStatus.OPEN
    # The change page is read-only: a POST is refused.
    change = url("exceptions.orderexception", "change", mine.pk)
    page = viewer.get(change).content.decode()
    assert "Save" not in page
    assert "Allowed now" not in page  # what the status allows is not what a Viewer may do
    assert "Allowed now" in login(O).get(change).content.decode()
    assert viewer.post(change, {"ops_note": "x"}).status_code == 403


def test_an_operator_acts_on_their_tenants_exceptions_only(tenants):
    mine = OrderException.objects.get(tenant__slug=MINE)
    theirs = OrderException.objects.get(tenant__slug=THEIRS)
    operator = login(O)
    operator.post(
        url("exceptions.orderexception", "changelist"),
        {"action": "acknowledge", "_selected_action": [mine.pk, theirs.pk]},
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == ExceptionStatus.ACKNOWLEDGED
    assert mine.acknowledged_by == "user:operator-user"
    assert theirs.status == ExceptionStatus.OPEN


def test_finance_cannot_replay_and_an_operator_can(tenants):
    letter = DeadLetter.objects.get(tenant__slug=MINE)
    changelist = url("orders.deadletter", "changelist")
    body = {"action": "replay", "_selected_action": [letter.pk]}
    assert login(F).post(changelist, body).status_code == 403  # not even the list
    login(V).post(changelist, body)
    letter.refresh_from_db()
    assert letter.replay_attempts == 0
    login(O).post(changelist, body)
    letter.refresh_from_db()
    assert letter.replay_attempts == 1


# ----------------------------------------------------------- staff bound to tenants


@pytest.mark.parametrize(
    ("label", "model", "model_admin"),
    tenant_screens(),
    ids=[label for label, _, _ in tenant_screens()],
)
def test_every_changelist_shows_only_the_users_tenants(tenants, label, model, model_admin):
    mine, theirs = row_of(model, model_admin, MINE), row_of(model, model_admin, THEIRS)
    assert mine is not None and theirs is not None, f"lookalike() makes no {label} row"
    client = login(A)  # the role that may open every screen

    response = client.get(url(label, "changelist"))
    assert response.status_code == 200
    listed = tenants_listed(model, model_admin, response.context["cl"].result_list)
    shared = {None} if model_admin.shared_without_tenant else set()
    assert MINE in listed and listed <= {MINE} | shared, label
    assert THEIRS not in response.content.decode()

    # Another tenant's row by URL is as absent as one that does not exist.
    assert client.get(url(label, "change", mine.pk)).status_code == 200
    for view in ("change", "history", "delete"):
        assert client.get(url(label, view, theirs.pk)).status_code == 404, (label, view)

    # A superuser works for every tenant.
    everything = Client()
    everything.force_login(staff_superuser())
    listed = everything.get(url(label, "changelist")).context["cl"].result_list
    assert {MINE, THEIRS} <= tenants_listed(model, model_admin, listed)


def staff_superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", password="pw")


def test_pickers_and_autocomplete_offer_only_the_users_tenants(tenants):
    client = login(A)
    form = client.get(url("orders.apikey", "add")).context["adminform"].form
    assert [t.slug for t in form.fields["tenant"].queryset] == [MINE]
    assert form.fields["tenant"].required

    found = client.get(
        "/admin/autocomplete/",
        {"app_label": "exceptions", "model_name": "tenantalerting", "field_name": "tenant"},
    ).json()["results"]
    assert [r["text"] for r in found] == [MINE]

    # Posting another tenant's id is refused by the form, not stored.
    theirs = Tenant.objects.get(slug=THEIRS)
    response = client.post(url("orders.apikey", "add"), {"tenant": theirs.pk, "name": "sneaky"})
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not theirs.api_keys.filter(name="sneaky").exists()


def test_the_assignee_picker_lists_colleagues_of_the_same_tenants(tenants):
    staff_user_save(username="north-colleague", role=V, tenant_slugs=[MINE])
    staff_user_save(username="south-stranger", role=O, tenant_slugs=[THEIRS])
    client = login(O)
    mine = OrderException.objects.get(tenant__slug=MINE)
    form = client.get(url("exceptions.orderexception", "change", mine.pk)).context["adminform"].form
    names = {u.username for u in form.fields["assignee"].queryset}
    assert names == {"operator-user", "north-colleague"}


def test_the_tenant_filter_lists_only_the_users_tenants(tenants):
    page = login(V).get(url("orders.order", "changelist")).content.decode()
    assert MINE in page and THEIRS not in page


def test_the_shared_default_policy_is_read_only_for_a_tenant_admin(tenants):
    default = SlaPolicy.objects.get(tenant__isnull=True, warehouse="", service_level="")
    client = login(A)
    change = url("slas.slapolicy", "change", default.pk)
    assert client.get(change).status_code == 200
    assert client.post(change, {"name": "mine now"}).status_code == 403
    default.refresh_from_db()
    assert default.name != "mine now"


def test_a_tenant_an_admin_adds_is_one_they_work_for(tenants):
    client = login(A)
    client.post(
        url("orders.tenant", "add"),
        {"slug": "east-3pl", "name": "East", "timezone": "UTC", "is_active": "on"},
    )
    assert TenantMembership.objects.filter(user__username="admin-user", tenant__slug="east-3pl")


def test_a_membership_is_unique_per_user_and_tenant(tenants):
    saved = staff_user_save(username="x", role=V, tenant_slugs=[MINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        TenantMembership.objects.create(user=saved.user, tenant=saved.tenants[0])


# ------------------------------------------------------------- the API staff session


def api_get(client: Client, path: str, tenant: str):
    return client.get(path, HTTP_X_TENANT_ID=tenant)


def test_the_api_session_works_for_member_tenants_only(tenants):
    mine = OrderException.objects.get(tenant__slug=MINE)
    viewer = login(V)
    listed = api_get(viewer, "/api/exceptions", MINE)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [mine.pk]
    assert api_get(viewer, "/api/exceptions", THEIRS).status_code == 403
    assert api_get(viewer, "/api/exceptions", "no-such-tenant").status_code == 403
    theirs = OrderException.objects.get(tenant__slug=THEIRS)
    assert api_get(viewer, f"/api/exceptions/{theirs.pk}", MINE).status_code == 404


@pytest.mark.parametrize(("role", "status"), [(V, 403), (F, 403), (O, 200), (A, 200)])
def test_only_roles_that_act_may_post_actions(tenants, role, status):
    mine = OrderException.objects.get(tenant__slug=MINE)
    client = login(role)
    response = client.post(
        f"/api/exceptions/{mine.pk}/acknowledge",
        data="{}",
        content_type="application/json",
        HTTP_X_TENANT_ID=MINE,
    )
    assert response.status_code == status, response.content
    patched = client.patch(
        f"/api/exceptions/{mine.pk}",
        data=json.dumps({"ops_note": "checked"}),
        content_type="application/json",
        HTTP_X_TENANT_ID=MINE,
    )
    assert patched.status_code == status
    assert api_get(client, f"/api/exceptions/{mine.pk}", MINE).status_code == 200
    if status == 403:
        assert "act_on_exception" in response.json()["detail"]


# ------------------------------------------------------------------------ commands


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    if stdin is None:
        call_command(*args, stdout=out)
    else:
        import sys

        saved, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            call_command(*args, stdout=out)
        finally:
            sys.stdin = saved
    return out.getvalue()


def test_create_operator_creates_then_updates_a_staff_user(client):
    TenantFactory(slug="acme")
    TenantFactory(slug="globex")
    first = run("create_operator", "olga", "--role", "operator", "--tenant", "acme")
    password = re.search(r"Password \(shown once, keep it safe\): (\S+)", first).group(1)
    assert client.login(username="olga", password=password)
    from django.contrib.auth import get_user_model

    olga = get_user_model().objects.get(username="olga")
    assert olga.is_staff and not olga.is_superuser
    assert [g.name for g in olga.groups.all()] == [OPERATOR]

    second = run(
        "create_operator", "olga", "--role", "viewer", "--tenant", "globex", "--tenant", "acme"
    )
    assert "Updated viewer olga for acme, globex." in second
    assert "Password" not in second  # kept, and never shown again
    assert [g.name for g in olga.groups.all()] == [VIEWER]
    assert set(olga.tenant_memberships.values_list("tenant__slug", flat=True)) == {
        "acme",
        "globex",
    }
    assert client.login(username="olga", password=password)

    run(
        "create_operator",
        "olga",
        "--role",
        "viewer",
        "--tenant",
        "acme",
        "--password-stdin",
        stdin="n3w-secret\n",
    )
    assert client.login(username="olga", password="n3w-secret")
    assert list(olga.tenant_memberships.values_list("tenant__slug", flat=True)) == ["acme"]


def test_create_operator_refuses_an_unknown_tenant():
    with pytest.raises(CommandError, match="nope"):
        run("create_operator", "olga", "--role", "viewer", "--tenant", "nope")


def test_bootstrap_demo_creates_one_login_per_role():
    first = run("bootstrap_demo")
    logins = dict(re.findall(r"^\s+\w+\s+(demo-\w+) / (\S+)$", first, re.MULTILINE))
    assert set(logins) == {"demo-operator", "demo-finance", "demo-viewer", "demo-admin"}
    for username, password in logins.items():
        browser = Client()
        assert browser.login(username=username, password=password)
        assert browser.get("/admin/").status_code == 200
    assert "Admin login:" in first and "e2a_" in first

    second = run("bootstrap_demo")
    for username, password in logins.items():
        assert username in second and password not in second
