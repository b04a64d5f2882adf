"""A screen the user's role does not allow: the console's 403 page, not Django's bare one.

Admin views raise PermissionDenied; Django renders 403.html (e2a_project/templates)
with the request's context. The page keeps the console's header, says in plain
words that the role does not allow the screen (naming the role), and links home.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import permission_denied

from .billing_helpers import logged_in
from .factories import TenantFactory

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")


def test_a_viewer_opening_billing_gets_the_console_403_with_a_way_back():
    viewer = logged_in("viewer", TenantFactory(slug="acme"))

    response = viewer.get(reverse("admin:billing_invoice_changelist"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "E²A operator console" in page and "Django administration" not in page
    assert 'id="header"' in page  # the console's header bar, styled by the admin's CSS
    assert "Your role (Viewer) does not allow this screen" in page
    assert f'<a href="{HOME}" class="button" id="e2a-back-home">Back to the console home</a>' in (
        page
    )
    assert 'id="logout-form"' in page  # still signed in: the user tools are there
    assert "Issue (numbers" not in page and 'select name="action"' not in page


def test_a_staff_user_without_a_role_is_told_so_without_a_role_name():
    user = get_user_model().objects.create_user("norole", password="x", is_staff=True)
    client = Client()
    client.force_login(user)

    response = client.get(reverse("admin:billing_invoice_changelist"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "Your account's role does not allow this screen" in page
    assert "Your role (" not in page


def test_the_page_renders_for_an_anonymous_request():
    """Outside the admin (which sends anonymous users to its login) a view may refuse
    an anonymous request: the page must not need a user with groups."""
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()

    response = permission_denied(request, PermissionDenied("Sign in first."))

    assert response.status_code == 403
    page = response.content.decode()
    assert "E²A operator console" in page and "You are not signed in" in page
    assert "Sign in first." in page and f'href="{HOME}"' in page
    assert 'id="logout-form"' not in page
