"""Property-based fuzzing of every operation in the OpenAPI schema: no input yields a 5xx.

Each generated request carries a fresh token of a caller who may reach the operation, so that
generated bodies get past authentication into validation and the services. Schemathesis' own
pytest plugin is not used (it lags pytest releases); its strategies are driven directly."""

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind, User
from marketplace.licensing import disputes
from marketplace.licensing.models.disputes import DisputeReason
from marketplace.main import create_app
from marketplace.matching import saved_searches
from marketplace.matching.models import SavedSearchCreate
from marketplace.workflows import acceptance
from tests import factories

OPERATIONS = [
    (method.upper(), path)
    for path, methods in create_app().openapi()["paths"].items()
    for method in methods
]


@pytest.fixture
def headers_for(session: Session) -> Callable[[str], dict[str, str]]:
    admin = factories.platform_admin(session)
    university = factories.member(session, kind=OrganizationKind.university)
    enterprise = factories.member(session, kind=OrganizationKind.enterprise)
    bank = factories.member(session, kind=OrganizationKind.bank)
    # Objects for the generated ids to hit now and then (ids are small integers).
    _, offer = factories.published_listing(session, university)
    factories.draft_listing(session, university)
    # A license for the enterprise, so that recordation and certificates reach their services.
    assert offer.id is not None
    license_, _ = acceptance.accept_offer(
        session=session,
        offer_id=offer.id,
        licensee=session.get_one(Organization, enterprise.organization_id),
        user=enterprise,
        idempotency_key="schemathesis",
    )
    # A dispute about it, so that the dispute endpoints reach their services.
    disputes.open_dispute(
        session=session,
        license_=license_,
        organization_id=enterprise.organization_id,
        user_id=enterprise.id,
        reason=DisputeReason.other,
        statement="schemathesis",
    )

    # A saved search of the enterprise's, for the generated ids to hit.
    saved_searches.create_saved_search(
        session=session,
        organization=session.get_one(Organization, enterprise.organization_id),
        data=SavedSearchCreate(name="schemathesis", q="电池"),
    )

    def caller(path: str) -> User:
        if (
            path.startswith(("/api/v1/organizations", "/api/v1/export-"))
            or "/export-review/" in path
        ):
            return admin
        if path.endswith(("/mediation", "/resolve")):
            return admin
        if path.startswith("/api/v1/disputes"):
            return enterprise
        if path.startswith(("/api/v1/offers/{offer_id}/accept", "/api/v1/licenses")):
            return enterprise
        if path.startswith(("/api/v1/obligations", "/api/v1/payments", "/api/v1/royalty-")):
            return enterprise
        if path.startswith(("/api/v1/pledges", "/api/v1/encumbrances")):
            return bank
        if path.startswith("/api/v1/audit-events"):
            return admin
        if path.startswith(("/api/v1/profile", "/api/v1/needs", "/api/v1/saved-searches")):
            return enterprise
        return university

    def headers(path: str) -> dict[str, str]:
        # A fresh token per request: a generated logout must not starve later requests.
        return factories.auth(session, caller(path))

    return headers


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_input_causes_a_server_error(
    method: str, path: str, app: FastAPI, headers_for: Callable[[str], dict[str, str]]
) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def call(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=headers_for(path))
        assert response.status_code < 500, f"{method} {case.formatted_path}: {response.text}"

    call()
