"""License certificates: issuing, the published keys, verification online and offline, rotation."""

import base64
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jws
from jose.exceptions import JWSError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace import signing, signing_keys
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import Environment, get_settings
from marketplace.licensing import certificates, recordation
from marketplace.licensing import service as licensing
from marketplace.licensing.models.certificates import CERTIFICATE_MAX_CHARS
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.listings.models import MAX_PATENTS_PER_LISTING, Listing
from tests import factories
from tests.factories import NewParty, Party
from tests.licensing.conftest import Grant
from tests.problems import assert_problem

SetToday = Callable[[date], None]


@pytest.fixture(autouse=True)
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key set of this test's own, so that rotating does not reach other tests."""
    directory = tmp_path / "signing-keys"
    monkeypatch.setattr(get_settings(), "signing_keys_dir", directory)
    return directory


@pytest.fixture
def license_(grant: Grant, licensee: Party) -> License:
    return grant(licensee)


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def get_certificate(client: TestClient, license_id: int | None, party: Party) -> dict[str, Any]:
    response = client.get(f"/api/v1/licenses/{license_id}/certificate", headers=party.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verify(client: TestClient, token: str) -> dict[str, Any]:
    response = client.post("/api/v1/certificates/verify", json={"jws": token})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# What only the published keys and a standard library need: no marketplace code below. ----------


def verify_offline_with_jose(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The README's example, line for line."""
    kid = jws.get_unverified_header(token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims: dict[str, Any] = json.loads(jws.verify(token, key, algorithms=["ES256"]))
    return claims


def verify_offline_with_cryptography(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The same with nothing but ``cryptography``: RFC 7515 by hand."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64decode(header_b64))
    assert header["alg"] == "ES256"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64decode(jwk["x"]), "big"),
        int.from_bytes(b64decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = b64decode(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public_key.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(b64decode(payload_b64))
    return claims


# Issuing ----------------------------------------------------------------------------------------


def test_the_licensee_gets_a_signed_certificate_of_its_license(
    client: TestClient, license_: License, listing: Listing, licensor: Party, licensee: Party
) -> None:
    response = client.get(f"/api/v1/licenses/{license_.id}/certificate", headers=licensee.headers)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    header = json.loads(b64decode(body["jws"].split(".")[0]))
    assert header["alg"] == "ES256"
    assert header["typ"] == "license-certificate+jwt"
    assert header["kid"] == certificates.key_set().active_kid
    # The claims beside the JWS are exactly what it signs.
    assert json.loads(b64decode(body["jws"].split(".")[1])) == body["claims"]
    claims = body["claims"]
    patent = listing.patents[0]
    assert claims["iss"] == "marketplace"
    assert claims["iat"] == 1_781_515_800  # 2026-06-15 09:30 UTC, the pinned clock
    assert len(claims["jti"]) == 32
    assert (claims["license_id"], claims["license_number"]) == (
        license_.id,
        license_.license_number,
    )
    assert claims["licensor"] == {
        "id": licensor.id,
        "name": licensor.organization.name,
        "country": "CN",
        "credit_code": licensor.organization.credit_code,
    }
    assert claims["licensee"]["id"] == licensee.id
    assert claims["licensee"]["credit_code"] == licensee.organization.credit_code
    assert claims["patents"] == [
        {"application_number": patent.application_number, "title": patent.title}
    ]
    assert claims["terms_sha256"] == license_.terms_sha256
    assert (claims["effective_date"], claims["expires_on"]) == ("2026-06-15", "2029-06-14")
    assert claims["status"] == "active"
    assert claims["recordation"] is None


def test_the_licensor_gets_one_too_and_each_certificate_has_its_own_id(
    client: TestClient, license_: License, licensor: Party, licensee: Party
) -> None:
    first = get_certificate(client, license_.id, licensor)
    second = get_certificate(client, license_.id, licensee)

    assert first["claims"]["license_id"] == second["claims"]["license_id"] == license_.id
    assert first["claims"]["jti"] != second["claims"]["jti"]


def test_the_certificate_states_the_recordation_once_recorded(
    client: TestClient, session: Session, license_: License, licensee: Party
) -> None:
    recordation.record_license(
        session=session,
        license_=license_,
        organization_id=licensee.id,
        record_number="2026330000123",
        record_date=date(2026, 6, 15),
    )

    claims = get_certificate(client, license_.id, licensee)["claims"]

    assert claims["recordation"] == {"record_number": "2026330000123", "record_date": "2026-06-15"}


def test_the_certificate_states_the_status_of_the_day_it_is_issued(
    session: Session, license_: License, set_today: SetToday
) -> None:
    # Past its term but before the daily sweep: the certificate already says expired.
    set_today(date(2029, 6, 15))
    assert license_.status is LicenseStatus.active

    issued = certificates.issue_certificate(license_=license_)

    assert issued.claims.status is LicenseStatus.expired


def test_the_certificate_names_parties_as_the_frozen_terms_do(
    client: TestClient, session: Session, license_: License, licensor: Party
) -> None:
    frozen_name = licensor.organization.name
    licensor.organization.name = "Renamed University"
    session.add(licensor.organization)
    session.flush()

    claims = get_certificate(client, license_.id, licensor)["claims"]

    assert claims["licensor"]["name"] == frozen_name


def test_certificate_needs_a_token(client: TestClient, license_: License) -> None:
    response = client.get(f"/api/v1/licenses/{license_.id}/certificate")

    assert_problem(response, 401, "not_authenticated")


def test_certificate_needs_the_licenses_scope(
    client: TestClient, session: Session, license_: License, licensee: Party
) -> None:
    headers = factories.auth(session, licensee.user, frozenset({"patents"}))

    response = client.get(f"/api/v1/licenses/{license_.id}/certificate", headers=headers)

    assert_problem(response, 403, "insufficient_scope")


def test_a_third_party_gets_404_for_a_certificate(
    client: TestClient, license_: License, new_party: NewParty
) -> None:
    stranger = new_party()

    for license_id in (license_.id, 2**31 - 1):
        response = client.get(
            f"/api/v1/licenses/{license_id}/certificate", headers=stranger.headers
        )
        assert_problem(response, 404, "license_not_found")


def test_a_bad_license_id_is_422(client: TestClient, licensee: Party) -> None:
    for bad in ("0", "abc", str(2**31)):
        response = client.get(f"/api/v1/licenses/{bad}/certificate", headers=licensee.headers)
        assert_problem(response, 422, "validation_failed")


@pytest.fixture
def committed_license(committed_engine: Engine) -> tuple[int, dict[str, str]]:
    """A license and its licensee's headers, committed: keys written from other connections
    (rotation, a first key) then wait on no test transaction."""
    from tests.licensing.royalty_builders import license_for

    with Session(committed_engine) as session:
        licensor = factories.organization(session, kind=OrganizationKind.university)
        account = factories.member(session)
        licensee = session.get_one(Organization, account.organization_id)
        license_ = license_for(session, licensor, licensee)
        headers = factories.auth(session, account)
        session.commit()
        assert license_.id is not None
        return license_.id, headers


def _emptied_keys(engine: Engine) -> list[dict[str, Any]]:
    table = signing_keys.SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        saved = [dict(row._mapping) for row in connection.execute(sa.select(table))]
        connection.execute(table.delete())
    signing_keys.forget()
    return saved


def _restored_keys(engine: Engine, saved: list[dict[str, Any]]) -> None:
    table = signing_keys.SigningKeyRecord.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(table.delete())
        if saved:
            connection.execute(table.insert(), saved)
    signing_keys.forget()


def test_production_never_generates_a_key(
    live_app: FastAPI,
    committed_engine: Engine,
    committed_license: tuple[int, dict[str, str]],
    keys_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    license_id, headers = committed_license
    saved = _emptied_keys(committed_engine)
    monkeypatch.setattr(get_settings(), "environment", Environment.production)
    try:
        with TestClient(live_app) as client:
            url = f"/api/v1/licenses/{license_id}/certificate"
            body = assert_problem(client.get(url, headers=headers), 503, "signing_keys_unavailable")
            assert "keys rotate" in body["detail"]
            assert_problem(client.get("/.well-known/jwks.json"), 503, "signing_keys_unavailable")
            assert signing_keys.records(committed_engine) == []
            assert not keys_dir.exists()
            # Once created on purpose, production signs.
            signing_keys.rotate(committed_engine)
            assert client.get(url, headers=headers).json()["jws"]
    finally:
        _restored_keys(committed_engine, saved)


# The published keys and offline verification -----------------------------------------------


def test_the_jwks_publishes_public_keys_with_caching(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert "d" not in key
    assert key["kid"] == certificates.key_set().active_kid


def test_a_certificate_verifies_offline_with_the_published_key_alone(
    client: TestClient, license_: License, licensee: Party
) -> None:
    certificate = get_certificate(client, license_.id, licensee)
    jwks = client.get("/.well-known/jwks.json").json()

    assert verify_offline_with_jose(certificate["jws"], jwks) == certificate["claims"]
    assert verify_offline_with_cryptography(certificate["jws"], jwks) == certificate["claims"]


def test_a_tampered_certificate_fails_offline_and_online(
    client: TestClient, license_: License, licensee: Party
) -> None:
    token = get_certificate(client, license_.id, licensee)["jws"]
    header, payload, signature = token.split(".")
    claims = json.loads(b64decode(payload))
    claims["expires_on"] = "2099-12-31"
    forged = f"{header}.{b64encode(json.dumps(claims).encode())}.{signature}"
    jwks = client.get("/.well-known/jwks.json").json()

    with pytest.raises(InvalidSignature):
        verify_offline_with_cryptography(forged, jwks)
    with pytest.raises(JWSError):
        verify_offline_with_jose(forged, jwks)
    assert verify(client, forged) == {
        "valid": False,
        "reason": "bad_signature",
        "kid": None,
        "claims": None,
        "license_status_now": None,
        "status_changed": None,
    }


def test_rotation_keeps_old_certificates_valid(
    live_app: FastAPI,
    committed_engine: Engine,
    committed_license: tuple[int, dict[str, str]],
) -> None:
    license_id, headers = committed_license
    saved = _emptied_keys(committed_engine)
    try:
        with TestClient(live_app) as client:
            url = f"/api/v1/licenses/{license_id}/certificate"
            old = client.get(url, headers=headers).json()["jws"]
            old_kid = jws.get_unverified_header(old)["kid"]

            new_kid = signing_keys.rotate(committed_engine)
            new = client.get(url, headers=headers).json()["jws"]

            assert new_kid != old_kid
            assert jws.get_unverified_header(new)["kid"] == new_kid
            jwks = client.get("/.well-known/jwks.json").json()
            assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}
            for token, kid in ((old, old_kid), (new, new_kid)):
                assert verify_offline_with_jose(token, jwks)["license_id"] == license_id
                verdict = verify(client, token)
                assert (verdict["valid"], verdict["kid"]) == (True, kid)
    finally:
        _restored_keys(committed_engine, saved)


# The verify endpoint --------------------------------------------------------------------------


def test_verify_reports_a_valid_certificate_and_the_status_now(
    client: TestClient, license_: License, licensee: Party
) -> None:
    certificate = get_certificate(client, license_.id, licensee)

    verdict = verify(client, certificate["jws"])

    assert verdict == {
        "valid": True,
        "reason": None,
        "kid": certificates.key_set().active_kid,
        "claims": certificate["claims"],
        "license_status_now": "active",
        "status_changed": False,
    }


def test_verify_flags_an_active_certificate_of_a_license_since_terminated(
    client: TestClient, session: Session, license_: License, licensee: Party
) -> None:
    token = get_certificate(client, license_.id, licensee)["jws"]
    licensing.terminate_license(
        session=session, license_=license_, organization_id=licensee.id, reason=None
    )

    verdict = verify(client, token)

    assert verdict["valid"] is True
    assert verdict["claims"]["status"] == "active"
    assert verdict["license_status_now"] == "terminated"
    assert verdict["status_changed"] is True


def test_verify_flags_a_license_that_ran_its_term(
    client: TestClient, license_: License, licensee: Party, set_today: SetToday
) -> None:
    token = get_certificate(client, license_.id, licensee)["jws"]
    set_today(date(2029, 6, 15))

    verdict = verify(client, token)

    assert (verdict["license_status_now"], verdict["status_changed"]) == ("expired", True)


def test_verify_refuses_a_certificate_signed_by_a_key_never_published(
    client: TestClient, license_: License, licensee: Party, tmp_path: Path
) -> None:
    claims = get_certificate(client, license_.id, licensee)["claims"]
    stranger = signing.load_key_set(tmp_path / "stranger", create=True)
    token = signing.sign_statement(claims, typ=certificates.CERTIFICATE_TYPE, key_set=stranger)

    verdict = verify(client, token)

    assert (verdict["valid"], verdict["reason"], verdict["claims"]) == (
        False,
        "unknown_key",
        None,
    )


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-jws", "malformed"),
        ("a.b.c", "malformed"),
        (
            b64encode(b'{"alg":"none","typ":"license-certificate+jwt"}') + ".e30.",
            "unsupported_algorithm",
        ),
        (
            b64encode(b'{"alg":"HS256","kid":"x","typ":"license-certificate+jwt"}') + ".e30.c2ln",
            "unsupported_algorithm",
        ),
    ],
)
def test_verify_answers_bad_tokens_with_a_reason_not_an_error(
    client: TestClient, token: str, reason: str
) -> None:
    verdict = verify(client, token)

    assert (verdict["valid"], verdict["reason"]) == (False, reason)


def test_verify_refuses_an_access_token_as_a_certificate(
    client: TestClient, session: Session, licensee: Party
) -> None:
    access_token = factories.token(session, licensee.user)

    assert verify(client, access_token)["reason"] == "unsupported_algorithm"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"jws": ""},
        {"jws": "x" * (CERTIFICATE_MAX_CHARS + 1)},
        {"jws": 5},
        {"token": "a.b.c"},
        [],
    ],
)
def test_verify_rejects_bad_bodies_with_422(client: TestClient, body: Any) -> None:
    response: httpx.Response = client.post("/api/v1/certificates/verify", json=body)

    assert_problem(response, 422, "validation_failed")


def test_verify_needs_no_token(client: TestClient, license_: License, licensee: Party) -> None:
    token = get_certificate(client, license_.id, licensee)["jws"]

    response = client.post("/api/v1/certificates/verify", json={"jws": token})

    assert response.status_code == 200
    assert response.json()["valid"] is True


def test_the_largest_possible_certificate_fits_the_verify_endpoint(
    client: TestClient, session: Session, licensor: Party, grant: Grant, licensee: Party
) -> None:
    # The first title stays within a listing title's 300 characters (the listing is named by it).
    bundle = [
        factories.patent(session, licensor.organization, title="锂" * (300 if n == 0 else 500))
        for n in range(MAX_PATENTS_PER_LISTING)
    ]
    _, big_offer = factories.published_listing(session, licensor.organization, patent_list=bundle)
    big = grant(licensee, big_offer)
    token = get_certificate(client, big.id, licensee)["jws"]

    verdict = verify(client, token)

    assert len(token) > 95_000
    assert verdict["valid"] is True
    assert len(verdict["claims"]["patents"]) == MAX_PATENTS_PER_LISTING
