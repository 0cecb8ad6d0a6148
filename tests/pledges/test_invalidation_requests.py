"""A pending request for invalidation (2021 pledge registration measures): anyone may file one
with the office, so a platform admin records and clears it on any patent, as the owner may; a
pledge is then registered only if both parties confirm they proceed regardless."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace import clock
from marketplace.patents import service as patents
from marketplace.patents.models import (
    EncumbranceKind,
    InvalidationRequestCreate,
    PatentEncumbranceCreate,
)
from marketplace.pledges import rules
from tests import factories
from tests.factories import Party
from tests.pledges.conftest import application_body, registration
from tests.problems import assert_problem

PATENTS = "/api/v1/patents"
PLEDGES = "/api/v1/pledges"
REQUEST = {"filed_on": "2026-05-20", "requester": "Rival Battery Co.", "reference": "4W112233"}


def pending_codes(
    session: Session, owner: Party, patent_id: int, *, proceeds_despite_invalidation: bool = False
) -> list[str]:
    patent = patents.get_patent(session=session, patent_id=patent_id)
    session.refresh(patent, attribute_names=["encumbrances"])
    return [
        issue.code
        for issue in rules.issues_of(
            [patent],
            pledgor_id=owner.id,
            debt_end_date=clock.today() + timedelta(days=365),
            today=clock.today(),
            co_owner_consents={},
            proceeds_despite_invalidation=proceeds_despite_invalidation,
        )
    ]


def test_the_service_records_and_finds_only_invalidation_requests(
    session: Session, owner: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    recorded = patents.record_invalidation_request(
        session=session,
        patent=patent,
        data=InvalidationRequestCreate.model_validate(REQUEST),
    )
    assert (recorded.kind, recorded.counterparty, recorded.reference) == (
        EncumbranceKind.invalidation_request,
        "Rival Battery Co.",
        "4W112233",
    )
    assert pending_codes(session, owner, patent.id or 0) == ["invalidation_pending"]
    assert pending_codes(session, owner, patent.id or 0, proceeds_despite_invalidation=True) == []
    found = patents.get_invalidation_request(
        session=session, patent=patent, encumbrance_id=recorded.id or 0
    )
    patents.release_encumbrance(session=session, encumbrance=found)
    assert pending_codes(session, owner, patent.id or 0) == []


def test_a_platform_admin_records_and_clears_one_on_any_patent(
    client: TestClient, session: Session, owner: Party, admin: Party
) -> None:
    patent = factories.patent(session, owner.organization)

    recorded = client.post(
        f"{PATENTS}/{patent.id}/invalidation-requests", headers=admin.headers, json=REQUEST
    )

    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert (body["kind"], body["in_force"], body["patent_id"]) == (
        "invalidation_request",
        True,
        patent.id,
    )
    # The owner sees it among its patent's encumbrances.
    own = client.get(f"{PATENTS}/{patent.id}", headers=owner.headers).json()
    assert [item["kind"] for item in own["encumbrances"]] == ["invalidation_request"]
    assert pending_codes(session, owner, patent.id or 0) == ["invalidation_pending"]

    cleared = client.delete(
        f"{PATENTS}/{patent.id}/invalidation-requests/{body['id']}", headers=admin.headers
    )

    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["in_force"] is False
    assert pending_codes(session, owner, patent.id or 0) == []


def test_only_a_platform_admin_uses_these_routes(
    client: TestClient, session: Session, owner: Party, bank: Party, admin: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    at = f"{PATENTS}/{patent.id}/invalidation-requests"
    for party in (owner, bank):
        assert_problem(
            client.post(at, headers=party.headers, json=REQUEST), 403, "not_platform_admin"
        )
    assert client.post(at, json=REQUEST).status_code == 401
    assert_problem(
        client.post(f"{PATENTS}/999999/invalidation-requests", headers=admin.headers, json=REQUEST),
        404,
        "patent_not_found",
    )
    for bad in ({}, {**REQUEST, "filed_on": "2099-01-01"}, {**REQUEST, "kind": "x"}):
        assert_problem(client.post(at, headers=admin.headers, json=bad), 422, "validation_failed")
    # Another kind of encumbrance is not an invalidation request to clear.
    other = patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.court_preservation, starts_on=clock.today()
        ),
    )
    assert_problem(
        client.delete(f"{at}/{other.id}", headers=admin.headers), 404, "encumbrance_not_found"
    )
    recorded = client.post(at, headers=admin.headers, json=REQUEST).json()
    assert_problem(
        client.delete(f"{at}/{recorded['id']}", headers=owner.headers), 403, "not_platform_admin"
    )


def test_recorded_after_the_application_it_needs_the_pledgee_to_proceed_too(
    client: TestClient, session: Session, owner: Party, bank: Party, admin: Party
) -> None:
    """The pledgee applied before the request was filed, so without proceeding: the pledgor's
    confirmation alone does not let the pledge be registered."""
    patent = factories.patent(session, owner.organization)
    applied = client.post(PLEDGES, headers=bank.headers, json=application_body(owner.id, [patent]))
    assert applied.status_code == 201, applied.text
    pledge_id = applied.json()["id"]
    assert (
        client.post(
            f"{PATENTS}/{patent.id}/invalidation-requests", headers=admin.headers, json=REQUEST
        ).status_code
        == 201
    )
    confirmed = client.post(
        f"{PLEDGES}/{pledge_id}/confirm",
        headers=owner.headers,
        json={"proceed_despite_pending_invalidation": True},
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["pledgor_proceeds_despite_invalidation"] is True
    assert body["pledgee_proceeds_despite_invalidation"] is False
    refused = assert_problem(
        client.post(
            f"{PLEDGES}/{pledge_id}/registration",
            headers=bank.headers,
            json=registration().model_dump(mode="json"),
        ),
        409,
        "invalidation_pending",
    )
    assert [reason["code"] for reason in refused["reasons"]] == ["invalidation_pending"]


def test_neither_party_proceeding_refuses_the_application_at_once(
    client: TestClient, session: Session, owner: Party, bank: Party, admin: Party
) -> None:
    patent = factories.patent(session, owner.organization)
    client.post(f"{PATENTS}/{patent.id}/invalidation-requests", headers=admin.headers, json=REQUEST)
    refused = assert_problem(
        client.post(PLEDGES, headers=bank.headers, json=application_body(owner.id, [patent])),
        409,
        "invalidation_pending",
    )
    assert [reason["code"] for reason in refused["reasons"]] == ["invalidation_pending"]
