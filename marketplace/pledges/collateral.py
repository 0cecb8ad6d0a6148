"""The pledgee watches its collateral: it hears when a pledged patent is licensed, changes legal
status or moves in its annual-fee standing (due, grace period, unpaid)."""

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.patents import service as patents
from marketplace.patents.models import Patent
from marketplace.pledges.models import ACTIVE_PLEDGE_STATUSES, Pledge, PledgePatent


class PledgedPatentFacts(Protocol):
    """What the pledgees are told of a patent: a ``Patent``, or the plain row an acceptance
    reads of it (``licensing.declarations``)."""

    @property
    def application_number(self) -> str: ...
    @property
    def active_pledge_id(self) -> int | None: ...


def active_pledge_ids(patents_: Sequence[PledgedPatentFacts]) -> list[int]:
    """The registered pledges on these patents."""
    return sorted({p.active_pledge_id for p in patents_ if p.active_pledge_id is not None})


def notify_pledgees(
    session: Session, patents_: Sequence[PledgedPatentFacts], event: EventType, **details: Any
) -> None:
    """Something happened to pledged patents (an open license, a license): tell each pledgee."""
    for pledge_id in active_pledge_ids(patents_):
        pledge = session.get_one(Pledge, pledge_id)
        events.record(
            session,
            recipients=[pledge.pledgee_id],
            type=event,
            subject=f"pledge:{pledge_id}",
            payload={
                "pledge_id": pledge_id,
                "application_numbers": [
                    p.application_number for p in patents_ if p.active_pledge_id == pledge_id
                ],
                **details,
            },
        )


def patent_changed(session: Session, patent: Patent, *, legal_status_before: str) -> None:
    """A pledged patent was edited: its pledgee hears of a new legal status, or else of a new
    annual-fee standing (a new legal status says more than the fee standing that follows)."""
    if patent.active_pledge_id is None:
        return
    if str(patent.legal_status) != legal_status_before:
        notify_pledgees(
            session,
            [patent],
            EventType.pledged_patent_status_changed,
            legal_status_before=legal_status_before,
            legal_status=str(patent.legal_status),
        )
        remember_fee_status(session, patent.active_pledge_id, patent, clock.today())
    else:
        _report_fee_standing(session, patent.active_pledge_id, patent, clock.today())


def watch_fee_standing(*, session: Session, today: date) -> int:
    """The daily check: fees fall due and grace periods end with the calendar, not with an edit.
    Tells each pledgee of every pledged patent whose fee standing moved; returns how many."""
    rows = session.execute(
        select(PledgePatent, Patent)
        .join(Patent, col(Patent.id) == col(PledgePatent.patent_id))
        .join(Pledge, col(Pledge.id) == col(PledgePatent.pledge_id))
        .where(col(Pledge.status).in_(ACTIVE_PLEDGE_STATUSES))
    ).all()
    return sum(
        _report_fee_standing(session, link.pledge_id, patent, today, seen=link.fee_status_seen)
        for link, patent in rows
    )


def _report_fee_standing(
    session: Session,
    pledge_id: int,
    patent: Patent,
    today: date,
    *,
    seen: str | None = None,
) -> bool:
    if seen is None:
        seen = session.scalar(
            select(PledgePatent.fee_status_seen).where(
                PledgePatent.pledge_id == pledge_id, PledgePatent.patent_id == patent.id
            )
        )
    now = patents.fee_status(patent, today=today).value
    if now == seen:
        return False
    if seen is not None:
        notify_pledgees(
            session,
            [patent],
            EventType.pledged_patent_fee_changed,
            fee_status_before=seen,
            fee_status=now,
            fee_paid_until=patent.fee_paid_until.isoformat() if patent.fee_paid_until else None,
        )
    remember_fee_status(session, pledge_id, patent, today)
    return seen is not None


def start_watching(*, session: Session, pledge: Pledge, today: date) -> None:
    """At registration: each patent's fee standing today is what later changes are told against."""
    assert pledge.id is not None
    for patent in pledge.patents:
        remember_fee_status(session, pledge.id, patent, today)


def remember_fee_status(session: Session, pledge_id: int, patent: Patent, today: date) -> None:
    session.execute(
        sa.update(PledgePatent)
        .where(col(PledgePatent.pledge_id) == pledge_id)
        .where(col(PledgePatent.patent_id) == patent.id)
        .values(fee_status_seen=patents.fee_status(patent, today=today).value)
        .execution_options(synchronize_session=False)
    )
