from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.accounts.models import Organization
from marketplace.audit.spec import Audited
from marketplace.codes import CurrencyCode
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime, enum_type
from marketplace.patents.models import ApplicationNumber, Patent

MAX_PATENTS_PER_PLEDGE = 100
MONEY_QUANTUM = Decimal("0.01")
# Fixed scale on input, so that an amount reads the same before and after it is stored.
Money = Annotated[
    Decimal,
    PydanticField(max_digits=16, decimal_places=2, gt=0),
    AfterValidator(lambda value: value.quantize(MONEY_QUANTUM)),
]


class PledgeStatus(StrEnum):
    applied = "applied"
    registered = "registered"
    refused = "refused"
    changed = "changed"
    cancelled = "cancelled"


# A pledge binds its patents while registered, including after amendments.
ACTIVE_PLEDGE_STATUSES = frozenset({PledgeStatus.registered, PledgeStatus.changed})


class CancellationReason(StrEnum):
    debt_repaid = "debt_repaid"
    realised = "realised"
    waived = "waived"
    void = "void"


class ValuationMethod(StrEnum):
    cost = "cost"
    market = "market"
    income = "income"


class PledgePatent(SQLModel, table=True):
    __tablename__ = "pledge_patent"

    pledge_id: int = Field(foreign_key="pledge.id", primary_key=True, ondelete="CASCADE")
    patent_id: int = Field(foreign_key="patent.id", primary_key=True, index=True)
    # The annual-fee standing the pledgee last heard of; a change is news (see watch_fee_standing).
    fee_status_seen: str | None = Field(default=None, max_length=32)


class Pledge(SQLModel, table=True):
    """A patent pledge (IP finance). Public register fields: pledgor, pledgee, patents,
    registration number and date, status. Private to the parties: amounts, terms, valuation."""

    __tablename__ = "pledge"
    __audited__: ClassVar[Audited] = Audited(parties=("pledgee_id", "pledgor_id"), state="status")
    __table_args__ = (
        sa.CheckConstraint("debt_end_date >= debt_start_date", name="debt_term"),
        sa.CheckConstraint("pledgee_id != pledgor_id", name="distinct_parties"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pledgee_id: int = Field(foreign_key="organization.id", index=True)
    pledgor_id: int = Field(foreign_key="organization.id", index=True)
    debtor_name: str | None = Field(default=None, max_length=200)
    secured_amount: Decimal = Field(sa_type=ScaledDecimal(18, 2))
    currency: str = Field(default="CNY", max_length=3)
    debt_start_date: date
    debt_end_date: date = Field(index=True)
    guarantee_scope: str | None = Field(default=None, max_length=1000)
    valuation_amount: Decimal | None = Field(default=None, sa_type=ScaledDecimal(18, 2))
    valuation_method: ValuationMethod | None = Field(
        default=None, sa_type=enum_type(ValuationMethod, "valuation_method")
    )
    valuer: str | None = Field(default=None, max_length=200)
    valuation_date: date | None = None
    valuation_report_ref: str | None = Field(default=None, max_length=100)
    status: PledgeStatus = Field(
        default=PledgeStatus.applied, sa_type=enum_type(PledgeStatus, "pledge_status"), index=True
    )
    pledgor_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The office's registration, as the pledgee (or a platform admin) entered it.
    registration_number: str | None = Field(default=None, unique=True, max_length=32)
    registered_date: date | None = Field(default=None, index=True)
    # Numbers the platform once minted itself, before it recorded the office's: kept, and flagged.
    registration_number_platform_assigned: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    # The pledgee agrees, in the application, that open-license declarations in force on the
    # pledged patents go on (Civil Code art. 444); without it their acceptance is suspended.
    consents_to_open_licenses: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    # The co-owners of the pledged patents who consented to the pledge in writing, by the names
    # on the patents' records: [{"application_number": ..., "co_owner": ...}].
    co_owner_consents: list[dict[str, str]] = Field(
        default_factory=list, sa_type=JSONType, sa_column_kwargs={"server_default": sa.text("'[]'")}
    )
    # A pending invalidation request is a ground for refusal unless both parties confirm that
    # they proceed regardless (2021 pledge registration measures).
    pledgee_proceeds_despite_invalidation: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    pledgor_proceeds_despite_invalidation: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    refusal_reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    cancellation_reason: CancellationReason | None = Field(
        default=None, sa_type=enum_type(CancellationReason, "cancellation_reason")
    )
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)

    pledgor: Organization = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "foreign_keys": "[Pledge.pledgor_id]"}
    )
    pledgee: Organization = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "foreign_keys": "[Pledge.pledgee_id]"}
    )
    patents: list[Patent] = Relationship(
        link_model=PledgePatent,
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "Patent.id"},
    )
    history: list["PledgeChange"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "PledgeChange.id"}
    )
    consents: list["PledgeConsent"] = Relationship(
        sa_relationship_kwargs={"lazy": "selectin", "order_by": "PledgeConsent.id"}
    )


class PledgeChange(SQLModel, table=True):
    """Every state change and amendment of a pledge, kept for good."""

    __tablename__ = "pledge_change"
    __audited__: ClassVar[Audited] = Audited(parent=(Pledge, "pledge_id"))

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: int = Field(foreign_key="pledge.id", index=True)
    status: PledgeStatus = Field(sa_type=enum_type(PledgeStatus, "pledge_change_status"))
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    actor_organization_id: int = Field(foreign_key="organization.id")
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class LicensePledge(SQLModel, table=True):
    """A license granted on pledged patents: its royalty income is the pledgee's concern
    (Civil Code art. 444: early repayment or escrow)."""

    __tablename__ = "license_pledge"

    license_id: int = Field(foreign_key="license.id", primary_key=True)
    pledge_id: int = Field(foreign_key="pledge.id", primary_key=True, index=True)


class PledgeConsent(SQLModel, table=True):
    """The pledgee's consent to an open license on pledged patents (Civil Code art. 444)."""

    __tablename__ = "pledge_consent"
    __table_args__ = (sa.UniqueConstraint("pledge_id", "listing_id"),)

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: int = Field(foreign_key="pledge.id", index=True)
    listing_id: int = Field(foreign_key="listing.id", index=True)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class Valuation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money
    method: ValuationMethod
    valuer: str = PydanticField(min_length=1, max_length=200)
    valuation_date: date
    report_ref: str | None = PydanticField(default=None, max_length=100)


class CoOwnerConsent(BaseModel):
    """A co-owner of a pledged patent consents in writing to the pledge."""

    model_config = ConfigDict(extra="forbid")

    application_number: ApplicationNumber
    co_owner: str = PydanticField(
        min_length=1, max_length=200, description="As named among the patent's co-owners."
    )


class PledgeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "pledgor_id": 4,
                    "application_numbers": ["202010100002.3"],
                    "secured_amount": "5000000.00",
                    "currency": "CNY",
                    "debt_start_date": "2026-07-01",
                    "debt_end_date": "2029-06-30",
                    "valuation": {
                        "amount": "8000000",
                        "method": "income",
                        "valuer": "Zhejiang Assets Appraisal Co.",
                        "valuation_date": "2026-06-10",
                        "report_ref": "ZA-2026-118",
                    },
                }
            ]
        },
    )

    pledgor_id: int = PydanticField(ge=1, le=2**31 - 1)
    application_numbers: list[ApplicationNumber] = PydanticField(
        min_length=1, max_length=MAX_PATENTS_PER_PLEDGE
    )
    secured_amount: Money
    currency: CurrencyCode = "CNY"
    debt_start_date: date
    debt_end_date: date
    debtor_name: str | None = PydanticField(default=None, max_length=200)
    guarantee_scope: str | None = PydanticField(default=None, max_length=1000)
    valuation: Valuation | None = None
    co_owner_consents: list[CoOwnerConsent] = PydanticField(
        default_factory=list,
        max_length=MAX_PATENTS_PER_PLEDGE * 20,
        description="Every co-owner of a co-owned patent must consent to its pledge.",
    )
    consents_to_open_licenses: bool = PydanticField(
        default=False,
        description="The pledgee consents to the open-license declarations in force on these "
        "patents (Civil Code art. 444). Without it, their offers cannot be accepted while the "
        "pledge is registered, until the pledgee consents to each declaration.",
    )
    proceed_despite_pending_invalidation: bool = PydanticField(
        default=False,
        description="The pledgee proceeds although an invalidation request is pending against "
        "a patent; the pledgor confirms the same when it joins.",
    )

    @model_validator(mode="after")
    def _term(self) -> "PledgeCreate":
        if self.debt_end_date < self.debt_start_date:
            raise ValueError("debt_end_date cannot be before debt_start_date")
        return self


class PledgeConfirmation(BaseModel):
    """The pledgor joins the application."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"proceed_despite_pending_invalidation": False}]},
    )

    proceed_despite_pending_invalidation: bool = PydanticField(
        default=False,
        description="The pledgor proceeds although an invalidation request is pending against "
        "a patent (the pledgee must have said so too).",
    )


class PledgeRegistrationCreate(BaseModel):
    """The office's registration of the pledge, as its certificate states it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"registration_number": "Y2026980012345", "registration_date": "2026-07-08"}
            ]
        },
    )

    registration_number: str = PydanticField(
        min_length=1,
        max_length=64,
        description="As the office issued it; spaces are removed and letters upper-cased, then "
        "it must match the configured pattern.",
    )
    registration_date: date = PydanticField(description="Never in the future.")


class PledgeUpdate(BaseModel):
    """An amendment by the pledgee: the secured amount or the debt term."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "secured_amount": "6000000.00",
                    "debt_end_date": "2028-06-30",
                    "note": "Loan extended by twelve months.",
                }
            ]
        },
    )

    secured_amount: Money | None = None
    debt_start_date: date | None = None
    debt_end_date: date | None = None
    note: str | None = PydanticField(default=None, max_length=1000)


class PledgeRefusal(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reasons": ["annual_fee_in_arrears"], "note": "The annual fee of 2026 is unpaid."}
            ]
        },
    )

    reasons: list[str] = PydanticField(
        min_length=1, max_length=20, description="Reason codes, e.g. `annual_fee_in_arrears`."
    )
    note: str | None = PydanticField(default=None, max_length=1000)


class PledgeCancellation(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "debt_repaid", "note": "Loan repaid in full."}]},
    )

    reason: CancellationReason
    note: str | None = PydanticField(default=None, max_length=1000)


class PledgeConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"listing_id": 7}]})

    listing_id: int = PydanticField(ge=1, le=2**31 - 1)


class PledgedPatent(BaseModel):
    id: int
    application_number: str
    title: str
    main_ipc: str | None
    grant_date: date | None


class PledgeChangePublic(BaseModel):
    status: PledgeStatus
    changes: dict[str, Any]
    actor_organization_id: int
    note: str | None
    created_at: datetime


class PledgeConsentPublic(BaseModel):
    id: int
    pledge_id: int
    listing_id: int
    created_at: datetime


class PledgeView(BaseModel):
    """A pledge as the caller may see it. ``visibility`` is ``full`` for its parties and platform
    admins; ``register`` for other banks, which see only what the public register announces."""

    visibility: str = PydanticField(examples=["full", "register"])
    id: int
    status: PledgeStatus
    pledgor_id: int
    pledgor_name: str
    pledgee_id: int
    pledgee_name: str
    patents: list[PledgedPatent]
    registration_number: str | None
    registered_date: date | None
    registration_number_platform_assigned: bool = PydanticField(
        default=False,
        description="True for numbers the platform assigned itself before it recorded the "
        "office's registration; not an office number.",
    )
    cancelled_at: datetime | None
    # Private to the parties: null in a register view.
    debtor_name: str | None = None
    secured_amount: Decimal | None = None
    currency: str | None = None
    debt_start_date: date | None = None
    debt_end_date: date | None = None
    guarantee_scope: str | None = None
    valuation: Valuation | None = None
    pledgor_confirmed_at: datetime | None = None
    co_owner_consents: list[CoOwnerConsent] | None = None
    consents_to_open_licenses: bool | None = None
    pledgee_proceeds_despite_invalidation: bool | None = None
    pledgor_proceeds_despite_invalidation: bool | None = None
    refusal_reasons: list[dict[str, Any]] | None = None
    cancellation_reason: CancellationReason | None = None
    history: list[PledgeChangePublic] | None = None
    consents: list[PledgeConsentPublic] | None = None
    created_at: datetime | None = None


MAX_CHECKED_NUMBERS = 1000


class EncumbranceCheckRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"application_numbers": ["202010100002.3", "CN2019101000017"]}]
        },
    )

    application_numbers: list[Annotated[str, PydanticField(max_length=40)]] = PydanticField(
        min_length=1, max_length=MAX_CHECKED_NUMBERS
    )


# The check answers up to a thousand of these per request: plain slotted dataclasses are built
# in a tenth of the time of pydantic models, and pydantic still documents and serializes them.
@dataclass(frozen=True, slots=True, kw_only=True)
class ActivePledgeSummary:
    """What the public register announces about a pledge."""

    pledge_id: int
    registration_number: str | None
    registered_date: date | None
    pledgor_id: int
    pledgee_id: int
    pledgee_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenLicenseSummary:
    listing_id: int
    announcement_number: str | None
    announcement_date: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EncumbranceResult:
    application_number: Annotated[
        str, PydanticField(description="Canonical when well-formed, else as given.")
    ]
    known: bool
    error: Annotated[str | None, PydanticField(description="Why the number is malformed.")] = None
    owner_id: int | None = None
    kind: str | None = None
    legal_status: str | None = None
    in_force: bool | None = None
    fee_status: str | None = None
    fee_paid_until: date | None = None
    next_fee_due_date: date | None = None
    term_end_date: date | None = None
    remaining_term_days: int | None = None
    main_ipc: str | None = None
    active_pledge: ActivePledgeSummary | None = None
    open_license: OpenLicenseSummary | None = None
    active_license_count: int = 0
    exclusive_license: bool = False
    pledgeable: bool = False
    reasons: Annotated[
        list[str], PydanticField(description="Why it is not pledgeable by its owner today.")
    ] = field(default_factory=list)


class EncumbranceCheckResponse(BaseModel):
    checked_on: date
    results: list[EncumbranceResult]


class ExposureByPledgor(BaseModel):
    pledgor_id: int
    pledgor_name: str
    currency: str
    pledges: int
    patents: int
    secured_amount: Decimal


class ExposureBySection(BaseModel):
    section: str = PydanticField(description="IPC section of the patents' main classification.")
    currency: str
    patents: int
    secured_amount: Decimal = PydanticField(
        description="Each pledge's amount shared equally among its patents."
    )


class ExposureByYear(BaseModel):
    debt_end_year: int
    currency: str
    pledges: int
    secured_amount: Decimal


class StatusChangeSinceRegistration(BaseModel):
    pledge_id: int
    patent_id: int
    application_number: str
    legal_status: str
    changed_at: datetime


class Exposure(BaseModel):
    """The calling bank's registered book (pledges registered or changed)."""

    as_of: date
    pledges: int
    patents: int
    by_pledgor: list[ExposureByPledgor]
    by_ipc_section: list[ExposureBySection]
    by_debt_end_year: list[ExposureByYear]
    patents_fee_due_within_90_days: int
    fee_due_within_90_days_share: Decimal = PydanticField(
        description="Share of pledged patents whose annual fee falls due within 90 days (0-1)."
    )
    status_changed_since_registration: list[StatusChangeSinceRegistration]


class LicenseIncomeItem(BaseModel):
    license_id: int
    license_number: str
    licensee_id: int
    status: str
    effective_date: date
    expires_on: date
    royalty_type: str = PydanticField(
        examples=["running"], description="The declared payment method the license rests on."
    )
    currency: str
    upfront_fee: Decimal | None = PydanticField(
        description="The lump sum or entry fee of its terms, whenever it falls due."
    )
    granted_under_pledge: bool = PydanticField(
        description="Granted while this pledge was registered (with the pledgee's consent); "
        "false for a license that predates the pledge."
    )
    due: Decimal = PydanticField(
        description="Still owed on obligations falling due in the period, not yet past due."
    )
    overdue: Decimal = PydanticField(
        description="Still owed on obligations that fell due in the period and are past due."
    )
    confirmed: Decimal = PydanticField(
        description="Payments the licensor confirmed receiving, paid in the period."
    )


class LicenseIncomeTotal(BaseModel):
    currency: str
    licenses: int
    upfront_fees: Decimal
    due: Decimal
    overdue: Decimal
    confirmed: Decimal


class LicenseIncome(BaseModel):
    """Every license on the pledged patents in force at some time in the period, whatever its
    payment method (lump sum, entry fee, running royalty, per unit, share of profit): what falls
    due, what is overdue and what was paid, from the licenses' obligations and confirmed
    payments. Amounts only: the royalty reports' sales stay with the license's parties."""

    pledge_id: int
    period_start: date
    period_end: date
    as_of: date = PydanticField(description="Overdue is counted against this day.")
    licenses: list[LicenseIncomeItem]
    totals: list[LicenseIncomeTotal]
