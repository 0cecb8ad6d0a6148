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
