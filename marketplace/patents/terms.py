"""The patent calendar: statutory terms, calendar arithmetic and the annual-fee due date.
Pure functions of dates and kinds, used by the models' validators and by every rule."""

from datetime import date, timedelta
from functools import lru_cache

from marketplace.patents.identifiers import PatentKind

# Designs filed from this day on get 15 years (Patent Law as amended in 2020, art. 42).
DESIGN_15_YEARS_FROM = date(2021, 6, 1)


def add_years(day: date, years: int) -> date:
    """Calendar years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@lru_cache(maxsize=65_536)
def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate_day in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate_day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def statutory_years(kind: PatentKind, filing_date: date) -> int:
    if kind is PatentKind.invention:
        return 20
    if kind is PatentKind.utility_model:
        return 10
    return 15 if filing_date >= DESIGN_15_YEARS_FROM else 10


# Pure, and asked three or four times per patent by the checks: a thousand-patent batch repeats
# a few hundred distinct filing dates.
@lru_cache(maxsize=65_536)
def term_end_date(kind: PatentKind, filing_date: date) -> date:
    """The last day in force: the day before the anniversary of filing that ends the term."""
    return add_years(filing_date, statutory_years(kind, filing_date)) - timedelta(days=1)


def next_fee_due_date(fee_paid_until: date, term_end: date) -> date | None:
    """The day after the paid-up date; none once the fee covers the rest of the term (no fee is
    due after the term ends, and a date past the term must never overflow the calendar)."""
    if fee_paid_until >= term_end:
        return None
    return fee_paid_until + timedelta(days=1)
