"""What a pending and a rejected organization may do: their state, not only their kind, decides.

| state    | university / institute / enterprise    | bank                         |
|----------|----------------------------------------|------------------------------|
| pending  | patents, draft listings, own licenses; | /me, its own users           |
|          | add users (accepting and publishing    |                              |
|          | wait for verification)                 |                              |
| verified | everything of its kind                 | everything of its kind       |
| rejected | /me; list users and clients, revoke and deactivate: nothing new  |

API clients and webhooks need a verified organization in every kind.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts import service as accounts
from marketplace.accounts.models import Organization, OrganizationKind, User
from tests import factories
from tests.factories import PASSWORD
from tests.problems import assert_problem


def _admin(session: Session, kind: OrganizationKind, *, state: str) -> tuple[User, dict[str, str]]:
    account = factories.member(session, kind=kind, verified=state == "verified")
    if state == "rejected":
        organization = session.get_one(Organization, account.organization_id)
        accounts.decide_verification(
            session=session, organization=organization, approve=False, reason="not a bank"
        )
    return account, factories.auth(session, account)


def _member_body() -> dict[str, Any]:
    return {
        "email": f"colleague{factories.next_number()}@example.com",
        "full_name": "Zhao Lei",
        "password": PASSWORD,
    }


WEBHOOK = {"url": "https://bank.example.com/hooks/marketplace"}


def test_scopes_while_pending_leave_out_the_market_and_the_register(session: Session) -> None:
    bank = factories.organization(session, kind=OrganizationKind.bank, verified=False)
    enterprise = factories.organization(session, verified=False)
    assert accounts.allowed_scopes(bank) == frozenset()
    assert accounts.allowed_scopes(enterprise) == {"patents", "listings", "licenses"}
    # Tokens still carry the kind's scopes, usable from the moment the platform verifies.
    assert accounts.kind_scopes(bank) == {"pledges", "encumbrances"}


@pytest.mark.parametrize("kind", [OrganizationKind.bank, OrganizationKind.university])
def test_a_rejected_organizations_admin_grants_no_new_access(
    client: TestClient, session: Session, kind: OrganizationKind
) -> None:
    _, headers = _admin(session, kind, state="rejected")
    for path, body in [
        ("/api/v1/users", _member_body()),
        ("/api/v1/api-clients", {"name": "loans"}),
        ("/api/v1/webhooks", WEBHOOK),
    ]:
        assert_problem(client.post(path, headers=headers, json=body), 403, "organization_rejected")
    # Seeing and ending access stays open.
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    assert client.get("/api/v1/api-clients", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_a_pending_organizations_admin_adds_colleagues_but_no_machine_access(
    client: TestClient, session: Session
) -> None:
    _, headers = _admin(session, OrganizationKind.university, state="pending")
    added = client.post("/api/v1/users", headers=headers, json=_member_body())
    assert added.status_code == 201, added.text
    for path, body in [("/api/v1/api-clients", {"name": "tto"}), ("/api/v1/webhooks", WEBHOOK)]:
        response = client.post(path, headers=headers, json=body)
        assert_problem(response, 403, "organization_not_verified")


def test_a_verified_organizations_admin_creates_api_clients_and_webhooks(
    client: TestClient, session: Session
) -> None:
    _, headers = _admin(session, OrganizationKind.bank, state="verified")
    created = client.post("/api/v1/api-clients", headers=headers, json={"name": "loans"})
    assert created.status_code == 201, created.text
    hooked = client.post("/api/v1/webhooks", headers=headers, json=WEBHOOK)
    assert hooked.status_code == 201, hooked.text


def test_a_bank_pending_verification_reads_no_pledges_and_checks_no_patents(
    client: TestClient, session: Session
) -> None:
    account, headers = _admin(session, OrganizationKind.bank, state="pending")
    check = {"application_numbers": [factories.application_number()]}
    for response in [
        client.get("/api/v1/pledges", headers=headers),
        client.get("/api/v1/pledges/exposure", headers=headers),
        client.post("/api/v1/encumbrances/check", headers=headers, json=check),
    ]:
        body = assert_problem(response, 403, "organization_not_verified")
        assert body["required_scope"] in {"pledges", "encumbrances"}

    # The same token works once the platform verifies the bank: no new sign-in needed.
    organization = session.get_one(Organization, account.organization_id)
    accounts.decide_verification(session=session, organization=organization, approve=True)
    assert client.get("/api/v1/pledges", headers=headers).status_code == 200
    checked = client.post("/api/v1/encumbrances/check", headers=headers, json=check)
    assert checked.status_code == 200, checked.text


def test_a_pending_banks_sign_in_names_only_the_scopes_it_may_use(
    client: TestClient, session: Session
) -> None:
    account, _ = _admin(session, OrganizationKind.bank, state="pending")
    account.password_hash = factories.password_hash()
    session.add(account)
    session.flush()
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": account.email, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == ""
