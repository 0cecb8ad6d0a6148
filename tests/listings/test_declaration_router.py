"""The declaration over HTTP: its content for filing, the office's announcement on publishing,
the withdrawal request and the office's withdrawal announcement."""

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.listings.models import Listing
from marketplace.patents.models import CoOwner, EvaluationConclusion
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem

LISTINGS = "/api/v1/listings"
WITHDRAWAL = {"reason": "To be licensed exclusively to a strategic partner."}


def url(listing: Listing, action: str) -> str:
    return f"{LISTINGS}/{listing.id}/{action}"


def university(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


# The declaration's content -----------------------------------------------------------------------


def test_the_declaration_of_a_draft_is_ready_for_filing(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    utility = factories.patent(
        session,
        owner.organization,
        type_digit=2,
        evaluation_report_ref="PJ2020123",
        co_owners=[CoOwner(name="Provincial Research Fund", open_license_consent=False)],
        fee_reduction_percent=Decimal("85"),
        publication_number="CN212345678U",
    )
    listing = factories.draft_listing(
        session,
        owner.organization,
        patent_list=[utility],
        offers=[
            factories.offer_data(),
            factories.offer_data(royalty_type="per_unit", per_unit_fee=Decimal("12.5")),
        ],
    )

    response = client.get(url(listing, "declaration"), headers=owner.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["listing_id"], body["status"]) == (listing.id, "draft")
    assert body["patentee"]["id"] == owner.id
    [patent] = body["patents"]
    assert patent["application_number"] == utility.application_number
    assert patent["publication_number"] == "CN212345678U"
    assert (patent["kind"], patent["title"]) == ("utility_model", utility.title)
    assert patent["co_owners"] == [
        {"name": "Provincial Research Fund", "open_license_consent": False}
    ]
    assert patent["evaluation_report_required"] is True
    assert patent["evaluation_report"] == {
        "reference": "PJ2020123",
        "conclusion": "supports_validity",
    }
    hybrid, per_unit = body["offers"]
    assert hybrid["payment_method"] == "hybrid"
    assert hybrid["payment_standard"] == (
        "entry fee CNY 50,000.00; 3.5000% of net sales; minimum CNY 20,000.00 a year"
    )
    assert hybrid["term_years"] == 3
    assert per_unit["payment_standard"] == "CNY 12.50 per unit"
    assert body["co_owner_consent"] == {
        "all_consented": False,
        "missing": [f"{utility.application_number}: Provincial Research Fund"],
    }
    assert [b["code"] for b in body["blockers"]] == ["co_owner_consent_missing"]
    [reduction] = body["fee_reductions"]
    assert (reduction["percent"], reduction["basis"]) == ("85.00", "patent_fee_reduction")
    assert body["announcement"] is None


def test_an_announced_declaration_shows_its_announcement(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    listing, _ = factories.published_listing(session, owner.organization)
    body = client.get(url(listing, "declaration"), headers=owner.headers).json()
    assert body["announcement"] == {
        "number": listing.announcement_number,
        "date": "2026-06-15",
        "source": "office",
    }
    assert body["blockers"] == []
    assert body["fee_reductions"][0]["basis"] == "open_license"


def test_the_declaration_is_the_owners_alone(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    draft = factories.draft_listing(session, owner.organization)
    published, _ = factories.published_listing(session, owner.organization)
    stranger = university(new_party)
    for listing in (draft, published):
        assert_problem(
            client.get(url(listing, "declaration"), headers=stranger.headers),
            404,
            "listing_not_found",
        )
        assert_problem(client.get(url(listing, "declaration")), 401, "not_authenticated")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(
        client.get(url(draft, "declaration"), headers=bank.headers), 403, "insufficient_scope"
    )
    assert_problem(
        client.get(f"{LISTINGS}/0/declaration", headers=owner.headers), 422, "validation_failed"
    )


# Publishing with the office's announcement ---------------------------------------------------


def test_publishing_needs_the_announcement(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    listing = factories.draft_listing(session, owner.organization)
    for body in (
        None,
        {},
        {"announcement_number": "KF2026000001"},
        {"announcement_date": "2026-06-15"},
        {**factories.announcement_body(), "announcement_source": "platform_assigned"},
    ):
        assert_problem(
            client.post(url(listing, "publish"), headers=owner.headers, json=body),
            422,
            "validation_failed",
        )
    refusals: list[tuple[dict[str, Any], str]] = [
        (factories.announcement_body(announcement_number="OL!"), "invalid_announcement_number"),
        (
            factories.announcement_body(announcement_date="2026-06-16"),
            "announcement_date_out_of_range",
        ),
        (
            factories.announcement_body(announcement_date="2021-05-31"),
            "announcement_date_out_of_range",
        ),
    ]
    for body, code in refusals:
        response = client.post(url(listing, "publish"), headers=owner.headers, json=body)
        assert assert_problem(response, 422, code)["field"] == code.split("_out")[0].replace(
            "invalid_", ""
        )
    assert client.get(f"{LISTINGS}/{listing.id}", headers=owner.headers).json()["status"] == (
        "draft"
    )


def test_an_announcement_number_in_use_is_a_conflict(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    first, _ = factories.published_listing(session, owner.organization)
    second = factories.draft_listing(session, owner.organization)
    response = client.post(
        url(second, "publish"),
        headers=owner.headers,
        json=factories.announcement_body(announcement_number=first.announcement_number),
    )
    assert_problem(response, 409, "announcement_number_in_use")


def test_a_utility_model_on_a_report_that_does_not_support_validity_is_refused(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    patent = factories.patent(
        session,
        owner.organization,
        type_digit=2,
        evaluation_report_ref="PJ-9",
        evaluation_report_conclusion=EvaluationConclusion.does_not_support,
    )
    listing = factories.draft_listing(session, owner.organization, patent_list=[patent])
    response = client.post(
        url(listing, "publish"), headers=owner.headers, json=factories.announcement_body()
    )
    body = assert_problem(response, 409, "evaluation_report_not_supporting")
    assert [reason["code"] for reason in body["reasons"]] == ["evaluation_report_not_supporting"]
    entered = client.patch(
        f"/api/v1/patents/{patent.id}",
        headers=owner.headers,
        json={"evaluation_report_conclusion": "legacy_unknown"},
    )
    assert_problem(entered, 422, "validation_failed")
    entered = client.patch(
        f"/api/v1/patents/{patent.id}",
        headers=owner.headers,
        json={"evaluation_report_conclusion": "supports_validity"},
    )
    assert entered.status_code == 200, entered.text
    response = client.post(
        url(listing, "publish"), headers=owner.headers, json=factories.announcement_body()
    )
    assert response.status_code == 200, response.text


def test_a_patents_own_fee_reduction_is_entered_and_shown_on_the_listing(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    patent = factories.patent(session, owner.organization)
    for bad in ("0", "100", "-5", "12.345"):
        response = client.patch(
            f"/api/v1/patents/{patent.id}",
            headers=owner.headers,
            json={"fee_reduction_percent": bad},
        )
        assert_problem(response, 422, "validation_failed")
    response = client.patch(
        f"/api/v1/patents/{patent.id}", headers=owner.headers, json={"fee_reduction_percent": "85"}
    )
    assert response.json()["fee_reduction_percent"] == "85.00"
    listing = factories.draft_listing(session, owner.organization, patent_list=[patent])
    published = client.post(
        url(listing, "publish"), headers=owner.headers, json=factories.announcement_body()
    ).json()
    assert published["annual_fee_reduction_percent"] is None
    [reduction] = published["fee_reductions"]
    assert (reduction["percent"], reduction["basis"]) == ("85.00", "patent_fee_reduction")


# Withdrawal --------------------------------------------------------------------------------


def accept(client: TestClient, listing: Listing, licensee: Party) -> Any:
    return client.post(
        f"/api/v1/offers/{listing.offers[0].id}/accept",
        headers=licensee.headers | {"Idempotency-Key": str(uuid.uuid4())},
    )


def test_a_requested_withdrawal_leaves_offers_acceptable_until_the_office_announces_it(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    patent = factories.patent(
        session,
        owner.organization,
        co_owners=[CoOwner(name="Provincial Research Fund", open_license_consent=True)],
    )
    listing, _ = factories.published_listing(session, owner.organization, patent_list=[patent])
    early = new_party()
    granted = accept(client, listing, early)
    assert granted.status_code == 201, granted.text

    assert_problem(
        client.post(url(listing, "withdraw"), headers=owner.headers, json=WITHDRAWAL),
        422,
        "co_owner_withdrawal_consent_missing",
    )
    consents = [{"name": "Provincial Research Fund", "consented_on": "2026-06-10"}]
    requested = client.post(
        url(listing, "withdraw"),
        headers=owner.headers,
        json={**WITHDRAWAL, "co_owner_consents": consents},
    )
    assert requested.status_code == 200, requested.text
    body = requested.json()
    assert body["status"] == "published"
    assert body["withdrawal_reason"] == WITHDRAWAL["reason"]
    assert body["withdrawal_consents"] == [{**consents[0], "document_ref": None}]
    assert_problem(
        client.post(
            url(listing, "withdraw"),
            headers=owner.headers,
            json={**WITHDRAWAL, "co_owner_consents": consents},
        ),
        409,
        "withdrawal_already_requested",
    )
    late = new_party()
    assert accept(client, listing, late).status_code == 201

    announced = client.post(
        url(listing, "withdrawal-announcement"),
        headers=owner.headers,
        json={"announcement_number": "KFCX2026000045", "announcement_date": "2026-06-15"},
    )
    assert announced.status_code == 200, announced.text
    assert announced.json()["status"] == "withdrawn"
    assert announced.json()["withdrawal_announcement_date"] == "2026-06-15"
    assert_problem(accept(client, listing, new_party()), 409, "listing_not_published")
    for licensee in (early, late):
        held = client.get("/api/v1/licenses", headers=licensee.headers).json()["items"]
        assert [item["listing_id"] for item in held] == [listing.id]
        assert held[0]["status"] not in ("terminated", "expired")


def test_withdrawal_refusals(client: TestClient, session: Session, new_party: NewParty) -> None:
    owner = university(new_party)
    listing, _ = factories.published_listing(session, owner.organization)
    draft = factories.draft_listing(session, owner.organization)
    announcement = {"announcement_number": "KFCX2026000046", "announcement_date": "2026-06-15"}
    for body in (None, {}, {"reason": ""}, {"reason": "  "}, {"reason": "r", "extra": 1}):
        assert_problem(
            client.post(url(listing, "withdraw"), headers=owner.headers, json=body),
            422,
            "validation_failed",
        )
    assert_problem(
        client.post(
            url(listing, "withdraw"),
            headers=owner.headers,
            json={**WITHDRAWAL, "co_owner_consents": [{"name": "X", "consented_on": "2026-06-01"}]},
        ),
        422,
        "unknown_co_owner",
    )
    assert_problem(
        client.post(url(draft, "withdraw"), headers=owner.headers, json=WITHDRAWAL),
        409,
        "listing_not_published",
    )
    assert_problem(
        client.post(
            url(listing, "withdrawal-announcement"), headers=owner.headers, json=announcement
        ),
        409,
        "withdrawal_not_requested",
    )
    client.post(url(listing, "withdraw"), headers=owner.headers, json=WITHDRAWAL)
    assert_problem(
        client.post(
            url(listing, "withdrawal-announcement"),
            headers=owner.headers,
            json={**announcement, "announcement_date": "2026-06-14"},
        ),
        422,
        "announcement_date_out_of_range",
    )
    assert_problem(
        client.post(
            url(listing, "withdrawal-announcement"),
            headers=owner.headers,
            json={**announcement, "announcement_number": listing.announcement_number},
        ),
        409,
        "announcement_number_in_use",
    )
    assert_problem(
        client.post(url(listing, "withdrawal-announcement"), headers=owner.headers, json={}),
        422,
        "validation_failed",
    )
    stranger = university(new_party)
    for action, body in (("withdraw", WITHDRAWAL), ("withdrawal-announcement", announcement)):
        assert_problem(
            client.post(url(listing, action), headers=stranger.headers, json=body),
            403,
            "not_listing_owner",
        )
        assert_problem(
            client.post(url(draft, action), headers=stranger.headers, json=body),
            404,
            "listing_not_found",
        )
    assert client.get(f"{LISTINGS}/{listing.id}").json()["status"] == "published"


def test_a_report_whose_conclusion_was_never_entered_is_refused_over_http(
    client: TestClient, session: Session, new_party: NewParty
) -> None:
    owner = university(new_party)
    patent = factories.patent(
        session, owner.organization, type_digit=2, evaluation_report_ref="PJ-7"
    )
    # As the migration left reports recorded before conclusions were.
    patent.evaluation_report_conclusion = EvaluationConclusion.legacy_unknown
    session.add(patent)
    session.flush()
    listing = factories.draft_listing(session, owner.organization, patent_list=[patent])
    response = client.post(
        url(listing, "publish"), headers=owner.headers, json=factories.announcement_body()
    )
    body = assert_problem(response, 409, "evaluation_report_conclusion_unknown")
    assert [reason["code"] for reason in body["reasons"]] == [
        "evaluation_report_conclusion_unknown"
    ]
    assert client.get(url(listing, "declaration"), headers=owner.headers).status_code == 200
    assert client.get(f"{LISTINGS}/{listing.id}", headers=owner.headers).json()["status"] == "draft"
