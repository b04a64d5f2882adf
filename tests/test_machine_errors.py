"""Programs get JSON errors under /api/, /ingest/, /webhooks/ and /slack/, never HTML."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import path

from e2a_project.urls import urlpatterns as project_urls

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug in a plain view")


urlpatterns = [path("api/test-boom", _boom), *project_urls]


def _assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    "url",
    ["/api/nothing-here", "/ingest/nope", "/webhooks/nope/x/y", "/slack/nope", "/api/"],
)
def test_an_unmatched_machine_path_answers_json_404(client, url):
    body = _assert_json_error(client.get(url), 404, "not_found")
    assert url in body["detail"]


def test_a_wrong_method_on_a_plain_view_answers_json_405_with_allow(client):
    response = client.get("/slack/interactions")
    body = _assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert "POST" in body["detail"]


def test_a_refused_host_answers_json_400(client):
    response = client.get("/api/exceptions", headers={"host": "evil.example"})
    _assert_json_error(response, 400, "bad_request")


@override_settings(ROOT_URLCONF=__name__)
def test_an_unhandled_error_answers_json_500(client):
    client.raise_request_exception = False
    body = _assert_json_error(client.get("/api/test-boom"), 500, "server_error")
    assert "a bug" not in body["detail"]  # no internals leak to the caller


def test_the_console_keeps_django_pages(client):
    response = client.get("/admin/nothing-here/")
    assert response.status_code in (302, 404)
    assert not response["Content-Type"].startswith("application/json")


def test_the_correlation_id_comes_back_on_a_json_error(client):
    response = client.get("/api/nothing-here", headers={"x-correlation-id": "abc-123"})
    assert response["X-Correlation-ID"] == "abc-123"


def test_admin_styles_are_served(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"--body-bg" in b"".join(response.streaming_content)


def test_the_bare_address_leads_to_the_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
