"""Open-license declarations: drafting, publishing, withdrawing and lapsing a listing, with
what each means for search, saved-search alerts and the pledgees of the covered patents."""

from datetime import date

from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization
from marketplace.errors import MarketplaceError
from marketplace.events.models import EventType
from marketplace.listings import publication
from marketplace.listings import service as listings
from marketplace.listings.models import (
    BulkDeclarationCreate,
    BulkDeclarationOutcome,
    BulkDeclarationResult,
    BulkDeclarationStatus,
    BulkReason,
    Listing,
    ListingCreate,
    ListingUpdate,
    ListingWarning,
    PublicationBlocker,
)
from marketplace.matching import saved_searches
from marketplace.matching import search_index as matching
from marketplace.patents import service as patents
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.models import Patent
from marketplace.pledges import service as pledges


def update_draft(*, session: Session, listing: Listing, changes: ListingUpdate) -> Listing:
    """Edit a draft; its index entry follows (the owner searches their drafts too)."""
    updated = listings.update_listing(session=session, listing=listing, changes=changes)
    matching.index_listing(session=session, listing=updated)
    return updated


def _pledged_without_consent(session: Session, listing: Listing) -> list[Patent]:
    if listing.id is None:
        return []
    # Civil Code art. 444: a pledged patent is licensed only with the pledgee's consent.
    return list(pledges.pledges_without_consent(session, listing.patents, listing.id))


def publication_blockers(
    *, session: Session, listing: Listing, today: date | None = None
) -> list[PublicationBlocker]:
    """Every reason the listing cannot be declared now, the pledge register's included."""
    return publication.publication_blockers(
        listing=listing,
        pledged_without_consent=_pledged_without_consent(session, listing),
        today=today,
    )


def publish_listing(*, session: Session, listing: Listing) -> Listing:
    """Declare the listing: refused with every blocker, or published, searchable, alerted to
    the saved searches it matches and made known to the pledgees of its patents, all in the
    caller's transaction."""
    declared = publication.declare(
        session=session,
        listing=listing,
        pledged_without_consent=_pledged_without_consent(session, listing),
    )
    document = matching.index_listing(session=session, listing=declared)
    saved_searches.alert_on_publish(session=session, listing=declared, document=document)
    pledges.notify_pledgees(
        session,
        declared.patents,
        EventType.pledged_patent_listed,
        listing_id=declared.id,
        announcement_number=declared.announcement_number,
    )
    return declared


def withdraw_listing(*, session: Session, listing: Listing) -> Listing:
    """End the declaration (licenses already granted stand) and take it out of search."""
    withdrawn = publication.withdraw(session=session, listing=listing)
    matching.index_listing(session=session, listing=withdrawn)
    return withdrawn


def lapse_if_not_in_force(
    *, session: Session, patent: Patent, today: date | None = None
) -> Listing | None:
    """Lapse the declaration covering ``patent`` once the patent is no longer in force, and
    take it out of search."""
    lapsed = publication.lapse_if_not_in_force(session=session, patent=patent, today=today)
    if lapsed is not None:
        matching.index_listing(session=session, listing=lapsed)
    return lapsed


def lapse_expired_declarations(*, session: Session, today: date | None = None) -> list[Listing]:
    """The periodic sweep: term ends and unpaid fees take effect with the calendar, not an edit."""
    declared = session.scalars(
        select(Patent).where(col(Patent.open_license_listing_id).is_not(None))
    )
    lapsed: list[Listing] = []
    for patent in declared:
        listing = lapse_if_not_in_force(session=session, patent=patent, today=today)
        if listing is not None:
            lapsed.append(listing)
    return lapsed


def _refusal_reasons(exc: MarketplaceError) -> list[BulkReason]:
    reasons = exc.extra.get("reasons")
    if isinstance(reasons, list) and reasons:
        return [BulkReason(code=item["code"], detail=item["detail"]) for item in reasons]
    return [BulkReason(code=exc.code, detail=exc.detail)]


def declare_in_bulk(
    *, session: Session, owner: Organization, data: BulkDeclarationCreate
) -> BulkDeclarationOutcome:
    """A listing per patent (titled after it) with the template offer, published if asked, each
    through the same functions as one at a time. Each patent runs in a savepoint: a refused one
    leaves nothing behind and does not stop the others; the caller commits the rest at once."""
    patent_ids = list(dict.fromkeys(data.patent_ids))
    owned = {
        patent.id
        for patent in patents.get_patents(session=session, patent_ids=patent_ids)
        if patent.owner_id == owner.id
    }
    results: list[BulkDeclarationResult] = []
    for patent_id in patent_ids:
        if patent_id not in owned:
            # Another organization's patent is as unknown as a missing one.
            results.append(
                BulkDeclarationResult(
                    patent_id=patent_id,
                    status=BulkDeclarationStatus.not_found,
                    reasons=[
                        BulkReason(
                            code=PatentNotFound.default_code,
                            detail=f"Patent {patent_id} does not exist.",
                        )
                    ],
                )
            )
            continue
        try:
            with session.begin_nested():
                listing = listings.create_listing(
                    session=session,
                    owner=owner,
                    data=ListingCreate(patent_ids=[patent_id], description=data.description),
                )
                listings.add_offer(session=session, listing=listing, data=data.offer)
                if data.publish:
                    publish_listing(session=session, listing=listing)
        except MarketplaceError as exc:
            results.append(
                BulkDeclarationResult(
                    patent_id=patent_id,
                    status=BulkDeclarationStatus.refused,
                    reasons=_refusal_reasons(exc),
                )
            )
            continue
        results.append(
            BulkDeclarationResult(
                patent_id=patent_id,
                status=(
                    BulkDeclarationStatus.published
                    if data.publish
                    else BulkDeclarationStatus.drafted
                ),
                listing_id=listing.id,
                warnings=[ListingWarning.model_validate(item) for item in listing.warnings],
            )
        )
    counts = dict.fromkeys(BulkDeclarationStatus, 0)
    for result in results:
        counts[result.status] += 1
    return BulkDeclarationOutcome(
        published=counts[BulkDeclarationStatus.published],
        drafted=counts[BulkDeclarationStatus.drafted],
        refused=counts[BulkDeclarationStatus.refused],
        not_found=counts[BulkDeclarationStatus.not_found],
        results=results,
    )
