"""Declaration use cases called directly: publication blockers (the pledge register's included),
the declaration invariant, withdrawal, lapse, and a patent edit that ends a declaration."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.listings import publication
from marketplace.listings.errors import (
    ListingNotDraft,
    ListingNotPublished,
    PublicationRefused,
)
from marketplace.listings.models import (
    Listing,
    ListingStatus,
)
from marketplace.patents import service as patents
from marketplace.patents.models import (
    CoOwner,
    EncumbranceKind,
    LegalStatus,
    Patent,
    PatentEncumbranceCreate,
    PatentUpdate,
)
from marketplace.workflows import declarations
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


def test_publishable_listing_has_no_blockers(session: Session, owner: Organization) -> None:
    assert (
        declarations.publication_blockers(
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
    blockers = declarations.publication_blockers(session=session, listing=listing)
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
    assert declarations.publication_blockers(session=session, listing=listing) == []


def test_publication_blockers_at_a_later_date_see_the_term_end(
    session: Session, owner: Organization
) -> None:
    patent = factories.patent(
        session,
        owner,
        type_digit=2,
        filing_date=date(2016, 7, 1),
        grant_date=date(2017, 3, 1),
        fee_paid_until=date(2026, 6, 30),  # paid to the end of the term
        evaluation_report_ref="ER-1",
    )
    listing = factories.draft_listing(
        session, owner, patent_list=[patent], offers=[factories.offer_data(term_years=1)]
    )
    assert (
        declarations.publication_blockers(session=session, listing=listing, today=date(2026, 6, 30))
        == []
    )
    codes = [
        b.code
        for b in declarations.publication_blockers(
            session=session, listing=listing, today=date(2026, 7, 1)
        )
    ]
    assert codes == ["patent_not_in_force", "term_exceeds_patent_term"]


def test_publish_refuses_with_every_reason(session: Session, owner: Organization) -> None:
    patent = factories.patent(session, owner, legal_status=LegalStatus.pending)
    listing = factories.draft_listing(session, owner, patent_list=[patent], offers=[])
    with pytest.raises(PublicationRefused) as refused:
        factories.publish(session, listing)
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
    factories.publish(session, listing)
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
        factories.publish(session, first)
        assert declarations.publication_blockers(session=session, listing=stale) == []
        with pytest.raises(PublicationRefused) as refused:
            factories.publish(concurrent, stale)
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
        factories.publish(session, listing)
        with pytest.raises(ListingNotDraft):
            factories.publish(concurrent, stale)


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
    warnings = publication.guidance_warnings(listing)
    offers = listing.offers
    assert [(w.code, w.offer_id) for w in warnings] == [
        ("lump_sum_above_guidance", offers[1].id),
        ("royalty_rate_above_guidance", offers[3].id),
    ]


def test_withdraw_releases_the_patent_for_a_new_declaration(
    session: Session, owner: Organization
) -> None:
    listing, _ = factories.published_listing(session, owner)
    patent = listing.patents[0]
    factories.withdraw(session, listing)
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
        factories.withdraw(session, draft)
    published, _ = factories.published_listing(session, owner)
    factories.withdraw(session, published)
    with pytest.raises(ListingNotPublished):
        factories.withdraw(session, published)


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
        fee_paid_until=date(2026, 6, 30),  # paid to the end of the term
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
    lapsed = declarations.lapse_expired_declarations(session=session)
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
    assert declarations.lapse_expired_declarations(session=session) == []
