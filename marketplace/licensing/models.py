from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel, col

from marketplace import clock
from marketplace.audit.spec import Audited
from marketplace.codes import CurrencyCode
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime, enum_type
from marketplace.patents.models import IpcPrefix


class LicenseStatus(StrEnum):
    active = "active"
    terminated = "terminated"
    expired = "expired"
    # A foreign licensee's license of a patent in an export-controlled technology category
    # waits for a platform admin (technology-export review) before it takes effect.
    pending_export_review = "pending_export_review"
    export_refused = "export_refused"


# Statuses that hold an offer for their licensee: at most one at a time per licensee and offer.
HOLDING_STATUSES = (LicenseStatus.active, LicenseStatus.pending_export_review)


class License(SQLModel, table=True):
    """A non-exclusive license under an open-license declaration, with the terms frozen at
    acceptance: later changes to the listing never reach it."""

    __tablename__ = "license"
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"), state="status")
    __table_args__ = (
        # One active (or pending) license per licensee and offer, held by the database under
        # concurrency.
        sa.Index(
            "uq_license_active_licensee_offer",
            "licensee_id",
            "offer_id",
            unique=True,
            postgresql_where=sa.text("status IN ('active', 'pending_export_review')"),
            sqlite_where=sa.text("status IN ('active', 'pending_export_review')"),
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
    export_controls: list[str] | None = Field(
        default=None,
        sa_type=JSONType,
        description="The export-controlled categories (IPC prefixes) that sent it to review.",
    )
    export_decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    export_decided_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    export_decision_note: str | None = Field(default=None, max_length=1000)
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

    def has_party(self, organization_id: int) -> bool:
        """Whether the organization is the licensor or the licensee."""
        return organization_id in (self.licensor_id, self.licensee_id)


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
    export_controls: list[str] | None = Field(
        default=None,
        description="Set when the license went to technology-export review: the controlled "
        "categories (IPC prefixes) its patents fall in. It takes effect on approval.",
    )
    export_decided_at: datetime | None = None
    export_decision_note: str | None = None
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
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    reason: str | None = Field(default=None, max_length=1000)


class LicenseRecordationCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

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
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

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


# Royalty reports, obligations and payments ----------------------------------------------------

Amount = Annotated[Decimal, PydanticField(max_digits=16, decimal_places=2, ge=0)]
PositiveAmount = Annotated[Decimal, PydanticField(max_digits=16, decimal_places=2, gt=0)]


class RoyaltyReport(SQLModel, table=True):
    """A licensee's sales for one reporting period, and the royalty computed from the license's
    frozen terms. Never edited: a correction is a new report that ``corrects`` this one."""

    __tablename__ = "royalty_report"
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"))
    __table_args__ = (
        sa.CheckConstraint("period_start <= period_end", name="period_order"),
        sa.CheckConstraint("net_sales >= 0", name="net_sales_not_negative"),
        sa.CheckConstraint("units IS NULL OR units >= 0", name="units_not_negative"),
        sa.CheckConstraint("royalty_due >= 0", name="royalty_not_negative"),
        sa.Index("ix_royalty_report_license_period", "license_id", "period_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    license_id: int = Field(foreign_key="license.id")
    licensor_id: int = Field(foreign_key="organization.id", index=True)
    licensee_id: int = Field(foreign_key="organization.id", index=True)
    period_start: date
    period_end: date
    license_year: int = Field(ge=0)
    net_sales: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    units: int | None = Field(default=None, sa_type=sa.BigInteger)
    currency: str = Field(min_length=3, max_length=3)
    royalty_due: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    # At most one correction per report: corrections form a chain, the last one counts.
    corrects_id: int | None = Field(default=None, foreign_key="royalty_report.id", unique=True)
    note: str | None = Field(default=None, max_length=1000)
    filed_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    filed_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class ObligationKind(StrEnum):
    upfront = "upfront"
    royalty = "royalty"
    minimum_shortfall = "minimum_shortfall"
    correction = "correction"


class ObligationStatus(StrEnum):
    """Stored: ``due``, ``paid``, ``credit``. ``overdue`` is never stored: it is a ``due``
    obligation past its due date, derived in every query from the clock."""

    due = "due"
    overdue = "overdue"
    paid = "paid"
    credit = "credit"


class MinimumRoyaltyYear(SQLModel, table=True):
    """One license year of a license with a minimum annual royalty: when its reporting deadline
    has passed, the sweep charges the shortfall (and later reports adjust it)."""

    __tablename__ = "minimum_royalty_year"
    __table_args__ = (sa.UniqueConstraint("license_id", "year_index"),)

    id: int | None = Field(default=None, primary_key=True)
    license_id: int = Field(foreign_key="license.id")
    year_index: int = Field(ge=0)
    start_date: date
    end_date: date
    full_end_date: date
    settles_on: date = Field(index=True, description="The day after which the sweep settles it.")
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Obligation(SQLModel, table=True):
    """An amount the licensee owes the licensor under a license, due on a date. Never edited
    except for its settlement: a change in what is owed is a new obligation."""

    __tablename__ = "obligation"
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"), state="status")
    __table_args__ = (
        sa.CheckConstraint(
            "(amount > 0 AND status IN ('due', 'paid')) OR (amount < 0 AND status = 'credit')",
            name="amount_sign",
        ),
        # One upfront fee per license; one royalty per report.
        sa.Index(
            "uq_obligation_upfront",
            "license_id",
            unique=True,
            postgresql_where=sa.text("kind = 'upfront'"),
            sqlite_where=sa.text("kind = 'upfront'"),
        ),
        sa.Index("ix_obligation_licensee_due", "licensee_id", "due_date"),
        sa.Index("ix_obligation_licensor_due", "licensor_id", "due_date"),
        # What the daily sweep has yet to announce as overdue: small, whatever the table's size.
        sa.Index(
            "ix_obligation_unannounced_due",
            "due_date",
            postgresql_where=sa.text("status = 'due' AND overdue_notified_at IS NULL"),
            sqlite_where=sa.text("status = 'due' AND overdue_notified_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    license_id: int = Field(foreign_key="license.id", index=True)
    licensor_id: int = Field(foreign_key="organization.id")
    licensee_id: int = Field(foreign_key="organization.id")
    kind: ObligationKind = Field(sa_type=enum_type(ObligationKind, "obligation_kind"))
    amount: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    currency: str = Field(min_length=3, max_length=3)
    due_date: date
    status: ObligationStatus = Field(
        default=ObligationStatus.due, sa_type=enum_type(ObligationStatus, "obligation_status")
    )
    # One obligation per report: its royalty, or for a correction the difference.
    report_id: int | None = Field(default=None, foreign_key="royalty_report.id", unique=True)
    minimum_year_id: int | None = Field(
        default=None, foreign_key="minimum_royalty_year.id", index=True
    )
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentStatus(StrEnum):
    recorded = "recorded"
    confirmed = "confirmed"
    rejected = "rejected"


class Payment(SQLModel, table=True):
    """A payment the licensee says it made against an obligation; it counts once the licensor
    confirms receipt."""

    __tablename__ = "payment"
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"), state="status")
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    licensor_id: int = Field(foreign_key="organization.id")
    licensee_id: int = Field(foreign_key="organization.id")
    amount: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    currency: str = Field(min_length=3, max_length=3)
    paid_on: date
    reference: str = Field(max_length=200)
    status: PaymentStatus = Field(
        default=PaymentStatus.recorded, sa_type=enum_type(PaymentStatus, "payment_status")
    )
    recorded_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    recorded_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    decided_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Field(default=None, max_length=1000)


class RoyaltyReportCreate(BaseModel):
    """One reporting period's sales, in the license's currency."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "period_start": "2026-06-15",
                    "period_end": "2026-09-14",
                    "net_sales": "1250000.00",
                    "units": 4200,
                    "currency": "CNY",
                }
            ]
        },
    }

    period_start: date
    period_end: date
    net_sales: Amount
    units: int | None = PydanticField(default=None, ge=0, le=10**12)
    currency: CurrencyCode
    corrects: int | None = PydanticField(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The id of the report this one corrects (same period); it supersedes it.",
    )
    note: str | None = PydanticField(default=None, max_length=1000)

    @model_validator(mode="after")
    def _period_in_order(self) -> "RoyaltyReportCreate":
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class RoyaltyReportPublic(BaseModel):
    id: int
    license_id: int
    licensor_id: int
    licensee_id: int
    period_start: date
    period_end: date
    license_year: int = PydanticField(description="0 for the first license year.")
    net_sales: Decimal
    units: int | None
    currency: str
    royalty_due: Decimal = PydanticField(
        description="The period's royalty under the frozen terms, rounded once to the currency's "
        "minor unit, half up."
    )
    corrects: int | None
    superseded_by: int | None
    obligation_id: int | None = PydanticField(
        description="The obligation this report created (for a correction: the difference); "
        "null when nothing changed hands."
    )
    note: str | None
    filed_at: datetime


class OverdueReport(BaseModel):
    license_id: int
    license_number: str | None
    licensee_id: int
    period_start: date
    period_end: date
    report_due_date: date
    days_overdue: int


class ObligationPublic(BaseModel):
    id: int
    license_id: int
    licensor_id: int
    licensee_id: int
    kind: ObligationKind
    amount: Decimal = PydanticField(description="Negative for a credit to the licensee.")
    currency: str
    due_date: date
    status: ObligationStatus
    paid_amount: Decimal = PydanticField(description="Sum of the confirmed payments.")
    outstanding: Decimal = PydanticField(description="What is still to be paid (0 for a credit).")
    report_id: int | None
    license_year: int | None
    created_at: datetime
    paid_at: datetime | None


class CalendarMonth(BaseModel):
    month: str = PydanticField(examples=["2026-09"])
    totals: dict[str, Decimal] = PydanticField(description="Outstanding per currency.")
    obligations: list[ObligationPublic]


class ObligationCalendar(BaseModel):
    start: date
    end: date
    months: list[CalendarMonth]


class PaymentCreate(BaseModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"amount": "43750.00", "paid_on": "2026-10-10", "reference": "TT-88213"}]
        },
    }

    amount: PositiveAmount
    paid_on: date
    reference: str = PydanticField(min_length=1, max_length=200)


class PaymentRejection(BaseModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"reason": "No such transfer received"}]},
    }

    reason: str = PydanticField(min_length=1, max_length=1000)


class PaymentPublic(BaseModel):
    id: int
    obligation_id: int
    licensor_id: int
    licensee_id: int
    amount: Decimal
    currency: str
    paid_on: date
    reference: str
    status: PaymentStatus
    recorded_at: datetime
    decided_at: datetime | None
    rejection_reason: str | None


# Technology-export review ---------------------------------------------------------------------


class ExportControl(SQLModel, table=True):
    """A technology category the platform flags for export review, as an IPC prefix at any
    level: a license of a patent under it to a licensee outside China waits for an admin."""

    __tablename__ = "export_control"

    id: int | None = Field(default=None, primary_key=True)
    ipc_prefix: str = Field(max_length=30, unique=True)
    description: str = Field(max_length=500)
    created_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class ExportControlCreate(SQLModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"ipc_prefix": "H01L 21", "description": "Semiconductor manufacturing"}]
        },
    }

    ipc_prefix: IpcPrefix = Field(
        description="`G`, `G06`, `G06F`, `G06F 16` or `G06F 16/33`; stored normalized."
    )
    description: str = Field(min_length=1, max_length=500)


class ExportControlPublic(SQLModel):
    id: int
    ipc_prefix: str
    description: str
    created_at: datetime


class ExportDecision(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    note: str | None = Field(default=None, max_length=1000, description="Why, for the parties.")


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


class PartyRole(StrEnum):
    """Which side of a license the caller is on (a filter of the lists of licenses and
    obligations)."""

    licensor = "licensor"
    licensee = "licensee"


def party_condition(
    model: Any, organization_id: int, role: PartyRole | None
) -> sa.ColumnElement[bool]:
    """Rows of ``model`` (with ``licensor_id`` and ``licensee_id``) where the organization is
    on the side ``role`` names, or on either side."""
    as_licensor = col(model.licensor_id) == organization_id
    as_licensee = col(model.licensee_id) == organization_id
    if role is PartyRole.licensor:
        return as_licensor
    if role is PartyRole.licensee:
        return as_licensee
    return sa.or_(as_licensor, as_licensee)


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
