"""Open-license declarations (listings) and their standard offers.

Patent Law arts. 50-52: a declaration states the royalty method, standard and term; it cannot be
made while the patent is encumbered in the ways listed in ``publication_blockers``; announced terms
never change; withdrawal leaves licenses already granted untouched."""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session, SQLModel, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.errors import MarketplaceError, field_errors, summary
from marketplace.events.models import EventType
from marketplace.listings.errors import (
    InvalidListing,
    InvalidOffer,
    ListingNotDraft,
    ListingNotFound,
    ListingNotPublished,
    NotListingOwner,
    OfferNotFound,
    PublicationRefused,
    TermExceedsPatentTerm,
    TooManyOffers,
)
from marketplace.listings.models import (
    MAX_LISTING_TITLE,
    MAX_OFFERS_PER_LISTING,
    PERCENT_QUANTUM,
    BulkDeclarationCreate,
    BulkDeclarationOutcome,
    BulkDeclarationResult,
    BulkDeclarationStatus,
    BulkReason,
    Listing,
    ListingCreate,
    ListingPatent,
    ListingPublic,
    ListingStatus,
    ListingUpdate,
    ListingWarning,
    Offer,
    OfferCreate,
    OfferPublic,
    OfferUpdate,
    OrganizationSummary,
    PublicationBlocker,
    RoyaltyType,
)
from marketplace.matching import saved_searches
from marketplace.matching import search_index as matching
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import (
    Patent,
    PatentIpc,
    PatentIssue,
    PatentSummary,
    PatentUpdate,
)
from marketplace.pledges import service as pledges

NEEDS_EVALUATION_REPORT = frozenset({PatentKind.utility_model, PatentKind.design})


def to_public(listing: Listing) -> ListingPublic:
    return public_of(
        listing.model_dump(),
        owner=listing.owner.model_dump(),
        summaries=[patents.to_summary(patent) for patent in listing.patents],
        offers=[offer.model_dump() for offer in listing.offers],
    )


_LISTING_COLUMNS = tuple(
    name for name in ListingPublic.model_fields if name not in ("owner", "patents", "offers")
)


def public_of(
    columns: Mapping[str, Any],
    *,
    owner: Mapping[str, Any],
    summaries: list[PatentSummary],
    offers: Sequence[Mapping[str, Any]],
) -> ListingPublic:
    """The public form of a listing, from its columns and its owner's and offers' (a table
    object's, or a page's plain selects)."""
    return ListingPublic.model_validate(
        {
            **{name: columns[name] for name in _LISTING_COLUMNS},
            "owner": {name: owner[name] for name in OrganizationSummary.model_fields},
            "patents": summaries,
            "offers": [
                {name: offer[name] for name in OfferPublic.model_fields} for offer in offers
            ],
        }
    )


def _table(model: type[SQLModel]) -> sa.Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def public_listings_in_order(
    *, session: Session, listing_ids: Sequence[int]
) -> list[ListingPublic]:
    """The public form of the listings with these ids, in the order given (those that no longer
    exist left out). For pages of listings: five selects of plain columns, without building
    table objects, which costs several times more than the selects themselves."""
    if not listing_ids:
        return []
    listing_rows = session.execute(
        sa.select(*_table(Listing).c).where(col(Listing.id).in_(listing_ids))
    ).all()
    owner_columns = [_table(Organization).c[name] for name in OrganizationSummary.model_fields]
    owners = {
        row.id: row._asdict()
        for row in session.execute(
            sa.select(*owner_columns).where(
                col(Organization.id).in_({row.owner_id for row in listing_rows})
            )
        )
    }
    patent_columns = [
        _table(Patent).c[name] for name in (*patents.SUMMARY_COLUMNS, *patents.STANDING_COLUMNS)
    ]
    patent_rows = session.execute(
        sa.select(col(ListingPatent.listing_id), *patent_columns)
        .join(Patent, col(Patent.id) == col(ListingPatent.patent_id))
        .where(col(ListingPatent.listing_id).in_(listing_ids))
        .order_by(col(Patent.id))
    ).all()
    codes: dict[int, list[str]] = {}
    for patent_id, code in session.execute(
        sa.select(col(PatentIpc.patent_id), col(PatentIpc.code))
        .where(col(PatentIpc.patent_id).in_({row.id for row in patent_rows}))
        .order_by(col(PatentIpc.patent_id), col(PatentIpc.position))
    ):
        codes.setdefault(patent_id, []).append(code)
    summaries: dict[int, list[PatentSummary]] = {}
    for row in patent_rows:
        summaries.setdefault(row.listing_id, []).append(
            patents.summary_of(row._asdict(), ipc_codes=codes.get(row.id, []))
        )
    offers: dict[int, list[Mapping[str, Any]]] = {}
    for row in session.execute(
        sa.select(*_table(Offer).c)
        .where(col(Offer.listing_id).in_(listing_ids))
        .order_by(col(Offer.id))
    ):
        offers.setdefault(row.listing_id, []).append(row._asdict())
    found = {
        row.id: public_of(
            row._asdict(),
            owner=owners[row.owner_id],
            summaries=summaries.get(row.id, []),
            offers=offers.get(row.id, []),
        )
        for row in listing_rows
    }
    return [found[listing_id] for listing_id in listing_ids if listing_id in found]


# Lookups ---------------------------------------------------------------------------------------


def is_visible(listing: Listing, organization_id: int | None) -> bool:
    """Drafts are private to their owner; every announced declaration stays public."""
    return listing.status != ListingStatus.draft or listing.owner_id == organization_id


def get_visible_listing(
    *, session: Session, listing_id: int, organization_id: int | None
) -> Listing:
    listing = session.get(Listing, listing_id)
    if listing is None or not is_visible(listing, organization_id):
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return listing


def get_own_listing(*, session: Session, listing_id: int, organization_id: int) -> Listing:
    listing = get_visible_listing(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if listing.owner_id != organization_id:
        raise NotListingOwner(f"Listing {listing_id} belongs to another organization.")
    return listing


def get_visible_offer(*, session: Session, offer_id: int, organization_id: int | None) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise OfferNotFound(f"Offer {offer_id} does not exist.")
    listing = session.get(Listing, offer.listing_id)
    if listing is None or not is_visible(listing, organization_id):
        raise OfferNotFound(f"Offer {offer_id} does not exist.")
    return offer


def get_own_offer(
    *, session: Session, offer_id: int, organization_id: int
) -> tuple[Listing, Offer]:
    offer = get_visible_offer(session=session, offer_id=offer_id, organization_id=organization_id)
    listing = get_own_listing(
        session=session, listing_id=offer.listing_id, organization_id=organization_id
    )
    return listing, offer


def list_listings(
    *,
    session: Session,
    params: PageParams,
    owner_id: int | None = None,
    statuses: Sequence[ListingStatus] = (ListingStatus.published,),
    q: str | None = None,
    ipc: str | None = None,
    royalty_type: RoyaltyType | None = None,
    kind: PatentKind | None = None,
    owner_kind: OrganizationKind | None = None,
    region: str | None = None,
) -> tuple[Sequence[Listing], str | None]:
    statement = select(Listing).where(col(Listing.status).in_(statuses))
    if owner_id is not None:
        statement = statement.where(Listing.owner_id == owner_id)
    covered = select(ListingPatent.listing_id).join(
        Patent, col(Patent.id) == col(ListingPatent.patent_id)
    )
    if ipc:
        statement = statement.where(
            col(Listing.id).in_(covered.where(patents.patents_with_ipc(ipc)))
        )
    if kind is not None:
        statement = statement.where(col(Listing.id).in_(covered.where(col(Patent.kind) == kind)))
    if q:
        pattern = f"%{patents.escape_like(q)}%"
        text_match = sa.or_(
            col(Listing.title).ilike(pattern, escape="\\"),
            col(Listing.description).ilike(pattern, escape="\\"),
            col(Listing.id).in_(
                covered.where(
                    sa.or_(
                        col(Patent.title).ilike(pattern, escape="\\"),
                        col(Patent.abstract).ilike(pattern, escape="\\"),
                    )
                )
            ),
        )
        statement = statement.where(text_match)
    if royalty_type is not None:
        statement = statement.where(
            col(Listing.id).in_(select(Offer.listing_id).where(Offer.royalty_type == royalty_type))
        )
    if owner_kind is not None or region is not None:
        owners = select(Organization.id)
        if owner_kind is not None:
            owners = owners.where(Organization.kind == owner_kind)
        if region is not None:
            owners = owners.where(Organization.region == region)
        statement = statement.where(col(Listing.owner_id).in_(owners))
    return paginate_by_id(session, statement, id_column=Listing.id, params=params)


# Drafting --------------------------------------------------------------------------------------


def default_title(patent_title: str) -> str:
    """A listing is titled after its first patent unless named; a patent's title may be longer
    than a listing's, so it is shortened with an ellipsis."""
    if len(patent_title) <= MAX_LISTING_TITLE:
        return patent_title
    return patent_title[: MAX_LISTING_TITLE - 1].rstrip() + "…"


def create_listing(*, session: Session, owner: Organization, data: ListingCreate) -> Listing:
    patent_ids = list(dict.fromkeys(data.patent_ids))
    found = patents.get_patents(session=session, patent_ids=patent_ids)
    owned = {patent.id: patent for patent in found if patent.owner_id == owner.id}
    for patent_id in patent_ids:
        if patent_id not in owned:
            raise PatentNotFound(f"Patent {patent_id} does not exist.", patent_id=patent_id)
    assert owner.id is not None
    covered = [owned[patent_id] for patent_id in patent_ids]
    listing = Listing(
        owner_id=owner.id,
        title=data.title or default_title(covered[0].title),
        description=data.description,
        patents=covered,
    )
    session.add(listing)
    session.flush()
    return listing


def _ensure_draft(listing: Listing) -> None:
    if listing.status != ListingStatus.draft:
        raise ListingNotDraft(
            f"Listing {listing.id} is {listing.status}; announced terms never change. "
            "Withdraw it and publish a new listing to change them."
        )


def update_listing(*, session: Session, listing: Listing, changes: ListingUpdate) -> Listing:
    _ensure_draft(listing)
    values = changes.model_dump(exclude_unset=True)
    if "title" in values and values["title"] is None:
        raise InvalidListing("title cannot be null.")
    for field, value in values.items():
        setattr(listing, field, value)
    listing.updated_at = clock.now()
    session.add(listing)
    session.flush()
    matching.index_listing(session=session, listing=listing)
    return listing


def delete_listing(*, session: Session, listing: Listing) -> None:
    _ensure_draft(listing)
    for offer in listing.offers:
        session.delete(offer)
    session.delete(listing)
    session.flush()


def earliest_term_end(listing: Listing) -> date:
    return min(patents.term_end_date(PatentKind(p.kind), p.filing_date) for p in listing.patents)


def _check_term(listing: Listing, term_years: int, *, today: date) -> None:
    """The term may round the remaining patent term up to a whole year, never beyond it; a
    license's end is in any case capped at the patent's term end."""
    term_end = earliest_term_end(listing)
    if patents.add_years(today, term_years - 1) > term_end:
        raise TermExceedsPatentTerm(
            f"A {term_years}-year term runs past {term_end}, when a covered patent's term ends.",
            term_end_date=term_end.isoformat(),
        )


def add_offer(*, session: Session, listing: Listing, data: OfferCreate) -> Offer:
    _ensure_draft(listing)
    if len(listing.offers) >= MAX_OFFERS_PER_LISTING:
        raise TooManyOffers(f"A listing has at most {MAX_OFFERS_PER_LISTING} offers.")
    _check_term(listing, data.term_years, today=clock.today())
    assert listing.id is not None
    offer = Offer.model_validate({**data.model_dump(), "listing_id": listing.id})
    listing.offers.append(offer)
    session.add(offer)
    session.flush()
    return offer


def update_offer(
    *, session: Session, listing: Listing, offer: Offer, changes: OfferUpdate
) -> Offer:
    _ensure_draft(listing)
    current = OfferCreate.model_validate(offer.model_dump(include=set(OfferCreate.model_fields)))
    merged = {**current.model_dump(), **changes.model_dump(exclude_unset=True)}
    try:
        validated = OfferCreate.model_validate(merged)
    except ValidationError as exc:
        errors = field_errors(exc.errors(), prefix=("body",))
        raise InvalidOffer(summary(errors), errors=errors) from exc
    _check_term(listing, validated.term_years, today=clock.today())
    for field, value in validated.model_dump().items():
        setattr(offer, field, value)
    offer.updated_at = clock.now()
    session.add(offer)
    session.flush()
    return offer


def delete_offer(*, session: Session, listing: Listing, offer: Offer) -> None:
    _ensure_draft(listing)
    listing.offers.remove(offer)
    session.delete(offer)
    session.flush()


# Publication -----------------------------------------------------------------------------------


def _patent_blockers(patent: Patent, listing: Listing, *, today: date) -> list[PatentIssue]:
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
    *, session: Session, listing: Listing, today: date | None = None
) -> list[PublicationBlocker]:
    """Every reason the listing cannot be declared now; empty when it can."""
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
            for item in _patent_blockers(patent, listing, today=today)
        )
    if listing.id is not None:
        # Civil Code art. 444: a pledged patent is licensed only with the pledgee's consent.
        for patent in pledges.pledges_without_consent(session, listing.patents, listing.id):
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
            _check_term(listing, offer.term_years, today=today)
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
            offer.royalty_rate is not None
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


def publish_listing(*, session: Session, listing: Listing) -> Listing:
    blockers = publication_blockers(session=session, listing=listing)
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
    # Searchable from the moment the declaration is, in the same transaction.
    document = matching.index_listing(session=session, listing=listing)
    # And the saved searches it matches alerted, in the same transaction too.
    saved_searches.alert_on_publish(session=session, listing=listing, document=document)
    pledges.notify_pledgees(
        session,
        listing.patents,
        EventType.pledged_patent_listed,
        listing_id=listing.id,
        announcement_number=listing.announcement_number,
    )
    return listing


def _end_declaration(
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
    # Gone from search at once.
    matching.index_listing(session=session, listing=listing)
    return listing


def withdraw_listing(*, session: Session, listing: Listing) -> Listing:
    """Ends the declaration; licenses already granted are not affected (Patent Law art. 50)."""
    return _end_declaration(session, listing, to=ListingStatus.withdrawn)


def lapse_if_not_in_force(
    *, session: Session, patent: Patent, today: date | None = None
) -> Listing | None:
    """Lapse the declaration covering ``patent`` once the patent is no longer in force."""
    if patent.open_license_listing_id is None or patents.is_in_force(patent, today=today):
        return None
    listing = session.get(Listing, patent.open_license_listing_id)
    if listing is None or listing.status != ListingStatus.published:
        return None
    return _end_declaration(
        session,
        listing,
        to=ListingStatus.lapsed,
        reason=f"patent {patent.application_number} is no longer in force",
    )


def update_patent(*, session: Session, patent: Patent, changes: PatentUpdate) -> Patent:
    """A patent edit, and its consequences: a declaration on a patent no longer in force lapses,
    and the pledgee of a pledged patent hears of a change in its standing."""
    legal_status_before = str(patent.legal_status)
    updated = patents.update_patent(session=session, patent=patent, changes=changes)
    lapse_if_not_in_force(session=session, patent=updated)
    if updated.open_license_listing_id is not None:
        # Its title, abstract or IPC codes are part of the declaring listing's index entry.
        declaring = session.get(Listing, updated.open_license_listing_id)
        if declaring is not None:
            matching.index_listing(session=session, listing=declaring)
    pledges.patent_changed(session, updated, legal_status_before=legal_status_before)
    return updated


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


# Bulk declaration ------------------------------------------------------------------------------


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
                listing = create_listing(
                    session=session,
                    owner=owner,
                    data=ListingCreate(patent_ids=[patent_id], description=data.description),
                )
                add_offer(session=session, listing=listing, data=data.offer)
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
