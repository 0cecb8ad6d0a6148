"""Reading a declaration: the listing as the caller may see it, and a view by anyone but its
owner counted as demand for it."""

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.listings.models import Listing, ListingStatus
from marketplace.matching import demand


def view_listing(*, session: Session, listing_id: int, organization_id: int | None) -> Listing:
    """The listing (drafts only to their owner); a view of a published one by anyone but its
    owner, signed in or not, counts as demand."""
    listing = listings.get_visible_listing(
        session=session, listing_id=listing_id, organization_id=organization_id
    )
    if listing.status == ListingStatus.published and organization_id != listing.owner_id:
        demand.record_views(listing_ids=[listing_id])
    return listing
