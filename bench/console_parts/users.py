"""The bench's tenants and its two logins: a superuser (unscoped) and an Operator of the
big tenant (the console scopes every list to the tenants a staff user works for, which
changes its queries). Passwords are new each run; the session comes from the real
login form, so wrk carries a cookie a browser would."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import httpx
from common import BenchError

from .data import TENANTS

SUPERUSER = "bench-admin"
OPERATOR = "bench-operator"
OPERATOR_TENANT = TENANTS[0]


@dataclass(frozen=True, slots=True)
class Login:
    label: str  # "superuser" or "operator"
    username: str
    password: str
    user_id: int


def ensure_tenants() -> dict[str, int]:
    from orders.models import Tenant

    out = {}
    for slug in TENANTS:
        tenant, _ = Tenant.objects.get_or_create(
            slug=slug, defaults={"name": f"Console bench {slug}", "timezone": "America/New_York"}
        )
        out[slug] = tenant.pk
    return out


def ensure_users() -> tuple[Login, Login]:
    from django.contrib.auth import get_user_model

    from orders.services.staff import staff_user_save

    password = secrets.token_urlsafe(18)
    user_model = get_user_model()
    admin, _ = user_model.objects.get_or_create(
        username=SUPERUSER, defaults={"email": "bench-admin@example.invalid"}
    )
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin.set_password(password)
    admin.save()
    saved = staff_user_save(
        username=OPERATOR, role="operator", tenant_slugs=[OPERATOR_TENANT], password=password
    )
    return (
        Login("superuser", SUPERUSER, password, admin.pk),
        Login("operator", OPERATOR, password, saved.user.pk),
    )


_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def login(port: int, who: Login) -> str:
    """The `sessionid` cookie from posting the admin's own login form (with its CSRF token)."""
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        page = client.get("/admin/login/", params={"next": "/admin/"})
        token = _TOKEN.search(page.text)
        if page.status_code != 200 or token is None:
            raise BenchError(f"/admin/login/ answered {page.status_code} without a login form")
        done = client.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": who.username,
                "password": who.password,
                "next": "/admin/",
            },
            headers={"Referer": f"{base}/admin/login/"},
        )
        session = client.cookies.get("sessionid")
        if done.status_code != 302 or not session:
            raise BenchError(f"logging in as {who.username} failed ({done.status_code})")
        return session
