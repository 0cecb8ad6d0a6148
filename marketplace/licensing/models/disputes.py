"""Disputes about a license, their statements and resolution."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import ConfigDict, field_validator
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import UTCDateTime, enum_type

DISPUTE_TEXT_MAX_CHARS = 10_000


class DisputeReason(StrEnum):
    royalty_payment = "royalty_payment"
    royalty_report = "royalty_report"
    scope_of_use = "scope_of_use"
    patent_validity = "patent_validity"
    terms_interpretation = "terms_interpretation"
    other = "other"


class DisputeStatus(StrEnum):
    open = "open"
    mediation = "mediation"
    resolved = "resolved"
    withdrawn = "withdrawn"


ACTIVE_DISPUTE_STATUSES = (DisputeStatus.open, DisputeStatus.mediation)


class DisputeOutcome(StrEnum):
    settled = "settled"
    upheld = "upheld"
    rejected = "rejected"
    referred_to_court = "referred_to_court"


class DisputeAuthorRole(StrEnum):
    licensor = "licensor"
    licensee = "licensee"
    mediator = "mediator"


class LicenseDispute(SQLModel, table=True):
    """A dispute one party of a license opened; platform admins mediate it.

    open -> mediation -> resolved | withdrawn; open -> resolved (settled before mediation)."""

    __tablename__ = "license_dispute"
    __table_args__ = (
        # At most one open or mediated dispute per license, held by the database under races.
        sa.Index(
            "uq_license_dispute_active_license",
            "license_id",
            unique=True,
            postgresql_where=sa.text("status IN ('open', 'mediation')"),
            sqlite_where=sa.text("status IN ('open', 'mediation')"),
        ),
        # Each state carries exactly the facts it implies.
        sa.CheckConstraint(
            "(status = 'open' AND mediator_user_id IS NULL AND mediation_started_at IS NULL"
            " AND closed_at IS NULL AND resolution_outcome IS NULL)"
            " OR (status = 'mediation' AND mediator_user_id IS NOT NULL"
            " AND mediation_started_at IS NOT NULL AND closed_at IS NULL"
            " AND resolution_outcome IS NULL)"
            " OR (status = 'resolved' AND closed_at IS NOT NULL AND resolution_outcome IS NOT NULL"
            " AND resolution_text IS NOT NULL)"
            " OR (status = 'withdrawn' AND closed_at IS NOT NULL AND resolution_outcome IS NULL)",
            name="state_consistent",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    license_id: int = Field(foreign_key="license.id", index=True)
    opened_by_org_id: int = Field(foreign_key="organization.id", index=True)
    opened_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    reason: DisputeReason = Field(sa_type=enum_type(DisputeReason, "dispute_reason"))
    statement: str = Field(max_length=DISPUTE_TEXT_MAX_CHARS)
    status: DisputeStatus = Field(
        default=DisputeStatus.open, sa_type=enum_type(DisputeStatus, "dispute_status")
    )
    mediator_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    resolution_outcome: DisputeOutcome | None = Field(
        default=None, sa_type=enum_type(DisputeOutcome, "dispute_outcome")
    )
    resolution_text: str | None = Field(default=None, max_length=DISPUTE_TEXT_MAX_CHARS)
    closed_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    opened_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    mediation_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class DisputeStatement(SQLModel, table=True):
    """One statement in a dispute's thread, by a party or the mediator."""

    __tablename__ = "dispute_statement"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="license_dispute.id", index=True)
    author_org_id: int = Field(foreign_key="organization.id")
    author_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    author_role: DisputeAuthorRole = Field(
        sa_type=enum_type(DisputeAuthorRole, "dispute_author_role")
    )
    text: str = Field(max_length=DISPUTE_TEXT_MAX_CHARS)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class DisputeCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    reason: DisputeReason = Field(schema_extra={"examples": ["royalty_payment"]})
    statement: str = Field(
        min_length=1,
        max_length=DISPUTE_TEXT_MAX_CHARS,
        description="What the dispute is about, as the opening party sees it.",
        schema_extra={"examples": ["The Q1 2026 running royalty (CNY 41,200) is 60 days overdue."]},
    )

    @field_validator("statement")
    @classmethod
    def _statement_not_blank(cls, value: str) -> str:
        return _not_blank(value)


class DisputeResolution(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    outcome: DisputeOutcome = Field(
        description="`settled` (the parties agreed), `upheld` (the claim stands), `rejected`, "
        "or `referred_to_court`.",
        schema_extra={"examples": ["settled"]},
    )
    text: str = Field(
        min_length=1,
        max_length=DISPUTE_TEXT_MAX_CHARS,
        description="The terms of the settlement or the mediator's conclusion.",
        schema_extra={"examples": ["The licensee pays the overdue royalty by 2026-07-31."]},
    )

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        return _not_blank(value)


class DisputeStatementCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    text: str = Field(
        min_length=1,
        max_length=DISPUTE_TEXT_MAX_CHARS,
        schema_extra={"examples": ["Payment was made on 2026-06-01; the bank slip is attached."]},
    )

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        return _not_blank(value)


class DisputePublic(SQLModel):
    id: int
    license_id: int
    opened_by_org_id: int
    opened_by_user_id: int | None
    reason: DisputeReason
    statement: str
    status: DisputeStatus
    mediator_user_id: int | None = Field(
        description="The platform admin mediating; null if resolved without mediation."
    )
    resolution_outcome: DisputeOutcome | None
    resolution_text: str | None
    closed_by_user_id: int | None
    opened_at: datetime
    mediation_started_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class DisputeStatementPublic(SQLModel):
    id: int
    dispute_id: int
    author_org_id: int
    author_user_id: int | None
    author_role: DisputeAuthorRole
    text: str
    created_at: datetime
