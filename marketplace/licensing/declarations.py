"""What an acceptance reads of the declaration it is taken under: the listing, its licensor, and
its patents with their encumbrances, as plain rows of one statement.

The license's rules (its terms, its term, the standing of the patents, the pledge links) read
these as they would read the table objects; loading those objects with their relationships
into the session cost about a third of an acceptance's Python time, and nothing writes to them."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.listings.models import Listing, ListingPatent, ListingStatus
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import EncumbranceKind, LegalStatus, Patent, PatentEncumbrance


@dataclass(frozen=True, slots=True)
class Licensor:
    """The listing's owner, as the terms name it."""

    id: int
    name: str
    country: str
    credit_code: str | None


@dataclass(frozen=True, slots=True)
class DeclaredEncumbrance:
    kind: EncumbranceKind
    starts_on: date
    ends_on: date | None
    released_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeclaredPatent:
    """A patent of the declaration: what its standing, the terms and the pledge links read."""

    id: int
    owner_id: int
    application_number: str
    title: str
    kind: PatentKind
    filing_date: date
    legal_status: LegalStatus
    fee_paid_until: date | None
    active_pledge_id: int | None
    encumbrances: tuple[DeclaredEncumbrance, ...]


@dataclass(frozen=True, slots=True)
class Declaration:
    """The listing as an acceptance reads it: patents in id order, each with its encumbrances
    in id order (the order of the listing's and the patent's relationships)."""

    id: int
    status: ListingStatus
    owner_id: int
    title: str
    announcement_number: str | None
    announcement_date: date | None
    owner: Licensor
    patents: tuple[DeclaredPatent, ...]


_LISTING = Listing.__table__  # type: ignore[attr-defined]
_OWNER = Organization.__table__  # type: ignore[attr-defined]
_LISTING_PATENT = ListingPatent.__table__  # type: ignore[attr-defined]
_PATENT = Patent.__table__  # type: ignore[attr-defined]
_ENCUMBRANCE = PatentEncumbrance.__table__  # type: ignore[attr-defined]

# Built once (it runs on every acceptance), on the tables rather than the mapped classes: the
# rows are plain data, so the ORM's loading machinery is not needed. One row per patent and
# encumbrance (a patent without encumbrances: one row with them null); the outer joins keep the
# listing's row even without patents. Its parameter is ``listing_id``.
_DECLARATION = (
    sa.select(
        _LISTING.c.id.label("listing_id"),
        _LISTING.c.status,
        _LISTING.c.owner_id,
        _LISTING.c.title,
        _LISTING.c.announcement_number,
        _LISTING.c.announcement_date,
        _OWNER.c.name.label("owner_name"),
        _OWNER.c.country.label("owner_country"),
        _OWNER.c.credit_code.label("owner_credit_code"),
        _PATENT.c.id.label("patent_id"),
        _PATENT.c.owner_id.label("patent_owner_id"),
        _PATENT.c.application_number,
        _PATENT.c.title.label("patent_title"),
        _PATENT.c.kind,
        _PATENT.c.filing_date,
        _PATENT.c.legal_status,
        _PATENT.c.fee_paid_until,
        _PATENT.c.active_pledge_id,
        _ENCUMBRANCE.c.id.label("encumbrance_id"),
        _ENCUMBRANCE.c.kind.label("encumbrance_kind"),
        _ENCUMBRANCE.c.starts_on,
        _ENCUMBRANCE.c.ends_on,
        _ENCUMBRANCE.c.released_at,
    )
    .select_from(_LISTING)
    .join(_OWNER, _OWNER.c.id == _LISTING.c.owner_id)
    .outerjoin(_LISTING_PATENT, _LISTING_PATENT.c.listing_id == _LISTING.c.id)
    .outerjoin(_PATENT, _PATENT.c.id == _LISTING_PATENT.c.patent_id)
    .outerjoin(_ENCUMBRANCE, _ENCUMBRANCE.c.patent_id == _PATENT.c.id)
    .where(_LISTING.c.id == sa.bindparam("listing_id"))
    .order_by(_PATENT.c.id, _ENCUMBRANCE.c.id)
)


def read_declaration(session: Session, listing_id: int) -> Declaration:
    """The listing ``listing_id`` as it stands in the database now (not as the session holds
    it): read after the caller's locks, it sees what was committed while they waited."""
    session.flush()  # a core statement: the session does not autoflush it
    # On the connection: plain rows need none of the ORM's execution machinery.
    rows = session.connection().execute(_DECLARATION, {"listing_id": listing_id}).all()
    if not rows:
        raise NoResultFound(f"Listing {listing_id} does not exist.")
    # By patent id, in the rows' order (patent id, then encumbrance id).
    patent_rows: dict[int, Any] = {}
    encumbrances: dict[int, list[DeclaredEncumbrance]] = {}
    for row in rows:
        if row.patent_id is None:
            continue
        if row.patent_id not in patent_rows:
            patent_rows[row.patent_id] = row
            encumbrances[row.patent_id] = []
        if row.encumbrance_id is not None:
            encumbrances[row.patent_id].append(
                DeclaredEncumbrance(
                    kind=row.encumbrance_kind,
                    starts_on=row.starts_on,
                    ends_on=row.ends_on,
                    released_at=row.released_at,
                )
            )
    first = rows[0]
    return Declaration(
        id=first.listing_id,
        status=first.status,
        owner_id=first.owner_id,
        title=first.title,
        announcement_number=first.announcement_number,
        announcement_date=first.announcement_date,
        owner=Licensor(
            id=first.owner_id,
            name=first.owner_name,
            country=first.owner_country,
            credit_code=first.owner_credit_code,
        ),
        patents=tuple(
            DeclaredPatent(
                id=patent_id,
                owner_id=row.patent_owner_id,
                application_number=row.application_number,
                title=row.patent_title,
                kind=row.kind,
                filing_date=row.filing_date,
                legal_status=row.legal_status,
                fee_paid_until=row.fee_paid_until,
                active_pledge_id=row.active_pledge_id,
                encumbrances=tuple(encumbrances[patent_id]),
            )
            for patent_id, row in patent_rows.items()
        ),
    )
