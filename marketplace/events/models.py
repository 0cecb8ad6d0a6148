from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import JSONType, UTCDateTime


class EventType(StrEnum):
    """Each is described, with its payload, in ``marketplace.events.catalogue``."""

    pledge_registered = "pledge.registered"
    pledge_changed = "pledge.changed"
    pledge_cancelled = "pledge.cancelled"
    # Civil Code art. 444 on a declaration already in force: to the licensor and the pledgee.
    pledge_recorded_on_declared_patent = "pledge.recorded_on_declared_patent"
    # To the licensor: its declaration's offers cannot be accepted, then can again.
    declaration_suspended = "declaration.suspended_by_pledge"
    declaration_resumed = "declaration.resumed"
    pledged_patent_status_changed = "pledged_patent.legal_status_changed"
    pledged_patent_fee_changed = "pledged_patent.fee_status_changed"
    pledged_patent_listed = "pledged_patent.open_license_published"
    pledged_patent_licensed = "pledged_patent.licensed"
    royalty_report_filed = "royalty_report.filed"
    obligation_overdue = "obligation.overdue"
    payment_recorded = "payment.recorded"
    payment_confirmed = "payment.confirmed"
    payment_rejected = "payment.rejected"
    license_accepted = "license.accepted"
    license_in_force = "license.in_force"
    license_lapsed_unpaid = "license.lapsed_unpaid"
    license_terminated = "license.terminated"
    license_expired = "license.expired"
    recordation_deadline_near = "license.recordation_deadline_near"
    recordation_deadline_passed = "license.recordation_deadline_passed"
    license_export_review = "license.export_review_pending"
    license_export_approved = "license.export_approved"
    license_export_refused = "license.export_refused"
    dispute_opened = "dispute.opened"
    dispute_mediation_started = "dispute.mediation_started"
    dispute_resolved = "dispute.resolved"
    dispute_withdrawn = "dispute.withdrawn"
    dispute_statement_added = "dispute.statement_added"
    saved_search_matched = "saved_search.matched"
    declaration_published = "declaration.published"
    declaration_withdrawal_requested = "declaration.withdrawal_requested"
    declaration_withdrawal_cancelled = "declaration.withdrawal_cancelled"
    declaration_withdrawn = "declaration.withdrawn"
    declaration_lapsed = "declaration.lapsed"


class Event(SQLModel, table=True):
    """Something an organization is told about, written in the transaction of the change itself
    (an outbox), so that an event exists exactly when its change does."""

    __tablename__ = "event"
    __table_args__ = (sa.Index("ix_event_feed", "recipient_id", "transaction_id", "id"),)

    # BIGINT for a feed that grows without bound; on SQLite only INTEGER is the autoincrementing
    # rowid (and is 64-bit there anyway).
    id: int | None = Field(
        default=None,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
    )
    recipient_id: int = Field(foreign_key="organization.id")
    type: str = Field(max_length=64)
    subject: str = Field(max_length=64, description="What it is about, e.g. `pledge:12`.")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # The writing transaction on PostgreSQL (0 on SQLite): the feed is ordered by it so that a
    # reader never passes an event whose transaction has not committed yet.
    transaction_id: int = Field(default=0, sa_type=sa.BigInteger)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class EventPublic(BaseModel):
    id: int
    type: str = PydanticField(examples=["pledge.registered"])
    subject: str = PydanticField(examples=["pledge:12"])
    payload: dict[str, Any]
    created_at: datetime


class EventFeed(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None = PydanticField(
        description="Pass as `cursor` to continue; present even on the last page, so that a "
        "poller resumes exactly where it stopped."
    )
    limit: int
