"""Bulk declaration: one offer template published for many patents, a result per patent."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.listings.bulk_models import (
    MAX_BULK_DECLARATIONS,
    BulkDeclarationCreate,
    BulkDeclarationResult,
    BulkDeclarationStatus,
    BulkPublicationCreate,
)
from marketplace.listings.models import (
    Listing,
    ListingPatent,
    ListingStatus,
)
from marketplace.patents.models import LegalStatus, Patent
from marketplace.workflows import declarations
from tests import factories
from tests.factories import TODAY, NewParty
from tests.problems import assert_problem

BULK = "/api/v1/listings/bulk"
OFFER = {"royalty_type": "lump_sum", "upfront_fee": "80000", "term_years": 3}


def listings_of(session: Session, patent: Patent) -> int:
    statement = select(func.count()).where(col(ListingPatent.patent_id) == patent.id)
    return session.scalar(statement) or 0


def announcements(patent_ids: list[int | None]) -> list[dict[str, Any]]:
    """The office's announcement of each patent's declaration, as the patentee enters them."""
    return [
        {"patent_id": patent_id, **factories.announcement_body()}
        for patent_id in dict.fromkeys(patent_ids)
    ]


def declare(
    session: Session, owner: Organization, patent_ids: list[int], *, publish: bool = True
) -> dict[int, BulkDeclarationResult]:
    outcome = declarations.declare_in_bulk(
        session=session,
        owner=owner,
        data=BulkDeclarationCreate.model_validate(
            {
                "patent_ids": patent_ids,
                "offer": OFFER,
                "publish": publish,
                "announcements": announcements(list(patent_ids)) if publish else [],
            }
        ),
    )
    return {result.patent_id: result for result in outcome.results}


def university(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


def test_each_patent_is_published_refused_or_not_found_on_its_own(session: Session) -> None:
    owner = university(session)
    fine = factories.patent(session, owner, title="Solid electrolyte")
    pending = factories.patent(session, owner, legal_status=LegalStatus.pending)
    late_fee = factories.patent(session, owner, fee_paid_until=TODAY - timedelta(days=30))
    utility = factories.patent(session, owner, type_digit=2)
    foreign = factories.patent(session, university(session))
    ids = [fine.id, pending.id, late_fee.id, utility.id, foreign.id, 2_000_000_000]

    results = declare(session, owner, [i for i in ids if i is not None])

    published = results[fine.id or 0]
    assert published.status is BulkDeclarationStatus.published
    listing = session.get_one(Listing, published.listing_id)
    assert listing.status == ListingStatus.published
    assert listing.title == "Solid electrolyte"
    assert listing.offers[0].upfront_fee == Decimal("80000.00")
    assert fine.open_license_listing_id == listing.id
    assert [r.code for r in results[pending.id or 0].reasons] == ["patent_not_granted"]
    assert [r.code for r in results[late_fee.id or 0].reasons] == ["annual_fee_in_arrears"]
    assert [r.code for r in results[utility.id or 0].reasons] == ["evaluation_report_missing"]
    for refused in (pending, late_fee, utility):
        assert results[refused.id or 0].status is BulkDeclarationStatus.refused
        assert results[refused.id or 0].listing_id is None
        assert listings_of(session, refused) == 0
    for unknown in (foreign.id or 0, 2_000_000_000):
        assert results[unknown].status is BulkDeclarationStatus.not_found
        assert [r.code for r in results[unknown].reasons] == ["patent_not_found"]
    assert listings_of(session, foreign) == 0


def test_a_patent_already_declared_is_refused_with_the_publishing_code(session: Session) -> None:
    owner = university(session)
    listing, _offer = factories.published_listing(session, owner)
    declared = listing.patents[0]

    results = declare(session, owner, [declared.id or 0])

    assert [r.code for r in results[declared.id or 0].reasons] == ["patent_already_declared"]
    assert listings_of(session, declared) == 1


def test_an_offer_beyond_a_patents_term_is_refused_for_that_patent_only(session: Session) -> None:
    owner = university(session)
    old = factories.patent(session, owner, filing_date=TODAY.replace(year=2007))
    young = factories.patent(session, owner)
    data = BulkDeclarationCreate.model_validate(
        {
            "patent_ids": [old.id, young.id],
            "offer": {**OFFER, "term_years": 5},
            "announcements": announcements([old.id, young.id]),
        }
    )

    outcome = declarations.declare_in_bulk(session=session, owner=owner, data=data)

    assert [r.status for r in outcome.results] == [
        BulkDeclarationStatus.refused,
        BulkDeclarationStatus.published,
    ]
    assert outcome.results[0].reasons[0].code == "term_exceeds_patent_term"
    assert (outcome.published, outcome.refused) == (1, 1)


def test_without_publish_the_listings_are_drafted(session: Session) -> None:
    owner = university(session)
    pending = factories.patent(session, owner, legal_status=LegalStatus.pending)

    results = declare(session, owner, [pending.id or 0, pending.id or 0], publish=False)

    assert list(results) == [pending.id]
    drafted = results[pending.id or 0]
    assert drafted.status is BulkDeclarationStatus.drafted
    listing = session.get_one(Listing, drafted.listing_id)
    assert listing.status == ListingStatus.draft
    assert len(listing.offers) == 1


def test_bulk_over_http(client: TestClient, new_party: NewParty, session: Session) -> None:
    party = new_party(kind=OrganizationKind.university)
    fine = factories.patent(session, party.organization)
    pending = factories.patent(session, party.organization, legal_status=LegalStatus.pending)

    response = client.post(
        BULK,
        headers=party.headers,
        json={
            "patent_ids": [fine.id, pending.id],
            "offer": OFFER,
            "publish": True,
            "announcements": announcements([fine.id, pending.id]),
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["published"], body["refused"], body["drafted"], body["not_found"]) == (1, 1, 0, 0)
    first, second = body["results"]
    assert first["status"] == "published"
    assert isinstance(first["listing_id"], int)
    assert second == {
        "patent_id": pending.id,
        "status": "refused",
        "listing_id": None,
        "reasons": [
            {
                "code": "patent_not_granted",
                "detail": f"{pending.application_number}: not granted yet",
            }
        ],
        "warnings": [],
    }
    published = client.get(f"/api/v1/listings/{first['listing_id']}").json()
    assert published["status"] == "published"


def test_bulk_refusals_over_http(client: TestClient, new_party: NewParty, session: Session) -> None:
    party = new_party(kind=OrganizationKind.university)
    fine = factories.patent(session, party.organization)
    body = {"patent_ids": [fine.id], "offer": OFFER, "announcements": announcements([fine.id])}

    assert_problem(client.post(BULK, json=body), 401, "not_authenticated")
    bank = new_party(kind=OrganizationKind.bank)
    assert_problem(client.post(BULK, headers=bank.headers, json=body), 403, "insufficient_scope")
    unverified = new_party(kind=OrganizationKind.university, verified=False)
    assert_problem(
        client.post(BULK, headers=unverified.headers, json=body), 403, "organization_not_verified"
    )
    too_many = {
        **body,
        "patent_ids": list(range(1, MAX_BULK_DECLARATIONS + 2)),
        "announcements": [],
    }
    assert_problem(
        client.post(BULK, headers=party.headers, json=too_many), 422, "validation_failed"
    )
    bad_offer = {**body, "offer": {"royalty_type": "lump_sum", "term_years": 3}}
    assert_problem(
        client.post(BULK, headers=party.headers, json=bad_offer), 422, "validation_failed"
    )
    assert_problem(
        client.post(
            BULK, headers=party.headers, json={**body, "patent_ids": [], "announcements": []}
        ),
        422,
        "validation_failed",
    )
    assert listings_of(session, fine) == 0


def test_an_unverified_organization_may_still_draft_in_bulk(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    party = new_party(kind=OrganizationKind.university, verified=False)
    patent = factories.patent(session, party.organization)
    response = client.post(
        BULK,
        headers=party.headers,
        json={"patent_ids": [patent.id], "offer": OFFER, "publish": False},
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "drafted"


def test_publishing_in_bulk_needs_one_announcement_per_patent(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    party = new_party(kind=OrganizationKind.university)
    first = factories.patent(session, party.organization)
    second = factories.patent(session, party.organization)
    both = [first.id, second.id]
    missing = {"patent_ids": both, "offer": OFFER, "announcements": announcements([first.id])}
    given_twice = announcements(both)
    given_twice[1]["announcement_number"] = given_twice[0]["announcement_number"]
    for body in (
        missing,
        {**missing, "announcements": [*announcements(both), *announcements([first.id])]},
        {**missing, "announcements": given_twice},
        {**missing, "announcements": announcements([*both, 2_000_000])},
        {**missing, "publish": False, "announcements": announcements(both)},
    ):
        response = client.post(BULK, headers=party.headers, json=body)
        assert_problem(response, 422, "validation_failed")
    assert listings_of(session, first) == listings_of(session, second) == 0


def test_a_taken_or_malformed_announcement_refuses_only_its_patent(session: Session) -> None:
    owner = university(session)
    taken, _ = factories.published_listing(session, owner)
    first, second, third = (factories.patent(session, owner) for _ in range(3))
    given = announcements([first.id, second.id, third.id])
    given[0]["announcement_number"] = taken.announcement_number
    given[1]["announcement_number"] = "no!"
    data = BulkDeclarationCreate.model_validate(
        {"patent_ids": [first.id, second.id, third.id], "offer": OFFER, "announcements": given}
    )

    outcome = declarations.declare_in_bulk(session=session, owner=owner, data=data)

    assert [r.status for r in outcome.results] == [
        BulkDeclarationStatus.refused,
        BulkDeclarationStatus.refused,
        BulkDeclarationStatus.published,
    ]
    assert [r.reasons[0].code for r in outcome.results[:2]] == [
        "announcement_number_in_use",
        "invalid_announcement_number",
    ]
    published = session.get_one(Listing, outcome.results[2].listing_id)
    assert published.announcement_number == given[2]["announcement_number"]
    assert listings_of(session, first) == listings_of(session, second) == 0


BULK_PUBLISH = "/api/v1/listings/bulk-publish"


def test_drafts_are_published_in_bulk_each_with_its_announcement(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    party = new_party(kind=OrganizationKind.university)
    drafted = [factories.draft_listing(session, party.organization) for _ in range(2)]
    no_offers = factories.draft_listing(session, party.organization, offers=[])
    foreign = factories.draft_listing(
        session, new_party(kind=OrganizationKind.university).organization
    )
    items = [
        {"listing_id": listing.id, **factories.announcement_body()}
        for listing in (*drafted, no_offers, foreign)
    ]

    response = client.post(BULK_PUBLISH, headers=party.headers, json={"items": items})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["published"], body["refused"], body["not_found"]) == (2, 1, 1)
    assert [r["status"] for r in body["results"]] == [
        "published",
        "published",
        "refused",
        "not_found",
    ]
    assert body["results"][2]["reasons"][0]["code"] == "listing_has_no_offers"
    for listing, item in zip(drafted, items, strict=False):
        published = client.get(f"/api/v1/listings/{listing.id}").json()
        assert published["announcement_number"] == item["announcement_number"]
    assert session.get_one(Listing, no_offers.id).status == ListingStatus.draft
    assert session.get_one(Listing, foreign.id).status == ListingStatus.draft


def test_bulk_publication_refusals(
    client: TestClient, new_party: NewParty, session: Session
) -> None:
    party = new_party(kind=OrganizationKind.university)
    draft = factories.draft_listing(session, party.organization)
    item = {"listing_id": draft.id, **factories.announcement_body()}
    assert_problem(client.post(BULK_PUBLISH, json={"items": [item]}), 401, "not_authenticated")
    unverified = new_party(kind=OrganizationKind.university, verified=False)
    assert_problem(
        client.post(BULK_PUBLISH, headers=unverified.headers, json={"items": [item]}),
        403,
        "organization_not_verified",
    )
    other = {**item, "listing_id": factories.draft_listing(session, party.organization).id}
    body: dict[str, Any]
    for body in (
        {"items": []},
        {"items": [item, item]},
        {"items": [item, other]},
        {"items": [{**item, "announcement_date": None}]},
    ):
        assert_problem(
            client.post(BULK_PUBLISH, headers=party.headers, json=body), 422, "validation_failed"
        )
    taken, _ = factories.published_listing(session, party.organization)
    outcome = declarations.publish_in_bulk(
        session=session,
        owner=party.organization,
        data=BulkPublicationCreate.model_validate(
            {"items": [{**item, "announcement_number": taken.announcement_number}]}
        ),
    )
    assert [r.reasons[0].code for r in outcome.results] == ["announcement_number_in_use"]
    assert draft.status == ListingStatus.draft
