"""Technology-export review: a license to a licensee outside China of a patent in a category the
platform flags is created ``pending_export_review`` and takes effect only when a platform admin
approves it (DOMAIN.md: "a license to a foreign licensee may need export review before it takes
effect").

Decisions:
* Categories are IPC prefixes at any level, kept by platform admins. A licensee is foreign when
  its country is not CN.
* While pending, the license holds the offer for its licensee (no second acceptance) but is not in
  force: it owes nothing yet, counts nowhere as a license in force and cannot be recorded.
* Approval makes it take effect that day: the term, the recordation deadline and the frozen terms'
  dates start then (the terms hash is computed again), and the minimum-royalty years are opened
  as at an ordinary acceptance. When the method asks for money up front, approval instead starts
  the wait for that payment (``pending_payment``), as at an ordinary acceptance. Refusal ends it
  as ``export_refused``.
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.events.models import EventType
from marketplace.licensing import obligations
from marketplace.licensing import service as licensing
from marketplace.licensing.errors import (
    ExportControlExists,
    ExportControlNotFound,
    LicenseNotFound,
    LicenseNotPendingReview,
)
from marketplace.licensing.models.export_review import ExportControl, ExportControlCreate
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.notices import license_event
from marketplace.pagination import PageParams, paginate_by_id


def add_control(*, session: Session, data: ExportControlCreate, user: User | None) -> ExportControl:
    control = ExportControl(
        ipc_prefix=data.ipc_prefix,
        description=data.description,
        created_by_user_id=user.id if user else None,
    )
    try:
        with session.begin_nested():
            session.add(control)
    except IntegrityError:
        raise ExportControlExists(
            f"{data.ipc_prefix} is flagged already.", ipc_prefix=data.ipc_prefix
        ) from None
    return control


def list_controls(*, session: Session) -> Sequence[ExportControl]:
    return session.scalars(select(ExportControl).order_by(col(ExportControl.ipc_prefix))).all()


def remove_control(*, session: Session, control_id: int) -> None:
    """Licenses already pending stay pending: the admin decides them."""
    control = session.get(ExportControl, control_id)
    if control is None:
        raise ExportControlNotFound(f"Export control {control_id} does not exist.")
    session.delete(control)
    session.flush()


def list_pending(*, session: Session, page: PageParams) -> tuple[Sequence[License], str | None]:
    """Licenses waiting for a decision, newest first."""
    statement = select(License).where(col(License.status) == LicenseStatus.pending_export_review)
    return paginate_by_id(session, statement, id_column=col(License.id), params=page)


def _pending(session: Session, license_id: int) -> License:
    license_ = session.get(License, license_id)
    if license_ is None:
        raise LicenseNotFound(f"License {license_id} does not exist.")
    if license_.status is not LicenseStatus.pending_export_review:
        raise LicenseNotPendingReview(
            f"License {license_id} is {license_.status}, not waiting for export review."
        )
    return license_


def approve(*, session: Session, license_id: int, admin: User | None, note: str | None) -> License:
    """The export may go ahead. A license with nothing to pay up front takes effect today (its
    term, recordation deadline and frozen terms count from today); one whose method asks for
    money up front now waits for that payment, as at an ordinary acceptance."""
    license_ = _pending(session, license_id)
    today = clock.today()
    if obligations.upfront_fee(license_) is None:
        outcome = LicenseStatus.active
        columns = licensing.effective_from(session, license_, today, payment=None)
    else:
        outcome = LicenseStatus.pending_payment
        columns = {"payment_due_date": today + timedelta(days=get_settings().license_payment_days)}
    if not transition(session, _decision(license_id, outcome, admin, note).values(**columns)):
        raise LicenseNotPendingReview(f"License {license_id} was decided concurrently.")
    session.refresh(license_)
    licensing.start(session=session, license_=license_)
    _announce(session, license_, EventType.license_export_approved)
    return license_


def refuse(*, session: Session, license_id: int, admin: User | None, note: str | None) -> License:
    license_ = _pending(session, license_id)
    if not transition(session, _decision(license_id, LicenseStatus.export_refused, admin, note)):
        raise LicenseNotPendingReview(f"License {license_id} was decided concurrently.")
    session.refresh(license_)
    _announce(session, license_, EventType.license_export_refused)
    return license_


def _decision(
    license_id: int, outcome: LicenseStatus, admin: User | None, note: str | None
) -> sa.Update:
    return (
        sa.update(License)
        .where(col(License.id) == license_id)
        .where(col(License.status) == LicenseStatus.pending_export_review)
        .values(
            status=outcome,
            export_decided_at=clock.now(),
            export_decided_by_user_id=admin.id if admin else None,
            export_decision_note=note,
        )
    )


def _announce(session: Session, license_: License, kind: EventType) -> None:
    license_event(
        session,
        license_,
        kind,
        status=str(license_.status),
        note=license_.export_decision_note,
    )
