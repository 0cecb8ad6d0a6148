"""Declaring a listing (the open-license declaration) and ending it: the rules of the
declaration itself. What other domains add to a publication (the search index, saved-search
alerts, the pledgees' consent and notices) is composed in ``workflows.declarations``."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from marketplace import clock
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.listings.announcements import (
    check_announcement_date,
    normalize_announcement_number,
    number_in_use,
)
from marketplace.listings.errors import (
    AnnouncementNumberInUse,
    ListingNotDraft,
    ListingNotPublished,
    PublicationRefused,
    TermExceedsPatentTerm,
    WithdrawalNotRequested,
)
from marketplace.listings.models import (
    PERCENT_QUANTUM,
    AnnouncementSource,
    DeclarationAnnouncement,
    FeeReduction,
    FeeReductionBasis,
    Listing,
    ListingStatus,
    ListingWarning,
    PublicationBlocker,
    RoyaltyType,
)
from marketplace.listings.service import check_term
from marketplace.patents import service as patents
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import EvaluationConclusion, Patent, PatentIssue

NEEDS_EVALUATION_REPORT = frozenset({PatentKind.utility_model, PatentKind.design})


def patent_blockers(patent: Patent, listing: Listing, *, today: date) -> list[PatentIssue]:
    found: list[PatentIssue] = []
    if patent.owner_id != listing.owner_id:
        found.append(
            patents.issue(patent, "patent_not_owned", "no longer owned by the listing's owner")
        )
    found.extend(patents.validity_issues(patent, today=today))
    found.extend(evaluation_issues(patent))
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


def evaluation_issues(patent: Patent) -> list[PatentIssue]:
    """A utility model or design is declared only on an evaluation report that supports its
    validity: its presence alone is not enough."""
    if PatentKind(patent.kind) not in NEEDS_EVALUATION_REPORT:
        return []
    if not patent.evaluation_report_ref:
        return [
            patents.issue(
                patent,
                "evaluation_report_missing",
                f"a {patent.kind} needs a patent evaluation report supporting its validity",
            )
        ]
    conclusion = patent.evaluation_report_conclusion
    if conclusion is None or conclusion is EvaluationConclusion.legacy_unknown:
        return [
            patents.issue(
                patent,
                "evaluation_report_conclusion_unknown",
                f"the conclusion of evaluation report {patent.evaluation_report_ref} is not "
                "recorded; enter it (evaluation_report_conclusion)",
            )
        ]
    if conclusion is not EvaluationConclusion.supports_validity:
        return [
            patents.issue(
                patent,
                "evaluation_report_not_supporting",
                f"evaluation report {patent.evaluation_report_ref} concludes {conclusion}; only "
                "one that supports validity lets it be declared",
            )
        ]
    return []


def fee_reductions(listing: Listing) -> list[FeeReduction]:
    """The annual-fee reduction of each covered patent while declared: the open-license one or
    the patent's own, whichever is more favourable; they never combine."""
    open_license = get_settings().open_license_fee_reduction_percent.quantize(PERCENT_QUANTUM)
    found: list[FeeReduction] = []
    for patent in listing.patents:
        assert patent.id is not None
        own = patent.fee_reduction_percent
        if own is not None and Decimal(own) > open_license:
            percent, basis = (
                Decimal(own).quantize(PERCENT_QUANTUM),
                FeeReductionBasis.patent_fee_reduction,
            )
            reason = (
                f"the patent's own reduction of {percent}% is more favourable than the "
                f"open-license {open_license}%; they do not combine"
            )
        else:
            percent, basis = open_license, FeeReductionBasis.open_license
            reason = (
                f"open-license reduction of {open_license}% (the patent has no reduction of its "
                "own)"
                if own is None
                else f"open-license reduction of {open_license}%, at least as favourable as the "
                f"patent's own {Decimal(own).quantize(PERCENT_QUANTUM)}%; they do not combine"
            )
        found.append(
            FeeReduction(
                patent_id=patent.id,
                application_number=patent.application_number,
                percent=percent,
                basis=basis,
                reason=reason,
            )
        )
    return found


def record_fee_reductions(listing: Listing) -> None:
    """Record what applies now; the listing-level percent is the open-license reduction when it
    applies to some covered patent."""
    reductions = fee_reductions(listing)
    listing.fee_reductions = [item.model_dump(mode="json") for item in reductions]
    open_license = [r.percent for r in reductions if r.basis is FeeReductionBasis.open_license]
    listing.annual_fee_reduction_percent = open_license[0] if open_license else None


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
    *,
    session: Session,
    listing: Listing,
    announcement: DeclarationAnnouncement,
    pledged_without_consent: Sequence[Patent],
) -> Listing:
    """Record the office's announcement of the declaration: refused with every blocker, or
    published with the office's number and date."""
    number = normalize_announcement_number(announcement.announcement_number)
    check_announcement_date(listing, announcement.announcement_date)
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
    if number_in_use(session, number):
        raise AnnouncementNumberInUse(
            f"Announcement number {number} belongs to another declaration or withdrawal.",
            field="announcement_number",
        )
    # Conditional updates hold both invariants under concurrency: a listing is published once,
    # and a patent is under at most one declaration. The unique announcement number holds the
    # third: of two listings given one number at once, one is refused.
    try:
        with session.begin_nested():
            published = transition(
                session,
                sa.update(Listing)
                .where(col(Listing.id) == listing.id)
                .where(col(Listing.status) == ListingStatus.draft)
                .values(
                    status=ListingStatus.published,
                    announcement_number=number,
                    announcement_source=AnnouncementSource.office,
                ),
            )
    except IntegrityError:
        raise AnnouncementNumberInUse(
            f"Announcement number {number} was given to another declaration concurrently.",
            field="announcement_number",
        ) from None
    if not published:
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
        # What the guarded UPDATE wrote, known to the loaded patent without writing it twice.
        set_committed_value(patent, "open_license_listing_id", listing.id)
    listing.status = ListingStatus.published
    listing.announcement_number = number
    listing.announcement_source = AnnouncementSource.office
    listing.announcement_date = announcement.announcement_date
    listing.published_at = clock.now()
    listing.updated_at = listing.published_at
    record_fee_reductions(listing)
    listing.warnings = [w.model_dump(exclude_none=True) for w in guidance_warnings(listing)]
    session.add(listing)
    session.flush()
    return listing


def end_declaration(
    session: Session,
    listing: Listing,
    *,
    to: ListingStatus,
    reason: str | None = None,
    withdrawal: tuple[str, date] | None = None,
) -> Listing:
    values: dict[str, object] = {"status": to}
    statement = (
        sa.update(Listing)
        .where(col(Listing.id) == listing.id)
        .where(col(Listing.status) == ListingStatus.published)
    )
    if withdrawal is not None:
        values["withdrawal_announcement_number"] = withdrawal[0]
        # A withdrawal cancelled meanwhile has nothing left for the office to have announced.
        statement = statement.where(col(Listing.withdrawal_requested_at).is_not(None))
    try:
        with session.begin_nested():
            ended = transition(session, statement.values(**values))
    except IntegrityError:
        assert withdrawal is not None
        raise AnnouncementNumberInUse(
            f"Announcement number {withdrawal[0]} was given to another withdrawal concurrently.",
            field="announcement_number",
        ) from None
    if not ended:
        session.refresh(listing)
        if listing.status == ListingStatus.published and listing.withdrawal_requested_at is None:
            raise WithdrawalNotRequested(
                f"The withdrawal of listing {listing.id} was cancelled concurrently."
            )
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
        assert withdrawal is not None
        listing.withdrawal_announcement_number, listing.withdrawal_announcement_date = withdrawal
        listing.withdrawn_at = now
    else:
        listing.lapsed_at = now
        listing.lapse_reason = reason
    session.add(listing)
    session.flush()
    return listing


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
