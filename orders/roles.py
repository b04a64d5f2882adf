"""Staff roles: the one table of which Django group holds which permissions.

Four groups, each a role a 3PL's staff member has:

* **Operator** triages and acts on exceptions and orders and replays dead letters
  and parked follow-ups;
* **Finance** reads orders, exceptions and SLA breaches (the evidence behind a
  charge), reads invoices and their lines, keeps the rate sheets (adds and changes
  tariff versions and their volume tiers; a version that has priced an invoice is
  history and stays as it is), issues invoices and marks them paid;
* **Viewer** reads everything of their tenants' operations and changes nothing; it
  sees no billing: what a merchant pays is Finance's business, not the floor's;
* **Admin** may do everything in E²A's apps, including tenants, API keys, webhook
  secrets, SLA policies, calendars, the reason-code catalogue and billing.

Operator and Viewer hold no billing permission at all, so the invoice API
(`billing.api`) refuses their sessions with 403.

Which tenants a user sees is a separate fact (`orders.TenantMembership`); a role
says what they may do there. Users and groups themselves stay with superusers:
whoever may edit users may make themselves a superuser.

How the table reaches the database: migration `orders.0007` creates the four
groups, and `roles_sync` (connected to `post_migrate`) gives each exactly the
permissions listed here after every `migrate`. A data migration alone could not
do the second part well: permissions are created by `post_migrate` themselves, so
on a fresh database a migration would not see those of models migrated in the
same run, and every change to the table would need one more migration. The sync
runs at each release's `migrate` and in every test database, so a later issue
extends a role by editing this table only. The table is the truth: permissions
granted to these four groups by hand are taken away at the next `migrate`.

Entries are `app_label.codename`; a trailing `*` matches every codename with
that prefix (`"slas.*"`: every permission of the SLA app).
"""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)

OPERATOR = "Operator"
FINANCE = "Finance"
VIEWER = "Viewer"
ADMIN = "Admin"

# `create_operator --role …` names a role in lower case.
ROLE_BY_OPTION: dict[str, str] = {
    "operator": OPERATOR,
    "finance": FINANCE,
    "viewer": VIEWER,
    "admin": ADMIN,
}

# Seeing a tenant's data, screen by screen (inline rows included: an order page
# shows its events, clocks, breaches and exceptions only with their view rights).
# Webhook secrets and the Slack user mapping are left to Admin.
VIEW_TENANT_DATA: tuple[str, ...] = (
    "orders.view_tenant",
    "orders.view_apikey",
    "orders.view_order",
    "orders.view_orderevent",
    "orders.view_deadletter",
    "orders.view_followupfailure",
    "slas.view_slapolicy",
    "slas.view_peakseason",
    "slas.view_businesscalendar",
    "slas.view_workinghours",
    "slas.view_holiday",
    "slas.view_stageclock",
    "slas.view_breach",
    "exceptions.view_orderexception",
    "exceptions.view_exceptionactivity",
    "exceptions.view_exceptionbreach",
    "exceptions.view_notification",
    "exceptions.view_reasoncode",
    "exceptions.view_tenantalerting",
    "exceptions.view_playbookaction",
    "exceptions.view_actionrun",
    "exceptions.view_actionchoice",
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OPERATOR: (
        *VIEW_TENANT_DATA,
        # Assignee and notes on the exception page; the lifecycle actions.
        "exceptions.change_orderexception",
        "exceptions.act_on_exception",
        "orders.replay_dead_letter",
        "orders.replay_followup_failure",
    ),
    FINANCE: (
        "orders.view_tenant",
        "orders.view_order",
        "orders.view_orderevent",
        "slas.view_slapolicy",
        "slas.view_peakseason",
        "slas.view_stageclock",
        "slas.view_breach",
        "exceptions.view_orderexception",
        "exceptions.view_exceptionactivity",
        "exceptions.view_exceptionbreach",
        "exceptions.view_reasoncode",
        # Invoices: read them (the API and the console), issue, record payment.
        "billing.view_invoice",
        "billing.view_invoiceline",
        "billing.issue_invoice",
        "billing.mark_paid",
        # SLA credits: decide the ones above the review threshold.
        "billing.view_slacredit",
        "billing.approve_credit",
        # After issue: the validation's adjustments, credit notes, revenue leaks, and
        # whether last month's invoice is issued on the 1st.
        "billing.view_invoiceadjustment",
        "billing.decide_adjustment",
        "billing.view_creditnote",
        "billing.view_revenueleak",
        "billing.view_billingstate",
        "billing.change_billingstate",
        # Rate sheets: new versions and their tiers. Tariff versions are never
        # deleted (lines cite them); a tier may go while its version prices nothing.
        "billing.view_tariff",
        "billing.add_tariff",
        "billing.change_tariff",
        "billing.view_volumetier",
        "billing.add_volumetier",
        "billing.change_volumetier",
        "billing.delete_volumetier",
        # Storage snapshots and inbound receipts: the evidence of storage and receiving
        # fees, read-only (they come from the WMS).
        "billing.view_storagesnapshot",
        "billing.view_inboundreceipt",
    ),
    VIEWER: VIEW_TENANT_DATA,
    ADMIN: ("orders.*", "slas.*", "exceptions.*", "billing.*"),
}

ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)


def _matches(entry: str, label: str) -> bool:
    return fnmatch.fnmatchcase(label, entry) if entry.endswith("*") else label == entry


def resolve_role_permissions(role: str, available: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The permission rows `role` gets out of `available` ({"app.codename": row}), and the
    entries of the table that matched none (a typo, or an app not migrated yet)."""
    chosen: dict[str, Any] = {}
    missing: list[str] = []
    for entry in ROLE_PERMISSIONS[role]:
        hits = {label: row for label, row in available.items() if _matches(entry, label)}
        if not hits:
            missing.append(entry)
        chosen.update(hits)
    return [chosen[label] for label in sorted(chosen)], missing


def roles_create(*, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the four groups if missing (the data migration; permissions come from the sync)."""
    Group = apps.get_model("auth", "Group")
    for role in ROLES:
        Group.objects.using(using).get_or_create(name=role)


def roles_sync(*, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    """Give each role's group exactly the permissions of the table; returns what matched nothing."""
    from django.contrib.auth.management import create_permissions

    # post_migrate runs app by app; make sure every app's permissions exist first.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    available = {
        f"{app_label}.{codename}": row
        for row, app_label, codename in (
            (p, p.content_type.app_label, p.codename)
            for p in Permission.objects.using(using).select_related("content_type")
        )
    }
    missing_by_role: dict[str, list[str]] = {}
    for role in ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        rows, missing = resolve_role_permissions(role, available)
        group.permissions.set(rows)
        if missing:
            missing_by_role[role] = missing
            logger.warning("role %s: no permission matches %s", role, ", ".join(missing))
    return missing_by_role


def roles_sync_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """`post_migrate` receiver (connected for the orders app, once per `migrate`)."""
    roles_sync(apps=kwargs.get("apps") or global_apps, using=using)
