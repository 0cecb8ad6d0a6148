"""The response page of a search: the hits' listings, in rank order, with their scores and
highlights. Shared by the listing search and a saved search's results."""

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.matching import search
from marketplace.matching.models import ListingHit, ListingSearchPage
from marketplace.pledges import declarations


def search_page(*, session: Session, result: search.SearchResult, limit: int) -> ListingSearchPage:
    found = listings.public_listings_in_order(
        session=session, listing_ids=[hit.listing_id for hit in result.hits]
    )
    scores = {hit.listing_id: hit.score for hit in result.hits}
    suspended = declarations.suspensions(session, (hit.listing_id for hit in result.hits))
    return ListingSearchPage(
        items=[
            # The listing's fields as they are (already validated), with its score and snippets.
            ListingHit.model_validate(
                {
                    **dict(listing),
                    "score": scores.get(listing.id),
                    "highlights": search.listing_highlights(listing, result.terms),
                    "suspension": suspended.get(listing.id),
                }
            )
            for listing in found
        ],
        next_cursor=result.next_cursor,
        limit=limit,
        facets=result.facets,
        total=result.total,
        total_is_lower_bound=result.total_is_lower_bound,
        corrected_query=result.corrected_query,
        matched=result.matched,
    )
