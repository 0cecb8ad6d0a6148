from typing import Annotated

from fastapi import Depends

from marketplace.accounts.deps import ListingsScope
from marketplace.listings import service as listings
from marketplace.listings.models import Listing, Offer
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep


def _own_listing(listing_id: ObjectId, caller: ListingsScope, session: SessionDep) -> Listing:
    return listings.get_own_listing(
        session=session, listing_id=listing_id, organization_id=caller.organization_id
    )


def _own_offer(
    offer_id: ObjectId, caller: ListingsScope, session: SessionDep
) -> tuple[Listing, Offer]:
    return listings.get_own_offer(
        session=session, offer_id=offer_id, organization_id=caller.organization_id
    )


OwnListing = Annotated[Listing, Depends(_own_listing)]
OwnOffer = Annotated[tuple[Listing, Offer], Depends(_own_offer)]
