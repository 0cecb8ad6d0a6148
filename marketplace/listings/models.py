from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.audit.spec import Audited
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime, enum_type
from marketplace.patents.models import Patent, PatentIssue, PatentSummary

MAX_PATENTS_PER_LISTING = 50
MAX_OFFERS_PER_LISTING = 10
DEFAULT_TERRITORY = "mainland China"

MONEY_QUANTUM = Decimal("0.01")
RATE_QUANTUM = Decimal("0.0001")
PERCENT_QUANTUM = Decimal("0.01")
Money = Annotated[Decimal, PydanticField(max_digits=16, decimal_places=2, ge=0)]
Rate = Annotated[Decimal, PydanticField(max_digits=7, decimal_places=4, gt=0, le=100)]


class ListingStatus(StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"
    lapsed = "lapsed"


class RoyaltyType(StrEnum):
    lump_sum = "lump_sum"
    running = "running"
    per_unit = "per_unit"
    hybrid = "hybrid"
    # A percentage of the licensee's profit from the licensed products (royalty_rate).
    profit_share = "profit_share"


class ListingPatent(SQLModel, table=True):
    __tablename__ = "listing_patent"

    listing_id: int = Field(foreign_key="listing.id", primary_key=True, ondelete="CASCADE")
    patent_id: int = Field(foreign_key="patent.id", primary_key=True, index=True)


MAX_LISTING_TITLE = 300


class ListingFields(SQLModel):
    title: str = Field(min_length=1, max_length=MAX_LISTING_TITLE)
    description: str | None = Field(default=None, max_length=20_000)


class Listing(ListingFields, table=True):
    __tablename__ = "listing"
    __audited__: ClassVar[Audited] = Audited(parties=("owner_id",), state="status")

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="organization.id", index=True)
    status: ListingStatus = Field(
        default=ListingStatus.draft, sa_type=enum_type(ListingStatus, "listing_status"), index=True
    )
    announcement_number: str | None = Field(default=None, unique=True, max_length=32)
    announcement_date: date | None = None
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lapsed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lapse_reason: str | None = Field(default=None, max_length=500)
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    annual_fee_reduction_percent: Decimal | None = Field(default=None, sa_type=ScaledDecimal(5, 2))
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)

    owner: Organization = Relationship(sa_relationship_kwargs={"lazy": "selectin"})
    patents: list[Patent] = Relationship(
        link_model=ListingPatent,
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "Patent.id"},
    )
    offers: list["Offer"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "Offer.id", "cascade": "all"}
    )


class ListingCreate(ListingFields):
    title: str | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        max_length=MAX_LISTING_TITLE,
        description="Defaults to the first patent's title.",
    )
    patent_ids: list[Annotated[int, PydanticField(ge=1, le=2**31 - 1)]] = Field(
        min_length=1,
        max_length=MAX_PATENTS_PER_LISTING,
        description="One patent, or a bundle of patents of the same owner.",
        schema_extra={"examples": [[1]]},
    )


class ListingUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=MAX_LISTING_TITLE)
    description: str | None = Field(default=None, max_length=20_000)


class OfferTerms(SQLModel):
    royalty_type: RoyaltyType = Field(sa_type=enum_type(RoyaltyType, "royalty_type"))
    upfront_fee: Decimal | None = Field(
        default=None,
        description="Lump sum, or the entry fee of a hybrid offer.",
        sa_type=ScaledDecimal(18, 2),
    )
    royalty_rate: Decimal | None = Field(
        default=None,
        description="Percent of net sales (running, hybrid), or of profit (profit_share).",
        sa_type=ScaledDecimal(7, 4),
    )
    per_unit_fee: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    minimum_annual: Decimal | None = Field(
        default=None, description="Minimum royalty per license year.", sa_type=ScaledDecimal(18, 2)
    )
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    term_years: int = Field(
        ge=1, le=20, description="License term; within the patents' remaining term."
    )
    field_of_use: str | None = Field(default=None, max_length=500)
    territory: str = Field(default=DEFAULT_TERRITORY, min_length=1, max_length=200)


class Offer(OfferTerms, table=True):
    __tablename__ = "offer"
    __audited__: ClassVar[Audited] = Audited(parent=(Listing, "listing_id"))
    __table_args__ = (
        sa.CheckConstraint("term_years BETWEEN 1 AND 20", name="term_years"),
        sa.CheckConstraint(
            "royalty_type NOT IN ('lump_sum', 'hybrid') OR upfront_fee IS NOT NULL",
            name="upfront_fee_required",
        ),
        sa.CheckConstraint(
            "royalty_type NOT IN ('running', 'hybrid', 'profit_share') OR royalty_rate IS NOT NULL",
            name="royalty_rate_required",
        ),
        sa.CheckConstraint(
            "royalty_type != 'per_unit' OR per_unit_fee IS NOT NULL", name="per_unit_fee_required"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    listing_id: int = Field(foreign_key="listing.id", index=True)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


_REQUIRED = {
    RoyaltyType.lump_sum: {"upfront_fee"},
    RoyaltyType.running: {"royalty_rate"},
    RoyaltyType.per_unit: {"per_unit_fee"},
    RoyaltyType.hybrid: {"upfront_fee", "royalty_rate"},
    RoyaltyType.profit_share: {"royalty_rate"},
}
_AMOUNT_FIELDS = ("upfront_fee", "royalty_rate", "per_unit_fee", "minimum_annual")


class OfferCreate(BaseModel):
    """Royalty terms; which amounts apply depends on ``royalty_type``."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"royalty_type": "lump_sum", "upfront_fee": "300000.00", "term_years": 5},
                {
                    "royalty_type": "hybrid",
                    "upfront_fee": "50000",
                    "royalty_rate": "3.5",
                    "minimum_annual": "20000",
                    "currency": "CNY",
                    "term_years": 3,
                    "field_of_use": "battery management systems",
                },
            ]
        }
    }

    royalty_type: RoyaltyType
    upfront_fee: Money | None = None
    royalty_rate: Rate | None = None
    per_unit_fee: Money | None = None
    minimum_annual: Money | None = None
    currency: str = PydanticField(default="CNY", pattern=r"^[A-Z]{3}$")
    term_years: int = PydanticField(ge=1, le=20)
    field_of_use: str | None = PydanticField(default=None, max_length=500)
    territory: str = PydanticField(default=DEFAULT_TERRITORY, min_length=1, max_length=200)

    @field_validator("upfront_fee", "per_unit_fee", "minimum_annual")
    @classmethod
    def _money_scale(cls, value: Decimal | None) -> Decimal | None:
        # Fixed scale, so that an amount reads the same before and after it is stored.
        return None if value is None else value.quantize(MONEY_QUANTUM)

    @field_validator("royalty_rate")
    @classmethod
    def _rate_scale(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else value.quantize(RATE_QUANTUM)

    @model_validator(mode="after")
    def _amounts_match_type(self) -> "OfferCreate":
        required = _REQUIRED[self.royalty_type]
        allowed = required | (
            {"minimum_annual"} if self.royalty_type != RoyaltyType.lump_sum else set()
        )
        missing = [name for name in sorted(required) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.royalty_type} offer needs {', '.join(missing)}")
        extra = [n for n in _AMOUNT_FIELDS if n not in allowed and getattr(self, n) is not None]
        if extra:
            raise ValueError(f"a {self.royalty_type} offer does not take {', '.join(extra)}")
        for name in required & {"upfront_fee", "per_unit_fee"}:
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be greater than zero")
        return self


class OfferUpdate(BaseModel):
    """Every field optional; the merged offer must satisfy the same rules as a new one."""

    royalty_type: RoyaltyType | None = None
    upfront_fee: Money | None = None
    royalty_rate: Rate | None = None
    per_unit_fee: Money | None = None
    minimum_annual: Money | None = None
    currency: str | None = PydanticField(default=None, pattern=r"^[A-Z]{3}$")
    term_years: int | None = PydanticField(default=None, ge=1, le=20)
    field_of_use: str | None = PydanticField(default=None, max_length=500)
    territory: str | None = PydanticField(default=None, min_length=1, max_length=200)


class OfferPublic(OfferTerms):
    id: int
    listing_id: int
    created_at: datetime


class OrganizationSummary(SQLModel):
    id: int
    name: str
    kind: OrganizationKind
    country: str
    region: str | None


class ListingWarning(BaseModel):
    code: str
    detail: str
    offer_id: int | None = None


class ListingPublic(ListingFields):
    id: int
    owner_id: int
    owner: OrganizationSummary
    status: ListingStatus
    announcement_number: str | None
    announcement_date: date | None
    published_at: datetime | None
    withdrawn_at: datetime | None
    lapsed_at: datetime | None
    lapse_reason: str | None
    annual_fee_reduction_percent: Decimal | None
    warnings: list[ListingWarning]
    patents: list[PatentSummary]
    offers: list[OfferPublic]
    created_at: datetime
    updated_at: datetime


class PublicationBlocker(PatentIssue):
    offer_id: int | None = None


class Precheck(BaseModel):
    publishable: bool
    blockers: list[PublicationBlocker]
    warnings: list[ListingWarning]


MAX_BULK_DECLARATIONS = 500


class BulkDeclarationCreate(BaseModel):
    """One offer template declared for many patents, each in a listing of its own."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "patent_ids": [8, 9, 10],
                    "offer": {
                        "royalty_type": "hybrid",
                        "upfront_fee": "50000",
                        "royalty_rate": "3.5",
                        "term_years": 3,
                    },
                    "publish": True,
                }
            ]
        }
    }

    patent_ids: list[Annotated[int, PydanticField(ge=1, le=2**31 - 1)]] = PydanticField(
        min_length=1,
        max_length=MAX_BULK_DECLARATIONS,
        description=f"At most {MAX_BULK_DECLARATIONS}; a repeated id is declared once.",
    )
    offer: OfferCreate
    description: str | None = PydanticField(default=None, max_length=20_000)
    publish: bool = PydanticField(
        default=True, description="Publish each listing, or only draft it with its offer."
    )


class BulkDeclarationStatus(StrEnum):
    published = "published"
    drafted = "drafted"
    refused = "refused"
    not_found = "not_found"


class BulkReason(BaseModel):
    code: str = PydanticField(examples=["annual_fee_in_arrears"])
    detail: str


class BulkDeclarationResult(BaseModel):
    patent_id: int
    status: BulkDeclarationStatus
    listing_id: int | None = None
    reasons: list[BulkReason] = PydanticField(
        default_factory=list, description="Why it was refused, with the codes of publishing."
    )
    warnings: list[ListingWarning] = PydanticField(default_factory=list)


class BulkDeclarationOutcome(BaseModel):
    published: int
    drafted: int
    refused: int
    not_found: int
    results: list[BulkDeclarationResult] = PydanticField(description="In request order.")
