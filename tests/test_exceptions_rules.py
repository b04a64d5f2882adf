"""Detection beyond the clock: content rules on Shopify orders and reported events.

Shopify bodies are the sample webhooks (fixtures/sample_webhooks), delivered signed
through POST /webhooks/shopify/<tenant>; WMS and carrier events go through
POST /ingest/events. The worker's follow-up runs on commit, as in production.
"""

from __future__ import annotations

import copy

import pytest
import time_machine

from exceptions.models import ExceptionStatus, OrderException
from exceptions.services.detection import exceptions_detect
from orders.models import Order, OrderEvent
from orders.services.tenants import webhook_secret_set

from .exception_helpers import actions_of
from .factories import event_body
from .test_webhooks_shopify import SECRET, deliver, sample

pytestmark = pytest.mark.django_db
ORDER = "#1001"


@pytest.fixture
def run_followups(django_capture_on_commit_callbacks):
    """Run each request's on-commit work (the worker's follow-up) as it happens."""

    def post(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = fn(*args, **kwargs)
        assert response.status_code in (200, 202), response.content
        return response

    return post


@pytest.fixture
def shopify(client, tenant, run_followups):
    webhook_secret_set(tenant=tenant, kind="shopify", secret=SECRET)

    def send(topic: str, body: dict) -> None:
        with time_machine.travel("2026-11-24T10:00:00Z", tick=False):
            run_followups(deliver, client, topic, body)

    return send


@pytest.fixture
def event(api, run_followups):
    def send(event_type: str, occurred_at: str = "2026-11-24T11:00:00Z", **fields) -> None:
        body = event_body(event_type=event_type, order_id=ORDER, occurred_at=occurred_at, **fields)
        with time_machine.travel("2026-11-24T12:00:00Z", tick=False):
            run_followups(api.post, "/ingest/events", body)

    return send


def codes(status: str | None = None, order: str = ORDER) -> dict[str, OrderException]:
    scope = OrderException.objects.filter(order__external_id=order)
    if status:
        scope = scope.filter(status=status)
    return {e.reason_code_id: e for e in scope}


def order_with(**changes) -> dict:
    body = copy.deepcopy(sample("orders_create.json"))
    for key, value in changes.items():
        if key.startswith("address_"):
            body["shipping_address"][key.removeprefix("address_")] = value
        else:
            body[key] = value
    return body


# --- payment ----------------------------------------------------------------------
def test_a_pending_payment_alone_is_not_an_exception(shopify):
    shopify("orders/create", sample("orders_create.json"))  # financial_status: pending
    assert codes() == {}


def test_work_on_an_unpaid_order_opens_payment_failed_until_it_is_paid(shopify, event):
    shopify("orders/create", sample("orders_create.json"))
    event("pick_started")
    exc = codes()["PAYMENT_FAILED"]
    assert exc.evidence["financial_status"] == "pending"
    assert exc.evidence["warehouse_activity"] == ["pick_started"]
    assert "payment is pending" in exc.ops_note

    shopify("orders/paid", sample("orders_paid.json"))
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_code) == ("RESOLVED", "CONDITION_CLEARED")
    assert actions_of(exc) == ["opened", "auto_resolved"]


def test_a_failed_payment_opens_payment_failed_at_once(shopify):
    shopify("orders/create", order_with(financial_status="voided"))
    assert codes()["PAYMENT_FAILED"].severity == "HIGH"


# --- address ----------------------------------------------------------------------
def test_a_placeholder_postal_code_is_invalid_until_the_address_is_corrected(shopify):
    shopify("orders/create", order_with(address_zip="00000"))
    exc = codes()["ADDRESS_INVALID"]
    assert exc.evidence["problem"] == "placeholder" and exc.evidence["country"] == "DE"
    assert '"00000"' in exc.ops_note

    shopify(
        "orders/updated", order_with(address_zip="10969", updated_at="2026-11-23T10:00:00+01:00")
    )
    exc.refresh_from_db()
    assert exc.status == "RESOLVED" and exc.resolution_code == "CONDITION_CLEARED"


@pytest.mark.parametrize(
    ("country", "postal", "problem"),
    [
        ("DE", "1234", "not a DE postal code"),
        ("US", "ABCDE", "not a US postal code"),
        ("GB", "", "missing"),
        ("NL", "99999", "placeholder"),
    ],
)
def test_postal_codes_are_checked_against_the_country(shopify, country, postal, problem):
    shopify("orders/create", order_with(address_country_code=country, address_zip=postal))
    assert codes()["ADDRESS_INVALID"].evidence["problem"] == problem


@pytest.mark.parametrize(
    ("country", "postal"),
    [("US", "94103-1234"), ("GB", "SW1A 1AA"), ("NL", "1012 AB"), ("CA", "K1A 0B1")],
)
def test_valid_postal_codes_pass(shopify, country, postal):
    shopify("orders/create", order_with(address_country_code=country, address_zip=postal))
    assert "ADDRESS_INVALID" not in codes()


def test_a_zip_code_from_another_state_is_invalid(shopify):
    new_york = {"address_country_code": "US", "address_province_code": "NY"}
    shopify("orders/create", order_with(**new_york, address_zip="94103"))
    exc = codes()["ADDRESS_INVALID"]
    assert exc.evidence["problem"] == "not a NY postal code"
    assert '"94103" for US (not a NY postal code).' in exc.ops_note

    shopify(
        "orders/updated",
        order_with(**new_york, address_zip="12345", updated_at="2026-11-23T10:00:00+01:00"),
    )
    exc.refresh_from_db()
    assert exc.status == "RESOLVED"  # Schenectady, NY: a real ZIP, not a placeholder


def test_an_address_without_street_or_city_cannot_be_delivered(shopify):
    shopify("orders/create", order_with(address_address1="", address_city=None))
    exc = codes()["ADDRESS_ERROR"]
    assert exc.evidence["problems"] == ["no street", "no city"]
    assert "no street; no city" in exc.ops_note


# --- inventory --------------------------------------------------------------------
def test_a_line_above_the_inventory_snapshot_is_a_shortage(shopify, event):
    shopify("orders/create", sample("orders_create.json"))  # MUG-CER-350-BLU × 2, TEA-EGR-250 × 3
    event("pick_started", inventory={"MUG-CER-350-BLU": 1, "TEA-EGR-250": 5})
    exc = codes()["INVENTORY_SHORTAGE"]
    assert exc.evidence["lines"] == [{"sku": "MUG-CER-350-BLU", "ordered": 2, "available": 1}]
    assert "MUG-CER-350-BLU needs 2, 1 available" in exc.ops_note


def test_enough_stock_is_no_shortage(shopify, event):
    shopify("orders/create", sample("orders_create.json"))
    event("pick_started", inventory={"MUG-CER-350-BLU": 2, "TEA-EGR-250": 3})
    assert "INVENTORY_SHORTAGE" not in codes()


def test_a_reported_inventory_shortage_is_an_exception(event):
    event("inventory_shortage", payload={"lines": [{"sku": "A-1", "ordered": 4, "available": 0}]})
    assert codes()["INVENTORY_SHORTAGE"].evidence["lines"][0]["sku"] == "A-1"


def test_a_reported_shortage_is_not_resolved_by_an_order_without_stock_flags(shopify, event):
    """Auto-resolution belongs to the line-item condition, not to the WMS's report."""
    event("inventory_shortage", payload={"lines": [{"sku": "A-1", "ordered": 4, "available": 0}]})
    shopify("orders/create", sample("orders_create.json"))  # no stock flags on its lines
    assert codes()["INVENTORY_SHORTAGE"].status == ExceptionStatus.OPEN


# --- flags the earlier E²A's senders set on the order itself --------------------------
SHORT = "#1002"  # orders_create_inventory_shortage.json
UNPAID = "#1003"  # orders_create_payment_issues.json


def flagged(name: str, **changes) -> dict:
    body = copy.deepcopy(sample(name))
    body.update(changes)
    return body


def with_lines(name: str, *lines: dict, **changes) -> dict:
    """The sample order with each line item updated by the matching dict (None: as is)."""
    body = flagged(name, **changes)
    for item, line in zip(body["line_items"], lines, strict=False):
        item.update(line or {})
    return body


LATER = "2026-11-23T13:00:00+01:00"


def test_payment_issues_alone_opens_payment_failed(shopify):
    shopify("orders/create", sample("orders_create_payment_issues.json"))  # pending, no work yet
    exc = codes(order=UNPAID)["PAYMENT_FAILED"]
    assert exc.status == ExceptionStatus.OPEN
    assert exc.evidence["payment_issues"] is True
    assert exc.evidence["financial_status"] == "pending"
    assert exc.evidence["warehouse_activity"] == []
    assert "payment is pending" in exc.ops_note
    assert "payment issues" in exc.ops_note


def test_no_payment_issues_on_a_paid_order_is_no_exception(shopify):
    body = flagged(
        "orders_create_payment_issues.json", payment_issues=False, financial_status="paid"
    )
    shopify("orders/create", body)
    assert codes(order=UNPAID) == {}


def test_payment_issues_cleared_by_a_later_update_resolve_themselves(shopify):
    shopify("orders/create", sample("orders_create_payment_issues.json"))
    exc = codes(order=UNPAID)["PAYMENT_FAILED"]

    cleared = flagged(
        "orders_create_payment_issues.json",
        payment_issues=False,
        financial_status="paid",
        updated_at=LATER,
    )
    shopify("orders/updated", cleared)
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_code) == ("RESOLVED", "CONDITION_CLEARED")
    assert actions_of(exc) == ["opened", "auto_resolved"]


def test_an_older_update_still_flagged_does_not_undo_a_newer_clearing(shopify):
    """Out of order: the flag of the newest event that carried it wins."""
    shopify("orders/create", sample("orders_create_payment_issues.json"))
    cleared = flagged("orders_create_payment_issues.json", payment_issues=False, updated_at=LATER)
    shopify("orders/updated", cleared)
    older = flagged("orders_create_payment_issues.json", updated_at="2026-11-23T12:00:00+01:00")
    shopify("orders/updated", older)
    assert codes(order=UNPAID)["PAYMENT_FAILED"].status == "RESOLVED"


def test_short_lines_open_inventory_shortage_with_the_lines_as_evidence(shopify):
    shopify("orders/create", sample("orders_create_inventory_shortage.json"))
    found = codes(order=SHORT)
    assert set(found) == {"INVENTORY_SHORTAGE"}  # paid, payment_issues false
    exc = found["INVENTORY_SHORTAGE"]
    assert exc.evidence["rule"] == "line_items"
    assert exc.evidence["lines"] == [
        {
            "sku": "MUG-CER-350-BLU",
            "title": "Ceramic mug 350 ml",
            "line_item_id": 13801456240082,
            "ordered": 2,
            "available": 1,
            "flagged": True,
        },
        {  # not flagged by the sender, but none left
            "sku": "GLS-TPT-1L",
            "title": "Glass teapot 1 l",
            "line_item_id": 13801456305618,
            "ordered": 1,
            "available": 0,
            "flagged": False,
        },
    ]
    assert "MUG-CER-350-BLU needs 2, 1 available; GLS-TPT-1L needs 1, 0 available" in (exc.ops_note)


def test_a_line_flagged_short_without_a_count_is_a_shortage(shopify):
    body = with_lines(
        "orders_create_payment_issues.json",
        {"inventory_shortage": True, "available_quantity": None},
        payment_issues=False,
        financial_status="paid",
    )
    shopify("orders/create", body)
    exc = codes(order=UNPAID)["INVENTORY_SHORTAGE"]
    assert [(line["sku"], line["available"]) for line in exc.evidence["lines"]] == [
        ("MUG-CER-350-BLU", None)
    ]
    assert "MUG-CER-350-BLU needs 2, flagged short by the store" in exc.ops_note


def test_enough_available_and_no_flag_is_no_shortage(shopify):
    shopify("orders/create", flagged("orders_create_payment_issues.json", payment_issues=False))
    assert "INVENTORY_SHORTAGE" not in codes(order=UNPAID)


def test_restored_quantities_resolve_the_shortage(shopify):
    shopify("orders/create", sample("orders_create_inventory_shortage.json"))
    exc = codes(order=SHORT)["INVENTORY_SHORTAGE"]

    restocked = with_lines(
        "orders_create_inventory_shortage.json",
        {"inventory_shortage": False, "available_quantity": 12},
        None,
        {"available_quantity": 4},
        updated_at=LATER,
    )
    shopify("orders/updated", restocked)
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_code) == ("RESOLVED", "CONDITION_CLEARED")
    assert actions_of(exc) == ["opened", "auto_resolved"]


def test_a_shortage_that_changes_keeps_one_exception_with_the_new_lines(shopify):
    shopify("orders/create", sample("orders_create_inventory_shortage.json"))
    only_mugs = with_lines(
        "orders_create_inventory_shortage.json",
        None,
        None,
        {"available_quantity": 4},
        updated_at=LATER,
    )
    shopify("orders/updated", only_mugs)
    exc = codes(order=SHORT)["INVENTORY_SHORTAGE"]
    assert exc.status == ExceptionStatus.OPEN
    assert [line["sku"] for line in exc.evidence["lines"]] == ["MUG-CER-350-BLU"]


def test_flags_sent_in_a_batch_open_the_same_exceptions(api, run_followups):
    """The batch path projects a Shopify order embedded under data.order the same way."""
    events = [
        event_body(
            source="shopify",
            event_type="order_created",
            order_id=name,
            occurred_at="2026-11-24T09:00:00Z",
            data={"order": sample(fixture)},
        )
        for name, fixture in (
            (SHORT, "orders_create_inventory_shortage.json"),
            (UNPAID, "orders_create_payment_issues.json"),
        )
    ]
    with time_machine.travel("2026-11-24T10:00:00Z", tick=False):
        run_followups(api.post, "/ingest/v2/events/batch", {"events": events})
    assert set(codes(order=SHORT)) == {"INVENTORY_SHORTAGE"}
    assert set(codes(order=UNPAID)) == {"PAYMENT_FAILED"}


# --- reports from the WMS and the carrier ---------------------------------------------
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"exception_reason": "Package damaged at pack station 4"}, "DAMAGED_PACKAGE"),
        (
            {"payload": {"reason_code": "STOCK_MISMATCH", "reason": "bin count 3, expected 5"}},
            "STOCK_MISMATCH",
        ),
        ({"exception_reason": "Label printer offline"}, "SYSTEM_ERROR"),
        ({"exception_reason": "Customer asked to hold"}, "OTHER"),
    ],
)
def test_a_wms_exception_report_is_mapped_to_its_code(event, fields, code):
    event("exception_reported", **fields)
    exc = codes()[code]
    assert exc.evidence["event_type"] == "exception_reported"
    assert exc.evidence["source"] == "event"


def test_a_carrier_failure_is_a_carrier_issue_and_two_are_customer_unavailable(event):
    event("delivery_failed", occurred_at="2026-11-24T09:00:00Z", source="carrier")
    assert set(codes()) == {"CARRIER_ISSUE"}
    event("delivery_failed", occurred_at="2026-11-24T11:00:00Z", source="carrier")
    found = codes()
    assert set(found) == {"CARRIER_ISSUE", "CUSTOMER_UNAVAILABLE"}
    assert found["CARRIER_ISSUE"].occurrence_count == 2
    assert found["CUSTOMER_UNAVAILABLE"].evidence["failed_attempts"] == 2


def test_the_carrier_saying_the_address_is_wrong_is_an_address_error(event):
    event("delivery_failed", source="carrier", exception_reason="Address not found")
    assert set(codes()) == {"ADDRESS_ERROR"}


def test_a_returned_parcel_is_a_carrier_issue(event):
    event("returned", source="carrier")
    assert codes()["CARRIER_ISSUE"].evidence["reason"] == "Returned to sender"


def test_a_report_counted_once_even_if_the_follow_up_runs_again(event):
    event("exception_reported", exception_reason="damaged")
    order = Order.objects.get()
    exceptions_detect([(order, list(OrderEvent.objects.all()))])
    assert codes()["DAMAGED_PACKAGE"].occurrence_count == 1


# --- cancellation -----------------------------------------------------------------
def test_cancelling_the_order_closes_its_exceptions_saying_why(shopify, event):
    shopify("orders/create", order_with(address_zip="00000"))
    event("exception_reported", exception_reason="damaged")
    shopify("orders/cancelled", sample("orders_cancelled.json"))

    found = codes()
    assert set(found) == {"ADDRESS_INVALID", "DAMAGED_PACKAGE"}
    for exc in found.values():
        assert exc.status == ExceptionStatus.CLOSED
        assert exc.resolution_code == "ORDER_CANCELLED"
        assert actions_of(exc)[-2:] == ["auto_resolved", "closed"]


def test_a_condition_an_operator_resolved_stays_resolved_on_the_next_event(shopify, event):
    from exceptions.services.lifecycle import exception_resolve

    from .exception_helpers import OPERATOR

    shopify("orders/create", order_with(address_zip="00000"))
    exc = codes()["ADDRESS_INVALID"]
    exception_resolve(
        exception_id=exc.pk,
        resolution="Customer confirmed by phone.",
        resolution_code="NOT_A_PROBLEM",
        actor=OPERATOR,
    )
    event("pick_started")  # the placeholder postal code is still there
    exc.refresh_from_db()
    assert exc.status == "RESOLVED" and exc.occurrence_count == 1
    assert "reopened" not in actions_of(exc)


def test_a_condition_that_cleared_and_holds_again_reopens(shopify):
    shopify("orders/create", order_with(address_zip="00000"))
    shopify(
        "orders/updated", order_with(address_zip="10969", updated_at="2026-11-23T10:00:00+01:00")
    )
    shopify(
        "orders/updated", order_with(address_zip="00000", updated_at="2026-11-23T11:00:00+01:00")
    )
    exc = codes()["ADDRESS_INVALID"]
    assert exc.status == "OPEN"
    assert actions_of(exc) == ["opened", "auto_resolved", "reopened"]


def test_an_existing_catalogue_learns_the_flags_but_keeps_an_operators_edits():
    """The data migration for databases whose catalogue predates the flags."""
    from importlib import import_module

    from django.apps import apps

    from exceptions.models import ReasonCode

    migration = import_module("exceptions.migrations.0004_catalogue_sender_flags")
    ReasonCode.objects.filter(code="INVENTORY_SHORTAGE").update(
        auto_resolve=False, ops_note_template=migration.OLD_SHORTAGE_NOTE
    )
    edited = "Payment for {{ order.external_id }}: call the merchant."
    ReasonCode.objects.filter(code="PAYMENT_FAILED").update(ops_note_template=edited)

    migration.forwards(apps, None)

    shortage = ReasonCode.objects.get(code="INVENTORY_SHORTAGE")
    assert shortage.auto_resolve is True
    assert "flagged short by the store" in shortage.ops_note_template
    assert ReasonCode.objects.get(code="PAYMENT_FAILED").ops_note_template == edited
