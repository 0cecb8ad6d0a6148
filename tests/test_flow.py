"""The mission end to end, through HTTP only: a university publishes, many SMEs license."""

import uuid

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, application_number, credit_code


def signup(client: TestClient, kind: str, email: str) -> dict:
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
    return response.json()


def login(client: TestClient, email: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_university_publishes_and_many_enterprises_license(client, session) -> None:
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
    published = client.post(f"/api/v1/listings/{listing['id']}/publish", headers=uni)
    assert published.status_code == 200, published.text
    assert published.json()["announcement_number"].startswith("OL2026")

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

    withdrawn = client.post(f"/api/v1/listings/{listing['id']}/withdraw", headers=uni)
    assert withdrawn.json()["status"] == "withdrawn"
    held = client.get("/api/v1/licenses", headers=uni).json()["items"]
    assert {item["id"] for item in held} == {item["id"] for item in licenses}
    assert all(item["status"] == "active" for item in held)
