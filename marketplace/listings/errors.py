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


class InvalidAnnouncementNumber(Unprocessable):
    default_code = "invalid_announcement_number"
    title = "Invalid announcement number"


class AnnouncementDateOutOfRange(Unprocessable):
    default_code = "announcement_date_out_of_range"
    title = "Announcement date outside what the office can have announced"


class AnnouncementNumberInUse(Conflict):
    default_code = "announcement_number_in_use"
    title = "Another declaration or withdrawal carries this announcement number"


class WithdrawalAlreadyRequested(Conflict):
    default_code = "withdrawal_already_requested"
    title = "The withdrawal of this declaration is already requested"


class WithdrawalNotRequested(Conflict):
    default_code = "withdrawal_not_requested"
    title = "No withdrawal of this declaration has been requested"


class WithdrawalAlreadyAnnounced(Conflict):
    default_code = "withdrawal_already_announced"
    title = "The office has announced this withdrawal; it can no longer be cancelled"


class CoOwnerConsentMissing(Unprocessable):
    """Withdrawal needs every co-owner's written consent (Implementing Regulations art. 86)."""

    default_code = "co_owner_withdrawal_consent_missing"
    title = "A co-owner has not consented to the withdrawal"


class UnknownCoOwner(Unprocessable):
    default_code = "unknown_co_owner"
    title = "Not a co-owner of a covered patent"


class ConsentDateOutOfRange(Unprocessable):
    default_code = "consent_date_out_of_range"
    title = "Consent date in the future"
