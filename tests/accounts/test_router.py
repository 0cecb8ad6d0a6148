"""The accounts API over HTTP: signup, the token endpoint, /me, verification, API clients."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, select

from marketplace.accounts import service as accounts
from marketplace.accounts.models import (
    ApiClient,
    Organization,
    OrganizationKind,
    User,
    UserRole,
    Verification,
)
from marketplace.accounts.throttle import AttemptLimiter
from tests import factories
from tests.factories import PASSWORD
from tests.problems import assert_problem

SignupBody = Callable[..., dict[str, Any]]
Login = Callable[..., dict[str, Any]]
ClientCredentials = Callable[[User], tuple[str, str]]

TOKEN_URL = "/api/v1/auth/token"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _org_with_credit_code(session: Session, code: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.credit_code == code))


def _with_wrong_check_character(code: str) -> tuple[str, str]:
    """The code with its last character replaced, and the character that was expected."""
    wrong = "0" if code[17] != "0" else "1"
    return code[:17] + wrong, code[17]


# --- signup ----------------------------------------------------------------------------------


def test_signup_returns_the_pending_organization_and_its_admin(
    client: TestClient, signup_body: SignupBody
) -> None:
    body = signup_body(user={"email": "Founder@Battery.Example.com"})

    response = client.post("/api/v1/signup", json=body)

    assert response.status_code == 201, response.text
    created = response.json()
    org, user = created["organization"], created["user"]
    assert org["verification"] == "pending"
    assert org["verified_at"] is None
    assert org["credit_code"] == body["organization"]["credit_code"]
    assert org["kind"] == "enterprise"
    assert isinstance(org["id"], int)
    assert set(user) == {
        "id",
        "email",
        "full_name",
        "organization_id",
        "role",
        "is_active",
        "created_at",
    }
    assert user["email"] == "founder@battery.example.com"
    assert user["organization_id"] == org["id"]
    assert user["role"] == "admin"
    assert "password" not in response.text
    assert "$argon2" not in response.text


def test_the_new_admin_can_sign_in(
    client: TestClient, signup_body: SignupBody, login: Login
) -> None:
    body = signup_body()
    client.post("/api/v1/signup", json=body)
    tokens = login(body["user"]["email"])
    me = client.get("/api/v1/me", headers=_bearer(tokens["access_token"])).json()
    assert me["user"]["email"] == body["user"]["email"]


def test_signup_stores_the_credit_code_canonically(
    client: TestClient, session: Session, signup_body: SignupBody
) -> None:
    canonical = factories.credit_code()
    spaced = f" {canonical[:6].lower()} {canonical[6:12]}-{canonical[12:].lower()} "

    response = client.post("/api/v1/signup", json=signup_body(organization={"credit_code": spaced}))

    assert response.status_code == 201, response.text
    assert response.json()["organization"]["credit_code"] == canonical
    assert _org_with_credit_code(session, canonical) is not None


def test_signup_names_the_expected_check_character(
    client: TestClient, signup_body: SignupBody
) -> None:
    wrong, expected = _with_wrong_check_character(factories.credit_code())

    response = client.post("/api/v1/signup", json=signup_body(organization={"credit_code": wrong}))

    body = assert_problem(response, 422, "validation_failed")
    [error] = body["errors"]
    assert error["field"] == "body.organization.credit_code"
    assert f"expected {expected!r}" in error["message"]


@pytest.mark.parametrize("missing", [None, ""])
def test_signup_requires_a_credit_code_in_china(
    client: TestClient, signup_body: SignupBody, missing: str | None
) -> None:
    response = client.post(
        "/api/v1/signup", json=signup_body(organization={"credit_code": missing})
    )
    body = assert_problem(response, 422, "validation_failed")
    assert "credit_code is required" in body["errors"][0]["message"]


def test_signup_refuses_a_credit_code_for_a_foreign_organization(
    client: TestClient, signup_body: SignupBody
) -> None:
    response = client.post(
        "/api/v1/signup",
        json=signup_body(organization={"country": "DE", "credit_code": factories.credit_code()}),
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "body.organization.credit_code"
    assert "Chinese organizations only" in body["errors"][0]["message"]


def test_a_foreign_organization_signs_up_with_its_country_code(
    client: TestClient, signup_body: SignupBody
) -> None:
    response = client.post(
        "/api/v1/signup",
        json=signup_body(organization={"country": "de", "credit_code": None, "region": None}),
    )
    assert response.status_code == 201, response.text
    assert response.json()["organization"]["country"] == "DE"
    assert response.json()["organization"]["credit_code"] is None


@pytest.mark.parametrize("country", ["D1", "DEU", "中国"])
def test_signup_refuses_a_malformed_country(
    client: TestClient, signup_body: SignupBody, country: str
) -> None:
    response = client.post(
        "/api/v1/signup", json=signup_body(organization={"country": country, "credit_code": None})
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "body.organization.country"


def test_signup_refuses_the_platform_kind(
    client: TestClient, session: Session, signup_body: SignupBody
) -> None:
    body = signup_body(organization={"kind": "platform"})
    response = client.post("/api/v1/signup", json=body)
    assert_problem(response, 422, "kind_not_allowed")
    assert _org_with_credit_code(session, body["organization"]["credit_code"]) is None


def test_signup_refuses_a_registered_email_in_any_case(
    client: TestClient, session: Session, signup_body: SignupBody
) -> None:
    existing = factories.member(session)
    response = client.post(
        "/api/v1/signup", json=signup_body(user={"email": existing.email.upper()})
    )
    assert_problem(response, 409, "email_taken")


def test_signup_refuses_a_registered_credit_code_in_any_spelling(
    client: TestClient, session: Session, signup_body: SignupBody
) -> None:
    existing = factories.organization(session)
    assert existing.credit_code is not None
    respelled = f"{existing.credit_code[:9].lower()} {existing.credit_code[9:]}"
    response = client.post(
        "/api/v1/signup", json=signup_body(organization={"credit_code": respelled})
    )
    assert_problem(response, 409, "credit_code_taken")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt!pw", "at least 10 characters"),
        ("abcabcabcabcabc", "5 different characters"),
        ("Password123", "most common"),
        ("wangfang-rides-a-bike", "email name"),
    ],
)
def test_signup_refuses_a_weak_password(
    client: TestClient, session: Session, signup_body: SignupBody, password: str, reason: str
) -> None:
    body = signup_body(user={"email": "wangfang@battery.example.com", "password": password})
    response = client.post("/api/v1/signup", json=body)
    problem = assert_problem(response, 422, "weak_password")
    assert reason in problem["detail"]
    assert password not in problem["detail"]
    assert _org_with_credit_code(session, body["organization"]["credit_code"]) is None


def test_signup_with_malformed_json_is_a_validation_problem(client: TestClient) -> None:
    response = client.post(
        "/api/v1/signup",
        content=b'{"organization": {"name": "Acme",',
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert isinstance(body["errors"], list)
    assert body["errors"][0]["type"] == "json_invalid"


def test_signup_lists_every_invalid_field(client: TestClient, signup_body: SignupBody) -> None:
    body = signup_body(organization={"name": "A"}, user={"email": "not-an-email"})
    problem = assert_problem(client.post("/api/v1/signup", json=body), 422, "validation_failed")
    fields = {error["field"] for error in problem["errors"]}
    assert {"body.organization.name", "body.user.email"} <= fields


def test_a_signup_failing_on_the_user_writes_no_organization(
    client: TestClient,
    session: Session,
    signup_body: SignupBody,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another signup takes the email between the check and the insert: the unique constraint
    # refuses the user after the organization was already flushed.
    taken = factories.member(session)
    monkeypatch.setattr(accounts, "_ensure_email_free", lambda _session, _email: None)
    body = signup_body(user={"email": taken.email})

    response = client.post("/api/v1/signup", json=body)

    assert_problem(response, 409, "conflict")
    assert _org_with_credit_code(session, body["organization"]["credit_code"]) is None


# --- token endpoint: password and refresh grants ---------------------------------------------


def _password_form(email: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": email, "password": PASSWORD, **extra}


def test_password_grant_issues_a_bearer_token_pair(client: TestClient, session: Session) -> None:
    user = factories.member(session, kind=OrganizationKind.university)

    response = client.post(TOKEN_URL, data=_password_form(user.email))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "licenses licenses:accept listings patents"
    assert body["refresh_token"].startswith("mkr_")
    me = client.get("/api/v1/me", headers=_bearer(body["access_token"]))
    assert me.json()["user"]["id"] == user.id


def test_token_responses_are_not_cached(client: TestClient, session: Session) -> None:
    # RFC 6749 section 5.1: a response carrying tokens must not be stored by caches.
    user = factories.member(session)
    response = client.post(TOKEN_URL, data=_password_form(user.email))
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    client: TestClient, session: Session
) -> None:
    user = factories.member(session)

    wrong = client.post(TOKEN_URL, data=_password_form(user.email, password="wrong password 1"))
    unknown = client.post(TOKEN_URL, data=_password_form("nobody@example.org"))

    for response in (wrong, unknown):
        body = assert_problem(response, 400, "invalid_grant")
        assert body["error"] == "invalid_grant"
        assert body["error_description"] == body["detail"]
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_a_deactivated_user_cannot_sign_in(client: TestClient, session: Session) -> None:
    user = factories.member(session)
    user.is_active = False
    session.add(user)
    session.flush()
    assert_problem(client.post(TOKEN_URL, data=_password_form(user.email)), 400, "invalid_grant")


def test_a_subset_of_scopes_can_be_requested(client: TestClient, session: Session) -> None:
    user = factories.member(session)
    response = client.post(TOKEN_URL, data=_password_form(user.email, scope="patents licenses"))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "licenses patents"
    me = client.get("/api/v1/me", headers=_bearer(response.json()["access_token"]))
    assert me.json()["scopes"] == ["licenses", "patents"]


def test_a_scope_the_organization_lacks_is_refused(client: TestClient, session: Session) -> None:
    bank_user = factories.member(session, kind=OrganizationKind.bank)
    response = client.post(TOKEN_URL, data=_password_form(bank_user.email, scope="listings"))
    body = assert_problem(response, 400, "invalid_scope")
    assert body["error"] == "invalid_scope"


def test_an_unknown_grant_type_is_refused(client: TestClient) -> None:
    response = client.post(TOKEN_URL, data={"grant_type": "authorization_code", "code": "x"})
    body = assert_problem(response, 400, "unsupported_grant_type")
    assert body["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"grant_type": "password", "username": "a@example.org"}, id="no-password"),
        pytest.param({"grant_type": "password", "password": PASSWORD}, id="no-username"),
        pytest.param({"grant_type": "refresh_token"}, id="no-refresh-token"),
        pytest.param(
            {"grant_type": "client_credentials", "client_id": "mkc_x"}, id="no-client-secret"
        ),
        pytest.param({"username": "a@example.org", "password": PASSWORD}, id="no-grant-type"),
    ],
)
def test_a_token_request_missing_a_parameter_is_invalid(
    client: TestClient, form: dict[str, str]
) -> None:
    body = assert_problem(client.post(TOKEN_URL, data=form), 400, "invalid_request")
    assert body["error"] == "invalid_request"


def _refresh(client: TestClient, refresh_token: str, **extra: str) -> Response:
    response: Response = client.post(
        TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    )
    return response


def test_refresh_rotates_the_refresh_token(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    first = login(user.email)

    response = _refresh(client, first["refresh_token"])

    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert rotated["scope"] == first["scope"]
    assert client.get("/api/v1/me", headers=_bearer(rotated["access_token"])).status_code == 200


def test_reusing_a_spent_refresh_token_revokes_the_whole_login(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    first = login(user.email)["refresh_token"]
    newest = _refresh(client, first).json()["refresh_token"]

    replay = _refresh(client, first)

    body = assert_problem(replay, 400, "invalid_grant")
    assert "already used" in body["detail"]
    # The replay was refused, yet the revocation it caused was kept: the newest token of the
    # login, never used, no longer works.
    assert_problem(_refresh(client, newest), 400, "invalid_grant")


def test_reusing_a_spent_refresh_token_ends_the_logins_access_tokens_too(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    first = login(user.email)
    rotated = _refresh(client, first["refresh_token"]).json()
    other_login = login(user.email)
    for tokens in (first, rotated):
        assert client.get("/api/v1/me", headers=_bearer(tokens["access_token"])).status_code == 200

    assert_problem(_refresh(client, first["refresh_token"]), 400, "invalid_grant")

    for tokens in (first, rotated):
        refused = client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))
        assert_problem(refused, 401, "invalid_token")
    # Another login of the same user is not affected.
    assert client.get("/api/v1/me", headers=_bearer(other_login["access_token"])).status_code == 200


def test_logout_with_the_refresh_token_ends_every_access_token_of_the_login(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    first = login(user.email)
    rotated = _refresh(client, first["refresh_token"]).json()

    response = client.post(
        "/api/v1/auth/logout",
        headers=_bearer(rotated["access_token"]),
        data={"refresh_token": rotated["refresh_token"]},
    )

    assert response.status_code == 204, response.text
    refused = client.get("/api/v1/me", headers=_bearer(first["access_token"]))
    assert_problem(refused, 401, "invalid_token")


def test_a_refused_refresh_does_not_spend_the_token(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    tokens = login(user.email, scope="licenses")
    assert_problem(_refresh(client, tokens["refresh_token"], scope="patents"), 400, "invalid_scope")
    assert _refresh(client, tokens["refresh_token"]).status_code == 200


# --- token endpoint: client credentials ------------------------------------------------------


def test_client_credentials_in_form_fields(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "encumbrances pledges"
    assert "refresh_token" not in response.json()


def test_client_credentials_in_http_basic(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "scope": "encumbrances"},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "encumbrances"
    assert "refresh_token" not in response.json()


def test_a_wrong_client_secret_is_unauthorized(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, _ = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    response = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, "mks_wrong")
    )
    body = assert_problem(response, 401, "invalid_client")
    assert body["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_a_revoked_client_cannot_get_tokens(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, secret = api_client_of(admin)
    revoked = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    assert revoked is not None
    accounts.revoke_api_client(session=session, client=revoked)
    response = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert_problem(response, 401, "invalid_client")


# --- token endpoint: throttling --------------------------------------------------------------


@pytest.fixture
def limited(app: FastAPI) -> TestClient:
    app.state.attempt_limiter = AttemptLimiter(per_minute=2)
    return TestClient(app)


def test_password_guessing_is_throttled_per_account(limited: TestClient, session: Session) -> None:
    user, bystander = factories.member(session), factories.member(session)
    guess = _password_form(user.email, password="guess number one")
    for _ in range(2):
        assert_problem(limited.post(TOKEN_URL, data=guess), 400, "invalid_grant")

    # Even the right password waits: the limit counts attempts, not failures.
    throttled = limited.post(TOKEN_URL, data=_password_form(user.email.upper()))

    assert_problem(throttled, 429, "too_many_attempts")
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert limited.post(TOKEN_URL, data=_password_form(bystander.email)).status_code == 200


def test_client_secret_guessing_is_throttled(
    limited: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    form = {"grant_type": "client_credentials"}
    for _ in range(2):
        limited.post(TOKEN_URL, data=form, auth=(client_id, "mks_guess"))
    throttled = limited.post(TOKEN_URL, data=form, auth=(client_id, secret))
    assert_problem(throttled, 429, "too_many_attempts")
    assert "retry-after" in throttled.headers


# --- /me -------------------------------------------------------------------------------------


def test_me_describes_a_user(client: TestClient, session: Session) -> None:
    user = factories.member(session, kind=OrganizationKind.university, role=UserRole.member)
    response = client.get("/api/v1/me", headers=factories.auth(session, user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == user.id
    assert body["user"]["role"] == "member"
    assert "password_hash" not in body["user"]
    assert body["api_client"] is None
    assert body["organization"]["id"] == user.organization_id
    assert body["scopes"] == ["licenses", "licenses:accept", "listings", "patents"]


def test_me_describes_an_api_client(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, secret = api_client_of(admin)
    token = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json()["access_token"]

    body = client.get("/api/v1/me", headers=_bearer(token)).json()

    assert body["user"] is None
    assert body["api_client"]["client_id"] == client_id
    assert "secret_hash" not in body["api_client"]
    assert body["organization"]["id"] == admin.organization_id
    assert body["scopes"] == ["encumbrances", "pledges"]


# --- organization verification ---------------------------------------------------------------


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    return factories.auth(session, factories.platform_admin(session))


def test_a_platform_admin_verifies_an_organization(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    pending = factories.organization(session, verified=False)
    response = client.post(f"/api/v1/organizations/{pending.id}/verify", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["verification"] == "verified"
    assert response.json()["verified_at"] == "2026-06-15T09:30:00Z"


def test_a_platform_admin_rejects_with_a_reason_the_applicant_can_read(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    applicant = factories.member(session, verified=False)
    response = client.post(
        f"/api/v1/organizations/{applicant.organization_id}/reject",
        headers=admin_headers,
        json={"reason": "The credit code belongs to another company."},
    )
    assert response.status_code == 200, response.text
    assert response.json()["verification"] == "rejected"
    own = client.get("/api/v1/me", headers=factories.auth(session, applicant)).json()
    assert own["organization"]["rejection_reason"] == "The credit code belongs to another company."


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "no"}])
def test_rejecting_needs_a_reason(
    client: TestClient, session: Session, admin_headers: dict[str, str], body: dict[str, str]
) -> None:
    pending = factories.organization(session, verified=False)
    response = client.post(
        f"/api/v1/organizations/{pending.id}/reject", headers=admin_headers, json=body
    )
    assert_problem(response, 422, "validation_failed")
    session.refresh(pending)
    assert pending.verification == Verification.pending


@pytest.mark.parametrize("action", ["verify", "reject"])
def test_only_platform_admins_decide(client: TestClient, session: Session, action: str) -> None:
    pending = factories.organization(session, verified=False)
    # An organization admin, even of a verified organization, is not a platform admin.
    outsider = factories.auth(session, factories.member(session, role=UserRole.admin))
    response = client.post(
        f"/api/v1/organizations/{pending.id}/{action}", headers=outsider, json={"reason": "fake"}
    )
    assert_problem(response, 403, "not_platform_admin")


def test_deciding_needs_a_token(client: TestClient, session: Session) -> None:
    pending = factories.organization(session, verified=False)
    assert_problem(
        client.post(f"/api/v1/organizations/{pending.id}/verify"), 401, "not_authenticated"
    )


def test_deciding_an_unknown_organization_is_not_found(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.post("/api/v1/organizations/2147483647/verify", headers=admin_headers)
    assert_problem(response, 404, "organization_not_found")


@pytest.mark.parametrize("organization_id", ["0", "2147483648", "abc"])
def test_deciding_a_malformed_id_is_invalid(
    client: TestClient, admin_headers: dict[str, str], organization_id: str
) -> None:
    response = client.post(f"/api/v1/organizations/{organization_id}/verify", headers=admin_headers)
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    ("first", "second"), [("verify", "verify"), ("verify", "reject"), ("reject", "verify")]
)
def test_a_decided_organization_cannot_be_decided_again(
    client: TestClient,
    session: Session,
    admin_headers: dict[str, str],
    first: str,
    second: str,
) -> None:
    pending = factories.organization(session, verified=False)
    url = f"/api/v1/organizations/{pending.id}"
    reason = {"reason": "Documents do not match."}
    assert client.post(f"{url}/{first}", headers=admin_headers, json=reason).status_code == 200
    response = client.post(f"{url}/{second}", headers=admin_headers, json=reason)
    assert_problem(response, 409, "organization_not_pending")


# --- organization lists and lookups ----------------------------------------------------------


def test_organizations_are_listed_for_platform_admins_only(
    client: TestClient, session: Session
) -> None:
    headers = factories.auth(session, factories.member(session))
    assert_problem(client.get("/api/v1/organizations", headers=headers), 403, "not_platform_admin")
    assert_problem(client.get("/api/v1/organizations"), 401, "not_authenticated")


def test_organizations_filter_by_verification_and_kind(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    pending_bank = factories.organization(session, kind=OrganizationKind.bank, verified=False)
    pending_university = factories.organization(
        session, kind=OrganizationKind.university, verified=False
    )
    factories.organization(session, kind=OrganizationKind.bank, verified=True)

    pending = client.get(
        "/api/v1/organizations", headers=admin_headers, params={"verification": "pending"}
    ).json()
    pending_banks = client.get(
        "/api/v1/organizations",
        headers=admin_headers,
        params={"verification": "pending", "kind": "bank"},
    ).json()

    assert [org["id"] for org in pending["items"]] == [pending_university.id, pending_bank.id]
    assert [org["id"] for org in pending_banks["items"]] == [pending_bank.id]


def test_organization_pages_walk_every_match_once(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    created = {factories.organization(session, verified=False).id for _ in range(5)}
    seen: list[int] = []
    params: dict[str, str | int] = {"verification": "pending", "limit": 2}
    pages = 0
    while True:
        page = client.get("/api/v1/organizations", headers=admin_headers, params=params).json()
        pages += 1
        assert page["limit"] == 2
        seen.extend(org["id"] for org in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "params",
    [{"limit": 201}, {"limit": 0}, {"verification": "maybe"}, {"kind": "government"}],
)
def test_organization_list_parameters_are_validated(
    client: TestClient, admin_headers: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get("/api/v1/organizations", headers=admin_headers, params=params)
    assert_problem(response, 422, "validation_failed")


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!", id="not-base64-json"),
        pytest.param(_cursor([1, 2]), id="not-an-object"),
        pytest.param(_cursor({"id": "12"}), id="id-a-string"),
        pytest.param(_cursor({"id": True}), id="id-a-boolean"),
        pytest.param(_cursor({"offset": 10}), id="no-id"),
        # Larger than any id can be; must not reach the database as an overflowing integer.
        pytest.param(_cursor({"id": 2**70}), id="id-beyond-any-row"),
    ],
)
def test_a_cursor_this_api_did_not_issue_is_refused(
    client: TestClient, admin_headers: dict[str, str], cursor: str
) -> None:
    response = client.get("/api/v1/organizations", headers=admin_headers, params={"cursor": cursor})
    assert_problem(response, 422, "invalid_cursor")


def test_a_verified_organization_is_visible_to_any_signed_in_caller(
    client: TestClient, session: Session
) -> None:
    verified = factories.organization(session, kind=OrganizationKind.university)
    caller = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    response = client.get(f"/api/v1/organizations/{verified.id}", headers=caller)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == verified.name
    assert_problem(client.get(f"/api/v1/organizations/{verified.id}"), 401, "not_authenticated")


@pytest.mark.parametrize("approve", [None, False])
def test_an_undecided_or_rejected_organization_is_hidden_from_others(
    client: TestClient, session: Session, approve: bool | None
) -> None:
    other = factories.organization(session, verified=False)
    if approve is not None:
        accounts.decide_verification(
            session=session, organization=other, approve=approve, reason="fake"
        )
    caller = factories.auth(session, factories.member(session))
    response = client.get(f"/api/v1/organizations/{other.id}", headers=caller)
    assert_problem(response, 404, "organization_not_found")


def test_a_pending_organization_sees_itself(client: TestClient, session: Session) -> None:
    user = factories.member(session, verified=False)
    response = client.get(
        f"/api/v1/organizations/{user.organization_id}", headers=factories.auth(session, user)
    )
    assert response.status_code == 200, response.text
    assert response.json()["verification"] == "pending"


def test_a_platform_admin_sees_a_pending_organization(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    pending = factories.organization(session, verified=False)
    response = client.get(f"/api/v1/organizations/{pending.id}", headers=admin_headers)
    assert response.status_code == 200, response.text


def test_an_unknown_organization_is_not_found(client: TestClient, session: Session) -> None:
    caller = factories.auth(session, factories.member(session))
    response = client.get("/api/v1/organizations/2147483647", headers=caller)
    assert_problem(response, 404, "organization_not_found")


def test_an_organization_id_out_of_range_is_invalid(client: TestClient, session: Session) -> None:
    caller = factories.auth(session, factories.member(session))
    response = client.get("/api/v1/organizations/2147483648", headers=caller)
    assert_problem(response, 422, "validation_failed")


# --- API clients -----------------------------------------------------------------------------


def _create_client(client: TestClient, headers: dict[str, str], name: str = "risk") -> Response:
    response: Response = client.post("/api/v1/api-clients", headers=headers, json={"name": name})
    return response


def test_an_organization_admin_creates_an_api_client_whose_secret_is_shown_once(
    client: TestClient, session: Session
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    headers = factories.auth(session, admin)

    created = _create_client(client, headers, "loan-origination")

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "loan-origination"
    assert body["organization_id"] == admin.organization_id
    assert body["revoked_at"] is None
    secret = body["client_secret"]
    listed = client.get("/api/v1/api-clients", headers=headers)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["client_id"] == body["client_id"]
    assert "client_secret" not in item
    assert "secret_hash" not in item
    assert secret not in listed.text
    token = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(body["client_id"], secret)
    )
    assert token.status_code == 200, token.text


def test_api_clients_are_listed_per_organization(client: TestClient, session: Session) -> None:
    admin, other = (factories.member(session, kind=OrganizationKind.bank) for _ in range(2))
    _create_client(client, factories.auth(session, other))
    listed = client.get("/api/v1/api-clients", headers=factories.auth(session, admin)).json()
    assert listed["items"] == []


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_an_api_client_needs_a_sensible_name(
    client: TestClient, session: Session, name: str
) -> None:
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    assert_problem(_create_client(client, headers, name), 422, "validation_failed")


def test_api_clients_need_a_token(client: TestClient) -> None:
    assert_problem(client.post("/api/v1/api-clients", json={"name": "x"}), 401, "not_authenticated")
    assert_problem(client.get("/api/v1/api-clients"), 401, "not_authenticated")
    assert_problem(client.delete("/api/v1/api-clients/1"), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/v1/api-clients/0"), ("GET", "/api/v1/api-clients?limit=201")],
)
def test_api_client_parameters_are_validated(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    assert_problem(client.request(method, path, headers=headers), 422, "validation_failed")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/api-clients"), ("GET", "/api/v1/api-clients")],
)
def test_a_plain_member_cannot_manage_api_clients(
    client: TestClient, session: Session, method: str, path: str
) -> None:
    member = factories.member(session, kind=OrganizationKind.bank, role=UserRole.member)
    response = client.request(
        method, path, headers=factories.auth(session, member), json={"name": "x"}
    )
    assert_problem(response, 403, "not_organization_admin")


def test_a_plain_member_cannot_revoke_an_api_client(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, _ = api_client_of(admin)
    target = session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
    org = session.get(Organization, admin.organization_id)
    assert org is not None
    member = factories.user(session, org, role=UserRole.member)
    response = client.delete(
        f"/api/v1/api-clients/{target}", headers=factories.auth(session, member)
    )
    assert_problem(response, 403, "not_organization_admin")


def test_an_api_client_cannot_create_api_clients(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    token = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json()["access_token"]
    assert_problem(_create_client(client, _bearer(token)), 403, "not_organization_admin")


def test_revoking_an_api_client_ends_its_tokens(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    client_id, secret = api_client_of(admin)
    target = session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
    machine = _bearer(
        client.post(
            TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        ).json()["access_token"]
    )
    assert client.get("/api/v1/me", headers=machine).status_code == 200

    response = client.delete(
        f"/api/v1/api-clients/{target}", headers=factories.auth(session, admin)
    )

    assert response.status_code == 200, response.text
    assert response.json()["revoked_at"] == "2026-06-15T09:30:00Z"
    assert_problem(client.get("/api/v1/me", headers=machine), 401, "invalid_token")


def test_another_organizations_api_client_is_not_found(
    client: TestClient, session: Session, api_client_of: ClientCredentials
) -> None:
    client_id, secret = api_client_of(factories.member(session, kind=OrganizationKind.bank))
    target = session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id))
    stranger = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))

    response = client.delete(f"/api/v1/api-clients/{target}", headers=stranger)

    assert_problem(response, 404, "api_client_not_found")
    still = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert still.status_code == 200
