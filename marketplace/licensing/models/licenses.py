"""Licenses: the table with the frozen terms, and what the API shows of it."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel, col

from marketplace import clock
from marketplace.audit.spec import Audited
from marketplace.db import JSONType, UTCDateTime, enum_type


class LicenseStatus(StrEnum):
    active = "active"
    terminated = "terminated"
    expired = "expired"
    # A foreign licensee's license of a patent in an export-controlled technology category
    # waits for a platform admin (technology-export review) before it takes effect.
    pending_export_review = "pending_export_review"
    export_refused = "export_refused"
    # Noticed, but the method asks for money up front (a lump sum, a hybrid's entry fee): the
    # license arises only once the licensor confirms that payment (Patent Law art. 51) ...
    pending_payment = "pending_payment"
    # ... and ends as this, never in force, when the payment does not come in time.
    lapsed_unpaid = "lapsed_unpaid"


# Statuses that hold an offer for their licensee: at most one at a time per licensee and offer.
HOLDING_STATUSES = (
    LicenseStatus.active,
    LicenseStatus.pending_export_review,
    LicenseStatus.pending_payment,
)
HOLDING_CONDITION = "status IN ('active', 'pending_export_review', 'pending_payment')"
# Statuses of a license that took effect (and may have ended since): what counts as licensed.
TOOK_EFFECT_STATUSES = (LicenseStatus.active, LicenseStatus.terminated, LicenseStatus.expired)
# The unrecorded licenses in force whose recordation deadline the sweep has yet to announce.
RECORDATION_UNANNOUNCED = (
    "record_number IS NULL AND status = 'active' AND recordation_overdue_notified_at IS NULL"
)


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
            postgresql_where=sa.text(HOLDING_CONDITION),
            sqlite_where=sa.text(HOLDING_CONDITION),
        ),
        # What the daily sweep has yet to say about recordation deadlines: small, whatever the
        # table's size.
        sa.Index(
            "ix_license_recordation_unannounced",
            "recordation_deadline",
            postgresql_where=sa.text(RECORDATION_UNANNOUNCED),
            sqlite_where=sa.text(RECORDATION_UNANNOUNCED),
        ),
        # Licenses waiting for their upfront payment, by the day they lapse without it.
        sa.Index(
            "ix_license_pending_payment",
            "payment_due_date",
            postgresql_where=sa.text("status = 'pending_payment'"),
            sqlite_where=sa.text("status = 'pending_payment'"),
        ),
        sa.CheckConstraint(
            "status != 'pending_payment' OR payment_due_date IS NOT NULL",
            name="pending_payment_has_due_date",
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
    payment_due_date: date | None = Field(
        default=None,
        description="Set when the method asks for money up front: the license arises when the "
        "licensor confirms that payment, and lapses unpaid after this day.",
    )
    recordation_reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recordation_overdue_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
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
    payment_due_date: date | None = Field(
        default=None,
        description="For a `pending_payment` license: the upfront fee must be paid (and the "
        "payment confirmed by the licensor) by this day, or the license lapses unpaid. The "
        "effective date, term and recordation deadline count from the day of confirmation.",
    )
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
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "The product line using the patent was discontinued."}]
        },
    )

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
