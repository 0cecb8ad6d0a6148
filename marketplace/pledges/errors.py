from marketplace.errors import Conflict, Forbidden, NotFound, Unprocessable


class PledgeNotFound(NotFound):
    default_code = "pledge_not_found"
    title = "Pledge not found"


class PledgorNotFound(Unprocessable):
    default_code = "pledgor_not_found"
    title = "Pledgor not found"


class UnknownApplicationNumbers(Unprocessable):
    default_code = "unknown_application_numbers"
    title = "Patents not registered on the platform"


class PledgeRefused(Conflict):
    """Carries every reason; ``code`` is the first one's."""

    title = "Pledge cannot be registered"


class PledgeWrongState(Conflict):
    default_code = "pledge_wrong_state"
    title = "The pledge's state does not allow this"


class PledgeNotConfirmed(Conflict):
    default_code = "pledge_not_confirmed"
    title = "The pledgor has not confirmed the application"


class NotPledgee(Forbidden):
    default_code = "not_pledgee"
    title = "Only the pledgee may do this"


class NotPledgor(Forbidden):
    default_code = "not_pledgor"
    title = "Only the pledgor may do this"


class ListingNotOnPledgedPatent(Conflict):
    default_code = "listing_not_on_pledged_patent"
    title = "The listing covers none of the pledged patents"


class InvalidPledgeUpdate(Unprocessable):
    default_code = "invalid_pledge_update"
    title = "Invalid pledge amendment"


class UnknownCoOwner(Unprocessable):
    default_code = "unknown_co_owner"
    title = "Not a co-owner of that patent"


class InvalidRegistrationNumber(Unprocessable):
    default_code = "invalid_registration_number"
    title = "Not a pledge registration number"


class RegistrationDateOutOfRange(Unprocessable):
    default_code = "registration_date_out_of_range"
    title = "The registration date cannot be that day"


class RegistrationNumberInUse(Conflict):
    default_code = "registration_number_in_use"
    title = "Another pledge carries this registration number"


class DeclarationSuspendedByPledge(Conflict):
    default_code = "declaration_suspended_by_pledge"
    title = "The declaration is suspended: a pledgee has not consented to it"
