from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.db import JSONType, UTCDateTime, enum_type
from marketplace.pledges.models import LicensePledge


class LicenseStatus(StrEnum):
    active = "active"
    terminated = "terminated"
    expired = "expired"


class License(SQLModel, table=True):
    """A non-exclusive license under an open-license declaration, with the terms frozen at
    acceptance: later changes to the listing never reach it."""

    __tablename__ = "license"
    __table_args__ = (
        # One active license per licensee and offer, held by the database under concurrency.
        sa.Index(
            "uq_license_active_licensee_offer",
            "licensee_id",
            "offer_id",
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        ),
        sa.CheckConstraint("licensor_id != licensee_id", name="not_self"),
        sa.CheckConstraint("exclusivity = 'non_exclusive'", name="non_exclusive"),
        # Recordation with the office is one fact: its number, date, who marked it and when.
        sa.CheckConstraint(
            "(record_number IS NULL AND record_date IS NULL AND recorded_by_org_id IS NULL"
            " AND recorded_at IS NULL) OR (record_number IS NOT NULL AND record_date IS NOT NULL"
            " AND recorded_by_org_id IS NOT NULL AND recorded_at IS NOT NULL)",
            name="recordation_complete",
        ),
        sa.CheckConstraint("record_date >= effective_date", name="recorded_after_effective"),
        # "Which of my licenses still need recording, soonest deadline first", as either party.
        *(
            sa.Index(
                f"ix_license_recordation_due_{party}",
                f"{party}_id",
                "recordation_deadline",
                "id",
                postgresql_where=sa.text("record_number IS NULL AND status = 'active'"),
                sqlite_where=sa.text("record_number IS NULL AND status = 'active'"),
            )
            for party in ("licensor", "licensee")
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    license_number: str | None = Field(default=None, unique=True, max_length=32)
    offer_id: int = Field(foreign_key="offer.id", index=True)
    listing_id: int = Field(foreign_key="listing.id", index=True)
    licensor_id: int = Field(foreign_key="organization.id", index=True)
    licensee_id: int = Field(foreign_key="organization.id", index=True)
    accepted_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    status: LicenseStatus = Field(
        default=LicenseStatus.active, sa_type=enum_type(LicenseStatus, "license_status")
    )
    exclusivity: str = Field(default="non_exclusive", max_length=20)
    sublicensing_allowed: bool = False
    terms: dict[str, Any] = Field(sa_type=JSONType)
    terms_sha256: str = Field(max_length=64)
    effective_date: date
    expires_on: date
    recordation_deadline: date
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    terminated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    termination_reason: str | None = Field(default=None, max_length=1000)
    record_number: str | None = Field(default=None, unique=True, max_length=32)
    record_date: date | None = None
    recorded_by_org_id: int | None = Field(default=None, foreign_key="organization.id")
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The dispute now open or in mediation, if any: the license "shows disputed" through it,
    # while its status (active / terminated / expired) stays what the other rules rely on.
    # use_alter: license and license_dispute refer to each other.
    open_dispute_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("license_dispute.id", use_alter=True, ondelete="SET NULL"),
            nullable=True,
        ),
    )

    pledge_links: list[LicensePledge] = Relationship(sa_relationship_kwargs={"lazy": "selectin"})


class IdempotencyRecord(SQLModel, table=True):
    """A claimed ``Idempotency-Key``: written in the same transaction as the license it produced."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("organization_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id")
    key: str = Field(max_length=255)
    request_fingerprint: str = Field(max_length=64)
    license_id: int | None = Field(default=None, foreign_key="license.id")
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class LicensePublic(SQLModel):
    id: int
    license_number: str
    status: LicenseStatus
    offer_id: int
    listing_id: int
    licensor_id: int
    licensee_id: int
    exclusivity: str
    sublicensing_allowed: bool
    terms: dict[str, Any]
    terms_sha256: str
    effective_date: date
    expires_on: date
    recordation_deadline: date
    created_at: datetime
    terminated_at: datetime | None
    termination_reason: str | None
    record_number: str | None = Field(
        default=None, description="The office's recordation number, once either party marked it."
    )
    record_date: date | None = None
    recorded_by_org_id: int | None = None
    recorded_at: datetime | None = None
    pledge_ids: list[int] = Field(
        description="Pledges on the licensed patents when the license was granted (their "
        "pledgees are entitled to its royalty income, Civil Code art. 444)."
    )
    disputed: bool = Field(
        default=False,
        description="A dispute about the license is open or in mediation (`open_dispute_id`). "
        "The status is unaffected: a disputed license stays active until it ends.",
    )
    open_dispute_id: int | None = None


class LicenseTermination(SQLModel):
    reason: str | None = Field(default=None, max_length=1000)


class LicenseRecordationCreate(SQLModel):
    record_number: str = Field(
        min_length=1,
        max_length=64,
        description="The number the office gave the recordation; spaces are removed and letters "
        "upper-cased before it is checked.",
        schema_extra={"examples": ["2026330000123"]},
    )
    record_date: date = Field(
        description="The day the office recorded the license: not in the future, not before the "
        "license took effect, not after it ended.",
        schema_extra={"examples": ["2026-07-20"]},
    )


class RecordationDue(SQLModel):
    """An active license not yet recorded, with how long is left to record it."""

    license_id: int
    license_number: str
    role: str = Field(description="The caller's side: `licensor` or `licensee`.")
    licensor_id: int
    licensee_id: int
    effective_date: date
    recordation_deadline: date
    days_left: int = Field(description="Days until the deadline; negative when overdue.")
    overdue: bool


# License certificates ---------------------------------------------------------------------------


class CertificateParty(SQLModel):
    id: int
    name: str
    country: str | None = None
    credit_code: str | None = Field(
        default=None, description="Unified social credit code (Chinese organizations)."
    )


class CertificatePatent(SQLModel):
    application_number: str
    title: str


class CertificateRecordation(SQLModel):
    record_number: str
    record_date: date


class CertificateClaims(SQLModel):
    """What a certificate states. It is true as of ``iat``: a verifier that needs today's status
    asks ``POST /api/v1/certificates/verify`` or fetches a fresh certificate."""

    iss: str
    iat: int = Field(description="Issued at (seconds since the epoch, UTC).")
    jti: str = Field(description="The certificate's own id.")
    license_id: int
    license_number: str
    licensor: CertificateParty
    licensee: CertificateParty
    patents: list[CertificatePatent]
    terms_sha256: str = Field(
        description="SHA-256 of the frozen terms (canonical JSON: sorted keys, no whitespace)."
    )
    effective_date: date
    expires_on: date
    status: LicenseStatus = Field(
        description="The license's status when the certificate was issued."
    )
    recordation: CertificateRecordation | None = None


class LicenseCertificate(SQLModel):
    jws: str = Field(
        description="Compact JWS (ES256; `kid` and `typ: license-certificate+jwt` in the header) "
        "over the claims, verifiable with the keys at `/.well-known/jwks.json`."
    )
    claims: CertificateClaims


CERTIFICATE_MAX_CHARS = 262_144


class CertificateVerification(SQLModel):
    jws: str = Field(
        min_length=1,
        # The largest certificate (50 patents with 500-character Chinese titles) is ~110 kB.
        max_length=CERTIFICATE_MAX_CHARS,
        description="A certificate's compact JWS, as `GET /api/v1/licenses/{id}/certificate` "
        "returned it.",
        schema_extra={"examples": ["eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9.eyJ...fQ.MEUCIQ..."]},
    )


class CertificateVerdict(SQLModel):
    valid: bool = Field(description="The signature holds under a key this service published.")
    reason: str | None = Field(
        default=None,
        description="Why not valid: `malformed`, `unsupported_algorithm`, `wrong_type`, "
        "`unknown_key`, `bad_signature`.",
    )
    kid: str | None = None
    claims: dict[str, Any] | None = None
    license_status_now: LicenseStatus | None = Field(
        default=None, description="The license's status today (null if it no longer exists)."
    )
    status_changed: bool | None = Field(
        default=None,
        description="True when the status today differs from the one certified: a stale "
        "certificate, e.g. an `active` one of a license since terminated.",
    )


# Disputes -----------------------------------------------------------------------------------------

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
