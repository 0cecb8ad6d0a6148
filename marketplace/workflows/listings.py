"""Reading a declaration: the listing as the caller may see it, with the suspension of its
declaration by a pledge, and a view by anyone but its owner counted as demand for it."""

from collections.abc import Sequence

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.listings.models import Listing, ListingPublic, ListingStatus
from marketplace.matching import demand
from marketplace.pledges import declarations as pledge_declarations


def view_listing(*, session: Session, listing_id: int, organization_id: int | None) -> Listing:
    """The listing (drafts only to their owner); a view of a published one by anyone but its
    owner, signed in or not, counts as demand."""
    listing = listings.get_visible_listing(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if listing.status == ListingStatus.published and organization_id != listing.owner_id:
        demand.record_views(listing_ids=[listing_id])
    return listing


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
