"""Reading a declaration: the listing as the caller may see it, with the suspension of its
declaration by a pledge, and a view by anyone but its owner counted as demand for it."""

from collections.abc import Sequence

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.listings.models import Listing, ListingPublic, ListingStatus
from marketplace.matching import demand
from marketplace.pledges import declarations as pledge_declarations


def view_listing(
    *, session: Session, listing_id: int, organization_id: int | None
) -> ListingPublic:
    """The public form of the listing (drafts only to their owner), with its suspension; a
    view of a published one by anyone but its owner, signed in or not, counts as demand."""
    fields = listings.get_visible_listing_fields(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if fields["status"] == ListingStatus.published and organization_id != fields["owner_id"]:
        demand.record_views(listing_ids=[listing_id])
    suspended = pledge_declarations.suspensions(session, [listing_id])
    return ListingPublic.model_validate({**fields, "suspension": suspended.get(listing_id)})


def public_listing(session: Session, listing: Listing) -> ListingPublic:
    """The public form of a listing, with the suspension of its declaration by a pledge."""
    return public_listings(session, [listing])[0]


def public_listings(session: Session, found: Sequence[Listing]) -> list[ListingPublic]:
    """The public forms of listings, their suspensions read in one query."""
    suspended = pledge_declarations.suspensions(session, (item.id or 0 for item in found))
    return [
        listings.to_public(item).model_copy(update={"suspension": suspended.get(item.id or 0)})
        for item in found
    ]
