"""The API docs show the lawful sequence of an open license on the operations that make it:
announcement → acceptance → payment → license in force → recordation. Each example is a valid
request or response of its operation."""

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from marketplace.api import lawful_sequence as seq
from marketplace.licensing.models import LicensePublic, PaymentCreate, PaymentPublic
from marketplace.licensing.models.licenses import LicenseRecordationCreate
from marketplace.listings.models import DeclarationAnnouncement, ListingPublic

# (method, path, success status, request model and example, response model and example)
STEPS: list[tuple[str, str, str, Any, Any]] = [
    (
        "post",
        "/api/v1/listings/{listing_id}/publish",
        "200",
        (DeclarationAnnouncement, seq.PUBLISH_REQUEST),
        (ListingPublic, seq.PUBLISH_RESPONSE),
    ),
    ("post", "/api/v1/offers/{offer_id}/accept", "201", None, (LicensePublic, seq.ACCEPT_RESPONSE)),
    (
        "post",
        "/api/v1/obligations/{obligation_id}/payments",
        "201",
        (PaymentCreate, seq.RECORD_PAYMENT_REQUEST),
        (PaymentPublic, seq.RECORD_PAYMENT_RESPONSE),
    ),
    (
        "post",
        "/api/v1/payments/{payment_id}/confirm",
        "200",
        None,
        (PaymentPublic, seq.CONFIRM_PAYMENT_RESPONSE),
    ),
    (
        "post",
        "/api/v1/licenses/{license_id}/recordation",
        "200",
        (LicenseRecordationCreate, seq.RECORDATION_REQUEST),
        (LicensePublic, seq.RECORDATION_RESPONSE),
    ),
]


def without_nulls(value: Any) -> Any:
    """The OpenAPI document leaves out null members."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def example(content: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = content["application/json"]["examples"]["lawful_sequence"]
    return found


def test_each_step_is_shown_on_its_operation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    summaries = []
    for method, path, status, request, response in STEPS:
        operation = paths[path][method]
        shown = example(operation["responses"][status]["content"])
        assert shown["value"] == response[1]  # nulls included, as the API answers
        summaries.append(shown["summary"])
        if request is not None:
            assert example(operation["requestBody"]["content"])["value"] == without_nulls(
                request[1]
            )
        # The schema FastAPI generated is kept next to the examples.
        assert "schema" in operation["responses"][status]["content"]["application/json"]
    assert [summary[:2] for summary in summaries] == ["1.", "2.", "3.", "4.", "5."]


def test_the_examples_are_valid_and_tell_one_story(set_today: Any) -> None:
    set_today(date(2026, 7, 20))
    for _, _, _, request, response in STEPS:
        for model, value in [response, *([request] if request else [])]:
            assert issubclass(model, BaseModel)
            model.model_validate(value)
    assert seq.PUBLISH_RESPONSE["announcement_number"] == seq.PUBLISH_REQUEST["announcement_number"]
    accepted, recorded = seq.ACCEPT_RESPONSE, seq.RECORDATION_RESPONSE
    assert accepted["status"] == "pending_payment"
    assert accepted["terms"]["declaration"]["announcement_number"] == "KF2026000123"
    assert seq.RECORD_PAYMENT_RESPONSE["status"] == "recorded"
    assert seq.CONFIRM_PAYMENT_RESPONSE["status"] == "confirmed"
    assert recorded["status"] == "active"
    assert recorded["effective_date"] == seq.CONFIRM_PAYMENT_RESPONSE["paid_on"]
    assert recorded["terms"]["payment"]["payment_id"] == seq.CONFIRM_PAYMENT_RESPONSE["id"]
    assert recorded["record_number"] == seq.RECORDATION_REQUEST["record_number"]


@pytest.mark.parametrize("step", range(len(STEPS)))
def test_no_example_mints_an_office_number(step: int) -> None:
    _, _, _, request, response = STEPS[step]
    text = repr(response[1]) + repr(request[1] if request else "")
    assert "OL20" not in text
    assert "ZL20" not in text
