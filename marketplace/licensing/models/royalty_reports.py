"""Royalty reports: a licensee's sales for a period and the royalty computed from them."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.audit.spec import Audited
from marketplace.codes import CurrencyCode
from marketplace.db import ScaledDecimal, UTCDateTime

Amount = Annotated[Decimal, PydanticField(max_digits=16, decimal_places=2, ge=0)]


class RoyaltyReport(SQLModel, table=True):
    """A licensee's sales for one reporting period, and the royalty computed from the license's
    frozen terms. Never edited: a correction is a new report that ``corrects`` this one."""

    __tablename__ = "royalty_report"
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"))
    __table_args__ = (
        sa.CheckConstraint("period_start <= period_end", name="period_order"),
        sa.CheckConstraint("net_sales >= 0", name="net_sales_not_negative"),
        sa.CheckConstraint("units IS NULL OR units >= 0", name="units_not_negative"),
        sa.CheckConstraint("profit IS NULL OR profit >= 0", name="profit_not_negative"),
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
    profit: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    currency: str = Field(min_length=3, max_length=3)
    royalty_due: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    # At most one correction per report: corrections form a chain, the last one counts.
    corrects_id: int | None = Field(default=None, foreign_key="royalty_report.id", unique=True)
    note: str | None = Field(default=None, max_length=1000)
    filed_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    filed_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


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
    profit: Amount | None = PydanticField(
        default=None,
        description="The period's profit from the licensed products; required by a "
        "profit-share license (report 0 for a loss).",
    )
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
    profit: Decimal | None = None
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
