from marketplace.errors import Conflict, NotFound, Unprocessable


class SavedSearchNotFound(NotFound):
    default_code = "saved_search_not_found"
    title = "Saved search not found"


class SavedSearchLimitReached(Conflict):
    default_code = "saved_search_limit_reached"
    title = "Too many saved searches"


class InvalidSavedSearch(Unprocessable):
    default_code = "invalid_saved_search"
    title = "Invalid saved search"
