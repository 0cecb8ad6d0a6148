from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.audit.spec import Audited
from marketplace.codes import CurrencyCode
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


class AnnouncementSource(StrEnum):
    """Who gave an announcement number: the patent office (entered by the patentee or an admin),
    or, for declarations published before the platform stopped doing so, the platform itself."""

    office = "office"
    platform_assigned = "platform_assigned"


class FeeReductionBasis(StrEnum):
    """Why a covered patent's annual fee is reduced while the declaration is in force."""

    open_license = "open_license"
    patent_fee_reduction = "patent_fee_reduction"


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
MAX_LISTING_DESCRIPTION = 20_000
MAX_WITHDRAWAL_REASON = 2000


class ListingFields(SQLModel):
    title: str = Field(min_length=1, max_length=MAX_LISTING_TITLE)
    description: str | None = Field(default=None, max_length=MAX_LISTING_DESCRIPTION)


class Listing(ListingFields, table=True):
    __tablename__ = "listing"
    __audited__: ClassVar[Audited] = Audited(parties=("owner_id",), state="status")
    __table_args__ = (
        # An announced declaration carries the office's number, and says where it came from.
        sa.CheckConstraint(
            "(announcement_number IS NULL) = (announcement_source IS NULL)",
            name="announcement_source_given",
        ),
        sa.CheckConstraint(
            "status = 'draft' OR announcement_number IS NOT NULL", name="announced_when_declared"
        ),
        sa.CheckConstraint(
            "withdrawal_announcement_number IS NULL OR withdrawal_requested_at IS NOT NULL",
            name="withdrawal_announced_after_request",
        ),
        # A unique index rather than a constraint: SQLite adds one to a table in place.
        sa.Index(
            "ix_listing_withdrawal_announcement_number",
            "withdrawal_announcement_number",
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="organization.id", index=True)
    status: ListingStatus = Field(
        default=ListingStatus.draft, sa_type=enum_type(ListingStatus, "listing_status"), index=True
    )
    announcement_number: str | None = Field(default=None, unique=True, max_length=32)
    announcement_date: date | None = None
    announcement_source: AnnouncementSource | None = Field(
        default=None, sa_type=enum_type(AnnouncementSource, "announcement_source")
    )
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawal_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawal_reason: str | None = Field(default=None, max_length=MAX_WITHDRAWAL_REASON)
    withdrawal_consents: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    withdrawal_announcement_number: str | None = Field(default=None, max_length=32)
    withdrawal_announcement_date: date | None = None
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lapsed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lapse_reason: str | None = Field(default=None, max_length=500)
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    annual_fee_reduction_percent: Decimal | None = Field(default=None, sa_type=ScaledDecimal(5, 2))
    fee_reductions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
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
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patent_ids": [1],
                    "title": "Lithium battery thermal management",
                    "description": "Cooling-plate design for EV battery packs; pilot line "
                    "data available.",
                }
            ]
        },
    )

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
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "Cooling-plate design for EV battery packs; pilot line "
                    "data and drawings available."
                }
            ]
        },
    )

    title: str | None = Field(default=None, min_length=1, max_length=MAX_LISTING_TITLE)
    description: str | None = Field(default=None, max_length=MAX_LISTING_DESCRIPTION)


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
        "extra": "forbid",
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
        },
    }

    royalty_type: RoyaltyType
    upfront_fee: Money | None = None
    royalty_rate: Rate | None = None
    per_unit_fee: Money | None = None
    minimum_annual: Money | None = None
    currency: CurrencyCode = "CNY"
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

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"royalty_rate": "3.5", "term_years": 5}]}
    )

    royalty_type: RoyaltyType | None = None
    upfront_fee: Money | None = None
    royalty_rate: Rate | None = None
    per_unit_fee: Money | None = None
    minimum_annual: Money | None = None
    currency: CurrencyCode | None = None
    term_years: int | None = PydanticField(default=None, ge=1, le=20)
    field_of_use: str | None = PydanticField(default=None, max_length=500)
    territory: str | None = PydanticField(default=None, min_length=1, max_length=200)


# The response models below are plain pydantic classes, not SQLModel ones: pydantic-core builds
# them without calling Python, while a SQLModel class has its ``__init__`` called for every
# instance, nested ones included (a page of listings has about a hundred). Their fields are
# those of the table models' bases, as ``tests/listings/test_public_models.py`` checks.


class OfferPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    royalty_type: RoyaltyType
    upfront_fee: Decimal | None = PydanticField(
        default=None, description="Lump sum, or the entry fee of a hybrid offer."
    )
    royalty_rate: Decimal | None = PydanticField(
        default=None,
        description="Percent of net sales (running, hybrid), or of profit (profit_share).",
    )
    per_unit_fee: Decimal | None = None
    minimum_annual: Decimal | None = PydanticField(
        default=None, description="Minimum royalty per license year."
    )
    currency: str = PydanticField(default="CNY", min_length=3, max_length=3)
    term_years: int = PydanticField(
        ge=1, le=20, description="License term; within the patents' remaining term."
    )
    field_of_use: str | None = PydanticField(default=None, max_length=500)
    territory: str = PydanticField(default=DEFAULT_TERRITORY, min_length=1, max_length=200)
    id: int
    listing_id: int
    created_at: datetime


class OrganizationSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: OrganizationKind
    country: str
    region: str | None


class ListingWarning(BaseModel):
    code: str
    detail: str
    offer_id: int | None = None


class CoOwnerConsent(BaseModel):
    """A co-owner's written consent, named as in the patent's co-owners."""

    model_config = {"extra": "forbid"}

    name: str = PydanticField(min_length=1, max_length=200, examples=["Provincial Research Fund"])
    consented_on: date = PydanticField(description="Date of the co-owner's written consent.")
    document_ref: str | None = PydanticField(
        default=None, max_length=200, description="Reference of the signed consent."
    )


class FeeReduction(BaseModel):
    """The annual-fee reduction of one covered patent while the declaration is in force: the
    most favourable applicable one, never two combined."""

    patent_id: int
    application_number: str
    percent: Decimal = PydanticField(examples=["15.00"])
    basis: FeeReductionBasis
    reason: str = PydanticField(
        examples=["open-license reduction of 15.00% (the patent has no reduction of its own)"]
    )


class ListingSuspension(BaseModel):
    """Civil Code art. 444 on a declaration in force: a pledge registered on a covered patent
    without its pledgee's consent to the declaration suspends acceptance of its offers."""

    code: str = PydanticField(
        default="declaration_suspended_by_pledge",
        description="The error code an acceptance gets meanwhile (409).",
    )
    pledge_ids: list[int] = PydanticField(description="The pledges without consent.")
    application_numbers: list[str] = PydanticField(description="The patents they cover.")
    since: date | None = PydanticField(
        description="The office's registration date of the earliest of those pledges."
    )


class ListingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    title: str = PydanticField(min_length=1, max_length=MAX_LISTING_TITLE)
    description: str | None = PydanticField(default=None, max_length=MAX_LISTING_DESCRIPTION)
    id: int
    owner_id: int
    owner: OrganizationSummary
    status: ListingStatus
    announcement_number: str | None = PydanticField(
        description="The office's announcement number, as entered by the patentee."
    )
    announcement_date: date | None
    announcement_source: AnnouncementSource | None = PydanticField(
        description="`office`, or `platform_assigned` for a number the platform minted before "
        "it stopped doing so (not an office number)."
    )
    published_at: datetime | None
    withdrawal_requested_at: datetime | None = PydanticField(
        description="Set while a withdrawal awaits the office's announcement: until then the "
        "declaration stands and its offers can be accepted."
    )
    withdrawal_reason: str | None
    withdrawal_consents: list[CoOwnerConsent]
    withdrawal_announcement_number: str | None
    withdrawal_announcement_date: date | None
    withdrawn_at: datetime | None
    lapsed_at: datetime | None
    lapse_reason: str | None
    annual_fee_reduction_percent: Decimal | None = PydanticField(
        description="The open-license annual-fee reduction, when it is the one that applies to "
        "some covered patent (a better reduction of the patent's own does not combine with it); "
        "see `fee_reductions` for each patent."
    )
    fee_reductions: list[FeeReduction]
    warnings: list[ListingWarning]
    patents: list[PatentSummary]
    offers: list[OfferPublic]
    created_at: datetime
    updated_at: datetime
    suspension: ListingSuspension | None = PydanticField(
        default=None,
        description="Set while acceptance of the offers is suspended by a pledge without the "
        "pledgee's consent (Civil Code art. 444), until the pledgee consents or the pledge "
        "ends; null otherwise.",
        examples=[
            None,
            {
                "code": "declaration_suspended_by_pledge",
                "pledge_ids": [12],
                "application_numbers": ["202020123456.X"],
                "since": "2026-08-03",
            },
        ],
    )


MAX_ANNOUNCEMENT_NUMBER_INPUT = 64


class DeclarationAnnouncement(BaseModel):
    """The office's announcement of the declaration, as the patentee received it."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"announcement_number": "KF2026000123", "announcement_date": "2026-06-12"}]
        },
    }

    announcement_number: str = PydanticField(
        min_length=1,
        max_length=MAX_ANNOUNCEMENT_NUMBER_INPUT,
        description="As announced by the office; spaces are removed and letters upper-cased, "
        "then it must match the configured pattern. Unique among declarations.",
    )
    announcement_date: date = PydanticField(
        description="Not in the future (China Standard Time), not before open licensing took "
        "effect (2021-06-01) and not before any covered patent was granted."
    )


class WithdrawalRequest(BaseModel):
    """The patentee's written withdrawal: a reason, and every co-owner's written consent."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "reason": "The patent is to be licensed exclusively to a strategic partner.",
                    "co_owner_consents": [
                        {
                            "name": "Provincial Research Fund",
                            "consented_on": "2026-06-10",
                            "document_ref": "PRF-2026-044",
                        }
                    ],
                }
            ]
        },
    }

    reason: str = PydanticField(min_length=1, max_length=MAX_WITHDRAWAL_REASON)
    co_owner_consents: list[CoOwnerConsent] = PydanticField(
        default_factory=list,
        max_length=100,
        description="Every co-owner of every covered patent, by name, each once.",
    )

    @field_validator("reason")
    @classmethod
    def _reason_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a withdrawal needs a reason")
        return value.strip()


class WithdrawalAnnouncement(BaseModel):
    """The office's announcement of the withdrawal, on which it takes effect."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"announcement_number": "KFCX2026000045", "announcement_date": "2026-07-01"}
            ]
        },
    }

    announcement_number: str = PydanticField(
        min_length=1,
        max_length=MAX_ANNOUNCEMENT_NUMBER_INPUT,
        description="Normalized and validated as the declaration's; unique.",
    )
    announcement_date: date = PydanticField(
        description="Not in the future and not before the withdrawal was requested."
    )


class PublicationBlocker(PatentIssue):
    offer_id: int | None = None


class Precheck(BaseModel):
    publishable: bool
    blockers: list[PublicationBlocker]
    warnings: list[ListingWarning]
