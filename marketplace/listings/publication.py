"""Declaring a listing (the open-license declaration) and ending it: the rules of the
declaration itself. What other domains add to a publication (the search index, saved-search
alerts, the pledgees' consent and notices) is composed in ``workflows.declarations``."""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace import clock
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.listings.errors import (
    ListingNotDraft,
    ListingNotPublished,
    PublicationRefused,
    TermExceedsPatentTerm,
)
from marketplace.listings.models import (
    PERCENT_QUANTUM,
    Listing,
    ListingStatus,
    ListingWarning,
    PublicationBlocker,
    RoyaltyType,
)
from marketplace.listings.service import check_term
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import Patent, PatentIssue

NEEDS_EVALUATION_REPORT = frozenset({PatentKind.utility_model, PatentKind.design})


def patent_blockers(patent: Patent, listing: Listing, *, today: date) -> list[PatentIssue]:
    found: list[PatentIssue] = []
    if patent.owner_id != listing.owner_id:
        found.append(
            patents.issue(patent, "patent_not_owned", "no longer owned by the listing's owner")
        )
    found.extend(patents.validity_issues(patent, today=today))
    if PatentKind(patent.kind) in NEEDS_EVALUATION_REPORT and not patent.evaluation_report_ref:
        found.append(
            patents.issue(
                patent,
                "evaluation_report_missing",
                f"a {patent.kind} needs a patent evaluation report supporting its validity",
            )
        )
    found.extend(patents.restriction_issues(patent, today=today))
    missing_consent = [
        co_owner["name"]
        for co_owner in patent.co_owners
        if not co_owner.get("open_license_consent", False)
    ]
    if missing_consent:
        found.append(
            patents.issue(
                patent,
                "co_owner_consent_missing",
                "co-owners have not consented: " + ", ".join(missing_consent),
            )
        )
    if patent.open_license_listing_id not in (None, listing.id):
        found.append(
            patents.issue(
                patent,
                "patent_already_declared",
                f"already under the open license of listing {patent.open_license_listing_id}",
            )
        )
    return found


def publication_blockers(
    *,
    listing: Listing,
    pledged_without_consent: Sequence[Patent] = (),
    today: date | None = None,
) -> list[PublicationBlocker]:
    """Every reason the listing cannot be declared now; empty when it can.

    ``pledged_without_consent``: the covered patents whose pledgee has not consented to this
    listing (Civil Code art. 444), as the pledge register says."""
    today = today or clock.today()
    found: list[PublicationBlocker] = []
    if listing.status != ListingStatus.draft:
        found.append(
            PublicationBlocker(code="listing_not_draft", detail=f"listing is {listing.status}")
        )
    if not listing.offers:
        found.append(
            PublicationBlocker(
                code="listing_has_no_offers", detail="add at least one offer before publishing"
            )
        )
    for patent in listing.patents:
        found.extend(
            PublicationBlocker(**item.model_dump())
            for item in patent_blockers(patent, listing, today=today)
        )
    for patent in pledged_without_consent:
        found.append(
            PublicationBlocker(
                **patents.issue(
                    patent,
                    "pledgee_consent_missing",
                    f"pledged under pledge {patent.active_pledge_id} without the pledgee's "
                    "consent to this listing",
                ).model_dump()
            )
        )
    for offer in listing.offers:
        try:
            check_term(listing, offer.term_years, today=today)
        except TermExceedsPatentTerm as exc:
            found.append(PublicationBlocker(code=exc.code, detail=exc.detail, offer_id=offer.id))
    return found


def guidance_warnings(listing: Listing) -> list[ListingWarning]:
    """Royalty guidance (unverified caps): exceeding it is allowed, and said."""
    settings = get_settings()
    found: list[ListingWarning] = []
    for offer in listing.offers:
        if (
            offer.royalty_type == RoyaltyType.lump_sum
            and offer.currency == "CNY"
            and offer.upfront_fee is not None
            and offer.upfront_fee > settings.guidance_max_lump_sum_cny
        ):
            found.append(
                ListingWarning(
                    code="lump_sum_above_guidance",
                    detail=f"lump sum {offer.upfront_fee} CNY is above the guidance of "
                    f"{settings.guidance_max_lump_sum_cny} CNY",
                    offer_id=offer.id,
                )
            )
        if (
            offer.royalty_type == RoyaltyType.profit_share
            and offer.royalty_rate is not None
            and offer.royalty_rate > settings.guidance_max_profit_share_percent
        ):
            found.append(
                ListingWarning(
                    code="profit_share_above_guidance",
                    detail=f"profit share {offer.royalty_rate}% of profit is above the guidance "
                    f"of {settings.guidance_max_profit_share_percent}%",
                    offer_id=offer.id,
                )
            )
        if (
            offer.royalty_type != RoyaltyType.profit_share
            and offer.royalty_rate is not None
            and offer.royalty_rate > settings.guidance_max_running_rate_percent
        ):
            found.append(
                ListingWarning(
                    code="royalty_rate_above_guidance",
                    detail=f"royalty rate {offer.royalty_rate}% of net sales is above the guidance "
                    f"of {settings.guidance_max_running_rate_percent}%",
                    offer_id=offer.id,
                )
            )
    return found


def declare(
    *, session: Session, listing: Listing, pledged_without_consent: Sequence[Patent]
) -> Listing:
    """Publish the declaration, or refuse it with every blocker."""
    blockers = publication_blockers(
        listing=listing, pledged_without_consent=pledged_without_consent
    )
    if blockers:
        raise PublicationRefused(
            "; ".join(blocker.detail for blocker in blockers),
            code=blockers[0].code,
            reasons=[blocker.model_dump(exclude_none=True) for blocker in blockers],
        )
    assert listing.id is not None
    today = clock.today()
    # Conditional updates hold both invariants under concurrency: a listing is published once,
    # and a patent is under at most one declaration.
    if not transition(
        session,
        sa.update(Listing)
        .where(col(Listing.id) == listing.id)
        .where(col(Listing.status) == ListingStatus.draft)
        .values(status=ListingStatus.published),
    ):
        raise ListingNotDraft(f"Listing {listing.id} was published or changed concurrently.")
    for patent in listing.patents:
        if not transition(
            session,
            sa.update(Patent)
            .where(col(Patent.id) == patent.id)
            .where(col(Patent.open_license_listing_id).is_(None))
            .values(open_license_listing_id=listing.id),
        ):
            raise PublicationRefused(
                f"{patent.application_number}: declared under another listing concurrently",
                code="patent_already_declared",
            )
        patent.open_license_listing_id = listing.id
    listing.status = ListingStatus.published
    listing.announcement_number = f"OL{today:%Y}{listing.id:08d}"
    listing.announcement_date = today
    listing.published_at = clock.now()
    listing.updated_at = listing.published_at
    # The column's scale, so the response reads as a later read from the database does.
    listing.annual_fee_reduction_percent = (
        get_settings().open_license_fee_reduction_percent.quantize(PERCENT_QUANTUM)
    )
    listing.warnings = [w.model_dump(exclude_none=True) for w in guidance_warnings(listing)]
    session.add(listing)
    session.flush()
    return listing


def end_declaration(
    session: Session, listing: Listing, *, to: ListingStatus, reason: str | None = None
) -> Listing:
    if not transition(
        session,
        sa.update(Listing)
        .where(col(Listing.id) == listing.id)
        .where(col(Listing.status) == ListingStatus.published)
        .values(status=to),
    ):
        raise ListingNotPublished(f"Listing {listing.id} is {listing.status}, not published.")
    session.execute(
        sa.update(Patent)
        .where(col(Patent.open_license_listing_id) == listing.id)
        .values(open_license_listing_id=None)
        .execution_options(synchronize_session=False)
    )
    for patent in listing.patents:
        patent.open_license_listing_id = None
    now = clock.now()
    listing.status = to
    listing.updated_at = now
    if to is ListingStatus.withdrawn:
        listing.withdrawn_at = now
    else:
        listing.lapsed_at = now
        listing.lapse_reason = reason
    session.add(listing)
    session.flush()
    return listing


def withdraw(*, session: Session, listing: Listing) -> Listing:
    """Ends the declaration; licenses already granted are not affected (Patent Law art. 50)."""
    return end_declaration(session, listing, to=ListingStatus.withdrawn)


def lapse_if_not_in_force(
    *, session: Session, patent: Patent, today: date | None = None
) -> Listing | None:
    """Lapse the declaration covering ``patent`` once the patent is no longer in force."""
    if patent.open_license_listing_id is None or patents.is_in_force(patent, today=today):
        return None
    listing = session.get(Listing, patent.open_license_listing_id)
    if listing is None or listing.status != ListingStatus.published:
        return None
    return end_declaration(
        session,
        listing,
        to=ListingStatus.lapsed,
        reason=f"patent {patent.application_number} is no longer in force",
    )
