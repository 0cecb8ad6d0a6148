from marketplace.errors import Forbidden, Unprocessable


class StatsNotAvailable(Forbidden):
    default_code = "stats_not_available"
    title = "Statistics are for licensors and platform administrators"


class InvalidPeriod(Unprocessable):
    default_code = "invalid_period"
    title = "The period ends before it starts"
