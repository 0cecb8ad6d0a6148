from marketplace.errors import Conflict, Forbidden, NotFound, Unprocessable


class ListingNotFound(NotFound):
    default_code = "listing_not_found"
    title = "Listing not found"


class OfferNotFound(NotFound):
    default_code = "offer_not_found"
    title = "Offer not found"


class NotListingOwner(Forbidden):
    default_code = "not_listing_owner"
    title = "Only the listing's owner may do this"


class ListingNotDraft(Conflict):
    default_code = "listing_not_draft"
    title = "Listing is no longer a draft"


class ListingNotPublished(Conflict):
    default_code = "listing_not_published"
    title = "Listing is not published"


class TooManyOffers(Conflict):
    default_code = "too_many_offers"
    title = "Too many offers"


class InvalidOffer(Unprocessable):
    default_code = "invalid_offer"
    title = "Invalid offer"


class InvalidListing(Unprocessable):
    default_code = "invalid_listing"
    title = "Invalid listing"


class TermExceedsPatentTerm(Unprocessable):
    default_code = "term_exceeds_patent_term"
    title = "License term beyond the patent's remaining term"


class PublicationRefused(Conflict):
    """Carries every reason; ``code`` is the first one's, so one reason reads plainly."""

    title = "Listing cannot be published"
