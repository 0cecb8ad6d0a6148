"""The listings API over HTTP: drafting, offers, publication, withdrawal, lapse and search."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, func, select

from marketplace.accounts.models import Organization, OrganizationKind, User
from marketplace.listings.models import Listing, OfferCreate
from marketplace.matching import search_index as matching
from marketplace.patents import service as patents
from marketplace.patents.models import (
    CoOwner,
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
)
from tests import factories
from tests.problems import assert_problem

LISTINGS = "/api/v1/listings"
OFFERS = "/api/v1/offers"


def university_member(session: Session, **org_fields: Any) -> tuple[User, dict[str, str]]:
    account = factories.member(session, kind=OrganizationKind.university, **org_fields)
    return account, factories.auth(session, account)


def reason_codes(body: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in body["reasons"]]


def publish(
    client: TestClient, listing: Listing, headers: dict[str, str], **announcement: Any
) -> Response:
    response: Response = client.post(
        f"{LISTINGS}/{listing.id}/publish",
        headers=headers,
        json=factories.announcement_body(**announcement),
    )
    return response


WITHDRAWAL = {"reason": "Licensed exclusively to a partner"}
ANNOUNCED_WITHDRAWAL = {"announcement_number": "KFCX2026000001", "announcement_date": "2026-06-15"}


def listing_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Listing)) or 0


# Drafting ----------------------------------------------------------------------------------------


def test_create_listing_defaults_the_title_to_the_first_patents(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    first = factories.patent(session, account, title="Solid-state electrolyte")
    second = factories.patent(session, account)
    response = client.post(
        LISTINGS, headers=headers, json={"patent_ids": [first.id, second.id, first.id]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["title"] == "Solid-state electrolyte"
    assert body["status"] == "draft"
    assert [patent["id"] for patent in body["patents"]] == [first.id, second.id]
    assert body["announcement_number"] is None


def test_create_listing_with_a_foreign_patent_is_not_found_and_writes_nothing(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    own = factories.patent(session, account)
    foreign = factories.patent(session, factories.member(session))
    before = listing_count(session)
    response = client.post(
        LISTINGS, headers=headers, json={"title": "Bundle", "patent_ids": [own.id, foreign.id]}
    )
    body = assert_problem(response, 404, "patent_not_found")
    assert body["patent_id"] == foreign.id
    assert listing_count(session) == before


def test_create_listing_needs_at_least_one_patent(client: TestClient, session: Session) -> None:
    _, headers = university_member(session)
    response = client.post(LISTINGS, headers=headers, json={"patent_ids": []})
    assert_problem(response, 422, "validation_failed")


def test_create_listing_refuses_a_bank(client: TestClient, session: Session) -> None:
    bank = factories.member(session, kind=OrganizationKind.bank)
    response = client.post(
        LISTINGS, headers=factories.auth(session, bank), json={"patent_ids": [1]}
    )
    assert_problem(response, 403, "insufficient_scope")


def test_create_listing_needs_a_token(client: TestClient) -> None:
    assert_problem(client.post(LISTINGS, json={"patent_ids": [1]}), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"royalty_type": "lump_sum", "upfront_fee": "300000"},
            {"upfront_fee": "300000.00", "royalty_rate": None},
            id="lump-sum",
        ),
        pytest.param(
            {"royalty_type": "running", "royalty_rate": 4, "minimum_annual": 10000},
            {"royalty_rate": "4.0000", "minimum_annual": "10000.00", "upfront_fee": None},
            id="running",
        ),
        pytest.param(
            {"royalty_type": "per_unit", "per_unit_fee": 12.5},
            {"per_unit_fee": "12.50"},
            id="per-unit",
        ),
        pytest.param(
            {"royalty_type": "hybrid", "upfront_fee": 50000, "royalty_rate": "3.5"},
            {"upfront_fee": "50000.00", "royalty_rate": "3.5000"},
            id="hybrid",
        ),
    ],
)
def test_add_offer_returns_amounts_with_a_fixed_scale(
    client: TestClient, session: Session, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account, offers=[])
    response = client.post(
        f"{LISTINGS}/{listing.id}/offers", headers=headers, json={**body, "term_years": 3}
    )
    assert response.status_code == 201, response.text
    offer = response.json()
    assert {field: offer[field] for field in expected} == expected
    assert offer["territory"] == "mainland China"
    [stored] = client.get(f"{LISTINGS}/{listing.id}", headers=headers).json()["offers"]
    assert {field: stored[field] for field in expected} == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"royalty_type": "lump_sum"}, id="lump-sum-without-fee"),
        pytest.param(
            {"royalty_type": "lump_sum", "upfront_fee": 1000, "royalty_rate": 2},
            id="lump-sum-with-rate",
        ),
        pytest.param(
            {"royalty_type": "lump_sum", "upfront_fee": 1000, "minimum_annual": 10},
            id="lump-sum-with-minimum",
        ),
        pytest.param({"royalty_type": "lump_sum", "upfront_fee": 0}, id="lump-sum-of-zero"),
        pytest.param({"royalty_type": "running", "upfront_fee": 1000}, id="running-without-rate"),
        pytest.param({"royalty_type": "per_unit", "royalty_rate": 1}, id="per-unit-without-fee"),
        pytest.param({"royalty_type": "hybrid", "upfront_fee": 1000}, id="hybrid-without-rate"),
        pytest.param({"royalty_type": "hybrid", "royalty_rate": 2}, id="hybrid-without-fee"),
        pytest.param({"royalty_type": "running", "royalty_rate": "100.0001"}, id="rate-over-100"),
        pytest.param({"royalty_type": "running", "royalty_rate": "3.12345"}, id="rate-5-decimals"),
        pytest.param({"royalty_type": "running", "royalty_rate": 0}, id="rate-zero"),
        pytest.param({"royalty_type": "lump_sum", "upfront_fee": "10.001"}, id="fee-3-decimals"),
        pytest.param({"royalty_type": "lump_sum", "upfront_fee": -5}, id="negative-fee"),
        pytest.param(
            {"royalty_type": "lump_sum", "upfront_fee": 5, "currency": "cny"}, id="bad-currency"
        ),
    ],
)
def test_add_offer_rejects_amounts_that_do_not_fit_the_royalty_type(
    client: TestClient, session: Session, body: dict[str, Any]
) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account, offers=[])
    response = client.post(
        f"{LISTINGS}/{listing.id}/offers", headers=headers, json={**body, "term_years": 3}
    )
    assert_problem(response, 422, "validation_failed")


def test_add_offer_refuses_a_term_beyond_the_patents_remaining_term(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    # Term ends 2040-02-29: a 14-year term from 2026-06-15 fits, a 15-year one does not.
    patent = factories.patent(session, account, filing_date=date(2020, 3, 1))
    listing = factories.draft_listing(session, account, patent_list=[patent], offers=[])
    url = f"{LISTINGS}/{listing.id}/offers"
    offer = {"royalty_type": "lump_sum", "upfront_fee": 1000}
    body = assert_problem(
        client.post(url, headers=headers, json={**offer, "term_years": 15}),
        422,
        "term_exceeds_patent_term",
    )
    assert body["term_end_date"] == "2040-02-29"
    assert client.post(url, headers=headers, json={**offer, "term_years": 14}).status_code == 201


def test_add_offer_refuses_an_eleventh_offer(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account, offers=[factories.offer_data()] * 10)
    response = client.post(
        f"{LISTINGS}/{listing.id}/offers",
        headers=headers,
        json={"royalty_type": "lump_sum", "upfront_fee": 1000, "term_years": 1},
    )
    assert_problem(response, 409, "too_many_offers")


def test_add_offer_to_a_published_listing_is_refused(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    response = client.post(
        f"{LISTINGS}/{listing.id}/offers",
        headers=headers,
        json={"royalty_type": "lump_sum", "upfront_fee": 1000, "term_years": 1},
    )
    assert_problem(response, 409, "listing_not_draft")


def test_add_offer_to_someone_elses_draft_is_not_found(
    client: TestClient, session: Session
) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    _, headers = university_member(session)
    response = client.post(
        f"{LISTINGS}/{listing.id}/offers",
        headers=headers,
        json={"royalty_type": "lump_sum", "upfront_fee": 1000, "term_years": 1},
    )
    assert_problem(response, 404, "listing_not_found")


def test_update_offer_merges_the_change(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.patch(
        f"{OFFERS}/{listing.offers[0].id}", headers=headers, json={"royalty_rate": "5.25"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["royalty_rate"] == "5.2500"
    assert response.json()["upfront_fee"] == "50000.00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"royalty_type": "lump_sum"},
            "body: a lump_sum offer does not take royalty_rate, minimum_annual",
            id="leftover-amounts",
        ),
        pytest.param(
            {"royalty_rate": None}, "body: a hybrid offer needs royalty_rate", id="lost-rate"
        ),
        pytest.param(
            {"term_years": None}, "body.term_years: Input should be a valid integer", id="null"
        ),
    ],
)
def test_update_offer_rejects_a_merged_offer_that_breaks_the_rules(
    client: TestClient, session: Session, change: dict[str, Any], message: str
) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.patch(f"{OFFERS}/{listing.offers[0].id}", headers=headers, json=change)
    body = assert_problem(response, 422, "invalid_offer")
    assert body["detail"] == message
    assert body["errors"][0]["field"] == message.split(":")[0]


def test_update_offer_refuses_a_term_beyond_the_patents_term(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.patch(
        f"{OFFERS}/{listing.offers[0].id}", headers=headers, json={"term_years": 20}
    )
    assert_problem(response, 422, "term_exceeds_patent_term")


def test_update_and_delete_offer_of_a_published_listing_are_refused(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    _, offer = factories.published_listing(session, account)
    url = f"{OFFERS}/{offer.id}"
    assert_problem(
        client.patch(url, headers=headers, json={"term_years": 2}), 409, "listing_not_draft"
    )
    assert_problem(client.delete(url, headers=headers), 409, "listing_not_draft")


def test_offer_of_someone_elses_draft_is_not_found(client: TestClient, session: Session) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    _, headers = university_member(session)
    url = f"{OFFERS}/{listing.offers[0].id}"
    assert_problem(
        client.patch(url, headers=headers, json={"term_years": 2}), 404, "offer_not_found"
    )
    assert_problem(client.delete(url, headers=headers), 404, "offer_not_found")


def test_offer_of_someone_elses_published_listing_is_forbidden(
    client: TestClient, session: Session
) -> None:
    _, offer = factories.published_listing(session)
    _, headers = university_member(session)
    response = client.patch(f"{OFFERS}/{offer.id}", headers=headers, json={"term_years": 2})
    assert_problem(response, 403, "not_listing_owner")


def test_offer_edits_need_a_token_and_the_listings_scope(
    client: TestClient, session: Session
) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    url = f"{OFFERS}/{listing.offers[0].id}"
    assert_problem(client.patch(url, json={"term_years": 2}), 401, "not_authenticated")
    bank = factories.member(session, kind=OrganizationKind.bank)
    assert_problem(
        client.delete(url, headers=factories.auth(session, bank)), 403, "insufficient_scope"
    )


def test_delete_offer_removes_it_from_the_draft(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(
        session, account, offers=[factories.offer_data(), factories.offer_data(term_years=1)]
    )
    removed, kept = listing.offers
    response = client.delete(f"{OFFERS}/{removed.id}", headers=headers)
    assert response.status_code == 204, response.text
    offers = client.get(f"{LISTINGS}/{listing.id}", headers=headers).json()["offers"]
    assert [offer["id"] for offer in offers] == [kept.id]


def test_update_listing_changes_the_draft(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.patch(
        f"{LISTINGS}/{listing.id}",
        headers=headers,
        json={"title": "Battery bundle", "description": "Three patents"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Battery bundle"
    assert response.json()["description"] == "Three patents"


def test_update_listing_rejects_a_null_title(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.patch(f"{LISTINGS}/{listing.id}", headers=headers, json={"title": None})
    assert_problem(response, 422, "invalid_listing")


def test_update_and_delete_of_a_published_listing_are_refused(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    url = f"{LISTINGS}/{listing.id}"
    assert_problem(
        client.patch(url, headers=headers, json={"title": "X"}), 409, "listing_not_draft"
    )
    assert_problem(client.delete(url, headers=headers), 409, "listing_not_draft")


def test_delete_listing_removes_the_draft(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.delete(f"{LISTINGS}/{listing.id}", headers=headers)
    assert response.status_code == 204, response.text
    assert_problem(
        client.get(f"{LISTINGS}/{listing.id}", headers=headers), 404, "listing_not_found"
    )


def test_someone_elses_draft_is_not_found_for_every_owner_action(
    client: TestClient, session: Session
) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    _, headers = university_member(session)
    url = f"{LISTINGS}/{listing.id}"
    for response in (
        client.patch(url, headers=headers, json={"title": "X"}),
        client.delete(url, headers=headers),
        client.post(f"{url}/publish", headers=headers, json=factories.announcement_body()),
        client.post(f"{url}/withdraw", headers=headers, json=WITHDRAWAL),
        client.post(f"{url}/withdrawal-announcement", headers=headers, json=ANNOUNCED_WITHDRAWAL),
        client.get(f"{url}/precheck", headers=headers),
        client.get(f"{url}/declaration", headers=headers),
    ):
        assert_problem(response, 404, "listing_not_found")


def test_someone_elses_published_listing_is_forbidden_for_every_owner_action(
    client: TestClient, session: Session
) -> None:
    listing, _ = factories.published_listing(session)
    _, headers = university_member(session)
    url = f"{LISTINGS}/{listing.id}"
    assert_problem(client.get(f"{url}/declaration", headers=headers), 404, "listing_not_found")
    for response in (
        client.patch(url, headers=headers, json={"title": "X"}),
        client.post(f"{url}/publish", headers=headers, json=factories.announcement_body()),
        client.post(f"{url}/withdraw", headers=headers, json=WITHDRAWAL),
        client.post(f"{url}/withdrawal-announcement", headers=headers, json=ANNOUNCED_WITHDRAWAL),
    ):
        assert_problem(response, 403, "not_listing_owner")


def test_owner_actions_need_a_token(client: TestClient, session: Session) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    url = f"{LISTINGS}/{listing.id}"
    for response in (
        client.patch(url, json={"title": "X"}),
        client.delete(url),
        client.post(f"{url}/offers", json={"royalty_type": "lump_sum"}),
        client.post(f"{url}/publish", json=factories.announcement_body()),
        client.post(f"{url}/withdraw", json=WITHDRAWAL),
        client.post(f"{url}/withdrawal-announcement", json=ANNOUNCED_WITHDRAWAL),
        client.get(f"{url}/declaration"),
        client.get(f"{url}/precheck"),
    ):
        assert_problem(response, 401, "not_authenticated")


def test_owner_actions_refuse_a_bank(client: TestClient, session: Session) -> None:
    listing = factories.draft_listing(session, factories.member(session))
    headers = factories.auth(session, factories.member(session, kind=OrganizationKind.bank))
    url = f"{LISTINGS}/{listing.id}"
    for response in (
        client.patch(url, headers=headers, json={"title": "X"}),
        client.delete(url, headers=headers),
        client.post(
            f"{url}/offers",
            headers=headers,
            json={"royalty_type": "lump_sum", "upfront_fee": 1000, "term_years": 1},
        ),
        client.get(f"{url}/precheck", headers=headers),
        client.post(f"{url}/publish", headers=headers, json=factories.announcement_body()),
        client.post(f"{url}/withdraw", headers=headers, json=WITHDRAWAL),
        client.post(f"{url}/withdrawal-announcement", headers=headers, json=ANNOUNCED_WITHDRAWAL),
    ):
        assert_problem(response, 403, "insufficient_scope")


# Publication -------------------------------------------------------------------------------------


def test_publish_announces_the_declaration(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    other = factories.draft_listing(session, account)
    response = publish(
        client,
        listing,
        headers,
        announcement_number="kf 2026 000123",
        announcement_date=date(2026, 6, 12),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "published"
    # The office's number as entered (spaces removed, upper-cased), never one of ours.
    assert body["announcement_number"] == "KF2026000123"
    assert body["announcement_source"] == "office"
    assert body["announcement_date"] == "2026-06-12"
    assert body["published_at"].startswith("2026-06-15T09:30")
    assert body["annual_fee_reduction_percent"] == "15.00"
    assert body["warnings"] == []
    patent = client.get(f"/api/v1/patents/{listing.patents[0].id}", headers=headers).json()
    assert patent["open_license_listing_id"] == listing.id
    taken = publish(client, other, headers, announcement_number="KF2026000123")
    assert_problem(taken, 409, "announcement_number_in_use")
    assert client.get(f"{LISTINGS}/{other.id}", headers=headers).json()["status"] == "draft"


def test_publish_refuses_an_unverified_organization(client: TestClient, session: Session) -> None:
    account, headers = university_member(session, verified=False)
    listing = factories.draft_listing(session, account)
    assert_problem(publish(client, listing, headers), 403, "organization_not_verified")


def assert_refused(response: Response, code: str) -> list[str]:
    body = assert_problem(response, 409, code)
    codes = reason_codes(body)
    assert code in codes
    return codes


def test_publish_refuses_a_pending_patent(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, legal_status=LegalStatus.pending)
    listing = factories.draft_listing(session, account, patent_list=[patent])
    codes = assert_refused(publish(client, listing, headers), "patent_not_granted")
    assert "patent_not_in_force" not in codes


def test_publish_refuses_a_lapsed_patent(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, legal_status=LegalStatus.lapsed)
    listing = factories.draft_listing(session, account, patent_list=[patent])
    assert_refused(publish(client, listing, headers), "patent_not_in_force")


def test_publish_refuses_a_patent_whose_term_has_ended(
    client: TestClient, session: Session, set_today: Any
) -> None:
    account, headers = university_member(session)
    # A utility model filed 2016-07-01 is in force up to 2026-06-30.
    patent = factories.patent(
        session,
        account,
        type_digit=2,
        filing_date=date(2016, 7, 1),
        grant_date=date(2017, 3, 1),
        evaluation_report_ref="ER-2017-001",
    )
    listing = factories.draft_listing(
        session, account, patent_list=[patent], offers=[factories.offer_data(term_years=1)]
    )
    set_today(date(2026, 7, 1))
    body = assert_problem(publish(client, listing, headers), 409, "patent_not_in_force")
    assert "term ended 2026-06-30" in body["detail"]


def test_publish_refuses_a_patent_in_the_fee_grace_period(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, fee_paid_until=date(2026, 3, 31))
    listing = factories.draft_listing(session, account, patent_list=[patent])
    codes = assert_refused(publish(client, listing, headers), "annual_fee_in_arrears")
    assert codes == ["annual_fee_in_arrears"]


@pytest.mark.parametrize(("type_digit", "kind"), [(2, "utility_model"), (3, "design")])
def test_publish_refuses_a_utility_model_or_design_without_evaluation_report(
    client: TestClient, session: Session, type_digit: int, kind: str
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, type_digit=type_digit)
    listing = factories.draft_listing(session, account, patent_list=[patent])
    body = assert_problem(publish(client, listing, headers), 409, "evaluation_report_missing")
    assert body["reasons"][0]["patent_id"] == patent.id
    assert kind in body["detail"]


def test_publish_accepts_a_utility_model_with_evaluation_report(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, type_digit=2, evaluation_report_ref="ER-1")
    listing = factories.draft_listing(session, account, patent_list=[patent])
    response = publish(client, listing, headers)
    assert response.status_code == 200, response.text


def add_encumbrance(session: Session, patent: Patent, kind: EncumbranceKind) -> None:
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(kind=kind, starts_on=date(2026, 1, 1)),
    )


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (EncumbranceKind.exclusive_license, "exclusive_license_in_force"),
        (EncumbranceKind.sole_license, "exclusive_license_in_force"),
        (EncumbranceKind.court_preservation, "patent_suspended"),
        (EncumbranceKind.ownership_dispute, "patent_suspended"),
    ],
)
def test_publish_refuses_an_encumbered_patent(
    client: TestClient, session: Session, kind: EncumbranceKind, code: str
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    add_encumbrance(session, patent, kind)
    listing = factories.draft_listing(session, account, patent_list=[patent])
    assert assert_refused(publish(client, listing, headers), code) == [code]


def test_publish_ignores_a_non_exclusive_license(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    add_encumbrance(session, patent, EncumbranceKind.non_exclusive_license)
    listing = factories.draft_listing(session, account, patent_list=[patent])
    assert publish(client, listing, headers).status_code == 200


def test_publish_refuses_without_every_co_owners_consent(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(
        session,
        account,
        co_owners=[
            CoOwner(name="Ningbo Institute", open_license_consent=True),
            CoOwner(name="Acme Batteries"),
        ],
    )
    listing = factories.draft_listing(session, account, patent_list=[patent])
    body = assert_problem(publish(client, listing, headers), 409, "co_owner_consent_missing")
    assert "Acme Batteries" in body["detail"]
    assert "Ningbo Institute" not in body["detail"]


def test_publish_refuses_a_patent_declared_in_another_listing(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account)
    factories.published_listing(session, account, patent_list=[patent])
    second = factories.draft_listing(session, account, patent_list=[patent])
    assert_refused(publish(client, second, headers), "patent_already_declared")


def test_publish_refuses_a_listing_without_offers(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account, offers=[])
    assert_refused(publish(client, listing, headers), "listing_has_no_offers")


def test_publish_twice_is_refused(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    assert publish(client, listing, headers).status_code == 200
    assert_refused(publish(client, listing, headers), "listing_not_draft")


def test_publish_lists_every_problem_at_once(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    pending = factories.patent(
        session, account, legal_status=LegalStatus.pending, co_owners=[CoOwner(name="Partner")]
    )
    design = factories.patent(session, account, type_digit=3)
    listing = factories.draft_listing(session, account, patent_list=[pending, design], offers=[])
    body = assert_problem(publish(client, listing, headers), 409, "listing_has_no_offers")
    assert reason_codes(body) == [
        "listing_has_no_offers",
        "patent_not_granted",
        "co_owner_consent_missing",
        "evaluation_report_missing",
    ]
    assert [reason.get("patent_id") for reason in body["reasons"]] == [
        None,
        pending.id,
        pending.id,
        design.id,
    ]
    draft = client.get(f"{LISTINGS}/{listing.id}", headers=headers).json()
    assert draft["status"] == "draft"


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        pytest.param(
            {"royalty_type": "lump_sum", "upfront_fee": Decimal("20000000.01")},
            "lump_sum_above_guidance",
            id="lump-sum",
        ),
        pytest.param(
            {"royalty_type": "running", "royalty_rate": Decimal("20.5")},
            "royalty_rate_above_guidance",
            id="running-rate",
        ),
        pytest.param(
            {
                "royalty_type": "hybrid",
                "upfront_fee": Decimal("1000"),
                "royalty_rate": Decimal("25"),
            },
            "royalty_rate_above_guidance",
            id="hybrid-rate",
        ),
        pytest.param(
            {"royalty_type": "profit_share", "royalty_rate": Decimal("45")},
            "profit_share_above_guidance",
            id="profit-share",
        ),
    ],
)
def test_publish_above_guidance_publishes_with_a_warning(
    client: TestClient, session: Session, offer: dict[str, Any], code: str
) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account, offers=[factories.offer_data(**offer)])
    response = publish(client, listing, headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "published"
    warnings = response.json()["warnings"]
    assert [(w["code"], w["offer_id"]) for w in warnings] == [(code, listing.offers[0].id)]
    assert "guidance" in warnings[0]["detail"]


def test_publish_at_the_guidance_limits_has_no_warning(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    offers: list[OfferCreate] = [
        factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("20000000")),
        factories.offer_data(royalty_type="running", royalty_rate=Decimal("20")),
    ]
    listing = factories.draft_listing(session, account, offers=offers)
    response = publish(client, listing, headers)
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == []


def test_precheck_reports_blockers_without_publishing(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    patent = factories.patent(session, account, legal_status=LegalStatus.pending)
    listing = factories.draft_listing(session, account, patent_list=[patent], offers=[])
    response = client.get(f"{LISTINGS}/{listing.id}/precheck", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["publishable"] is False
    assert [blocker["code"] for blocker in body["blockers"]] == [
        "listing_has_no_offers",
        "patent_not_granted",
    ]
    assert client.get(f"{LISTINGS}/{listing.id}", headers=headers).json()["status"] == "draft"


def test_precheck_of_a_publishable_listing_shows_its_warnings(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    offer = factories.offer_data(royalty_type="running", royalty_rate=Decimal("30"))
    listing = factories.draft_listing(session, account, offers=[offer])
    body = client.get(f"{LISTINGS}/{listing.id}/precheck", headers=headers).json()
    assert body["publishable"] is True
    assert body["blockers"] == []
    assert [warning["code"] for warning in body["warnings"]] == ["royalty_rate_above_guidance"]


# Withdrawal and lapse ----------------------------------------------------------------------------


def test_withdraw_frees_the_patent_for_a_new_declaration(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    patent_id = listing.patents[0].id
    requested = client.post(f"{LISTINGS}/{listing.id}/withdraw", headers=headers, json=WITHDRAWAL)
    assert requested.status_code == 200, requested.text
    assert requested.json()["status"] == "published"
    assert requested.json()["withdrawal_reason"] == WITHDRAWAL["reason"]
    response = client.post(
        f"{LISTINGS}/{listing.id}/withdrawal-announcement",
        headers=headers,
        json=ANNOUNCED_WITHDRAWAL,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"
    assert response.json()["withdrawn_at"] is not None
    assert response.json()["withdrawal_announcement_number"] == "KFCX2026000001"
    patent = client.get(f"/api/v1/patents/{patent_id}", headers=headers).json()
    assert patent["open_license_listing_id"] is None
    again = client.post(LISTINGS, headers=headers, json={"patent_ids": [patent_id]}).json()
    client.post(
        f"{LISTINGS}/{again['id']}/offers",
        headers=headers,
        json={"royalty_type": "lump_sum", "upfront_fee": 1000, "term_years": 2},
    )
    republished = client.post(
        f"{LISTINGS}/{again['id']}/publish", headers=headers, json=factories.announcement_body()
    )
    assert republished.status_code == 200, republished.text


def test_withdraw_a_draft_is_refused(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    response = client.post(f"{LISTINGS}/{listing.id}/withdraw", headers=headers, json=WITHDRAWAL)
    assert_problem(response, 409, "listing_not_published")


def test_marking_a_declared_patent_lapsed_lapses_its_listing(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    patent = listing.patents[0]
    response = client.patch(
        f"/api/v1/patents/{patent.id}", headers=headers, json={"legal_status": "lapsed"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["open_license_listing_id"] is None
    lapsed = client.get(f"{LISTINGS}/{listing.id}").json()
    assert lapsed["status"] == "lapsed"
    assert lapsed["lapsed_at"] is not None
    assert patent.application_number in lapsed["lapse_reason"]


def test_editing_a_declared_patent_that_stays_in_force_keeps_the_listing(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    listing, _ = factories.published_listing(session, account)
    response = client.patch(
        f"/api/v1/patents/{listing.patents[0].id}", headers=headers, json={"title": "Renamed"}
    )
    assert response.status_code == 200, response.text
    assert client.get(f"{LISTINGS}/{listing.id}").json()["status"] == "published"


# Reading -----------------------------------------------------------------------------------------


def ids(response: Response) -> set[int]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_public_list_shows_only_published_listings(client: TestClient, session: Session) -> None:
    published, _ = factories.published_listing(session)
    factories.draft_listing(session, factories.member(session))
    withdrawn, _ = factories.published_listing(session)
    factories.withdraw(session, withdrawn)
    assert ids(client.get(LISTINGS)) == {published.id}


def published_with(session: Session, owner: User | Organization, **patent_fields: Any) -> Listing:
    patent = factories.patent(session, owner, **patent_fields)
    listing, _ = factories.published_listing(session, owner, patent_list=[patent])
    return listing


def test_public_list_filters_by_ipc_prefix_at_every_level(
    client: TestClient, session: Session
) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    battery = published_with(session, owner, ipc_codes=["H01M 10/0525"])
    search = published_with(session, owner, ipc_codes=["G06F 16/33"])
    wide_group = published_with(session, owner, ipc_codes=["G06F 160/00"])
    expectations = {
        "H": {battery.id},
        "H01": {battery.id},
        "H01M": {battery.id},
        "H01M 10": {battery.id},
        "H01M 10/0525": {battery.id},
        "h01m10/0525": {battery.id},
        "G06F": {search.id, wide_group.id},
        "G06F 16": {search.id},
        "G06F 160": {wide_group.id},
        "G06F 16/34": set(),
    }
    for prefix, expected in expectations.items():
        assert ids(client.get(LISTINGS, params={"ipc": prefix})) == expected, prefix


def test_public_list_rejects_a_malformed_ipc_prefix(client: TestClient) -> None:
    assert_problem(client.get(LISTINGS, params={"ipc": "Z12"}), 422, "validation_failed")


def test_public_list_searches_title_description_and_patent_title(
    client: TestClient, session: Session
) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    by_patent = published_with(session, owner, title="Graphene anode coating")
    by_title = published_with(session, owner)
    by_title.title = "Anode bundle"
    by_description = published_with(session, owner)
    by_description.description = "Covers a silicon ANODE process"
    published_with(session, owner, title="Cathode slurry")
    session.flush()
    # Announced text never changes through the service; this test edits the rows directly, so
    # it brings their index entries in step itself.
    for edited in (by_title, by_description):
        matching.index_listing(session=session, listing=edited)
    assert ids(client.get(LISTINGS, params={"q": "anode"})) == {
        by_patent.id,
        by_title.id,
        by_description.id,
    }
    assert ids(client.get(LISTINGS, params={"q": "100%"})) == set()


def test_public_list_filters_by_royalty_type_kind_owner_and_region(
    client: TestClient, session: Session
) -> None:
    university = factories.organization(
        session, kind=OrganizationKind.university, region="Zhejiang"
    )
    company = factories.organization(session, kind=OrganizationKind.enterprise, region="Beijing")
    running, _ = factories.published_listing(
        session,
        university,
        offers=[factories.offer_data(royalty_type="running", royalty_rate=Decimal("3"))],
    )
    utility = published_with(session, company, type_digit=2, evaluation_report_ref="ER-9")
    assert ids(client.get(LISTINGS, params={"royalty_type": "running"})) == {running.id}
    assert ids(client.get(LISTINGS, params={"royalty_type": "hybrid"})) == {utility.id}
    assert ids(client.get(LISTINGS, params={"kind": "utility_model"})) == {utility.id}
    assert ids(client.get(LISTINGS, params={"owner_id": university.id})) == {running.id}
    assert ids(client.get(LISTINGS, params={"owner_kind": "enterprise"})) == {utility.id}
    assert ids(client.get(LISTINGS, params={"region": "Zhejiang"})) == {running.id}


def test_mine_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get(LISTINGS, params={"mine": "true"}), 401, "not_authenticated")


def test_mine_shows_every_own_status_and_filters_by_status(
    client: TestClient, session: Session
) -> None:
    account, headers = university_member(session)
    draft = factories.draft_listing(session, account)
    published, _ = factories.published_listing(session, account)
    withdrawn, _ = factories.published_listing(session, account)
    factories.withdraw(session, withdrawn)
    factories.published_listing(session)
    factories.draft_listing(session, factories.member(session))
    mine = client.get(LISTINGS, headers=headers, params={"mine": "true"})
    assert ids(mine) == {draft.id, published.id, withdrawn.id}
    drafts = client.get(LISTINGS, headers=headers, params={"mine": "true", "status": "draft"})
    assert ids(drafts) == {draft.id}


def test_public_list_cursor_walks_every_listing_once(client: TestClient, session: Session) -> None:
    owner = factories.organization(session, kind=OrganizationKind.university)
    created = {factories.published_listing(session, owner)[0].id for _ in range(5)}
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        pages += 1
        page = client.get(LISTINGS, params=params).json()
        seen.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == len(created)
    assert set(seen) == created


def test_public_list_rejects_a_forged_cursor(client: TestClient) -> None:
    assert_problem(client.get(LISTINGS, params={"cursor": "not-a-cursor"}), 422, "invalid_cursor")


def test_public_reads_reject_an_invalid_token(client: TestClient, session: Session) -> None:
    listing, _ = factories.published_listing(session)
    bad = {"Authorization": "Bearer not-a-jwt"}
    assert_problem(client.get(LISTINGS, headers=bad), 401, "invalid_token")
    assert_problem(client.get(f"{LISTINGS}/{listing.id}", headers=bad), 401, "invalid_token")


def test_published_listing_is_public_with_offers_and_patent_summaries(
    client: TestClient, session: Session
) -> None:
    listing, offer = factories.published_listing(session)
    response = client.get(f"{LISTINGS}/{listing.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["offers"]] == [offer.id]
    assert body["offers"][0]["upfront_fee"] == "50000.00"
    [summary] = body["patents"]
    assert summary["application_number"] == listing.patents[0].application_number
    assert summary["in_force"] is True
    assert summary["fee_status"] == "paid"
    assert "co_owners" not in summary
    assert body["owner"]["id"] == listing.owner_id


def test_draft_is_visible_only_to_its_owner(client: TestClient, session: Session) -> None:
    account, headers = university_member(session)
    listing = factories.draft_listing(session, account)
    url = f"{LISTINGS}/{listing.id}"
    assert client.get(url, headers=headers).status_code == 200
    _, stranger = university_member(session)
    assert_problem(client.get(url, headers=stranger), 404, "listing_not_found")
    assert_problem(client.get(url), 404, "listing_not_found")
