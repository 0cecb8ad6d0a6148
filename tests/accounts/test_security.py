"""Access tokens: what decoding refuses, and how the API answers a missing, bad or ended token."""

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlmodel import Session

from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.models import Organization, OrganizationKind, User
from marketplace.config import get_settings
from marketplace.errors import PROBLEM_MEDIA_TYPE
from tests import factories

Login = Callable[..., dict[str, Any]]

OTHER_SECRET = "another-secret-that-is-also-long-enough-for-hs256"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _current_kid() -> str:
    issued = security.create_access_token(
        subject="user:1", organization_id=1, scopes=frozenset({"patents"})
    )
    kid: str = jwt.get_unverified_header(issued.token)["kid"]
    return kid


def _claims(**overrides: Any) -> dict[str, Any]:
    settings = get_settings()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user:1",
        "org": 1,
        "scope": "patents",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        "jti": "0123456789abcdef0123456789abcdef",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def _sign(
    claims: dict[str, Any],
    *,
    secret: str | None = None,
    algorithm: str = "HS256",
    kid: str | None = "current",
) -> str:
    headers = {} if kid is None else {"kid": _current_kid() if kid == "current" else kid}
    key = secret or get_settings().signing_secret()
    token: str = jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    return token


def _unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` and an empty signature (python-jose refuses to make one)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': _current_kid()})}.{part(claims)}."


# --- decoding --------------------------------------------------------------------------------


def test_a_token_round_trips_its_claims() -> None:
    issued = security.create_access_token(
        subject="user:7", organization_id=3, scopes=frozenset({"patents", "licenses"})
    )
    claims = security.decode_access_token(issued.token)
    assert claims.subject == "user:7"
    assert claims.organization_id == 3
    assert claims.scopes == {"patents", "licenses"}
    assert claims.jti == issued.jti
    assert issued.expires_in == get_settings().access_token_ttl_seconds


def test_every_token_gets_its_own_id() -> None:
    scopes = frozenset({"patents"})
    first = security.create_access_token(subject="user:1", organization_id=1, scopes=scopes)
    second = security.create_access_token(subject="user:1", organization_id=1, scopes=scopes)
    assert first.jti != second.jti


def test_a_hand_built_token_with_the_right_key_is_accepted() -> None:
    # Guards the refusal tests below: each differs from this one in one respect only.
    assert security.decode_access_token(_sign(_claims())).subject == "user:1"


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda: _unsigned(_claims()), id="alg-none"),
        pytest.param(lambda: _sign(_claims(), secret=OTHER_SECRET), id="other-key"),
        pytest.param(lambda: _sign(_claims(), algorithm="HS512"), id="hs512-not-allowed"),
        pytest.param(lambda: _sign(_claims(), kid="0000000000000000"), id="unknown-kid"),
        pytest.param(lambda: _sign(_claims(), kid=None), id="missing-kid"),
        pytest.param(lambda: _sign(_claims(aud="another-api")), id="wrong-aud"),
        pytest.param(lambda: _sign(_claims(aud=None)), id="missing-aud"),
        pytest.param(lambda: _sign(_claims(iss="someone-else")), id="wrong-iss"),
        pytest.param(lambda: _sign(_claims(iss=None)), id="missing-iss"),
        pytest.param(
            lambda: _sign(_claims(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)),
            id="expired",
        ),
        pytest.param(lambda: _sign(_claims(exp=None)), id="missing-exp"),
        pytest.param(lambda: _sign(_claims(iat=None)), id="missing-iat"),
        pytest.param(lambda: _sign(_claims(sub=None)), id="missing-sub"),
        pytest.param(lambda: _sign(_claims(jti=None)), id="missing-jti"),
        pytest.param(lambda: _sign(_claims(org=None)), id="missing-org"),
        pytest.param(lambda: _sign(_claims(org="1")), id="org-not-an-integer"),
        pytest.param(lambda: _sign(_claims(scope=None)), id="missing-scope"),
        pytest.param(lambda: _sign(_claims(scope=["patents"])), id="scope-not-a-string"),
        pytest.param(lambda: "not-a-jwt", id="garbage"),
        pytest.param(lambda: _sign(_claims())[:-4] + "AAAA", id="tampered-signature"),
    ],
)
def test_decoding_refuses(token_factory: Callable[[], str]) -> None:
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(token_factory())


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = _sign(_claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(_claims(org=2)).encode()).decode().rstrip("=")
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(f"{header}.{forged}.{signature}")


def test_secrets_verify_only_against_their_own_hash() -> None:
    stored = security.hash_secret("correct horse battery staple")
    assert security.verify_secret(stored, "correct horse battery staple")
    assert not security.verify_secret(stored, "correct horse battery stapler")
    assert not security.verify_secret("not-an-argon2-hash", "correct horse battery staple")


# --- through HTTP ----------------------------------------------------------------------------


def _assert_unauthorized(response: Any, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == code


def test_no_token_is_not_authenticated(client: TestClient) -> None:
    _assert_unauthorized(client.get("/api/v1/me"), "not_authenticated")


def test_a_garbage_token_is_invalid(client: TestClient) -> None:
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer("garbage")), "invalid_token")


def test_a_forged_token_is_invalid(client: TestClient, session: Session) -> None:
    user = factories.member(session)
    forged = _sign(_claims(sub=f"user:{user.id}", org=user.organization_id), secret=OTHER_SECRET)
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer(forged)), "invalid_token")


def test_an_expired_token_is_invalid(client: TestClient, session: Session) -> None:
    user = factories.member(session)
    expired = _sign(
        _claims(
            sub=f"user:{user.id}",
            org=user.organization_id,
            iat=int(time.time()) - 3600,
            exp=int(time.time()) - 1,
        )
    )
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer(expired)), "invalid_token")


def test_a_token_for_an_unknown_kind_of_subject_is_invalid(
    client: TestClient, session: Session
) -> None:
    user = factories.member(session)
    token = _sign(_claims(sub=f"robot:{user.id}", org=user.organization_id))
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer(token)), "invalid_token")


def test_a_token_for_an_unknown_api_client_is_invalid(client: TestClient, session: Session) -> None:
    bank = factories.organization(session, kind=OrganizationKind.bank)
    token = _sign(_claims(sub="client:mkc_nobody", org=bank.id, scope="pledges"))
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer(token)), "invalid_token")


def test_a_deactivated_users_token_stops_working(client: TestClient, session: Session) -> None:
    user = factories.member(session)
    headers = factories.auth(session, user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    user.is_active = False
    session.add(user)
    session.flush()
    _assert_unauthorized(client.get("/api/v1/me", headers=headers), "invalid_token")


def test_a_token_naming_another_organization_than_the_users_is_invalid(
    client: TestClient, session: Session
) -> None:
    user = factories.member(session)
    other = factories.organization(session)
    token = security.create_access_token(
        subject=f"user:{user.id}", organization_id=other.id or 0, scopes=frozenset()
    ).token
    _assert_unauthorized(client.get("/api/v1/me", headers=_bearer(token)), "invalid_token")


def test_logout_ends_the_access_token(client: TestClient, session: Session, login: Login) -> None:
    user = factories.member(session)
    headers = _bearer(login(user.email)["access_token"])
    response = client.post("/api/v1/auth/logout", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    _assert_unauthorized(client.get("/api/v1/me", headers=headers), "invalid_token")


def test_logout_leaves_other_access_tokens_working(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    ending, other = login(user.email), login(user.email)
    client.post("/api/v1/auth/logout", headers=_bearer(ending["access_token"]))
    assert client.get("/api/v1/me", headers=_bearer(other["access_token"])).status_code == 200


def test_logout_with_a_refresh_token_ends_that_login(
    client: TestClient, session: Session, login: Login
) -> None:
    user = factories.member(session)
    tokens = login(user.email)
    response = client.post(
        "/api/v1/auth/logout",
        headers=_bearer(tokens["access_token"]),
        data={"refresh_token": tokens["refresh_token"]},
    )
    assert response.status_code == 204
    refreshed = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_logout_without_a_token_is_not_authenticated(client: TestClient) -> None:
    _assert_unauthorized(client.post("/api/v1/auth/logout"), "not_authenticated")


def test_logout_refuses_an_oversized_refresh_token(client: TestClient, session: Session) -> None:
    headers = factories.auth(session, factories.member(session))
    response = client.post(
        "/api/v1/auth/logout", headers=headers, data={"refresh_token": "x" * 513}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    # The refused logout did not end the token.
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_a_rejected_organizations_tokens_lose_their_scopes(
    client: TestClient, session: Session
) -> None:
    user = factories.member(session, kind=OrganizationKind.university, verified=False)
    headers = factories.auth(session, user)
    assert client.get("/api/v1/patents", headers=headers).status_code == 200
    org = session.get(Organization, user.organization_id)
    assert org is not None
    accounts.decide_verification(session=session, organization=org, approve=False, reason="fake")

    response = client.get("/api/v1/patents", headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "organization_rejected"
    assert response.json()["required_scope"] == "patents"
    assert client.get("/api/v1/me", headers=headers).json()["scopes"] == []


def test_a_token_without_the_needed_scope_is_forbidden(
    client: TestClient, session: Session
) -> None:
    user: User = factories.member(session, kind=OrganizationKind.university)
    headers = factories.auth(session, user, scopes=frozenset({"licenses"}))
    response = client.get("/api/v1/patents", headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
