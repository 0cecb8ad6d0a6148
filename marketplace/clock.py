"""The one source of "now", so rules that depend on dates can be tested at any date."""

from datetime import UTC, date, datetime


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def timestamp() -> datetime:
    """Column default for ``*_at`` fields. It looks ``now`` up at each call, so a test that moves
    the clock moves these too (a default bound to ``now`` itself would keep the real one)."""
    return now()
