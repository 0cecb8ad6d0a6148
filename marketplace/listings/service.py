"""Open-license declarations (listings) and their standard offers.

Patent Law arts. 50-52: a declaration states the royalty method, standard and term; it cannot be
made while the patent is encumbered in the ways listed in ``publication_blockers``; announced terms
never change; withdrawal leaves licenses already granted untouched."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from json import JSONDecoder
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlmodel import Session, SQLModel, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.errors import field_errors, summary
from marketplace.listings.errors import (
    InvalidListing,
    InvalidOffer,
    ListingNotDraft,
    ListingNotFound,
    NotListingOwner,
    OfferNotFound,
    TermExceedsPatentTerm,
    TooManyOffers,
)
from marketplace.listings.models import (
    MAX_LISTING_TITLE,
    MAX_OFFERS_PER_LISTING,
    Listing,
    ListingCreate,
    ListingPatent,
    ListingPublic,
    ListingStatus,
    ListingUpdate,
    Offer,
    OfferCreate,
    OfferPublic,
    OfferUpdate,
    OrganizationSummary,
    RoyaltyType,
)
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.patents import service as patents
from marketplace.patents.errors import PatentNotFound
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import (
    Patent,
    PatentIpc,
    PatentSummary,
)


def to_public(listing: Listing) -> ListingPublic:
    return public_of(
        listing.model_dump(),
        owner=listing.owner.model_dump(),
        summaries=[patents.to_summary(patent) for patent in listing.patents],
        offers=[offer.model_dump() for offer in listing.offers],
    )


_LISTING_COLUMNS = tuple(
    name
    for name in ListingPublic.model_fields
    # Not columns: the suspension is a pledge's doing, told by the layers above.
    if name not in ("owner", "patents", "offers", "suspension")
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
    exist left out)."""
    found = public_listing_fields(session=session, listing_ids=listing_ids)
    return _PUBLIC_LISTINGS.validate_python(
        [found[listing_id] for listing_id in listing_ids if listing_id in found]
    )


_PUBLIC_LISTINGS = TypeAdapter(list[ListingPublic])
_OWNER_PREFIX = "owner__"


def public_listing_fields(
    *, session: Session, listing_ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The fields of the public form of the listings with these ids (those that exist), as
    plain data for a response validated once as a whole: three selects of plain columns
    (listings with their owners, patents with their IPC codes, offers; on PostgreSQL one, see
    ``_public_fields_in_one_select``), without building table objects or a model per row, each
    of which costs several times more than the selects."""
    if not listing_ids:
        return {}
    # Core statements on the session's connection: plain rows, no ORM result processing (and
    # no autoflush, hence the flush). Rows are read as tuples in the selects' column order and
    # zipped with the names: reading them by name costs a lookup per column and row.
    session.flush()
    connection = session.connection()
    ids = {"listing_ids": list(listing_ids)}
    if connection.dialect.name == "postgresql":
        return _public_fields_in_one_select(connection, ids)
    statements = _public_statements()
    listing_rows = connection.execute(statements.listings, ids).all()
    # A row per IPC code of each patent of each listing (one without a code if it has none):
    # the listing's id, the patent's columns, the code.
    codes: dict[tuple[int, int], list[str]] = {}
    patent_rows: dict[tuple[int, int], dict[str, Any]] = {}
    for row in connection.execute(statements.patents, ids):
        listing_id, patent_id, code = row[0], row[1], row[-1]
        key = (listing_id, patent_id)
        if key not in patent_rows:
            patent_rows[key] = dict(zip(_PATENT_COLUMNS, row[1:-1], strict=True))
            codes[key] = []
        if code is not None:
            codes[key].append(code)
    summaries: dict[int, list[dict[str, Any]]] = {}
    for (listing_id, patent_id), patent in patent_rows.items():
        summaries.setdefault(listing_id, []).append(
            patents.summary_fields(patent, ipc_codes=codes[listing_id, patent_id])
        )
    offers: dict[int, list[dict[str, Any]]] = {}
    listing_id_at = _OFFER_COLUMNS.index("listing_id")
    for row in connection.execute(statements.offers, ids):
        offers.setdefault(row[listing_id_at], []).append(
            dict(zip(_OFFER_COLUMNS, row, strict=True))
        )
    found: dict[int, dict[str, Any]] = {}
    listing_width = len(_LISTING_COLUMNS)
    for row in listing_rows:
        fields = dict(zip(_LISTING_COLUMNS, row[:listing_width], strict=True))
        fields["owner"] = dict(zip(_OWNER_COLUMNS, row[listing_width:], strict=True))
        fields["patents"] = summaries.get(fields["id"], [])
        fields["offers"] = offers.get(fields["id"], [])
        found[fields["id"]] = fields
    return found


def _public_fields_in_one_select(
    connection: sa.Connection, ids: dict[str, list[int]]
) -> dict[int, dict[str, Any]]:
    """``public_listing_fields`` on PostgreSQL: each listing's row carries its patents (with
    their IPC codes) and its offers as JSON arrays, so one statement replaces three (each
    statement costs more Python than the rows it reads). The JSON is read as text with exact
    decimals; its dates and timestamps are turned back into what the columns give."""
    listing_width = len(_LISTING_COLUMNS)
    owner_end = listing_width + len(_OWNER_COLUMNS)
    found: dict[int, dict[str, Any]] = {}
    for row in connection.execute(_listings_with_children(), ids).all():
        fields = dict(zip(_LISTING_COLUMNS, row[:listing_width], strict=True))
        fields["owner"] = dict(zip(_OWNER_COLUMNS, row[listing_width:owner_end], strict=True))
        patents_json, offers_json = row[owner_end], row[owner_end + 1]
        summaries = []
        for values in _EXACT_JSON.decode(patents_json) if patents_json else ():
            patent = dict(zip(_PATENT_COLUMNS, values[:-1], strict=True))
            for name in _PATENT_DATES:
                if patent[name] is not None:
                    patent[name] = date.fromisoformat(patent[name])
            summaries.append(patents.summary_fields(patent, ipc_codes=values[-1] or []))
        offers = []
        for values in _EXACT_JSON.decode(offers_json) if offers_json else ():
            offer = dict(zip(_OFFER_COLUMNS, values, strict=True))
            offer["created_at"] = datetime.fromisoformat(offer["created_at"]).astimezone(UTC)
            offers.append(offer)
        fields["patents"] = summaries
        fields["offers"] = offers
        found[fields["id"]] = fields
    return found


# Numbers with a fraction are NUMERIC columns (money, rates): read exactly, scale kept.
_EXACT_JSON = JSONDecoder(parse_float=Decimal)
_PATENT_DATES = ("filing_date", "grant_date", "fee_paid_until")


_OWNER_COLUMNS = tuple(OrganizationSummary.model_fields)
_OFFER_COLUMNS = tuple(OfferPublic.model_fields)
_PATENT_COLUMNS = (*patents.SUMMARY_COLUMNS, *patents.STANDING_COLUMNS)


@dataclass(frozen=True, slots=True)
class _PublicStatements:
    listings: sa.Select[Any]
    patents: sa.Select[Any]
    offers: sa.Select[Any]


@cache
def _public_statements() -> _PublicStatements:
    """The selects of ``public_listing_fields`` but on PostgreSQL, built once: building a
    statement costs more Python than running it. Their parameter is ``listing_ids``."""
    listing_table, owner_table = _table(Listing), _table(Organization)
    patent_table, ipc_table, link_table = _table(Patent), _table(PatentIpc), _table(ListingPatent)
    offer_table = _table(Offer)

    def among(column: sa.Column[Any]) -> sa.ColumnElement[bool]:
        return column.in_(sa.bindparam("listing_ids", expanding=True))

    return _PublicStatements(
        listings=sa.select(
            *(listing_table.c[name] for name in _LISTING_COLUMNS),
            *(owner_table.c[name].label(_OWNER_PREFIX + name) for name in _OWNER_COLUMNS),
        )
        .join_from(listing_table, owner_table, owner_table.c.id == listing_table.c.owner_id)
        .where(among(listing_table.c.id)),
        patents=sa.select(
            link_table.c.listing_id,
            *(patent_table.c[name] for name in _PATENT_COLUMNS),
            ipc_table.c.code,
        )
        .join_from(link_table, patent_table, patent_table.c.id == link_table.c.patent_id)
        .outerjoin(ipc_table, ipc_table.c.patent_id == patent_table.c.id)
        .where(among(link_table.c.listing_id))
        .order_by(patent_table.c.id, link_table.c.listing_id, ipc_table.c.position),
        offers=sa.select(*(offer_table.c[name] for name in _OFFER_COLUMNS))
        .where(among(offer_table.c.listing_id))
        .order_by(offer_table.c.id),
    )


@cache
def _listings_with_children() -> sa.Select[Any]:
    """The select of ``_public_fields_in_one_select``: the listings' and owners' columns, then
    as JSON text each listing's patents (their columns, then their IPC codes in order; by
    patent id) and offers (by id). Built once; its parameter is ``listing_ids``."""
    listing_table, owner_table = _table(Listing), _table(Organization)
    patent_table, ipc_table, link_table = _table(Patent), _table(PatentIpc), _table(ListingPatent)
    offer_table = _table(Offer)
    codes = (
        sa.select(sa.func.json_agg(aggregate_order_by(ipc_table.c.code, ipc_table.c.position)))
        .where(ipc_table.c.patent_id == patent_table.c.id)
        .scalar_subquery()
    )
    patent_values = sa.func.json_build_array(
        *(patent_table.c[name] for name in _PATENT_COLUMNS), codes
    )
    patents_json = (
        sa.select(sa.func.json_agg(aggregate_order_by(patent_values, patent_table.c.id)))
        .select_from(link_table)
        .join(patent_table, patent_table.c.id == link_table.c.patent_id)
        .where(link_table.c.listing_id == listing_table.c.id)
        .scalar_subquery()
    )
    offer_values = sa.func.json_build_array(*(offer_table.c[name] for name in _OFFER_COLUMNS))
    offers_json = (
        sa.select(sa.func.json_agg(aggregate_order_by(offer_values, offer_table.c.id)))
        .where(offer_table.c.listing_id == listing_table.c.id)
        .scalar_subquery()
    )
    return (
        sa.select(
            *(listing_table.c[name] for name in _LISTING_COLUMNS),
            *(owner_table.c[name].label(_OWNER_PREFIX + name) for name in _OWNER_COLUMNS),
            sa.cast(patents_json, sa.Text).label("patents_json"),
            sa.cast(offers_json, sa.Text).label("offers_json"),
        )
        .join_from(listing_table, owner_table, owner_table.c.id == listing_table.c.owner_id)
        # One array parameter: one statement (and prepared plan) for any count.
        .where(
            listing_table.c.id == sa.any_(sa.bindparam("listing_ids", type_=ARRAY(sa.Integer())))
        )
    )


# Lookups ---------------------------------------------------------------------------------------


def is_visible(listing: Listing, organization_id: int | None) -> bool:
    """Drafts are private to their owner; every announced declaration stays public."""
    return _visible(listing.status, listing.owner_id, organization_id)


def _visible(status: ListingStatus, owner_id: int, organization_id: int | None) -> bool:
    return status != ListingStatus.draft or owner_id == organization_id


def get_visible_listing(
    *, session: Session, listing_id: int, organization_id: int | None
) -> Listing:
    listing = session.get(Listing, listing_id)
    if listing is None or not is_visible(listing, organization_id):
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return listing


def get_visible_listing_fields(
    *, session: Session, listing_id: int, organization_id: int | None
) -> dict[str, Any]:
    """``get_visible_listing`` as the fields of its public form (``public_listing_fields``)."""
    found = public_listing_fields(session=session, listing_ids=[listing_id]).get(listing_id)
    if found is None or (
        found["status"] == ListingStatus.draft and found["owner_id"] != organization_id
    ):
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return found


def get_own_listing(*, session: Session, listing_id: int, organization_id: int) -> Listing:
    listing = get_visible_listing(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if listing.owner_id != organization_id:
        raise NotListingOwner(f"Listing {listing_id} belongs to another organization.")
    return listing


def get_declaring_listing(*, session: Session, listing_id: int, organization_id: int) -> Listing:
    """The listing, for its owner only: to anyone else a declaration being prepared (or the
    papers of one announced) is as unknown as a missing listing."""
    listing = session.get(Listing, listing_id)
    if listing is None or listing.owner_id != organization_id:
        raise ListingNotFound(f"Listing {listing_id} does not exist.")
    return listing


# An offer with its listing's status and owner, which decide whom it is visible to: one query,
# no listing object. Built once (every acceptance runs it); its parameter is ``offer_id``.
_OFFER_WITH_VISIBILITY = (
    select(Offer, Listing.status, Listing.owner_id)
    .join(Listing, col(Listing.id) == col(Offer.listing_id))
    .where(col(Offer.id) == sa.bindparam("offer_id"))
)


def get_visible_offer(*, session: Session, offer_id: int, organization_id: int | None) -> Offer:
    found = session.execute(_OFFER_WITH_VISIBILITY, {"offer_id": offer_id}).first()
    if found is None:
        raise OfferNotFound(f"Offer {offer_id} does not exist.")
    offer: Offer
    offer, status, owner_id = found
    if not _visible(status, owner_id, organization_id):
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
        # A new listing has no offers: known without asking the database.
        offers=[],
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
    return listing


def delete_listing(*, session: Session, listing: Listing) -> None:
    _ensure_draft(listing)
    for offer in listing.offers:
        session.delete(offer)
    session.delete(listing)
    session.flush()


def earliest_term_end(listing: Listing) -> date:
    return earliest_term_end_of(listing.patents)


def earliest_term_end_of(patents_: Iterable[patents.TermFacts]) -> date:
    """The earliest term end of these patents: a license over them all ends by then."""
    return min(patents.term_end_date(PatentKind(p.kind), p.filing_date) for p in patents_)


def check_term(listing: Listing, term_years: int, *, today: date) -> None:
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
    check_term(listing, data.term_years, today=clock.today())
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
    check_term(listing, validated.term_years, today=clock.today())
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
