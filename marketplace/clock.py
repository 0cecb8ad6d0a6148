"""The one source of "now", so rules that depend on dates can be tested at any date; and the one
calendar every date of the marketplace is a day of.

That calendar is China's (China Standard Time, UTC+8, no daylight saving): the office day and the
business day are the same day. Every date the marketplace checks or counts is written in China:
the office dates its announcements, pledge registrations, recordations, filings and grants there;
a Chinese bank dates a payment there; the parties date their written consents there; and the
periods the law and the offers count (a license's term, the three months to record it, a
payment's due date, the annual fee's grace period) run in its days. So ``today`` is today in
China: between 16:00 and 24:00 UTC it is already tomorrow there, and a date the office wrote that
morning is not "in the future". A second, UTC day would let a license take effect the day before
the payment it rests on. Instants (the ``*_at`` timestamps) stay in UTC; ``day_of`` says on which
day one fell."""

from datetime import UTC, date, datetime, time, timedelta, timezone

MARKETPLACE_TIMEZONE = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    return datetime.now(UTC)


def day_of(moment: datetime) -> date:
    """The day on the marketplace's calendar on which ``moment`` fell."""
    return moment.astimezone(MARKETPLACE_TIMEZONE).date()


def start_of(day: date) -> datetime:
    """The first instant (UTC) of ``day`` on the marketplace's calendar. The calendar's first
    day began before the first instant a datetime can hold, which stands in for it."""
    start = datetime.combine(day, time.min, tzinfo=MARKETPLACE_TIMEZONE)
    try:
        return start.astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def today() -> date:
    return day_of(now())


def timestamp() -> datetime:
    """Column default for ``*_at`` fields. It looks ``now`` up at each call, so a test that moves
    the clock moves these too (a default bound to ``now`` itself would keep the real one)."""
    return now()
