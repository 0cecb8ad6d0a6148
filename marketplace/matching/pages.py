"""The response page of a search: the hits' listings, in rank order, with their scores and
highlights. Shared by the listing search and a saved search's results."""

from typing import Any

from sqlmodel import Session

from marketplace.listings import service as listings
from marketplace.matching import search
from marketplace.matching.models import ListingSearchPage
from marketplace.pledges import declarations


def search_page(*, session: Session, result: search.SearchResult, limit: int) -> ListingSearchPage:
    listing_ids = [hit.listing_id for hit in result.hits]
    found = listings.public_listing_fields(session=session, listing_ids=listing_ids)
    suspended = declarations.suspensions(session, listing_ids)
    items: list[dict[str, Any]] = []
    for hit in result.hits:
        fields = found.get(hit.listing_id)
        if fields is None:  # deleted since it was found
            continue
        items.append(
            {
                **fields,
                "score": hit.score,
                # A browse (no words) has nothing to highlight.
                "highlights": search.listing_highlights(fields, result.terms)
                if result.terms
                else [],
                "suspension": suspended.get(hit.listing_id),
            }
        )
    # Plain data validated once, as a whole: a model per row would cost several times more.
    return ListingSearchPage.model_validate(
        {
            "items": items,
            "next_cursor": result.next_cursor,
            "limit": limit,
            "facets": result.facets,
            "total": result.total,
            "total_is_lower_bound": result.total_is_lower_bound,
            "corrected_query": result.corrected_query,
            "matched": result.matched,
        }
    )
