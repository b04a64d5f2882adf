"""Staff accounts: a role (a group of orders/roles.py) and the tenants they work for."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Tenant, TenantMembership
from ..roles import ROLE_BY_OPTION, ROLES


@dataclass(frozen=True)
class StaffUserSaved:
    user: Any
    created: bool
    # Only when this call generated it: the one moment it can be shown.
    generated_password: str | None
    tenants: list[Tenant]


@transaction.atomic
def staff_user_save(
    *,
    username: str,
    role: str,
    tenant_slugs: Sequence[str],
    password: str | None = None,
) -> StaffUserSaved:
    """Create or update a staff user so they have exactly `role` and these tenants.

    The call states the whole access, not a change to it: other role groups and
    other memberships are removed, so running it again with the same arguments
    changes nothing and a narrower list really narrows. A new user without a
    `password` gets a random one (returned once); an existing user keeps theirs
    unless one is given.
    """
    group_name = ROLE_BY_OPTION.get(role.lower(), role)
    if group_name not in ROLES:
        raise ValidationError(f"Unknown role {role!r}; one of {', '.join(ROLE_BY_OPTION)}.")
    if not tenant_slugs:
        raise ValidationError("Name at least one tenant: a staff user sees only their tenants.")
    tenants = list(Tenant.objects.filter(slug__in=set(tenant_slugs)).order_by("slug"))
    unknown = sorted(set(tenant_slugs) - {t.slug for t in tenants})
    if unknown:
        raise ValidationError(f"No tenant {', '.join(map(repr, unknown))}.")
    group = Group.objects.get_or_create(name=group_name)[0]

    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    generated = None
    if created:
        user = User(username=username)
        if password is None:
            password = generated = secrets.token_urlsafe(12)
    if password is not None:
        user.set_password(password)
    user.is_staff = True
    user.is_active = True
    user.full_clean(exclude=["password"])
    user.save()

    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(pk=group.pk))
    user.groups.add(group)
    TenantMembership.objects.filter(user=user).exclude(tenant__in=tenants).delete()
    for tenant in tenants:
        TenantMembership.objects.get_or_create(user=user, tenant=tenant)
    return StaffUserSaved(user=user, created=created, generated_password=generated, tenants=tenants)
