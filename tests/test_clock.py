"""The marketplace's calendar is China's: its today turns at 16:00 UTC."""

from datetime import UTC, date, datetime

from marketplace import clock
from tests.factories import SetNow


def test_a_moment_falls_on_its_day_in_china() -> None:
    assert clock.day_of(datetime(2026, 6, 15, 15, 59, 59, tzinfo=UTC)) == date(2026, 6, 15)
    assert clock.day_of(datetime(2026, 6, 15, 16, 0, tzinfo=UTC)) == date(2026, 6, 16)
    assert clock.day_of(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == date(2027, 1, 1)


def test_today_is_the_day_in_china_of_now(set_now: SetNow) -> None:
    set_now(datetime(2026, 6, 15, 20, 0, tzinfo=UTC))
    assert clock.today() == date(2026, 6, 16)


def test_a_day_starts_at_midnight_in_china() -> None:
    assert clock.start_of(date(2026, 6, 16)) == datetime(2026, 6, 15, 16, 0, tzinfo=UTC)
    assert clock.day_of(clock.start_of(date(2026, 6, 16))) == date(2026, 6, 16)


def test_the_first_day_of_the_calendar_starts_at_the_first_instant_there_is() -> None:
    # Midnight of 1 January of year 1 in China is in year 0 in UTC, which no datetime holds.
    assert clock.start_of(date.min) == datetime.min.replace(tzinfo=UTC)
