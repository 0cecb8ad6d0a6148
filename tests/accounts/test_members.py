"""Organization admins add, list and deactivate the users of their organization."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind, UserRole
from tests import factories
from tests.problems import assert_problem

USERS = "/api/v1/users"


def member_body(email: str = "colleague@example.org", **overrides: str) -> dict[str, str]:
    return {"email": email, "password": "another long passphrase", "full_name": "Li Na"} | overrides


def test_an_admin_adds_a_colleague_who_can_sign_in(client: TestClient, session: Session) -> None:
    admin = factories.member(session, kind=OrganizationKind.university)
    response = client.post(USERS, headers=factories.auth(session, admin), json=member_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization_id"] == admin.organization_id
    assert body["role"] == "member"
    assert "password" not in body
    assert "password_hash" not in body
    token = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "Colleague@example.org",
            "password": "another long passphrase",
        },
    )
    assert token.status_code == 200, token.text


def test_adding_a_user_is_refused_for_members_and_bad_input(
    client: TestClient, session: Session
) -> None:
    admin = factories.member(session)
    headers = factories.auth(session, admin)
    plain_member = factories.user(
        session,
        session.get_one(Organization, admin.organization_id),
        role=UserRole.member,
    )
    assert_problem(
        client.post(USERS, headers=factories.auth(session, plain_member), json=member_body()),
        403,
        "not_organization_admin",
    )
    assert_problem(client.post(USERS, json=member_body()), 401, "not_authenticated")
    assert_problem(
        client.post(USERS, headers=headers, json=member_body(password="short")),
        422,
        "weak_password",
    )
    assert_problem(
        client.post(USERS, headers=headers, json=member_body(email=admin.email)), 409, "email_taken"
    )
    assert_problem(
        client.post(USERS, headers=headers, json=member_body(role="owner")),
        422,
        "validation_failed",
    )


def test_the_list_shows_only_the_admins_own_organization(
    client: TestClient, session: Session
) -> None:
    admin = factories.member(session)
    colleague = factories.user(session, session.get_one(Organization, admin.organization_id))
    factories.member(session)  # another organization
    listed = client.get(USERS, headers=factories.auth(session, admin)).json()["items"]
    assert {item["id"] for item in listed} == {admin.id, colleague.id}


def test_deactivating_a_colleague_ends_their_access_at_once(
    client: TestClient, session: Session
) -> None:
    admin = factories.member(session)
    colleague = factories.user(session, session.get_one(Organization, admin.organization_id))
    colleague_headers = factories.auth(session, colleague)
    assert client.get("/api/v1/me", headers=colleague_headers).status_code == 200

    response = client.delete(f"{USERS}/{colleague.id}", headers=factories.auth(session, admin))
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert_problem(client.get("/api/v1/me", headers=colleague_headers), 401, "invalid_token")


def test_deactivation_is_refused_for_oneself_and_foreign_users(
    client: TestClient, session: Session
) -> None:
    admin = factories.member(session)
    headers = factories.auth(session, admin)
    assert_problem(
        client.delete(f"{USERS}/{admin.id}", headers=headers), 409, "cannot_deactivate_self"
    )
    stranger = factories.member(session)
    assert_problem(client.delete(f"{USERS}/{stranger.id}", headers=headers), 404, "user_not_found")
