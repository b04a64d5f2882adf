"""Key facts of the generated OpenAPI schema: each operation documents the errors it can give.

The Schemathesis run (test_api_contract.py) proves the answers match; these
tests say, in one place each, what every operation must document, so a view
added without them fails here with a plain message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from orders.contract import DOCUMENTED_FIELDS

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _label(path: str, method: str) -> str:
    return f"{method.upper()} {path}"


def test_every_operation_documents_400_406_and_503_with_retry_after(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert {"400", "406", "503"} <= set(responses), _label(path, method)
        retry_after = responses["503"]["headers"]["Retry-After"]
        assert retry_after["required"] is True and retry_after["schema"]["type"] == "integer"


def test_every_answer_documents_its_correlation_id_and_json_errors(schema):
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            assert response["headers"]["X-Correlation-ID"]["required"] is True, (path, code)
            if code.startswith(("4", "5")):
                assert list(response["content"]) == ["application/json"], (path, method, code)


def test_authenticated_operations_document_401_with_www_authenticate(schema):
    authenticated = [
        (path, method, op)
        for path, method, op in operations(schema)
        if any(requirement for requirement in op.get("security", []))
    ]
    assert len(authenticated) >= 15  # ingest, SLA, orders and every exceptions operation
    for path, method, operation in authenticated:
        unauthorized = operation["responses"].get("401")
        assert unauthorized, _label(path, method)
        assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
        assert "403" in operation["responses"], _label(path, method)


def test_sla_and_order_endpoints_document_their_refusals(schema):
    """Schemathesis found undocumented 400 and 401 answers here."""
    at_risk = schema["paths"]["/api/sla/at-risk"]["get"]["responses"]
    order = schema["paths"]["/api/orders/{external_id}"]["get"]["responses"]
    assert {"200", "400", "401"} <= set(at_risk)
    assert {"200", "400", "401", "404"} <= set(order)


def test_operations_with_path_parameters_document_404(schema):
    for path, method, operation in operations(schema):
        if "{" in path:
            assert "404" in operation["responses"], _label(path, method)


def test_operations_with_a_body_document_413_and_415(schema):
    with_body = [(p, m, op) for p, m, op in operations(schema) if "requestBody" in op]
    assert with_body
    for path, method, operation in with_body:
        assert {"413", "415"} <= set(operation["responses"]), _label(path, method)
        assert list(operation["requestBody"]["content"]) == ["application/json"]


def test_429_is_documented_only_where_throttles_apply(schema):
    # No view throttles today; a throttled one documents 429 with Retry-After.
    assert not [op for _, _, op in operations(schema) if "429" in op["responses"]]


def test_the_error_schema_is_the_body_the_api_renders(schema):
    error = schema["components"]["schemas"]["ErrorSchema"]
    assert set(error["required"]) == {"detail", "code"}
    assert {"errors", "dead_letter_id", "limit_bytes", "dependency"} <= set(error["properties"])


def test_per_view_answers_win_over_the_defaults(schema):
    action = schema["paths"]["/api/exceptions/{exception_id}/acknowledge"]["post"]["responses"]
    conflict = action["409"]["content"]["application/json"]["schema"]["$ref"]
    assert not conflict.endswith("/ErrorSchema")
    shopify = schema["paths"]["/webhooks/shopify/{tenant_slug}"]["post"]["responses"]
    assert "Unknown tenant" in shopify["401"]["description"]
    assert "WWW-Authenticate" not in shopify["401"]["headers"]  # signed, not authenticated


def test_the_ingest_contract_documents_the_fields_the_validator_reads(schema):
    documented = set(schema["components"]["schemas"]["EventSchemaRequest"]["properties"])
    assert documented == DOCUMENTED_FIELDS
    assert "/ingest/v2/events/batch" in schema["paths"]


def test_a_throttled_operation_documents_429_with_retry_after():
    from django.urls import path
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.response import Response
    from rest_framework.throttling import AnonRateThrottle
    from rest_framework.views import APIView

    class Throttled(APIView):
        throttle_classes = [AnonRateThrottle]

        def get(self, request):  # pragma: no cover - only its schema is read
            return Response({})

    generated = SchemaGenerator(patterns=[path("api/throttled", Throttled.as_view())]).get_schema(
        request=None, public=True
    )
    responses = generated["paths"]["/api/throttled"]["get"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "404" not in responses and "413" not in responses  # no path parameter, no body


def test_every_api_key_operation_names_its_scope_and_documents_the_refusal(schema):
    """A client author sees what a key needs before meeting the 403 (issue 11)."""
    from orders.scopes import ApiKeyScope

    expected = {
        ("post", "/ingest/events"): "ingest",
        ("post", "/ingest/v2/events/batch"): "ingest",
        ("get", "/api/orders/{external_id}"): "read",
        ("get", "/api/sla/at-risk"): "read",
        ("get", "/api/exceptions"): "read",
        ("patch", "/api/exceptions/{exception_id}"): "act",
        ("post", "/api/exceptions/{exception_id}/resolve"): "act",
    }
    scoped = 0
    for path, method, operation in operations(schema):
        scope = operation.get("x-required-scope")
        if path.startswith("/webhooks/"):
            assert scope is None, _label(path, method)  # signed, not keyed
            continue
        assert scope in ApiKeyScope.values, _label(path, method)
        assert expected.get((method, path), scope) == scope, _label(path, method)
        assert f"API keys need the `{scope}` scope." in operation["description"]
        refused = operation["responses"]["403"]["description"]
        assert f"`required_scope: {scope}`" in refused, _label(path, method)
        scoped += 1
    assert scoped >= 15
    assert "required_scope" in schema["components"]["schemas"]["ErrorSchema"]["properties"]
    assert schema["components"]["schemas"]["RequiredScopeEnum"]["enum"] == ApiKeyScope.values


def test_lists_and_details_link_to_the_operations_taking_their_ids(schema):
    """OpenAPI links (e2a_project.openapi.LINKS), which the stateful Schemathesis run follows."""
    from e2a_project.openapi import LINKS

    by_id = {op["operationId"]: (path, op) for path, _, op in operations(schema)}
    for (source, status), links in LINKS.items():
        documented = by_id[source][1]["responses"][status]["links"]
        assert set(documented) == set(links), source
        for name, (target, parameter, _) in links.items():
            assert documented[name]["operationId"] == target, (source, name)
            path, _ = by_id[target]
            assert f"{{{parameter}}}" in path, (source, name)
    listed = schema["paths"]["/api/exceptions"]["get"]["responses"]["200"]["links"]
    assert listed["AcknowledgeException"] == {
        "operationId": "api_exceptions_acknowledge_create",
        "parameters": {"exception_id": "$response.body#/results/0/id"},
    }
