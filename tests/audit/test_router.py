"""GET /api/v1/audit-events: admins see every entry, an organization only its own objects'."""

import uuid
from decimal import Decimal
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from marketplace.accounts import service as accounts
from marketplace.accounts.models import OrganizationKind, UserRole
from marketplace.audit.models import AuditEvent
from marketplace.listings.models import Listing, Offer
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem

URL = "/api/v1/audit-events"


def audit_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def accept(client: TestClient, offer: Offer, licensee: Party) -> dict[str, Any]:
    headers = licensee.headers | {"Idempotency-Key": str(uuid.uuid4())}
    response = client.post(f"/api/v1/offers/{offer.id}/accept", headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def get(client: TestClient, party: Party, **params: Any) -> httpx.Response:
    response: httpx.Response = client.get(URL, headers=party.headers, params=params)
    return response


def market(
    session: Session, client: TestClient, new_party: NewParty
) -> tuple[Party, Party, Party, Listing, dict[str, Any]]:
    """A university's published listing, a license an enterprise took under it, and a
    bystander enterprise."""
    licensor = new_party(kind=OrganizationKind.university)
    licensee = new_party(kind=OrganizationKind.enterprise)
    bystander = new_party(kind=OrganizationKind.enterprise)
    # A running royalty: the license is in force on notice.
    listing, offer = factories.published_listing(
        session,
        licensor.organization,
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3.5"))],
    )
    license_ = accept(client, offer, licensee)
    return licensor, licensee, bystander, listing, license_


def test_the_parties_of_a_license_see_its_entries_with_the_caller_as_actor(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    licensor, licensee, _, _, license_ = market(session, client, new_party)

    for party in (licensor, licensee):
        response = get(client, party, object_type="license", object_id=license_["id"])
        assert response.status_code == 200, response.text
        [created] = response.json()["items"]
        assert created["action"] == "created"
        assert created["actor"] == f"user:{licensee.user.id}"
        assert created["actor_organization_id"] == licensee.id
        assert created["parties"] == sorted([licensor.id, licensee.id])
        assert created["changes"]["status"] == [None, "active"]
        assert len(created["hash"]) == 64

    terminated = client.post(
        f"/api/v1/licenses/{license_['id']}/terminate",
        headers=licensee.headers,
        json={"reason": "Product discontinued"},
    )
    assert terminated.status_code == 200, terminated.text
    response = get(client, licensor, object_type="license", action="terminated")
    [entry] = response.json()["items"]
    assert entry["changes"]["status"] == ["active", "terminated"]


def test_an_organization_sees_only_entries_it_is_party_to(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    licensor, licensee, bystander, listing, license_ = market(session, client, new_party)

    seen = get(client, bystander, limit=200).json()["items"]
    assert seen, "the bystander's own organization and user were created"
    assert all(bystander.id in item["parties"] for item in seen)
    assert not any(item["object_type"] == "license" for item in seen)

    # A foreign object is as unknown as one that does not exist.
    assert_problem(
        get(client, bystander, object_type="license", object_id=license_["id"]),
        404,
        "audit_object_not_found",
    )
    assert_problem(
        get(client, bystander, object_type="listing", object_id=listing.id),
        404,
        "audit_object_not_found",
    )
    assert_problem(
        get(client, licensor, object_type="license", object_id=2**31 - 1),
        404,
        "audit_object_not_found",
    )
    # The licensee is party to its license, not to the listing's other history.
    listing_entries = get(client, licensee, object_type="listing").json()["items"]
    assert listing_entries == []


def test_a_platform_admin_sees_every_entry(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    _, _, _, listing, license_ = market(session, client, new_party)
    admin = new_party(kind=OrganizationKind.platform)

    response = get(client, admin, object_type="license", object_id=license_["id"])
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 1
    listing_entries = get(client, admin, object_type="listing", object_id=listing.id).json()
    # Drafted and published in one transaction: one entry, in the state it was committed in.
    [created] = listing_entries["items"]
    assert (created["action"], created["changes"]["status"]) == ("created", [None, "published"])


def test_pages_are_newest_first_and_follow_the_cursor(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    admin = new_party(kind=OrganizationKind.platform)
    for _ in range(3):
        factories.organization(session)
    session.commit()
    total = audit_count(session)

    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = get(client, admin, **params).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == total


def test_time_filters(session: Session, client: TestClient, new_party: NewParty) -> None:
    admin = new_party(kind=OrganizationKind.platform)
    factories.organization(session)
    session.commit()
    # The clock is pinned at 2026-06-15T09:30:00Z in tests.
    at = get(client, admin, since="2026-06-15T09:30:00Z").json()["items"]
    assert len(at) == audit_count(session)
    assert get(client, admin, until="2026-06-15T09:30:00Z").json()["items"] == []
    assert get(client, admin, since="2026-06-15T09:30:01+00:00").json()["items"] == []


def test_the_head_names_the_newest_entry(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    licensor, *_ = market(session, client, new_party)
    response = client.get(f"{URL}/head", headers=licensor.headers)
    assert response.status_code == 200, response.text
    newest = session.scalars(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).one()
    assert response.json() == {"id": newest.id, "hash": newest.hash}


def test_reading_needs_a_token(client: TestClient) -> None:
    for path in (URL, f"{URL}/head"):
        response = client.get(path)
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_ordinary_members_may_not_read_the_trail(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    account = factories.member(session, role=UserRole.member)
    headers = factories.auth(session, account)
    for path in (URL, f"{URL}/head"):
        assert_problem(client.get(path, headers=headers), 403, "not_organization_admin")


def test_bad_filters_are_422(session: Session, client: TestClient, new_party: NewParty) -> None:
    admin = new_party(kind=OrganizationKind.platform)
    for params in (
        {"object_type": "License; DROP"},
        {"object_id": 0},
        {"object_id": 2**31},
        {"since": "2026-06-15T09:30:00"},  # no zone
        # Past the calendar's ends once moved to UTC (these were 500s).
        {"since": "9999-12-31T23:59:59-14:00"},
        {"until": "0001-01-01T00:00:00+14:00"},
        {"limit": 0},
        {"limit": 201},
        {"action": ""},
    ):
        assert_problem(get(client, admin, **params), 422, "validation_failed")
    assert_problem(get(client, admin, cursor="not-a-cursor"), 422, "invalid_cursor")


def test_a_refused_request_writes_no_entry(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    licensor, licensee, _, _, license_ = market(session, client, new_party)
    path = f"/api/v1/licenses/{license_['id']}/terminate"
    body = {"reason": "Product discontinued"}
    assert client.post(path, headers=licensee.headers, json=body).status_code == 200
    before = audit_count(session)

    refused = client.post(path, headers=licensee.headers, json=body)
    assert refused.status_code == 409, refused.text
    not_party = client.post(path, headers=licensor.headers, json=body)
    assert not_party.status_code in (403, 404), not_party.text

    assert audit_count(session) == before


def test_an_api_client_reads_its_organizations_entries(
    session: Session, client: TestClient, new_party: NewParty
) -> None:
    bank = new_party(kind=OrganizationKind.bank)
    other = new_party(kind=OrganizationKind.bank)
    created, secret = accounts.create_api_client(session=session, creator=bank.user, name="loans")
    issued = client.post(
        "/api/v1/auth/token",
        auth=(created.client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    assert issued.status_code == 200, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}

    response = client.get(URL, headers=headers, params={"object_type": "organization"})
    assert response.status_code == 200, response.text
    assert [item["object_id"] for item in response.json()["items"]] == [bank.id]
    assert_problem(
        client.get(
            URL, headers=headers, params={"object_type": "organization", "object_id": other.id}
        ),
        404,
        "audit_object_not_found",
    )
