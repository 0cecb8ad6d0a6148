"""Recordation: either party files the license with the office within 3 months of its effective
date (DOMAIN.md) and marks it here; the parties see which licenses still need it.

Decisions:
* A license is recorded once. A second mark is refused (409 ``license_already_recorded``); there
  is no correction flow: a wrong number is a matter for the office and support, not an edit.
* A terminated or expired license can still be marked, for a record date within its life (the
  office recorded it while it was in force); the date is never in the future nor before the
  license took effect.
* The due list holds active, unrecorded licenses whose deadline falls within the given days,
  overdue ones included (flagged), soonest deadline first.
* Only a license that took effect can be recorded (409 ``license_not_in_force``): one waiting for
  its upfront payment has no effective date yet; its deadline counts from the payment.
* The daily sweep tells both parties once when the deadline is near and once when it passed.
"""

import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.config import get_settings
from marketplace.db import transition
from marketplace.events.models import EventType
from marketplace.licensing.errors import (
    InvalidRecordNumber,
    LicenseAlreadyRecorded,
    LicenseNotInForce,
    RecordDateOutOfRange,
    RecordNumberInUse,
)
from marketplace.licensing.models.licenses import (
    RECORDATION_UNANNOUNCED,
    TOOK_EFFECT_STATUSES,
    License,
    LicenseStatus,
    RecordationDue,
)
from marketplace.licensing.notices import license_event
from marketplace.pagination import InvalidCursor, PageParams, decode_cursor, encode_cursor
from marketplace.params import MAX_ID

MAX_DUE_WITHIN_DAYS = 366


def normalize_record_number(raw: str) -> str:
    """Spaces removed, letters upper-cased; then it must match the configured pattern."""
    number = "".join(raw.split()).upper()
    if not re.fullmatch(get_settings().recordation_number_pattern, number):
        raise InvalidRecordNumber(
            f"{raw!r} is not a recordation number (6 to 32 letters, digits, '.', '/' or '-').",
            field="record_number",
        )
    return number


def last_day_in_force(license_: License) -> date:
    """The last day the license could have been recorded: its termination day, or its term end."""
    if license_.status is LicenseStatus.terminated and license_.terminated_at is not None:
        return min(clock.day_of(license_.terminated_at), license_.expires_on)
    return license_.expires_on


def record_license(
    *,
    session: Session,
    license_: License,
    organization_id: int,
    record_number: str,
    record_date: date,
) -> License:
    """Mark the license as recorded with the office by one of its parties (the caller)."""
    assert license_.has_party(organization_id)
    number = normalize_record_number(record_number)
    if license_.status not in TOOK_EFFECT_STATUSES:
        raise LicenseNotInForce(
            f"License {license_.id} is {license_.status}: only a license that took effect can "
            "be recorded.",
            license_status=str(license_.status),
        )
    if license_.record_number is not None:
        raise LicenseAlreadyRecorded(
            f"License {license_.id} was recorded on {license_.record_date} as "
            f"{license_.record_number}.",
            record_number=license_.record_number,
        )
    today = clock.today()
    if record_date > today:
        raise RecordDateOutOfRange(f"The record date {record_date} is in the future.")
    if record_date < license_.effective_date:
        raise RecordDateOutOfRange(
            f"The record date {record_date} is before the license took effect "
            f"({license_.effective_date})."
        )
    end = last_day_in_force(license_)
    if record_date > end:
        raise RecordDateOutOfRange(
            f"The record date {record_date} is after the license ended ({end})."
        )
    taken = session.scalar(select(License.id).where(License.record_number == number))
    if taken is not None:
        raise RecordNumberInUse(f"Recordation number {number} belongs to another license.")
    try:
        with session.begin_nested():
            # Of two parties marking at once, one changes the row and the other is refused.
            changed = transition(
                session,
                sa.update(License)
                .where(col(License.id) == license_.id)
                .where(col(License.record_number).is_(None))
                .values(
                    record_number=number,
                    record_date=record_date,
                    recorded_by_org_id=organization_id,
                    recorded_at=clock.now(),
                ),
            )
    except IntegrityError:
        raise RecordNumberInUse(
            f"Recordation number {number} was given to another license concurrently."
        ) from None
    session.refresh(license_)
    if not changed:
        raise LicenseAlreadyRecorded(
            f"License {license_.id} was recorded concurrently as {license_.record_number}.",
            record_number=license_.record_number,
        )
    return license_


def _due_position(cursor: str) -> tuple[date, int]:
    position = decode_cursor(cursor)
    deadline, last_id = position.get("deadline"), position.get("id")
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 1 <= last_id <= MAX_ID:
        raise InvalidCursor("The cursor is not one this API issued.")
    try:
        return date.fromisoformat(str(deadline)), last_id
    except ValueError:
        raise InvalidCursor("The cursor is not one this API issued.") from None


def to_due(license_: License, *, organization_id: int, today: date) -> RecordationDue:
    assert license_.id is not None
    assert license_.license_number is not None
    days_left = (license_.recordation_deadline - today).days
    return RecordationDue(
        license_id=license_.id,
        license_number=license_.license_number,
        role="licensor" if license_.licensor_id == organization_id else "licensee",
        licensor_id=license_.licensor_id,
        licensee_id=license_.licensee_id,
        effective_date=license_.effective_date,
        recordation_deadline=license_.recordation_deadline,
        days_left=days_left,
        overdue=days_left < 0,
    )


def list_recordation_due(
    *,
    session: Session,
    organization_id: int,
    within_days: int,
    params: PageParams,
    today: date,
) -> tuple[Sequence[RecordationDue], str | None]:
    """The caller's active, unrecorded licenses (as either party) whose recordation deadline is
    at most ``within_days`` away, overdue ones included; soonest deadline first, then by id."""
    assert 0 <= within_days <= MAX_DUE_WITHIN_DAYS
    party = sa.or_(
        col(License.licensor_id) == organization_id, col(License.licensee_id) == organization_id
    )
    statement: Any = (
        select(License)
        .where(party)
        .where(col(License.record_number).is_(None))
        .where(col(License.status) == LicenseStatus.active)
        # Past its term an active license is about to expire: nothing left to record.
        .where(col(License.expires_on) >= today)
        .where(col(License.recordation_deadline) <= today + timedelta(days=within_days))
    )
    if params.cursor is not None:
        deadline, last_id = _due_position(params.cursor)
        statement = statement.where(
            sa.or_(
                col(License.recordation_deadline) > deadline,
                sa.and_(col(License.recordation_deadline) == deadline, col(License.id) > last_id),
            )
        )
    rows = session.scalars(
        statement.order_by(col(License.recordation_deadline), col(License.id)).limit(
            params.limit + 1
        )
    ).all()
    page = rows[: params.limit]
    items = [to_due(row, organization_id=organization_id, today=today) for row in page]
    if len(rows) <= params.limit:
        return items, None
    last = page[-1]
    return items, encode_cursor({"deadline": last.recordation_deadline.isoformat(), "id": last.id})


def announce_deadlines(*, session: Session, today: date) -> int:
    """Tell both parties, once each, that an unrecorded license in force nears its recordation
    deadline (within ``recordation_reminder_days``) and that the deadline passed (daily sweep).
    Returns how many events were written."""
    reminder_days = get_settings().recordation_reminder_days
    candidates = session.scalars(
        select(License)
        .where(sa.text(RECORDATION_UNANNOUNCED))
        .where(col(License.recordation_deadline) <= today + timedelta(days=reminder_days))
        .order_by(col(License.recordation_deadline), col(License.id))
        .with_for_update()
    ).all()
    told = 0
    for license_ in candidates:
        passed = license_.recordation_deadline < today
        if not passed and license_.recordation_reminded_at is not None:
            continue
        license_event(
            session,
            license_,
            (
                EventType.recordation_deadline_passed
                if passed
                else EventType.recordation_deadline_near
            ),
            recordation_deadline=license_.recordation_deadline.isoformat(),
            days_left=(license_.recordation_deadline - today).days,
        )
        told += 1
        if passed:
            license_.recordation_overdue_notified_at = clock.now()
        else:
            license_.recordation_reminded_at = clock.now()
        session.add(license_)
    session.flush()
    return told
