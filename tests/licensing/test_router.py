"""The licensing API over HTTP: accepting offers, reading licenses, terminating them."""

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.listings.models import Listing, Offer
from marketplace.params import MAX_ID
from marketplace.patents import service as patents
from marketplace.patents.models import LegalStatus, PatentUpdate
from tests import factories
from tests.factories import NewParty, Party
from tests.licensing.conftest import Accept
from tests.problems import assert_problem


def independent_digest(terms: dict[str, Any]) -> str:
    encoded = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def withdraw(client: TestClient, listing: Listing, owner: Party) -> None:
    requested = client.post(
        f"/api/v1/listings/{listing.id}/withdraw",
        json=factories.withdrawal_body(listing),
        headers=owner.headers,
    )
    assert requested.status_code == 200, requested.text
    response = client.post(
        f"/api/v1/listings/{listing.id}/withdrawal-announcement",
        json={
            "announcement_number": factories.announcement_number("KFCX"),
            "announcement_date": "2026-06-15",
        },
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"


def terminate(
    client: TestClient, license_id: int, party: Party, body: dict[str, Any] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/licenses/{license_id}/terminate", headers=party.headers, json=body
    )
    return response


# Accepting an offer ---------------------------------------------------------------------------


def test_accept_grants_active_non_exclusive_license(
    accept: Accept, listing: Listing, offer: Offer, licensor: Party, licensee: Party
) -> None:
    response = accept(offer, licensee)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    assert (body["offer_id"], body["listing_id"]) == (offer.id, listing.id)
    assert (body["licensor_id"], body["licensee_id"]) == (licensor.id, licensee.id)
    assert body["exclusivity"] == "non_exclusive"
    assert body["sublicensing_allowed"] is False
    assert re.fullmatch(r"LIC2026\d{8}", body["license_number"])
    assert body["effective_date"] == "2026-06-15"
    # Three years from the frozen day, the last day included.
    assert body["expires_on"] == "2029-06-14"
    assert body["recordation_deadline"] == "2026-09-15"
    assert body["terminated_at"] is None


def test_accept_freezes_the_exact_terms_and_their_sha256(
    accept: Accept,
    listing: Listing,
    offer: Offer,
    licensor: Party,
    new_party: NewParty,
) -> None:
    # A Chinese name makes the hash depend on ensure_ascii=False, as the canonical form says.
    licensee = new_party(name="杭州储能科技有限公司")

    body = accept(offer, licensee).json()

    patent = listing.patents[0]
    assert body["terms"] == {
        "schema_version": 2,
        "declaration": {
            "listing_id": listing.id,
            "announcement_number": listing.announcement_number,
            "announcement_date": "2026-06-15",
            "title": listing.title,
        },
        "licensor": {
            "id": licensor.id,
            "name": licensor.organization.name,
            "country": "CN",
            "credit_code": licensor.organization.credit_code,
        },
        "licensee": {
            "id": licensee.id,
            "name": "杭州储能科技有限公司",
            "country": "CN",
            "credit_code": licensee.organization.credit_code,
        },
        "patents": [
            {
                "application_number": patent.application_number,
                "title": patent.title,
                "kind": "invention",
                # Filed 2020-03-01: twenty years, the last day being the eve of the anniversary.
                "term_end_date": "2040-02-29",
            }
        ],
        "offer": {
            "offer_id": offer.id,
            "royalty_type": "running",
            "upfront_fee": None,
            "royalty_rate_percent": "3.5000",
            "per_unit_fee": None,
            "minimum_annual": "20000.00",
            "currency": "CNY",
            "term_years": 3,
            "field_of_use": None,
            "territory": "mainland China",
        },
        "exclusivity": "non_exclusive",
        "sublicensing_allowed": False,
        "effective_date": "2026-06-15",
        "expires_on": "2029-06-14",
        # Nothing is due up front: the license rests on the notice alone.
        "payment": None,
    }
    assert body["terms_sha256"] == independent_digest(body["terms"])


def test_license_ends_with_the_earliest_patent_term_when_that_comes_first(
    session: Session, accept: Accept, licensor: Party, licensee: Party
) -> None:
    lasting = factories.patent(session, licensor.organization, filing_date=date(2020, 3, 1))
    # Filed 2006-07-01: the invention's term ends 2026-06-30, long before a one-year license.
    ending = factories.patent(session, licensor.organization, filing_date=date(2006, 7, 1))
    _, offer = factories.published_listing(
        session,
        licensor.organization,
        patent_list=[lasting, ending],
        offers=[factories.offer_data(term_years=1)],
    )

    body = accept(offer, licensee).json()

    assert body["expires_on"] == "2026-06-30"
    assert body["terms"]["expires_on"] == "2026-06-30"
    assert [p["term_end_date"] for p in body["terms"]["patents"]] == ["2040-02-29", "2026-06-30"]


def test_replay_with_same_key_returns_the_same_license_with_200(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party
) -> None:
    first = accept(offer, licensee, key="order-2026-0001")
    replay = accept(offer, licensee, key="order-2026-0001")

    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    held = client.get("/api/v1/licenses", headers=licensee.headers).json()["items"]
    assert [item["id"] for item in held] == [first.json()["id"]]


def test_same_key_for_another_offer_is_refused(
    session: Session, accept: Accept, licensor: Party, offer: Offer, licensee: Party
) -> None:
    _, other_offer = factories.published_listing(session, licensor.organization)
    assert accept(offer, licensee, key="order-7").status_code == 201

    response = accept(other_offer, licensee, key="order-7")

    assert_problem(response, 422, "idempotency_key_reused")


def test_refused_acceptance_does_not_use_up_its_key(
    session: Session, accept: Accept, listing: Listing, offer: Offer, licensee: Party
) -> None:
    patent = listing.patents[0]
    patents.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.lapsed)
    )
    assert_problem(accept(offer, licensee, key="retry-me"), 409, "patent_not_in_force")
    patents.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.granted)
    )

    assert accept(offer, licensee, key="retry-me").status_code == 201


def test_missing_idempotency_key_is_422(client: TestClient, offer: Offer, licensee: Party) -> None:
    response = client.post(f"/api/v1/offers/{offer.id}/accept", headers=licensee.headers)

    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"] == "header.Idempotency-Key"


def test_idempotency_key_of_255_characters_is_accepted(
    accept: Accept, offer: Offer, licensee: Party
) -> None:
    assert accept(offer, licensee, key="k" * 255).status_code == 201


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "two words", "tab\tinside", "bell\x07inside", "del\x7finside"],
    ids=["too-long", "space", "tab", "control", "delete"],
)
def test_malformed_idempotency_key_is_422(
    accept: Accept, offer: Offer, licensee: Party, key: str
) -> None:
    assert_problem(accept(offer, licensee, key=key), 422, "validation_failed")


def test_second_acceptance_by_same_licensee_is_409(
    accept: Accept, offer: Offer, licensee: Party
) -> None:
    first = accept(offer, licensee).json()

    body = assert_problem(accept(offer, licensee), 409, "license_already_active")
    assert body["license_id"] == first["id"]


def test_licensee_may_accept_again_after_terminating(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party
) -> None:
    first = accept(offer, licensee).json()
    assert terminate(client, first["id"], licensee).status_code == 200

    again = accept(offer, licensee)

    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
    assert again.json()["license_number"] != first["license_number"]
    assert again.json()["status"] == "active"


def test_unverified_enterprise_cannot_accept(
    accept: Accept, offer: Offer, new_party: NewParty
) -> None:
    response = accept(offer, new_party(verified=False))

    assert_problem(response, 403, "organization_not_verified")


@pytest.mark.parametrize("kind", [OrganizationKind.university, OrganizationKind.research_institute])
def test_universities_and_institutes_accept_like_anyone(
    accept: Accept, offer: Offer, new_party: NewParty, kind: OrganizationKind
) -> None:
    """Any entity may take an open license (Patent Law art. 51), not only enterprises."""
    taker = new_party(kind=kind)
    response = accept(offer, taker)
    assert response.status_code == 201, response.text
    assert (response.json()["licensee_id"], response.json()["status"]) == (taker.id, "active")


def test_a_bank_cannot_accept(accept: Accept, offer: Offer, new_party: NewParty) -> None:
    assert_problem(accept(offer, new_party(kind=OrganizationKind.bank)), 403, "insufficient_scope")


def test_licensor_cannot_accept_its_own_offer(
    session: Session, accept: Accept, new_party: NewParty
) -> None:
    company = new_party(kind=OrganizationKind.enterprise)
    _, own_offer = factories.published_listing(session, company.organization)

    assert_problem(accept(own_offer, company), 403, "self_license")


def test_offer_of_a_draft_listing_does_not_exist_for_others(
    session: Session, accept: Accept, licensor: Party, licensee: Party
) -> None:
    draft = factories.draft_listing(session, licensor.organization)

    assert_problem(accept(draft.offers[0], licensee), 404, "offer_not_found")


def test_offer_of_a_withdrawn_listing_cannot_be_accepted(
    client: TestClient,
    accept: Accept,
    listing: Listing,
    offer: Offer,
    licensor: Party,
    licensee: Party,
) -> None:
    withdraw(client, listing, licensor)

    assert_problem(accept(offer, licensee), 409, "listing_not_published")


def test_lapsed_patent_blocks_acceptance(
    session: Session, accept: Accept, listing: Listing, offer: Offer, licensee: Party
) -> None:
    patent = listing.patents[0]
    # Straight through the patents service: the declaration is still published, so it is the
    # acceptance's own check that has to catch the lapse.
    patents.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=LegalStatus.lapsed)
    )

    body = assert_problem(accept(offer, licensee), 409, "patent_not_in_force")
    assert body["application_number"] == patent.application_number


def test_patent_past_its_term_blocks_acceptance(
    session: Session,
    accept: Accept,
    licensor: Party,
    licensee: Party,
    set_today: Callable[[date], None],
) -> None:
    ending = factories.patent(session, licensor.organization, filing_date=date(2006, 7, 1))
    _, offer = factories.published_listing(
        session,
        licensor.organization,
        patent_list=[ending],
        offers=[factories.offer_data(term_years=1)],
    )
    # The day after the term ends; the annual fee is still paid, so only the term is at stake.
    set_today(date(2026, 7, 1))

    assert_problem(accept(offer, licensee), 409, "patent_not_in_force")


def test_unknown_offer_is_404(accept: Accept, licensee: Party) -> None:
    assert_problem(accept(MAX_ID, licensee), 404, "offer_not_found")


@pytest.mark.parametrize("offer_id", [0, MAX_ID + 1])
def test_offer_id_out_of_range_is_422(accept: Accept, licensee: Party, offer_id: int) -> None:
    assert_problem(accept(offer_id, licensee), 422, "validation_failed")


def test_accept_without_token_is_401(client: TestClient, offer: Offer) -> None:
    response = client.post(
        f"/api/v1/offers/{offer.id}/accept", headers={"Idempotency-Key": "no-token"}
    )

    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_accept_with_invalid_token_is_401(client: TestClient, offer: Offer) -> None:
    response = client.post(
        f"/api/v1/offers/{offer.id}/accept",
        headers={"Authorization": "Bearer not-a-jwt", "Idempotency-Key": "bad-token"},
    )

    assert_problem(response, 401, "invalid_token")


# Withdrawal and frozen terms ------------------------------------------------------------------


def test_withdrawal_leaves_granted_licenses_active_and_refuses_new_ones(
    client: TestClient,
    accept: Accept,
    listing: Listing,
    offer: Offer,
    licensor: Party,
    new_party: NewParty,
) -> None:
    granted = {accept(offer, new_party()).json()["id"] for _ in range(3)}

    withdraw(client, listing, licensor)

    held = client.get("/api/v1/licenses", headers=licensor.headers).json()["items"]
    assert {item["id"] for item in held} == granted
    assert {item["status"] for item in held} == {"active"}
    assert_problem(accept(offer, new_party()), 409, "listing_not_published")


def test_later_changes_to_patent_and_listing_never_reach_the_license(
    client: TestClient,
    session: Session,
    accept: Accept,
    listing: Listing,
    offer: Offer,
    licensor: Party,
    licensee: Party,
) -> None:
    granted = accept(offer, licensee).json()
    patent = listing.patents[0]
    original_title = patent.title

    renamed = client.patch(
        f"/api/v1/patents/{patent.id}",
        headers=licensor.headers,
        json={"title": "Renamed after the license was granted"},
    )
    assert renamed.status_code == 200, renamed.text
    withdraw(client, listing, licensor)
    # Read the license back from the database, not from the session's memory.
    session.expire_all()
    now = client.get(f"/api/v1/licenses/{granted['id']}", headers=licensee.headers).json()

    assert renamed.json()["title"] == "Renamed after the license was granted"
    assert now["terms"] == granted["terms"]
    assert now["terms"]["patents"][0]["title"] == original_title
    assert now["terms_sha256"] == granted["terms_sha256"] == independent_digest(now["terms"])


# Reading licenses -----------------------------------------------------------------------------


def test_each_party_sees_its_own_licenses_and_outsiders_none(
    client: TestClient, accept: Accept, offer: Offer, licensor: Party, new_party: NewParty
) -> None:
    first, second, outsider = new_party(), new_party(), new_party()
    first_id = accept(offer, first).json()["id"]
    second_id = accept(offer, second).json()["id"]

    def listed(party: Party) -> list[int]:
        response = client.get("/api/v1/licenses", headers=party.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    # Newest first.
    assert listed(licensor) == [second_id, first_id]
    assert listed(first) == [first_id]
    assert listed(second) == [second_id]
    assert listed(outsider) == []


def test_list_filters_by_role(
    client: TestClient,
    session: Session,
    accept: Accept,
    offer: Offer,
    licensee: Party,
    new_party: NewParty,
) -> None:
    # The licensee also publishes, and another enterprise licenses from it.
    _, its_offer = factories.published_listing(session, licensee.organization)
    held = accept(offer, licensee).json()["id"]
    granted = accept(its_offer, new_party()).json()["id"]

    def ids(**params: str) -> set[int]:
        response = client.get("/api/v1/licenses", headers=licensee.headers, params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids() == {held, granted}
    assert ids(role="licensee") == {held}
    assert ids(role="licensor") == {granted}


def test_list_filters_by_status_listing_and_offer(
    client: TestClient,
    session: Session,
    accept: Accept,
    listing: Listing,
    offer: Offer,
    licensor: Party,
    licensee: Party,
) -> None:
    other_listing, _ = factories.published_listing(
        session,
        licensor.organization,
        offers=[
            factories.offer_data(royalty_type="per_unit", per_unit_fee="12.50"),
            factories.offer_data(royalty_type="lump_sum", upfront_fee="80000"),
        ],
    )
    second_offer, third_offer = other_listing.offers
    on_first = accept(offer, licensee).json()["id"]
    on_second = accept(second_offer, licensee).json()["id"]
    on_third = accept(third_offer, licensee).json()["id"]
    assert terminate(client, on_second, licensee).status_code == 200

    def ids(**params: Any) -> set[int]:
        response = client.get("/api/v1/licenses", headers=licensor.headers, params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    # The lump sum is not paid yet: that license waits for it.
    assert ids(status="active") == {on_first}
    assert ids(status="pending_payment") == {on_third}
    assert ids(status="terminated") == {on_second}
    assert ids(listing_id=listing.id) == {on_first}
    assert ids(listing_id=other_listing.id) == {on_second, on_third}
    assert ids(offer_id=third_offer.id) == {on_third}
    assert ids(listing_id=other_listing.id, status="pending_payment") == {on_third}


def test_list_pages_with_a_cursor(
    client: TestClient, accept: Accept, offer: Offer, licensor: Party, new_party: NewParty
) -> None:
    created = [accept(offer, new_party()).json()["id"] for _ in range(3)]

    first = client.get("/api/v1/licenses", headers=licensor.headers, params={"limit": 2}).json()
    second = client.get(
        "/api/v1/licenses",
        headers=licensor.headers,
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()

    assert [item["id"] for item in first["items"]] == created[:0:-1]
    assert first["limit"] == 2
    assert [item["id"] for item in second["items"]] == created[:1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "validation_failed"),
        ({"limit": 201}, "validation_failed"),
        ({"status": "revoked"}, "validation_failed"),
        ({"role": "owner"}, "validation_failed"),
        ({"listing_id": 0}, "validation_failed"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
    ],
)
def test_list_rejects_bad_parameters(
    client: TestClient, licensee: Party, params: dict[str, Any], code: str
) -> None:
    response = client.get("/api/v1/licenses", headers=licensee.headers, params=params)

    assert_problem(response, 422, code)


def test_list_without_token_is_401(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/licenses"), 401, "not_authenticated")


def test_list_needs_the_licenses_scope(client: TestClient, new_party: NewParty) -> None:
    bank = new_party(kind=OrganizationKind.bank)

    assert_problem(client.get("/api/v1/licenses", headers=bank.headers), 403, "insufficient_scope")


def test_both_parties_read_a_license(
    client: TestClient, accept: Accept, offer: Offer, licensor: Party, licensee: Party
) -> None:
    granted = accept(offer, licensee).json()

    for party in (licensor, licensee):
        response = client.get(f"/api/v1/licenses/{granted['id']}", headers=party.headers)
        assert response.status_code == 200, response.text
        assert response.json() == granted


def test_license_does_not_exist_for_a_third_party(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party, new_party: NewParty
) -> None:
    granted = accept(offer, licensee).json()

    response = client.get(f"/api/v1/licenses/{granted['id']}", headers=new_party().headers)

    assert_problem(response, 404, "license_not_found")


def test_unknown_license_is_404(client: TestClient, licensee: Party) -> None:
    response = client.get(f"/api/v1/licenses/{MAX_ID}", headers=licensee.headers)

    assert_problem(response, 404, "license_not_found")


def test_read_license_errors(client: TestClient, new_party: NewParty, licensee: Party) -> None:
    bank = new_party(kind=OrganizationKind.bank)

    assert_problem(client.get("/api/v1/licenses/1"), 401, "not_authenticated")
    assert_problem(
        client.get("/api/v1/licenses/1", headers=bank.headers), 403, "insufficient_scope"
    )
    assert_problem(
        client.get("/api/v1/licenses/0", headers=licensee.headers), 422, "validation_failed"
    )


# Terminating ----------------------------------------------------------------------------------


def test_licensee_terminates_its_license(
    client: TestClient, accept: Accept, offer: Offer, licensor: Party, licensee: Party
) -> None:
    granted = accept(offer, licensee).json()

    response = terminate(client, granted["id"], licensee, {"reason": "Product line closed"})

    assert response.status_code == 200, response.text
    ended = response.json()
    assert ended["status"] == "terminated"
    assert ended["terminated_at"] == "2026-06-15T09:30:00Z"
    assert ended["termination_reason"] == "Product line closed"
    # The licensor sees the termination too, and the frozen terms are untouched.
    seen = client.get(f"/api/v1/licenses/{granted['id']}", headers=licensor.headers).json()
    assert seen["status"] == "terminated"
    assert seen["terms_sha256"] == granted["terms_sha256"]


def test_terminate_without_a_body_records_no_reason(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party
) -> None:
    granted = accept(offer, licensee).json()

    response = client.post(f"/api/v1/licenses/{granted['id']}/terminate", headers=licensee.headers)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "terminated"
    assert response.json()["termination_reason"] is None


def test_licensor_cannot_terminate_an_open_license(
    client: TestClient, session: Session, accept: Accept, new_party: NewParty
) -> None:
    company = new_party()
    _, its_offer = factories.published_listing(
        session,
        company.organization,
        offers=[factories.offer_data(royalty_type="running", royalty_rate="3")],
    )
    granted = accept(its_offer, new_party()).json()

    response = terminate(client, granted["id"], company)

    assert_problem(response, 403, "only_licensee_can_terminate")
    assert (
        client.get(f"/api/v1/licenses/{granted['id']}", headers=company.headers).json()["status"]
        == "active"
    )


def test_terminate_needs_the_accept_scope(
    client: TestClient,
    session: Session,
    accept: Accept,
    offer: Offer,
    licensee: Party,
) -> None:
    granted = accept(offer, licensee).json()
    # A token of the licensee's own user, narrowed to reading licenses.
    read_only = factories.auth(session, licensee.user, frozenset({"licenses"}))

    response = client.post(f"/api/v1/licenses/{granted['id']}/terminate", headers=read_only)

    assert_problem(response, 403, "insufficient_scope")


def test_third_party_cannot_terminate(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party, new_party: NewParty
) -> None:
    granted = accept(offer, licensee).json()

    assert_problem(terminate(client, granted["id"], new_party()), 404, "license_not_found")


def test_terminating_twice_is_409(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party
) -> None:
    granted = accept(offer, licensee).json()
    assert terminate(client, granted["id"], licensee).status_code == 200

    assert_problem(terminate(client, granted["id"], licensee), 409, "license_not_active")


def test_terminate_rejects_bad_input(
    client: TestClient, accept: Accept, offer: Offer, licensee: Party
) -> None:
    granted = accept(offer, licensee).json()

    too_long = terminate(client, granted["id"], licensee, {"reason": "x" * 1001})
    out_of_range = terminate(client, 0, licensee)

    assert_problem(too_long, 422, "validation_failed")
    assert_problem(out_of_range, 422, "validation_failed")


def test_terminate_without_token_is_401(client: TestClient) -> None:
    assert_problem(client.post("/api/v1/licenses/1/terminate"), 401, "not_authenticated")
