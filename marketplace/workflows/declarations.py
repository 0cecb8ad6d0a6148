"""Open-license declarations: drafting, publishing, withdrawing and lapsing a listing, with
what each means for search, saved-search alerts and the pledgees of the covered patents."""

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from marketplace.accounts.models import Organization
from marketplace.errors import MarketplaceError
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing.models import HOLDING_STATUSES, License
from marketplace.listings import declaration, publication, withdrawal
from marketplace.listings import service as listings
from marketplace.listings.bulk_models import (
    BulkDeclarationCreate,
    BulkDeclarationOutcome,
    BulkDeclarationResult,
    BulkDeclarationStatus,
    BulkPublicationCreate,
    BulkPublicationOutcome,
    BulkPublicationResult,
    BulkReason,
)
from marketplace.listings.models import (
    DeclarationAnnouncement,
    Listing,
    ListingCreate,
    ListingStatus,
    ListingUpdate,
    ListingWarning,
    PublicationBlocker,
    WithdrawalAnnouncement,
    WithdrawalRequest,
)
from marketplace.matching import saved_searches
from marketplace.matching import search_index as matching
from marketplace.patents import service as patents
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.models import Patent
from marketplace.pledges import service as pledges
from marketplace.pledges.models import Pledge


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


def declaration_of(*, session: Session, listing: Listing) -> declaration.Declaration:
    """The declaration's content for filing with the office, with what would refuse it now."""
    blockers = (
        publication_blockers(session=session, listing=listing)
        if listing.status == ListingStatus.draft
        else []
    )
    return declaration.render(listing, blockers=blockers)


def _declaration_payload(listing: Listing, **details: Any) -> dict[str, Any]:
    return {
        "listing_id": listing.id,
        "title": listing.title,
        "owner_id": listing.owner_id,
        "application_numbers": [patent.application_number for patent in listing.patents],
        "announcement_number": listing.announcement_number,
        "announcement_date": (
            listing.announcement_date.isoformat() if listing.announcement_date else None
        ),
        "announcement_source": listing.announcement_source,
        **details,
    }


def _concerned(session: Session, listing: Listing) -> list[int]:
    """Who must hear of a declaration's fate: its patentee, the holders of licenses under it
    (their licenses stand, but no new one arises) and the pledgees of its patents (who consented
    to it, Civil Code art. 444)."""
    licensees = session.scalars(
        select(License.licensee_id)
        .where(col(License.listing_id) == listing.id)
        .where(col(License.status).in_(HOLDING_STATUSES))
        .order_by(col(License.licensee_id))
        .distinct()
    ).all()
    pledge_ids = [p.active_pledge_id for p in listing.patents if p.active_pledge_id is not None]
    pledgees = (
        session.scalars(
            select(Pledge.pledgee_id)
            .where(col(Pledge.id).in_(pledge_ids))
            .order_by(col(Pledge.pledgee_id))
        ).all()
        if pledge_ids
        else []
    )
    return [listing.owner_id, *licensees, *pledgees]


def _tell(session: Session, listing: Listing, type: EventType, recipients: list[int]) -> None:
    details: dict[str, Any] = {}
    if type is EventType.declaration_published:
        details = {"fee_reductions": listing.fee_reductions}
    elif type is EventType.declaration_withdrawal_requested:
        assert listing.withdrawal_requested_at is not None
        details = {
            "reason": listing.withdrawal_reason,
            "requested_at": listing.withdrawal_requested_at.isoformat(),
            "co_owner_consents": listing.withdrawal_consents,
        }
    elif type is EventType.declaration_withdrawn:
        details = {
            "reason": listing.withdrawal_reason,
            "withdrawal_announcement_number": listing.withdrawal_announcement_number,
            "withdrawal_announcement_date": (
                listing.withdrawal_announcement_date.isoformat()
                if listing.withdrawal_announcement_date
                else None
            ),
        }
    elif type is EventType.declaration_lapsed:
        details = {"lapse_reason": listing.lapse_reason}
    events.record(
        session,
        recipients=recipients,
        type=type,
        subject=f"listing:{listing.id}",
        payload=_declaration_payload(listing, **details),
    )


def publish_listing(
    *, session: Session, listing: Listing, announcement: DeclarationAnnouncement
) -> Listing:
    """Record the office's announcement of the declaration: refused with every blocker, or
    published, searchable, alerted to the saved searches it matches and made known to its
    patentee and to the pledgees of its patents, all in the caller's transaction."""
    declared = publication.declare(
        session=session,
        listing=listing,
        announcement=announcement,
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
    _tell(session, declared, EventType.declaration_published, [declared.owner_id])
    return declared


def request_withdrawal(
    *, session: Session, listing: Listing, request: WithdrawalRequest
) -> Listing:
    """The patentee's written withdrawal: the declaration stands (searchable, its offers
    acceptable) until the office announces it; its patentee, licensees and pledgees hear of it."""
    requested = withdrawal.request_withdrawal(session=session, listing=listing, request=request)
    _tell(
        session,
        requested,
        EventType.declaration_withdrawal_requested,
        _concerned(session, requested),
    )
    return requested


def cancel_withdrawal(*, session: Session, listing: Listing) -> Listing:
    """The patentee takes back its withdrawal request before the office announced it: the
    declaration stays in force, and whoever was told of the request hears of its cancellation."""
    cancelled = withdrawal.cancel_withdrawal(session=session, listing=listing)
    events.record(
        session,
        recipients=_concerned(session, listing),
        type=EventType.declaration_withdrawal_cancelled,
        subject=f"listing:{listing.id}",
        payload=_declaration_payload(
            listing,
            reason=cancelled.reason,
            requested_at=cancelled.requested_at.isoformat(),
            cancelled_at=cancelled.cancelled_at.isoformat(),
        ),
    )
    return listing


def record_withdrawal_announcement(
    *, session: Session, listing: Listing, announcement: WithdrawalAnnouncement
) -> Listing:
    """The office announced the withdrawal: the declaration ends (licenses already granted
    stand), leaves search, and its patentee, licensees and pledgees hear of it."""
    withdrawn = withdrawal.record_withdrawal_announcement(
        session=session, listing=listing, announcement=announcement
    )
    matching.index_listing(session=session, listing=withdrawn)
    _tell(session, withdrawn, EventType.declaration_withdrawn, _concerned(session, withdrawn))
    return withdrawn


def lapse_if_not_in_force(
    *, session: Session, patent: Patent, today: date | None = None
) -> Listing | None:
    """Lapse the declaration covering ``patent`` once the patent is no longer in force, take it
    out of search, and tell its patentee, licensees and pledgees."""
    lapsed = publication.lapse_if_not_in_force(session=session, patent=patent, today=today)
    if lapsed is not None:
        matching.index_listing(session=session, listing=lapsed)
        _tell(session, lapsed, EventType.declaration_lapsed, _concerned(session, lapsed))
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
    # Held for the whole request: the session keeps loaded objects only while they are
    # referenced, and each listing below finds its patent among them instead of reading it again.
    owned = {
        patent.id: patent
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
                announcement = data.announcement_of(patent_id)
                if announcement is not None:
                    publish_listing(session=session, listing=listing, announcement=announcement)
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


def publish_in_bulk(
    *, session: Session, owner: Organization, data: BulkPublicationCreate
) -> BulkPublicationOutcome:
    """Drafts whose declarations the office has announced, each published with its own
    announcement exactly as one at a time, in a savepoint: a refused one leaves nothing behind
    and does not stop the others; the caller commits the rest at once."""
    results: list[BulkPublicationResult] = []
    for item in data.items:
        listing = session.get(Listing, item.listing_id)
        if listing is None or listing.owner_id != owner.id:
            # Another organization's listing is as unknown as a missing one.
            results.append(
                BulkPublicationResult(
                    listing_id=item.listing_id,
                    status=BulkDeclarationStatus.not_found,
                    reasons=[
                        BulkReason(
                            code="listing_not_found",
                            detail=f"Listing {item.listing_id} does not exist.",
                        )
                    ],
                )
            )
            continue
        announcement = DeclarationAnnouncement(
            announcement_number=item.announcement_number,
            announcement_date=item.announcement_date,
        )
        try:
            with session.begin_nested():
                publish_listing(session=session, listing=listing, announcement=announcement)
        except MarketplaceError as exc:
            session.refresh(listing)
            results.append(
                BulkPublicationResult(
                    listing_id=item.listing_id,
                    status=BulkDeclarationStatus.refused,
                    reasons=_refusal_reasons(exc),
                )
            )
            continue
        results.append(
            BulkPublicationResult(
                listing_id=item.listing_id,
                status=BulkDeclarationStatus.published,
                warnings=[ListingWarning.model_validate(w) for w in listing.warnings],
            )
        )
    counts = dict.fromkeys(BulkDeclarationStatus, 0)
    for result in results:
        counts[result.status] += 1
    return BulkPublicationOutcome(
        published=counts[BulkDeclarationStatus.published],
        refused=counts[BulkDeclarationStatus.refused],
        not_found=counts[BulkDeclarationStatus.not_found],
        results=results,
    )
