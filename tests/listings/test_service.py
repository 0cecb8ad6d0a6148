"""Listing rules called directly: drafting, publication blockers, the declaration invariant,
withdrawal and lapse."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.listings import service as listings
from marketplace.listings.errors import (
    InvalidOffer,
    ListingNotDraft,
    ListingNotFound,
    ListingNotPublished,
    NotListingOwner,
    PublicationRefused,
    TermExceedsPatentTerm,
    TooManyOffers,
)
from marketplace.listings.models import (
    Listing,
    ListingCreate,
    ListingStatus,
    OfferUpdate,
)
from marketplace.patents import service as patents
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.models import (
    CoOwner,
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
    PatentUpdate,
)
from marketplace.workflows import patents as patent_workflows
from tests import factories

SetToday = Callable[[date], None]


@pytest.fixture
def owner(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


def encumber(session: Session, patent: Patent, kind: EncumbranceKind) -> None:
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(kind=kind, starts_on=date(2026, 1, 1)),
    )


# Drafting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patent_title", "expected"),
    [
        ("一种锂离子电池的制备方法", "一种锂离子电池的制备方法"),
        ("电" * 300, "电" * 300),
        ("电" * 500, "电" * 299 + "…"),
        ("a " * 250, ("a " * 150)[:299].rstrip() + "…"),
    ],
)
def test_untitled_listing_takes_its_first_patents_title_cut_to_fit(
    session: Session, owner: Organization, patent_title: str, expected: str
) -> None:
    patent = factories.patent(session, owner, title=patent_title)

    listing = listings.create_listing(
        session=session, owner=owner, data=ListingCreate(patent_ids=[patent.id or 0])
    )
    session.flush()
    session.refresh(listing)

    assert listing.title == expected
    assert len(listing.title) <= 300


def test_create_listing_refuses_a_patent_of_another_owner(
    session: Session, owner: Organization
) -> None:
    own = factories.patent(session, owner)
    foreign = factories.patent(session, factories.organization(session))
    assert own.id is not None
    assert foreign.id is not None
    with pytest.raises(PatentNotFound):
        listings.create_listing(
            session=session, owner=owner, data=ListingCreate(patent_ids=[own.id, foreign.id])
        )


def test_add_offer_refuses_a_term_running_past_the_earliest_patent_term_end(
    session: Session, owner: Organization
) -> None:
    # Two patents; the utility model's term (to 2027-02-28) binds the bundle.
    invention = factories.patent(session, owner)
    utility = factories.patent(
        session,
        owner,
        type_digit=2,
        filing_date=date(2017, 3, 1),
        grant_date=date(2018, 1, 1),
        evaluation_report_ref="ER-7",
    )
    listing = factories.draft_listing(session, owner, patent_list=[invention, utility], offers=[])
    with pytest.raises(TermExceedsPatentTerm):
        listings.add_offer(
            session=session, listing=listing, data=factories.offer_data(term_years=2)
        )
    offer = listings.add_offer(
        session=session, listing=listing, data=factories.offer_data(term_years=1)
    )
    assert offer.term_years == 1


def test_add_offer_refuses_more_than_ten_offers(session: Session, owner: Organization) -> None:
    listing = factories.draft_listing(session, owner, offers=[factories.offer_data()] * 10)
    with pytest.raises(TooManyOffers):
        listings.add_offer(session=session, listing=listing, data=factories.offer_data())


def test_update_offer_validates_the_merged_terms(session: Session, owner: Organization) -> None:
    listing = factories.draft_listing(session, owner)
    with pytest.raises(InvalidOffer, match="needs upfront_fee"):
        listings.update_offer(
            session=session,
            listing=listing,
            offer=listing.offers[0],
            changes=OfferUpdate(upfront_fee=None),
        )


def test_offers_of_a_published_listing_never_change(session: Session, owner: Organization) -> None:
    listing, offer = factories.published_listing(session, owner)
    with pytest.raises(ListingNotDraft):
        listings.update_offer(
            session=session, listing=listing, offer=offer, changes=OfferUpdate(term_years=1)
        )
    with pytest.raises(ListingNotDraft):
        listings.add_offer(session=session, listing=listing, data=factories.offer_data())
    with pytest.raises(ListingNotDraft):
        listings.delete_offer(session=session, listing=listing, offer=offer)


def test_get_own_listing_hides_drafts_and_forbids_published_listings_of_others(
    session: Session, owner: Organization
) -> None:
    draft = factories.draft_listing(session, owner)
    published, _ = factories.published_listing(session, owner)
    stranger = factories.organization(session)
    assert stranger.id is not None
    assert draft.id is not None
    assert published.id is not None
    with pytest.raises(ListingNotFound):
        listings.get_own_listing(session=session, listing_id=draft.id, organization_id=stranger.id)
    with pytest.raises(NotListingOwner):
        listings.get_own_listing(
            session=session, listing_id=published.id, organization_id=stranger.id
        )


# Publication blockers ----------------------------------------------------------------------------


def test_publishable_listing_has_no_blockers(session: Session, owner: Organization) -> None:
    assert (
        listings.publication_blockers(
            session=session, listing=factories.draft_listing(session, owner)
        )
        == []
    )


def test_publication_blockers_returns_every_blocker(session: Session, owner: Organization) -> None:
    arrears_and_exclusive = factories.patent(
        session, owner, fee_paid_until=date(2026, 2, 28), co_owners=[CoOwner(name="Partner")]
    )
    encumber(session, arrears_and_exclusive, EncumbranceKind.sole_license)
    suspended_design = factories.patent(session, owner, type_digit=3)
    encumber(session, suspended_design, EncumbranceKind.court_preservation)
    lapsed = factories.patent(session, owner, legal_status=LegalStatus.lapsed)
    listing = factories.draft_listing(
        session, owner, patent_list=[arrears_and_exclusive, suspended_design, lapsed], offers=[]
    )
    blockers = listings.publication_blockers(session=session, listing=listing)
    assert [(blocker.code, blocker.patent_id) for blocker in blockers] == [
        ("listing_has_no_offers", None),
        ("annual_fee_in_arrears", arrears_and_exclusive.id),
        ("exclusive_license_in_force", arrears_and_exclusive.id),
        ("co_owner_consent_missing", arrears_and_exclusive.id),
        ("evaluation_report_missing", suspended_design.id),
        ("patent_suspended", suspended_design.id),
        ("patent_not_in_force", lapsed.id),
    ]


def test_publication_blockers_ignore_encumbrances_not_in_force(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(session, owner)
    patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.exclusive_license,
            starts_on=date(2024, 1, 1),
            ends_on=date(2026, 6, 14),
        ),
    )
    released = patents.add_encumbrance(
        session=session,
        patent=patent,
        data=PatentEncumbranceCreate(
            kind=EncumbranceKind.ownership_dispute, starts_on=date(2025, 1, 1)
        ),
    )
    patents.release_encumbrance(session=session, encumbrance=released)
    listing = factories.draft_listing(session, owner, patent_list=[patent])
    assert listings.publication_blockers(session=session, listing=listing) == []


def test_publication_blockers_at_a_later_date_see_the_term_end(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(
        session,
        owner,
        type_digit=2,
        filing_date=date(2016, 7, 1),
        grant_date=date(2017, 3, 1),
        fee_paid_until=date(2027, 6, 30),
        evaluation_report_ref="ER-1",
    )
    listing = factories.draft_listing(
        session, owner, patent_list=[patent], offers=[factories.offer_data(term_years=1)]
    )
    assert (
        listings.publication_blockers(session=session, listing=listing, today=date(2026, 6, 30))
        == []
    )
    codes = [
        b.code
        for b in listings.publication_blockers(
            session=session, listing=listing, today=date(2026, 7, 1)
        )
    ]
    assert codes == ["patent_not_in_force", "term_exceeds_patent_term"]


def test_publish_refuses_with_every_reason(session: Session, owner: Organization) -> None:
    patent = factories.patent(session, owner, legal_status=LegalStatus.pending)
    listing = factories.draft_listing(session, owner, patent_list=[patent], offers=[])
    with pytest.raises(PublicationRefused) as refused:
        listings.publish_listing(session=session, listing=listing)
    assert refused.value.code == "listing_has_no_offers"
    assert [r["code"] for r in refused.value.extra["reasons"]] == [
        "listing_has_no_offers",
        "patent_not_granted",
    ]
    assert listing.status is ListingStatus.draft


def test_publish_claims_the_patents_and_records_the_fee_reduction(
    session: Session, owner: Organization
) -> None:
    first, second = factories.patent(session, owner), factories.patent(session, owner)
    listing = factories.draft_listing(session, owner, patent_list=[first, second])
    listings.publish_listing(session=session, listing=listing)
    session.expire_all()
    assert listing.status == ListingStatus.published
    assert listing.annual_fee_reduction_percent == Decimal("15.00")
    assert listing.announcement_date == date(2026, 6, 15)
    assert first.open_license_listing_id == listing.id
    assert second.open_license_listing_id == listing.id


def test_publish_refuses_a_patent_declared_by_a_concurrent_publication(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(session, owner)
    first = factories.draft_listing(session, owner, patent_list=[patent])
    second = factories.draft_listing(session, owner, patent_list=[patent])
    # A second session on the same connection plays a concurrent request: it loaded listing B
    # (and the patent, still undeclared) before listing A was published, so its blocker check
    # passes and only the conditional update can catch the conflict. (Closing it rolls back its
    # savepoint, so everything is asserted inside the block.)
    with Session(bind=session.connection()) as concurrent:
        stale = concurrent.get(Listing, second.id)
        assert stale is not None
        assert stale.patents[0].open_license_listing_id is None
        listings.publish_listing(session=session, listing=first)
        assert listings.publication_blockers(session=session, listing=stale) == []
        with pytest.raises(PublicationRefused) as refused:
            listings.publish_listing(session=concurrent, listing=stale)
        assert refused.value.code == "patent_already_declared"
        session.expire_all()
        assert patent.open_license_listing_id == first.id


def test_publish_refuses_a_listing_published_concurrently(
    session: Session, owner: Organization
) -> None:
    listing = factories.draft_listing(session, owner)
    with Session(bind=session.connection()) as concurrent:
        stale = concurrent.get(Listing, listing.id)
        assert stale is not None
        listings.publish_listing(session=session, listing=listing)
        with pytest.raises(ListingNotDraft):
            listings.publish_listing(session=concurrent, listing=stale)


def test_guidance_warnings_only_above_the_guidance(session: Session, owner: Organization) -> None:
    listing = factories.draft_listing(
        session,
        owner,
        offers=[
            factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("20000000.00")),
            factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("20000000.01")),
            factories.offer_data(royalty_type="running", royalty_rate=Decimal("20")),
            factories.offer_data(royalty_type="running", royalty_rate=Decimal("20.0001")),
            # Foreign-currency lump sums are not compared with a CNY guidance figure.
            factories.offer_data(
                royalty_type="lump_sum", upfront_fee=Decimal("90000000"), currency="USD"
            ),
        ],
    )
    warnings = listings.guidance_warnings(listing)
    offers = listing.offers
    assert [(w.code, w.offer_id) for w in warnings] == [
        ("lump_sum_above_guidance", offers[1].id),
        ("royalty_rate_above_guidance", offers[3].id),
    ]


# Withdrawal and lapse ----------------------------------------------------------------------------


def test_withdraw_releases_the_patent_for_a_new_declaration(
    session: Session, owner: Organization
) -> None:
    listing, _ = factories.published_listing(session, owner)
    patent = listing.patents[0]
    listings.withdraw_listing(session=session, listing=listing)
    session.expire_all()
    assert listing.status == ListingStatus.withdrawn
    assert listing.withdrawn_at is not None
    assert patent.open_license_listing_id is None
    again, _ = factories.published_listing(session, owner, patent_list=[patent])
    session.expire_all()
    assert patent.open_license_listing_id == again.id


def test_withdraw_refuses_a_listing_that_is_not_published(
    session: Session, owner: Organization
) -> None:
    draft = factories.draft_listing(session, owner)
    with pytest.raises(ListingNotPublished):
        listings.withdraw_listing(session=session, listing=draft)
    published, _ = factories.published_listing(session, owner)
    listings.withdraw_listing(session=session, listing=published)
    with pytest.raises(ListingNotPublished):
        listings.withdraw_listing(session=session, listing=published)


@pytest.mark.parametrize("legal_status", [LegalStatus.lapsed, LegalStatus.invalidated])
def test_patent_update_that_ends_force_lapses_its_declaration(
    session: Session, owner: Organization, legal_status: LegalStatus
) -> None:
    listing, _ = factories.published_listing(session, owner)
    patent = listing.patents[0]
    patent_workflows.update_patent(
        session=session, patent=patent, changes=PatentUpdate(legal_status=legal_status)
    )
    session.expire_all()
    assert listing.status == ListingStatus.lapsed
    assert listing.lapsed_at is not None
    assert listing.lapse_reason == f"patent {patent.application_number} is no longer in force"
    assert patent.open_license_listing_id is None


def test_lapse_sweep_lapses_only_declarations_no_longer_in_force(
    session: Session, owner: Organization, set_today: SetToday
) -> None:
    term_ends = factories.patent(
        session,
        owner,
        type_digit=2,
        filing_date=date(2016, 7, 1),
        grant_date=date(2017, 3, 1),
        fee_paid_until=date(2027, 6, 30),
        evaluation_report_ref="ER-2",
    )
    fee_lapses = factories.patent(session, owner, fee_paid_until=date(2026, 7, 31))
    grace_only = factories.patent(session, owner, fee_paid_until=date(2026, 12, 31))
    healthy = factories.patent(session, owner, fee_paid_until=date(2028, 1, 1))
    one_year = [factories.offer_data(term_years=1)]
    by_patent = {
        patent.id: factories.published_listing(
            session, owner, patent_list=[patent], offers=one_year
        )[0]
        for patent in (term_ends, fee_lapses, grace_only, healthy)
    }
    # 2027-02-01: the utility model's term ended 2026-06-30; the fee due 2026-08-01 left its
    # grace period on 2027-01-31; the fee due 2027-01-01 is still within grace.
    set_today(date(2027, 2, 1))
    lapsed = listings.lapse_expired_declarations(session=session)
    assert {listing.id for listing in lapsed} == {
        by_patent[term_ends.id].id,
        by_patent[fee_lapses.id].id,
    }
    session.expire_all()
    statuses = {patent_id: listing.status for patent_id, listing in by_patent.items()}
    assert statuses == {
        term_ends.id: ListingStatus.lapsed,
        fee_lapses.id: ListingStatus.lapsed,
        grace_only.id: ListingStatus.published,
        healthy.id: ListingStatus.published,
    }
    assert listings.lapse_expired_declarations(session=session) == []


# Rendering ---------------------------------------------------------------------------------------


def test_a_page_of_listings_renders_as_each_listing_does_alone(
    session: Session, owner: Organization
) -> None:
    bundle = [
        factories.patent(session, owner, ipc_codes=["G06F 16/33", "H01M 10/0525", "H01M 4/58"]),
        factories.patent(session, owner, ipc_codes=[], legal_status=LegalStatus.pending),
    ]
    rich = factories.draft_listing(
        session,
        owner,
        patent_list=bundle,
        offers=[
            factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("9000000")),
            factories.offer_data(),
        ],
    )
    rich.description = "Two patents, two offers"
    published, _ = factories.published_listing(
        session,
        offers=[factories.offer_data(royalty_type="lump_sum", upfront_fee=Decimal("60000000"))],
    )
    plain = factories.draft_listing(session, owner, offers=[])
    session.flush()
    session.expire_all()
    ids = [published.id, 10**9, plain.id, rich.id]
    page = listings.public_listings_in_order(
        session=session, listing_ids=[i for i in ids if i is not None]
    )
    alone = [
        listings.to_public(session.get_one(Listing, listing_id))
        for listing_id in (published.id, plain.id, rich.id)
    ]
    # In the order asked, a missing id left out, and field for field the same.
    assert [listing.model_dump() for listing in page] == [listing.model_dump() for listing in alone]
    assert page[0].warnings
    assert page[0].warnings == alone[0].warnings
    assert [len(listing.patents) for listing in page] == [1, 1, 2]
    assert page[2].patents[0].ipc_codes == ["G06F 16/33", "H01M 10/0525", "H01M 4/58"]
    assert listings.public_listings_in_order(session=session, listing_ids=[]) == []
