from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from marketplace.listings.models import RoyaltyType


class StatsGroup(StrEnum):
    year = "year"
    region = "region"
    ipc_section = "ipc_section"
    department = "department"


class StatsFormat(StrEnum):
    json = "json"
    csv = "csv"


class ConversionFigures(BaseModel):
    patents: int = Field(description="Patents in the group (for `year`: filed that year).")
    licensed_patents: int = Field(
        description="Of those patents, how many hold a license that took effect in the period."
    )
    licensed_patent_ratio: float | None = Field(
        description="`licensed_patents / patents`, rounded to 4 places; null without patents."
    )
    listings_published: int
    listings_withdrawn: int
    licenses: int = Field(description="Licenses that took effect in the period.")
    licenses_by_royalty_type: dict[RoyaltyType, int]
    royalty_income: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Confirmed payments received in the period, per currency.",
    )
    outstanding: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Owed and not yet paid (due or overdue), per currency; for `year` by the "
        "year it falls due. With `from`/`to`: what falls due in the period.",
    )


class ConversionRow(ConversionFigures):
    group: str | None = Field(
        description="The year, region, IPC section or department; null where it is not recorded."
    )


class ConversionStats(BaseModel):
    group_by: StatsGroup
    owner_id: int | None = Field(description="The licensor the figures cover; null: the platform.")
    period_start: date | None
    period_end: date | None
    rows: list[ConversionRow]
    totals: ConversionFigures = Field(
        description="Over the whole scope. A bundle listing whose patents fall in two groups "
        "counts in both rows but once here, so rows can add up to more than the totals."
    )
