"""Listing rules called directly: drafting, offers, ownership and pages of listings (the
declaration use cases are in tests/workflows/test_declarations.py)."""

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
    NotListingOwner,
    TermExceedsPatentTerm,
    TooManyOffers,
)
from marketplace.listings.models import (
    Listing,
    ListingCreate,
    OfferUpdate,
)
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.models import (
    LegalStatus,
)
from tests import factories

SetToday = Callable[[date], None]


@pytest.fixture
def owner(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


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


# Withdrawal and lapse ----------------------------------------------------------------------------


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
