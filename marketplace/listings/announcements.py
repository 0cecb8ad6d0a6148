"""The office's announcements, as the patentee enters them: the number (normalized, matched
against the configured pattern, unique among declarations and withdrawals) and the date (one the
office can have announced on; ``clock.today`` is the office's day)."""

import re
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.config import get_settings
from marketplace.listings.errors import AnnouncementDateOutOfRange, InvalidAnnouncementNumber
from marketplace.listings.models import Listing

# Open licensing entered Chinese law with the fourth amendment of the Patent Law, in force on this
# day: the office announced no open-license declaration before it.
OPEN_LICENSING_IN_FORCE = date(2021, 6, 1)


def normalize_announcement_number(raw: str, *, field: str = "announcement_number") -> str:
    """Spaces removed, letters upper-cased; then it must match the configured pattern."""
    number = "".join(raw.split()).upper()
    if not re.fullmatch(get_settings().announcement_number_pattern, number):
        raise InvalidAnnouncementNumber(
            f"{raw!r} is not an announcement number of the office (6 to 32 letters, digits, "
            "'.', '/' or '-').",
            field=field,
        )
    return number


def number_in_use(session: Session, number: str) -> bool:
    """Whether a declaration or a withdrawal already carries this announcement number."""
    return (
        session.scalar(
            select(Listing.id).where(
                sa.or_(
                    col(Listing.announcement_number) == number,
                    col(Listing.withdrawal_announcement_number) == number,
                )
            )
        )
        is not None
    )


def check_announcement_date(listing: Listing, announced: date) -> None:
    """A date the office can have announced this declaration on. Not "after the listing was
    drafted": a patentee may enter a declaration it filed and had announced before joining."""
    today = clock.today()
    if announced > today:
        raise AnnouncementDateOutOfRange(
            f"The announcement date {announced} is in the future (today is {today} in China).",
            field="announcement_date",
        )
    if announced < OPEN_LICENSING_IN_FORCE:
        raise AnnouncementDateOutOfRange(
            f"The announcement date {announced} is before open licensing took effect "
            f"({OPEN_LICENSING_IN_FORCE}).",
            field="announcement_date",
        )
    for patent in listing.patents:
        if patent.grant_date is not None and announced < patent.grant_date:
            raise AnnouncementDateOutOfRange(
                f"The announcement date {announced} is before {patent.application_number} was "
                f"granted ({patent.grant_date}); only a granted patent can be declared.",
                field="announcement_date",
            )
