"""Fixtures for API tests: a tenant, its key, and a client that speaks JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from .factories import TenantFactory, api_key_for
from .llm_server import llm_server  # noqa: F401  (a local chat-completions server)
from .served import serve, served_static  # noqa: F401  (fixtures for tests that start the app)


class ApiClient:
    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: str | None = "default",
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        **headers: str,
    ):
        token = self.key if key == "default" else key
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type=content_type, **headers)

    def get(self, path: str, params: dict[str, Any] | None = None, *, key: str | None = "default"):
        token = self.key if key == "default" else key
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        return self.client.get(path, params or {}, **headers)


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", timezone="Europe/Berlin")


@pytest.fixture
def api_key(tenant) -> str:
    return api_key_for(tenant)


@pytest.fixture
def api(client, api_key) -> ApiClient:
    return ApiClient(client, api_key)
