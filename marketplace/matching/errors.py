from marketplace.errors import Conflict, Forbidden, NotFound, Unprocessable


class ProfileNotFound(NotFound):
    default_code = "profile_not_found"
    title = "No SME profile yet"


class NeedNotFound(NotFound):
    default_code = "need_not_found"
    title = "Technology need not found"


class NotAnEnterprise(Forbidden):
    default_code = "not_an_enterprise"
    title = "Only enterprises keep SME profiles and post technology needs"


class NeedsNotVisible(Forbidden):
    default_code = "needs_not_visible"
    title = "Only enterprises and verified licensors see technology needs"


class NeedClosed(Conflict):
    default_code = "need_closed"
    title = "The technology need is closed"


class SavedSearchNotFound(NotFound):
    default_code = "saved_search_not_found"
    title = "Saved search not found"


class SavedSearchLimitReached(Conflict):
    default_code = "saved_search_limit_reached"
    title = "Too many saved searches"


class InvalidSavedSearch(Unprocessable):
    default_code = "invalid_saved_search"
    title = "Invalid saved search"
