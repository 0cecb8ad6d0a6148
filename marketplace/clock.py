"""The one source of "now", so rules that depend on dates can be tested at any date."""

from datetime import UTC, date, datetime


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()
