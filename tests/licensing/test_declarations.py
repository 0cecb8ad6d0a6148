"""The declaration as an acceptance reads it: plain rows that say what the table objects say."""

from datetime import date

from sqlmodel import Session

from marketplace.licensing.declarations import (
    DeclaredEncumbrance,
    DeclaredPatent,
    read_declaration,
)
from marketplace.listings.models import ListingStatus
from marketplace.patents import service as patents
from marketplace.patents.models import EncumbranceKind, PatentEncumbranceCreate
from tests import factories
from tests.factories import Party


def test_read_declaration_says_what_the_listing_and_its_patents_say(
    session: Session, licensor: Party
) -> None:
    plain = factories.patent(session, licensor.organization, filing_date=date(2020, 3, 1))
    encumbered = factories.patent(session, licensor.organization, filing_date=date(2019, 5, 1))
    # Added in this order, read back in id order (the patent's relationship's order).
    for kind, starts_on in (
        (EncumbranceKind.non_exclusive_license, date(2024, 1, 1)),
        (EncumbranceKind.invalidation_request, date(2023, 1, 1)),
    ):
        patents.add_encumbrance(
            session=session,
            patent=encumbered,
            data=PatentEncumbranceCreate(kind=kind, starts_on=starts_on),
        )
    listing, _ = factories.published_listing(
        session, licensor.organization, patent_list=[encumbered, plain]
    )
    assert listing.id is not None
    # As loaded from the database (in memory, the listing keeps its patents in the order given).
    session.refresh(listing, attribute_names=["patents"])
    session.refresh(encumbered, attribute_names=["encumbrances"])

    declaration = read_declaration(session, listing.id)

    assert declaration.id == listing.id
    assert declaration.status is ListingStatus.published
    assert declaration.owner_id == listing.owner_id == licensor.organization.id
    assert (declaration.title, declaration.announcement_number, declaration.announcement_date) == (
        listing.title,
        listing.announcement_number,
        listing.announcement_date,
    )
    owner = licensor.organization
    assert (
        declaration.owner.id,
        declaration.owner.name,
        declaration.owner.country,
        declaration.owner.credit_code,
    ) == (owner.id, owner.name, owner.country, owner.credit_code)
    assert [patent.id for patent in declaration.patents] == [p.id for p in listing.patents]
    for read, loaded in zip(declaration.patents, listing.patents, strict=True):
        assert (
            read.owner_id,
            read.application_number,
            read.title,
            read.kind,
            read.filing_date,
            read.legal_status,
            read.fee_paid_until,
            read.active_pledge_id,
        ) == (
            loaded.owner_id,
            loaded.application_number,
            loaded.title,
            loaded.kind,
            loaded.filing_date,
            loaded.legal_status,
            loaded.fee_paid_until,
            loaded.active_pledge_id,
        )
        assert list(read.encumbrances) == [
            DeclaredEncumbrance(item.kind, item.starts_on, item.ends_on, item.released_at)
            for item in loaded.encumbrances
        ]
    by_id: dict[int | None, DeclaredPatent] = {patent.id: patent for patent in declaration.patents}
    assert by_id[plain.id].encumbrances == ()
    assert [item.kind for item in by_id[encumbered.id].encumbrances] == [
        EncumbranceKind.non_exclusive_license,
        EncumbranceKind.invalidation_request,
    ]
