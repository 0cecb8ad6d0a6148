"""Disputes about a license: either party opens one, platform admins mediate (DOMAIN.md:
"disputes go to negotiation, then mediation by the office, or court").

Decisions:
* A license "shows disputed" through ``License.open_dispute_id``, set and cleared in the same
  transaction as the dispute's transitions; its status (active / terminated / expired) is left
  alone, because uniqueness, expiry, counts and royalties rely on it.
* Any license may be disputed, terminated and expired ones included: unpaid royalties or a
  report outstanding outlive the license.
* At most one open or mediated dispute per license, held by a partial unique index.
* A platform admin may resolve an open dispute directly (the parties settled before mediation);
  it is then recorded with no mediator and no ``mediation_started_at``. Any platform admin may
  resolve, not only the mediator (a mediator may leave); ``closed_by_user_id`` says who did.
* Only the party that opened a dispute may withdraw it, while it is open or in mediation.
* Statements are added by either party or by the mediator, while open or in mediation.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.db import transition
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing.errors import (
    DisputeAlreadyOpen,
    DisputeClosed,
    DisputeNotFound,
    DisputeNotOpen,
    MediatorMustBeUser,
    NotDisputeParticipant,
    OnlyOpenerWithdraws,
)
from marketplace.licensing.models.disputes import (
    ACTIVE_DISPUTE_STATUSES,
    DisputeAuthorRole,
    DisputeOutcome,
    DisputePublic,
    DisputeReason,
    DisputeStatement,
    DisputeStatementPublic,
    DisputeStatus,
    LicenseDispute,
)
from marketplace.licensing.models.licenses import License
from marketplace.pagination import PageParams, paginate_by_id


def to_public(dispute: LicenseDispute) -> DisputePublic:
    return DisputePublic.model_validate(dispute.model_dump())


def statement_to_public(statement: DisputeStatement) -> DisputeStatementPublic:
    return DisputeStatementPublic.model_validate(statement.model_dump())


def get_dispute(*, session: Session, dispute_id: int, caller: Caller) -> LicenseDispute:
    """The dispute if the caller is a party to its license or a platform admin."""
    dispute = session.get(LicenseDispute, dispute_id)
    if dispute is not None and not caller.is_platform_admin:
        license_ = session.get_one(License, dispute.license_id)
        if not license_.has_party(caller.organization_id):
            dispute = None
    if dispute is None:
        raise DisputeNotFound(f"Dispute {dispute_id} does not exist.")
    return dispute


def _notify(session: Session, dispute: LicenseDispute, type: EventType, **details: Any) -> None:
    license_ = session.get_one(License, dispute.license_id)
    events.record(
        session,
        recipients=[license_.licensor_id, license_.licensee_id],
        type=type,
        subject=f"dispute:{dispute.id}",
        payload={
            "dispute_id": dispute.id,
            "license_id": license_.id,
            "license_number": license_.license_number,
            "reason": str(dispute.reason),
            "status": str(dispute.status),
            **details,
        },
    )


def open_dispute(
    *,
    session: Session,
    license_: License,
    organization_id: int,
    user_id: int | None,
    reason: DisputeReason,
    statement: str,
) -> LicenseDispute:
    """A party of the license opens a dispute about it; the license shows disputed."""
    assert license_.id is not None
    assert license_.has_party(organization_id)
    if license_.open_dispute_id is not None:
        raise DisputeAlreadyOpen(
            f"Dispute {license_.open_dispute_id} about license {license_.id} is still open.",
            dispute_id=license_.open_dispute_id,
        )
    now = clock.now()
    dispute = LicenseDispute(
        license_id=license_.id,
        opened_by_org_id=organization_id,
        opened_by_user_id=user_id,
        reason=reason,
        statement=statement,
        opened_at=now,
        updated_at=now,
    )
    try:
        # Of two parties opening at once, the second waits on the unique index and fails here.
        with session.begin_nested():
            session.add(dispute)
    except IntegrityError:
        raise DisputeAlreadyOpen(
            f"A dispute about license {license_.id} was opened concurrently."
        ) from None
    assert dispute.id is not None
    if not transition(
        session,
        sa.update(License)
        .where(col(License.id) == license_.id)
        .where(col(License.open_dispute_id).is_(None))
        .values(open_dispute_id=dispute.id),
    ):
        raise DisputeAlreadyOpen(f"A dispute about license {license_.id} is already open.")
    session.refresh(license_)
    _notify(session, dispute, EventType.dispute_opened, opened_by_org_id=organization_id)
    return dispute


def _move(
    session: Session, dispute: LicenseDispute, *, allowed: Sequence[DisputeStatus], **values: Any
) -> bool:
    """Move the dispute from one of ``allowed`` to the given values, if no one moved it first."""
    moved = transition(
        session,
        sa.update(LicenseDispute)
        .where(col(LicenseDispute.id) == dispute.id)
        .where(col(LicenseDispute.status).in_(list(allowed)))
        .values(updated_at=clock.now(), **values),
    )
    session.refresh(dispute)
    return moved


def _close(session: Session, dispute: LicenseDispute) -> None:
    """The license no longer shows this dispute."""
    transition(
        session,
        sa.update(License)
        .where(col(License.id) == dispute.license_id)
        .where(col(License.open_dispute_id) == dispute.id)
        .values(open_dispute_id=None),
    )
    session.refresh(session.get_one(License, dispute.license_id))


def start_mediation(
    *, session: Session, dispute: LicenseDispute, mediator_user_id: int | None
) -> LicenseDispute:
    """A platform admin takes an open dispute into mediation and becomes its mediator."""
    if mediator_user_id is None:
        raise MediatorMustBeUser("Mediation is started by a platform admin's user token.")
    if not _move(
        session,
        dispute,
        allowed=[DisputeStatus.open],
        status=DisputeStatus.mediation,
        mediator_user_id=mediator_user_id,
        mediation_started_at=clock.now(),
    ):
        raise DisputeNotOpen(
            f"Dispute {dispute.id} is {dispute.status}; only an open dispute goes to mediation.",
            dispute_status=str(dispute.status),
        )
    _notify(
        session, dispute, EventType.dispute_mediation_started, mediator_user_id=mediator_user_id
    )
    return dispute


def resolve_dispute(
    *,
    session: Session,
    dispute: LicenseDispute,
    admin_user_id: int | None,
    outcome: DisputeOutcome,
    text: str,
) -> LicenseDispute:
    """A platform admin closes the dispute with an outcome, from mediation or straight from open
    (the parties settled before mediation)."""
    if not _move(
        session,
        dispute,
        allowed=ACTIVE_DISPUTE_STATUSES,
        status=DisputeStatus.resolved,
        resolution_outcome=outcome,
        resolution_text=text,
        closed_at=clock.now(),
        closed_by_user_id=admin_user_id,
    ):
        raise DisputeClosed(f"Dispute {dispute.id} is already {dispute.status}.")
    _close(session, dispute)
    _notify(session, dispute, EventType.dispute_resolved, outcome=str(outcome))
    return dispute


def withdraw_dispute(
    *, session: Session, dispute: LicenseDispute, organization_id: int, user_id: int | None
) -> LicenseDispute:
    """The party that opened the dispute drops it."""
    if dispute.opened_by_org_id != organization_id:
        raise OnlyOpenerWithdraws("Only the party that opened this dispute may withdraw it.")
    if not _move(
        session,
        dispute,
        allowed=ACTIVE_DISPUTE_STATUSES,
        status=DisputeStatus.withdrawn,
        closed_at=clock.now(),
        closed_by_user_id=user_id,
    ):
        raise DisputeClosed(f"Dispute {dispute.id} is already {dispute.status}.")
    _close(session, dispute)
    _notify(session, dispute, EventType.dispute_withdrawn)
    return dispute


def add_statement(
    *,
    session: Session,
    dispute: LicenseDispute,
    caller: Caller,
    text: str,
) -> DisputeStatement:
    """A party or the mediator adds to the thread while the dispute is open or in mediation."""
    organization_id = caller.organization_id
    user_id = caller.user.id if caller.user is not None else None
    license_ = session.get_one(License, dispute.license_id)
    if organization_id == license_.licensor_id:
        role = DisputeAuthorRole.licensor
    elif organization_id == license_.licensee_id:
        role = DisputeAuthorRole.licensee
    elif (
        caller.is_platform_admin
        and dispute.mediator_user_id is not None
        and user_id == dispute.mediator_user_id
    ):
        role = DisputeAuthorRole.mediator
    else:
        raise NotDisputeParticipant(
            "Only the parties and the dispute's mediator may add statements."
        )
    # A shared lock on the dispute: a statement and a closing transition do not interleave.
    status = session.execute(
        select(LicenseDispute.status)
        .where(col(LicenseDispute.id) == dispute.id)
        .with_for_update(read=True)
    ).scalar_one()
    if status not in ACTIVE_DISPUTE_STATUSES:
        raise DisputeClosed(f"Dispute {dispute.id} is {status}; its thread is closed.")
    assert dispute.id is not None
    statement = DisputeStatement(
        dispute_id=dispute.id,
        author_org_id=organization_id,
        author_user_id=user_id,
        author_role=role,
        text=text,
    )
    session.add(statement)
    session.flush()
    _notify(
        session,
        dispute,
        EventType.dispute_statement_added,
        statement_id=statement.id,
        author_role=str(role),
    )
    return statement


def list_disputes(
    *,
    session: Session,
    caller: Caller,
    params: PageParams,
    status: DisputeStatus | None = None,
    reason: DisputeReason | None = None,
    license_id: int | None = None,
) -> tuple[Sequence[LicenseDispute], str | None]:
    """All disputes for platform admins; for anyone else those about their own licenses."""
    statement: Any = select(LicenseDispute)
    if not caller.is_platform_admin:
        organization_id = caller.organization_id
        statement = statement.join(
            License, col(License.id) == col(LicenseDispute.license_id)
        ).where(
            sa.or_(
                col(License.licensor_id) == organization_id,
                col(License.licensee_id) == organization_id,
            )
        )
    if status is not None:
        statement = statement.where(col(LicenseDispute.status) == status)
    if reason is not None:
        statement = statement.where(col(LicenseDispute.reason) == reason)
    if license_id is not None:
        statement = statement.where(col(LicenseDispute.license_id) == license_id)
    return paginate_by_id(session, statement, id_column=col(LicenseDispute.id), params=params)


def list_statements(
    *, session: Session, dispute: LicenseDispute, params: PageParams
) -> tuple[Sequence[DisputeStatement], str | None]:
    statement: Any = select(DisputeStatement).where(col(DisputeStatement.dispute_id) == dispute.id)
    return paginate_by_id(session, statement, id_column=col(DisputeStatement.id), params=params)
