"""Civil Code art. 444 for a declaration already in force when its patent is pledged: licensing a
pledged patent needs the pledgee's consent, so without it no new license may arise under the
declaration. Recording the pledge either carries the pledgee's consent to the declarations in
force on its patents, or suspends acceptance of their offers until the pledgee consents or the
pledge ends; the licensor is told each time. Licenses granted before the pledge are untouched.

Locks: the acceptance check takes the listing row and then its patents' rows, shared, in id
order, as acceptance, publication and withdrawal take the listing before its patents; the
registration claims the patent rows by update. Of an acceptance and a registration on one patent,
whichever locks the patent first decides: the license predates the pledge, or the acceptance sees
the pledge (and the consent it carries, committed with it)."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, select

from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.listings.models import Listing, ListingPatent, ListingSuspension
from marketplace.patents.models import Patent
from marketplace.pledges.errors import DeclarationSuspendedByPledge
from marketplace.pledges.models import Pledge, PledgeConsent

# The acceptance check's statements, built once (they run on every acceptance), on the tables:
# plain rows, no ORM loading. Their parameter is ``listing_id``.
_LISTING = Listing.__table__  # type: ignore[attr-defined]
_PATENT = Patent.__table__  # type: ignore[attr-defined]
_LISTING_PATENT = ListingPatent.__table__  # type: ignore[attr-defined]
_LOCK_LISTING = (
    sa.select(_LISTING.c.id)
    .where(_LISTING.c.id == sa.bindparam("listing_id"))
    .with_for_update(read=True)
)
# The listing and its patents in one statement: each row locks the listing (the first row, and
# again, at no cost, the others) and then its patent, in patent id order (the rows are locked
# as they leave the sort): the order of the two statements this replaces. A listing without
# patents gives no row and is locked by ``_LOCK_LISTING`` alone.
_LOCK_LISTING_AND_PATENTS = (
    sa.select(
        _PATENT.c.application_number,
        _PATENT.c.active_pledge_id,
        _PATENT.c.open_license_listing_id,
    )
    .select_from(_LISTING)
    .join(_LISTING_PATENT, _LISTING_PATENT.c.listing_id == _LISTING.c.id)
    .join(_PATENT, _PATENT.c.id == _LISTING_PATENT.c.patent_id)
    .where(_LISTING.c.id == sa.bindparam("listing_id"))
    .order_by(_PATENT.c.id)
    .with_for_update(read=True, of=[_LISTING, _PATENT])
)


def check_acceptance_allowed(*, session: Session, listing_id: int) -> None:
    """Refuses (409 ``declaration_suspended_by_pledge``) while a pledge registered on a patent of
    this declaration lacks its pledgee's consent to it. Holds shared locks on the listing and its
    patents to the end of the transaction, so that no pledge is registered on them meanwhile."""
    session.flush()  # core statements: the session does not autoflush them
    # On the connection: plain rows need none of the ORM's execution machinery.
    connection = session.connection()
    rows = connection.execute(_LOCK_LISTING_AND_PATENTS, {"listing_id": listing_id}).all()
    if not rows:
        connection.execute(_LOCK_LISTING, {"listing_id": listing_id})
    # Only where this declaration is in force: otherwise acceptance fails for that reason.
    pledged = {
        number: pledge_id
        for number, pledge_id, declared_under in rows
        if pledge_id is not None and declared_under == listing_id
    }
    missing = _without_consent(session, listing_id, set(pledged.values()))
    if missing:
        numbers = sorted(number for number, pledge_id in pledged.items() if pledge_id in missing)
        raise DeclarationSuspendedByPledge(
            f"Listing {listing_id}'s declaration is suspended: "
            + ", ".join(numbers)
            + " pledged without the pledgee's consent to it (Civil Code art. 444).",
            application_numbers=numbers,
        )


def _without_consent(session: Session, listing_id: int, pledge_ids: set[int]) -> set[int]:
    if not pledge_ids:
        return set()
    consented = session.scalars(
        select(PledgeConsent.pledge_id).where(
            col(PledgeConsent.pledge_id).in_(pledge_ids), PledgeConsent.listing_id == listing_id
        )
    ).all()
    return pledge_ids - set(consented)


def suspending_pledges(session: Session, listing_id: int) -> set[int]:
    """The pledges that suspend this declaration now: registered on a patent it is in force on,
    without their pledgee's consent to it."""
    pledge_ids = set(
        session.scalars(
            select(Patent.active_pledge_id)
            .join(ListingPatent, col(ListingPatent.patent_id) == col(Patent.id))
            .where(ListingPatent.listing_id == listing_id)
            .where(col(Patent.open_license_listing_id) == listing_id)
            .where(col(Patent.active_pledge_id).is_not(None))
        ).all()
    )
    return _without_consent(session, listing_id, {pid for pid in pledge_ids if pid is not None})


def suspensions(session: Session, listing_ids: Iterable[int]) -> dict[int, ListingSuspension]:
    """Of these listings, the declarations suspended now, each with its pledges without
    consent: one query for a page of listings."""
    wanted = sorted(set(listing_ids))
    if not wanted:
        return {}
    session.flush()  # a core statement on the connection: the session does not autoflush it
    connection = session.connection()
    rows = connection.execute(_suspensions_statement(connection.dialect.name), {"ids": wanted})
    found: dict[int, ListingSuspension] = {}
    for listing_id, number, pledge_id, registered in rows:
        current = found.setdefault(
            listing_id, ListingSuspension(pledge_ids=[], application_numbers=[], since=None)
        )
        if pledge_id not in current.pledge_ids:
            current.pledge_ids.append(pledge_id)
        current.application_numbers.append(number)
        if registered is not None and (current.since is None or registered < current.since):
            current.since = registered
    for current in found.values():
        current.pledge_ids.sort()
    return found


@cache
def _suspensions_statement(
    dialect: str,
) -> sa.Select[Any, Any, Any, Any]:
    """The select of ``suspensions``, built once per dialect (it runs on every listing page).
    Its parameter is ``ids``."""
    listing_id = col(Patent.open_license_listing_id)
    among = (
        listing_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Integer())))
        if dialect == "postgresql"
        else listing_id.in_(sa.bindparam("ids", expanding=True))
    )
    return (
        sa.select(
            listing_id,
            col(Patent.application_number),
            col(Pledge.id),
            col(Pledge.registered_date),
        )
        .join(Pledge, col(Pledge.id) == col(Patent.active_pledge_id))
        .outerjoin(
            PledgeConsent,
            sa.and_(
                col(PledgeConsent.pledge_id) == col(Pledge.id),
                col(PledgeConsent.listing_id) == listing_id,
            ),
        )
        .where(among)
        .where(col(PledgeConsent.pledge_id).is_(None))
        .order_by(listing_id, col(Patent.id))
    )


def _declarations_on(session: Session, patent_ids: Iterable[int]) -> dict[int, list[str]]:
    """The declarations in force on these patents: by listing id, the patents' numbers. Read
    from the rows, not from loaded objects, so that a concurrent publication is seen."""
    wanted = sorted(set(patent_ids))
    found: dict[int, list[str]] = defaultdict(list)
    if not wanted:
        return found
    for listing_id, number in session.execute(
        sa.select(col(Patent.open_license_listing_id), col(Patent.application_number))
        .where(col(Patent.id).in_(wanted))
        .where(col(Patent.open_license_listing_id).is_not(None))
        .order_by(col(Patent.id))
    ):
        found[listing_id].append(number)
    return found


def on_registration(*, session: Session, pledge: Pledge) -> None:
    """The pledge was registered (its patents are claimed and locked): for each declaration in
    force on them, the pledgee's consent from the application is recorded, or the declaration
    is suspended. The licensor and the pledgee hear of it."""
    assert pledge.id is not None
    declared = _declarations_on(session, (patent.id or 0 for patent in pledge.patents))
    for listing_id, numbers in sorted(declared.items()):
        listing = session.get_one(Listing, listing_id)
        consented = pledge.consents_to_open_licenses
        if consented and not any(c.listing_id == listing_id for c in pledge.consents):
            consent = PledgeConsent(pledge_id=pledge.id, listing_id=listing_id)
            pledge.consents.append(consent)
            session.add(consent)
            session.flush()
        details = {
            "pledge_id": pledge.id,
            "registration_number": pledge.registration_number,
            "registered_date": pledge.registered_date.isoformat()
            if pledge.registered_date
            else None,
            "pledgee_id": pledge.pledgee_id,
            "pledgee_name": pledge.pledgee.name,
            "listing_id": listing_id,
            "application_numbers": numbers,
        }
        events.record(
            session,
            recipients=[listing.owner_id, pledge.pledgee_id],
            type=EventType.pledge_recorded_on_declared_patent,
            subject=f"listing:{listing_id}",
            payload={**details, "pledgee_consented": consented, "suspended": not consented},
        )
        if not consented:
            _tell_licensor(session, listing, EventType.declaration_suspended, details)


def on_consent(*, session: Session, pledge: Pledge, listing_id: int) -> None:
    """The pledgee consented to a declaration after registering: if nothing else suspends it,
    its offers can be accepted again."""
    if listing_id in _declarations_on(session, (patent.id or 0 for patent in pledge.patents)):
        _resume_if_free(session, listing_id, pledge, cause="pledgee_consented")


def on_pledge_ended(*, session: Session, pledge: Pledge, patents: Sequence[Patent]) -> None:
    """The pledge was cancelled (its patents freed): the declarations it suspended resume,
    unless another pledge still suspends them."""
    consented = {consent.listing_id for consent in pledge.consents}
    declared = _declarations_on(session, (patent.id or 0 for patent in patents))
    for listing_id in sorted(declared):
        if listing_id not in consented:
            _resume_if_free(session, listing_id, pledge, cause="pledge_ended")


def _resume_if_free(session: Session, listing_id: int, pledge: Pledge, *, cause: str) -> None:
    if suspending_pledges(session, listing_id):
        return
    listing = session.get_one(Listing, listing_id)
    _tell_licensor(
        session,
        listing,
        EventType.declaration_resumed,
        {
            "pledge_id": pledge.id,
            "pledgee_id": pledge.pledgee_id,
            "pledgee_name": pledge.pledgee.name,
            "listing_id": listing_id,
            "cause": cause,
        },
    )


def _tell_licensor(
    session: Session, listing: Listing, event: EventType, details: Mapping[str, Any]
) -> None:
    events.record(
        session,
        recipients=[listing.owner_id],
        type=event,
        subject=f"listing:{listing.id}",
        payload=dict(details),
    )
