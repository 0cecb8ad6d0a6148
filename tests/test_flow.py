"""The mission end to end, through HTTP only: a university publishes, many SMEs license."""

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import PASSWORD, application_number, credit_code


def signup(client: TestClient, kind: str, email: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/signup",
        json={
            "organization": {
                "name": f"{kind} {email}",
                "kind": kind,
                "country": "CN",
                "region": "Zhejiang",
                "credit_code": credit_code(),
            },
            "user": {"email": email, "password": PASSWORD, "full_name": "Wang Fang"},
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def login(client: TestClient, email: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_university_publishes_and_many_enterprises_license(
    client: TestClient, session: Session
) -> None:
    from tests.factories import auth, platform_admin

    admin_headers = auth(session, platform_admin(session))
    university = signup(client, "university", "tto@zju.example.edu")
    uni = login(client, "tto@zju.example.edu")
    assert (
        client.post(
            f"/api/v1/organizations/{university['organization']['id']}/verify",
            headers=admin_headers,
        ).json()["verification"]
        == "verified"
    )

    patent = client.post(
        "/api/v1/patents",
        headers=uni,
        json={
            "application_number": "CN " + application_number().replace(".", ""),
            "title": "Solid-state electrolyte with high ionic conductivity",
            "ipc_codes": ["h01m10/0562"],
            "filing_date": "2020-04-01",
            "grant_date": "2022-09-01",
            "legal_status": "granted",
            "fee_paid_until": "2027-03-31",
        },
    )
    assert patent.status_code == 201, patent.text
    assert patent.json()["kind"] == "invention"
    assert patent.json()["in_force"] is True
    listing = client.post(
        "/api/v1/listings", headers=uni, json={"patent_ids": [patent.json()["id"]]}
    ).json()
    offer = client.post(
        f"/api/v1/listings/{listing['id']}/offers",
        headers=uni,
        json={"royalty_type": "running", "royalty_rate": 4, "currency": "CNY", "term_years": 5},
    )
    assert offer.status_code == 201, offer.text
    assert offer.json()["royalty_rate"] == "4.0000"
    # The platform prepares the declaration; the university files it and the office announces.
    declaration = client.get(f"/api/v1/listings/{listing['id']}/declaration", headers=uni)
    assert declaration.status_code == 200, declaration.text
    assert declaration.json()["blockers"] == []
    assert declaration.json()["offers"][0]["payment_standard"] == "4.0000% of net sales"
    published = client.post(
        f"/api/v1/listings/{listing['id']}/publish",
        headers=uni,
        json={"announcement_number": "KF 2026 000123", "announcement_date": "2026-06-12"},
    )
    assert published.status_code == 200, published.text
    assert published.json()["announcement_number"] == "KF2026000123"
    assert published.json()["announcement_source"] == "office"

    licenses = []
    for number in range(3):
        email = f"ceo{number}@sme.example.com"
        sme = signup(client, "enterprise", email)
        client.post(
            f"/api/v1/organizations/{sme['organization']['id']}/verify", headers=admin_headers
        )
        headers = login(client, email) | {"Idempotency-Key": str(uuid.uuid4())}
        accepted = client.post(f"/api/v1/offers/{offer.json()['id']}/accept", headers=headers)
        assert accepted.status_code == 201, accepted.text
        replay = client.post(f"/api/v1/offers/{offer.json()['id']}/accept", headers=headers)
        assert replay.status_code == 200
        assert replay.json()["id"] == accepted.json()["id"]
        licenses.append(accepted.json())
    assert len({item["id"] for item in licenses}) == 3
    assert all(item["status"] == "active" for item in licenses)

    requested = client.post(
        f"/api/v1/listings/{listing['id']}/withdraw",
        headers=uni,
        json={"reason": "To be licensed exclusively to a strategic partner."},
    )
    assert requested.status_code == 200, requested.text
    assert requested.json()["status"] == "published"
    withdrawn = client.post(
        f"/api/v1/listings/{listing['id']}/withdrawal-announcement",
        headers=uni,
        json={"announcement_number": "KFCX2026000045", "announcement_date": "2026-06-15"},
    )
    assert withdrawn.json()["status"] == "withdrawn"
    held = client.get("/api/v1/licenses", headers=uni).json()["items"]
    assert {item["id"] for item in held} == {item["id"] for item in licenses}
    assert all(item["status"] == "active" for item in held)


def test_a_bank_lends_against_a_patent_and_consents_to_its_open_license(
    client: TestClient, session: Session
) -> None:
    from marketplace.accounts.models import OrganizationKind
    from tests.factories import auth, member, patent

    owner_user = member(session, kind=OrganizationKind.enterprise)
    owner = auth(session, owner_user)
    pledged = patent(session, owner_user)
    bank_user = member(session, kind=OrganizationKind.bank)
    other_bank = auth(session, member(session, kind=OrganizationKind.bank))

    # The bank signs in as a machine.
    created = client.post(
        "/api/v1/api-clients", headers=auth(session, bank_user), json={"name": "loans"}
    )
    token = client.post(
        "/api/v1/auth/token",
        auth=(created.json()["client_id"], created.json()["client_secret"]),
        data={"grant_type": "client_credentials"},
    )
    bank = {"Authorization": f"Bearer {token.json()['access_token']}"}

    check = client.post(
        "/api/v1/encumbrances/check",
        headers=bank,
        json={"application_numbers": [pledged.application_number, "202010000000.X", "nonsense"]},
    )
    assert check.status_code == 200, check.text
    first, unknown, malformed = check.json()["results"]
    assert first["pledgeable"] is True
    assert first["active_pledge"] is None
    assert unknown["known"] is False
    assert malformed["error"]

    application = client.post(
        "/api/v1/pledges",
        headers=bank,
        json={
            "pledgor_id": owner_user.organization_id,
            "application_numbers": [pledged.application_number],
            "secured_amount": "5000000",
            "debt_start_date": "2026-07-01",
            "debt_end_date": "2029-06-30",
            "valuation": {
                "amount": "8000000",
                "method": "income",
                "valuer": "Appraiser Co.",
                "valuation_date": "2026-06-10",
            },
        },
    )
    assert application.status_code == 201, application.text
    pledge_id = application.json()["id"]
    assert application.json()["status"] == "applied"
    assert client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=owner).status_code == 200
    # The office registers the pledge; the bank records its number and date.
    registered = client.post(
        f"/api/v1/pledges/{pledge_id}/registration",
        headers=bank,
        json={"registration_number": "Y2026980000042", "registration_date": "2026-06-15"},
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["status"] == "registered"
    assert registered.json()["registration_number"] == "Y2026980000042"

    # Another bank sees the register entry only.
    seen = client.get(f"/api/v1/pledges/{pledge_id}", headers=other_bank).json()
    assert seen["visibility"] == "register"
    assert seen["secured_amount"] is None
    check = client.post(
        "/api/v1/encumbrances/check",
        headers=other_bank,
        json={"application_numbers": [pledged.application_number]},
    ).json()["results"][0]
    assert check["pledgeable"] is False
    assert check["reasons"] == ["patent_already_pledged"]
    assert check["active_pledge"]["registration_number"] == registered.json()["registration_number"]

    # Publishing an open license on the pledged patent needs the pledgee's consent.
    listing = client.post(
        "/api/v1/listings", headers=owner, json={"patent_ids": [pledged.id]}
    ).json()
    client.post(
        f"/api/v1/listings/{listing['id']}/offers",
        headers=owner,
        json={"royalty_type": "lump_sum", "upfront_fee": "100000", "term_years": 2},
    )
    announcement = {"announcement_number": "KF2026000456", "announcement_date": "2026-06-15"}
    refused = client.post(
        f"/api/v1/listings/{listing['id']}/publish", headers=owner, json=announcement
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "pledgee_consent_missing"
    consent = client.post(
        f"/api/v1/pledges/{pledge_id}/consents", headers=bank, json={"listing_id": listing["id"]}
    )
    assert consent.status_code == 201, consent.text
    published = client.post(
        f"/api/v1/listings/{listing['id']}/publish", headers=owner, json=announcement
    )
    assert published.status_code == 200, published.text

    # A license on the pledged patent is flagged with the pledge.
    sme = auth(session, member(session, kind=OrganizationKind.enterprise))
    offer_id = published.json()["offers"][0]["id"]
    accepted = client.post(
        f"/api/v1/offers/{offer_id}/accept", headers=sme | {"Idempotency-Key": "k-1"}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["pledge_ids"] == [pledge_id]
