"""Obligations (what a licensee owes, and when) and the payments that settle them."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.audit.spec import Audited
from marketplace.db import ScaledDecimal, UTCDateTime, enum_type

PositiveAmount = Annotated[Decimal, PydanticField(max_digits=16, decimal_places=2, gt=0)]


class ObligationKind(StrEnum):
    upfront = "upfront"
    royalty = "royalty"
    minimum_shortfall = "minimum_shortfall"
    correction = "correction"


class ObligationStatus(StrEnum):
    """Stored: ``due``, ``paid``, ``credit``, ``void``. ``overdue`` is never stored: it is a ``due``
    obligation past its due date, derived in every query from the clock."""

    due = "due"
    overdue = "overdue"
    paid = "paid"
    credit = "credit"
    # The upfront fee of a license that lapsed unpaid: the license never arose, nothing is owed.
    void = "void"


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
            "(amount > 0 AND status IN ('due', 'paid', 'void'))"
            " OR (amount < 0 AND status = 'credit')",
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
