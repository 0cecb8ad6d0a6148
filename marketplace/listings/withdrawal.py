"""Withdrawing a declaration (Implementing Regulations art. 86): the patentee's written request,
with its reason and every co-owner's consent, leaves the declaration standing until the office
announces the withdrawal; then it ends, and licenses already granted stand (Patent Law art. 50)."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace import clock
from marketplace.db import transition
from marketplace.listings.announcements import (
    normalize_announcement_number,
    number_in_use,
)
from marketplace.listings.errors import (
    AnnouncementDateOutOfRange,
    AnnouncementNumberInUse,
    ConsentDateOutOfRange,
    CoOwnerConsentMissing,
    ListingNotPublished,
    UnknownCoOwner,
    WithdrawalAlreadyAnnounced,
    WithdrawalAlreadyRequested,
    WithdrawalNotRequested,
)
from marketplace.listings.models import (
    Listing,
    ListingStatus,
    WithdrawalAnnouncement,
    WithdrawalRequest,
)
from marketplace.listings.publication import end_declaration


def _co_owner_names(listing: Listing) -> list[str]:
    return list(
        dict.fromkeys(
            str(co_owner["name"]).strip()
            for patent in listing.patents
            for co_owner in patent.co_owners
        )
    )


def request_withdrawal(
    *, session: Session, listing: Listing, request: WithdrawalRequest
) -> Listing:
    """Record the patentee's written withdrawal, with its reason and every co-owner's consent
    (Implementing Regulations art. 86). The declaration stands, and its offers can still be
    accepted, until the office announces the withdrawal."""
    if listing.status != ListingStatus.published:
        raise ListingNotPublished(
            f"Listing {listing.id} is {listing.status}; only a declaration in force is withdrawn."
        )
    if listing.withdrawal_requested_at is not None:
        raise WithdrawalAlreadyRequested(
            f"The withdrawal of listing {listing.id} was requested on "
            f"{listing.withdrawal_requested_at:%Y-%m-%d}; record the office's announcement."
        )
    co_owners = _co_owner_names(listing)
    named = [consent.name.strip() for consent in request.co_owner_consents]
    unknown = [name for name in dict.fromkeys(named) if name not in co_owners]
    if unknown:
        raise UnknownCoOwner(
            "Not co-owners of the covered patents: " + ", ".join(unknown),
            field="co_owner_consents",
            co_owners=co_owners,
        )
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        raise UnknownCoOwner(
            "Each co-owner consents once: " + ", ".join(repeated) + " named more than once.",
            field="co_owner_consents",
        )
    missing = [name for name in co_owners if name not in named]
    if missing:
        raise CoOwnerConsentMissing(
            "Withdrawal needs the written consent of every co-owner; missing: "
            + ", ".join(missing),
            field="co_owner_consents",
            missing=missing,
        )
    today = clock.today()
    late = [c.name for c in request.co_owner_consents if c.consented_on > today]
    if late:
        raise ConsentDateOutOfRange(
            "Consent dated in the future: " + ", ".join(late), field="co_owner_consents"
        )
    now = clock.now()
    # Of two requests at once, one records the withdrawal and the other is refused.
    if not transition(
        session,
        sa.update(Listing)
        .where(col(Listing.id) == listing.id)
        .where(col(Listing.status) == ListingStatus.published)
        .where(col(Listing.withdrawal_requested_at).is_(None))
        .values(withdrawal_requested_at=now),
    ):
        session.refresh(listing)
        if listing.status != ListingStatus.published:
            raise ListingNotPublished(f"Listing {listing.id} is {listing.status}.")
        raise WithdrawalAlreadyRequested(
            f"The withdrawal of listing {listing.id} was requested concurrently."
        )
    listing.withdrawal_requested_at = now
    listing.withdrawal_reason = request.reason
    listing.withdrawal_consents = [
        {**consent.model_dump(mode="json"), "name": consent.name.strip()}
        for consent in request.co_owner_consents
    ]
    listing.updated_at = now
    session.add(listing)
    session.flush()
    return listing


@dataclass(frozen=True, slots=True)
class CancelledWithdrawal:
    """What the cancelled request said, for those who were told of it."""

    reason: str | None
    requested_at: datetime
    cancelled_at: datetime


def _refuse_cancellation(listing: Listing) -> None:
    if listing.status == ListingStatus.withdrawn:
        raise WithdrawalAlreadyAnnounced(
            f"The office announced the withdrawal of listing {listing.id} "
            f"({listing.withdrawal_announcement_number}); it can no longer be cancelled."
        )
    if listing.status != ListingStatus.published:
        raise ListingNotPublished(f"Listing {listing.id} is {listing.status}, not published.")
    if listing.withdrawal_requested_at is None:
        raise WithdrawalNotRequested(
            f"Listing {listing.id} has no withdrawal requested: nothing to cancel."
        )


def cancel_withdrawal(*, session: Session, listing: Listing) -> CancelledWithdrawal:
    """The patentee takes back its withdrawal request before the office announced it: the
    declaration simply stays in force. Refused once the office's announcement is recorded (the
    declaration has ended) or when nothing is requested."""
    _refuse_cancellation(listing)
    requested_at = listing.withdrawal_requested_at
    reason = listing.withdrawal_reason
    assert requested_at is not None
    now = clock.now()
    # Of a cancellation and the announcement's recording at once, one wins and the other is
    # refused (the announcement needs the request to still be there).
    if not transition(
        session,
        sa.update(Listing)
        .where(col(Listing.id) == listing.id)
        .where(col(Listing.status) == ListingStatus.published)
        .where(col(Listing.withdrawal_requested_at).is_not(None))
        .values(
            withdrawal_requested_at=None,
            withdrawal_reason=None,
            withdrawal_consents=[],
            updated_at=now,
        ),
    ):
        session.refresh(listing)
        _refuse_cancellation(listing)
        raise WithdrawalNotRequested(f"The withdrawal of listing {listing.id} changed meanwhile.")
    session.refresh(listing)
    return CancelledWithdrawal(reason=reason, requested_at=requested_at, cancelled_at=now)


def record_withdrawal_announcement(
    *, session: Session, listing: Listing, announcement: WithdrawalAnnouncement
) -> Listing:
    """The office announced the withdrawal: the declaration ends (licenses already granted are
    not affected, Patent Law art. 50)."""
    number = normalize_announcement_number(announcement.announcement_number)
    if listing.status != ListingStatus.published:
        raise ListingNotPublished(f"Listing {listing.id} is {listing.status}, not published.")
    if listing.withdrawal_requested_at is None:
        raise WithdrawalNotRequested(
            f"Listing {listing.id} has no withdrawal requested; request it first, with its "
            "reason and the co-owners' consent."
        )
    announced = announcement.announcement_date
    requested = clock.day_of(listing.withdrawal_requested_at)
    today = clock.today()
    if announced > today:
        raise AnnouncementDateOutOfRange(
            f"The announcement date {announced} is in the future (today is {today} in China).",
            field="announcement_date",
        )
    if announced < requested:
        raise AnnouncementDateOutOfRange(
            f"The announcement date {announced} is before the withdrawal was requested "
            f"({requested}).",
            field="announcement_date",
        )
    if number_in_use(session, number):
        raise AnnouncementNumberInUse(
            f"Announcement number {number} belongs to another declaration or withdrawal.",
            field="announcement_number",
        )
    return end_declaration(
        session, listing, to=ListingStatus.withdrawn, withdrawal=(number, announced)
    )
