from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import Field as PydanticField
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.db import JSONType, ScaledDecimal, UTCDateTime, enum_type
from marketplace.patents.identifiers import (
    PatentKind,
    canonical_application_number,
    kind_of_canonical_number,
    normalize_ipc,
    normalize_ipc_prefix,
    normalize_publication_number,
)
from marketplace.patents.terms import term_end_date

MAX_IPC_CODES = 50

# An IPC prefix at any level (`G`, `G06F`, `G06F 16`, `G06F 16/33`), normalized on input.
IpcPrefix = Annotated[str, StringConstraints(max_length=30), AfterValidator(normalize_ipc_prefix)]
# An application number in any accepted spelling, canonical on input.
ApplicationNumber = Annotated[
    str, StringConstraints(max_length=40), AfterValidator(canonical_application_number)
]


class LegalStatus(StrEnum):
    pending = "pending"
    granted = "granted"
    lapsed = "lapsed"
    invalidated = "invalidated"
    expired = "expired"


class FeeStatus(StrEnum):
    """Annual-fee standing: paid; due but within the late-payment period; or in arrears."""

    paid = "paid"
    grace = "grace"
    arrears = "arrears"
    not_applicable = "not_applicable"


class EncumbranceKind(StrEnum):
    exclusive_license = "exclusive_license"
    sole_license = "sole_license"
    non_exclusive_license = "non_exclusive_license"
    court_preservation = "court_preservation"
    ownership_dispute = "ownership_dispute"
    # A request for invalidation pending before the office's reexamination board: released when
    # the board decides. Pledging is refused meanwhile unless both parties proceed regardless.
    invalidation_request = "invalidation_request"


class EvaluationConclusion(StrEnum):
    """What a patent evaluation report concludes about the validity of a utility model or
    design (Implementing Regulations art. 62); only ``supports_validity`` lets it be declared."""

    supports_validity = "supports_validity"
    partially_supports = "partially_supports"
    does_not_support = "does_not_support"
    # Reports recorded before conclusions were: the conclusion was never entered. Set only by the
    # migration, never accepted as input; a new declaration needs the actual conclusion.
    legacy_unknown = "legacy_unknown"


def _entered_conclusion(value: EvaluationConclusion | None) -> EvaluationConclusion | None:
    if value is EvaluationConclusion.legacy_unknown:
        raise ValueError("legacy_unknown is not a conclusion; enter what the report concludes")
    return value


EnteredConclusion = Annotated[EvaluationConclusion | None, AfterValidator(_entered_conclusion)]


def _percent_scale(value: Decimal | None) -> Decimal | None:
    # The column's scale, so that the value reads the same before and after it is stored.
    return None if value is None else value.quantize(Decimal("0.01"))


# A patent's own annual-fee reduction, as approved by the office (e.g. 85 or 70 percent).
FeeReductionPercent = Annotated[
    Decimal | None,
    PydanticField(gt=0, lt=100, decimal_places=2),
    AfterValidator(_percent_scale),
]


class CoOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PydanticField(min_length=1, max_length=200)
    open_license_consent: bool = PydanticField(
        default=False, description="Whether this co-owner consents to open licensing."
    )


def _normalize_ipc_list(codes: list[str]) -> list[str]:
    normalized: list[str] = []
    for code in codes:
        canonical = normalize_ipc(code)
        if canonical not in normalized:
            normalized.append(canonical)
    return normalized


# The Patent Law of the PRC took effect on this day; no Chinese patent was filed before it.
FIRST_FILING_DATE = date(1985, 4, 1)


class PatentFields(SQLModel):
    """Fields an owner sets, shared by the table and the create/update payloads."""

    title: str = Field(min_length=1, max_length=500)
    abstract: str | None = Field(default=None, max_length=20_000)
    grant_date: date | None = None
    legal_status: LegalStatus = Field(
        default=LegalStatus.pending, sa_type=enum_type(LegalStatus, "legal_status")
    )
    fee_paid_until: date | None = Field(
        default=None, description="The annual fee is paid up to and including this date."
    )
    publication_number: str | None = Field(default=None, max_length=20)
    department: str | None = Field(default=None, max_length=200)
    publicly_funded: bool = False
    evaluation_report_ref: str | None = Field(
        default=None,
        max_length=100,
        description="Patent evaluation report (utility models and designs); must support validity.",
    )
    evaluation_report_conclusion: EvaluationConclusion | None = Field(
        default=None,
        sa_type=enum_type(EvaluationConclusion, "evaluation_conclusion"),
        description="What the evaluation report concludes; only `supports_validity` lets a "
        "utility model or design be declared. `legacy_unknown`: recorded before conclusions "
        "were, never entered (output only).",
    )
    fee_reduction_percent: Decimal | None = Field(
        default=None,
        sa_type=ScaledDecimal(5, 2),
        description="The patent's own annual-fee reduction approved by the office, in percent "
        "(e.g. 85 or 70); it does not combine with the open-license reduction, the more "
        "favourable one applies.",
        schema_extra={"examples": ["85"]},
    )


class Patent(PatentFields, table=True):
    __tablename__ = "patent"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="organization.id", index=True)
    application_number: str = Field(unique=True, max_length=16)
    kind: PatentKind = Field(sa_type=enum_type(PatentKind, "patent_kind"))
    filing_date: date
    main_ipc: str | None = Field(default=None, max_length=20, index=True)
    # The published listing whose open-license declaration covers this patent, if any. One column
    # rather than a query, so that a conditional update claims it and two declarations cannot race.
    open_license_listing_id: int | None = Field(default=None, foreign_key="listing.id", index=True)
    # The registered pledge on this patent, claimed the same way: at most one at a time.
    active_pledge_id: int | None = Field(default=None, foreign_key="pledge.id", index=True)
    inventors: list[str] = Field(default_factory=list, sa_type=JSONType)
    co_owners: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    # Banks watch this: a pledged patent that lapses or is invalidated weakens the collateral.
    legal_status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)

    ipc_entries: list["PatentIpc"] = Relationship(
        sa_relationship_kwargs={
            "order_by": "PatentIpc.position",
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
        }
    )
    encumbrances: list["PatentEncumbrance"] = Relationship(
        sa_relationship_kwargs={"order_by": "PatentEncumbrance.id", "lazy": "selectin"}
    )

    @property
    def ipc_codes(self) -> list[str]:
        return [entry.code for entry in self.ipc_entries]


class PatentIpc(SQLModel, table=True):
    """One IPC symbol of a patent, in canonical form, for prefix search at any level."""

    __tablename__ = "patent_ipc"
    __table_args__ = (
        # Pattern operators, so that LIKE 'G06F %' uses the index whatever the collation.
        sa.Index("ix_patent_ipc_code", "code", postgresql_ops={"code": "varchar_pattern_ops"}),
    )

    patent_id: int = Field(foreign_key="patent.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True, ge=0)
    code: str = Field(max_length=20)


class PatentCreate(PatentFields):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "application_number": "202110123456.7",
                    "title": "Thermal management of lithium battery packs",
                    "abstract": "Cooling plates between cells keep a pack within 5 K of its "
                    "set point.",
                    "filing_date": "2021-03-15",
                    "grant_date": "2023-06-20",
                    "legal_status": "granted",
                    "fee_paid_until": "2027-03-14",
                    "ipc_codes": ["H01M 10/613", "H01M 10/6556"],
                    "inventors": ["Zhang San", "Li Si"],
                    "department": "College of Energy Engineering",
                    "publicly_funded": True,
                }
            ]
        },
    )

    application_number: str = Field(
        max_length=40,
        description="With or without `CN`, dot or spaces; stored canonical; sets the kind.",
        schema_extra={"examples": ["202110123456.7"]},
    )
    filing_date: date
    ipc_codes: list[str] = Field(
        default_factory=list,
        max_length=MAX_IPC_CODES,
        description="IPC symbols; the first is the main classification.",
        schema_extra={"examples": [["G06F 16/33", "G06N 3/08"]]},
    )
    inventors: list[str] = Field(default_factory=list, max_length=100)
    co_owners: list[CoOwner] = Field(default_factory=list, max_length=20)
    evaluation_report_conclusion: EnteredConclusion = None
    fee_reduction_percent: FeeReductionPercent = None

    @field_validator("application_number")
    @classmethod
    def _canonical_number(cls, value: str) -> str:
        return canonical_application_number(value)

    @field_validator("ipc_codes")
    @classmethod
    def _ipc(cls, codes: list[str]) -> list[str]:
        return _normalize_ipc_list(codes)

    @field_validator("publication_number")
    @classmethod
    def _publication(cls, value: str | None) -> str | None:
        return None if value is None else normalize_publication_number(value)

    @model_validator(mode="after")
    def _dates_consistent(self) -> "PatentCreate":
        check_patent_dates(
            kind_of_canonical_number(self.application_number),
            self.filing_date,
            self.grant_date,
            self.legal_status,
            self.fee_paid_until,
        )
        return self


def check_patent_dates(
    kind: PatentKind,
    filing_date: date,
    grant_date: date | None,
    status: LegalStatus,
    fee_paid_until: date | None,
) -> None:
    """Dates that can be true of a Chinese patent: every path in (API, import, update) checks
    them, so that no rule downstream meets a date it cannot compute with."""
    today = clock.today()
    if filing_date < FIRST_FILING_DATE:
        raise ValueError(
            f"filing_date cannot be before {FIRST_FILING_DATE} (the Patent Law took effect)"
        )
    if grant_date is not None and grant_date > today:
        raise ValueError("grant_date cannot be in the future")
    if fee_paid_until is not None:
        term_end = term_end_date(kind, filing_date)
        if fee_paid_until > term_end:
            raise ValueError(
                f"fee_paid_until cannot be after the patent's term ends ({term_end}); "
                "no annual fee is paid beyond the term"
            )
        if fee_paid_until < filing_date:
            raise ValueError("fee_paid_until cannot be before filing_date")
    if grant_date is not None and grant_date < filing_date:
        raise ValueError("grant_date cannot be before filing_date")
    if status is not LegalStatus.pending and grant_date is None:
        raise ValueError(f"a {status} patent needs its grant_date")
    if status is LegalStatus.pending and grant_date is not None:
        raise ValueError("a patent with a grant_date is not pending; set legal_status")
    if status is LegalStatus.granted and fee_paid_until is None:
        raise ValueError("a granted patent needs fee_paid_until (annual fee paid up to)")
    if filing_date > today:
        raise ValueError("filing_date cannot be in the future")


class PatentUpdate(SQLModel):
    """Every field optional; the application number and filing date never change, so a request
    naming them (or any unknown field) is refused rather than silently ignored."""

    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"fee_paid_until": "2028-03-14", "department": "College of Energy Engineering"}
            ]
        },
    )

    title: str | None = Field(default=None, min_length=1, max_length=500)
    abstract: str | None = Field(default=None, max_length=20_000)
    grant_date: date | None = None
    legal_status: LegalStatus | None = None
    fee_paid_until: date | None = None
    publication_number: str | None = Field(default=None, max_length=20)
    department: str | None = Field(default=None, max_length=200)
    publicly_funded: bool | None = None
    evaluation_report_ref: str | None = Field(default=None, max_length=100)
    evaluation_report_conclusion: EnteredConclusion = None
    fee_reduction_percent: FeeReductionPercent = None
    ipc_codes: list[str] | None = Field(default=None, max_length=MAX_IPC_CODES)
    inventors: list[str] | None = Field(default=None, max_length=100)
    co_owners: list[CoOwner] | None = Field(default=None, max_length=20)

    @field_validator("ipc_codes")
    @classmethod
    def _ipc(cls, codes: list[str] | None) -> list[str] | None:
        return None if codes is None else _normalize_ipc_list(codes)

    @field_validator("publication_number")
    @classmethod
    def _publication(cls, value: str | None) -> str | None:
        return None if value is None else normalize_publication_number(value)


class PatentEncumbranceBase(SQLModel):
    kind: EncumbranceKind = Field(sa_type=enum_type(EncumbranceKind, "encumbrance_kind"))
    counterparty: str | None = Field(default=None, max_length=200)
    starts_on: date
    ends_on: date | None = Field(default=None, description="Open-ended when null.")
    reference: str | None = Field(
        default=None, max_length=200, description="Contract or court ref."
    )


class PatentEncumbrance(PatentEncumbranceBase, table=True):
    """An off-platform license or a legal restriction that the owner declares."""

    __tablename__ = "patent_encumbrance"

    id: int | None = Field(default=None, primary_key=True)
    patent_id: int = Field(foreign_key="patent.id", index=True)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)


class PatentEncumbranceCreate(PatentEncumbranceBase):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "non_exclusive_license",
                    "counterparty": "Hangzhou Battery Co., Ltd.",
                    "starts_on": "2025-01-01",
                    "ends_on": "2027-12-31",
                    "reference": "HZB-2024-118",
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _period(self) -> "PatentEncumbranceCreate":
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on cannot be before starts_on")
        return self


class InvalidationRequestCreate(BaseModel):
    """A request for invalidation filed with the office against the patent (anyone may file
    one): recorded by the owner or a platform admin, released when the office decides."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "filed_on": "2026-05-20",
                    "requester": "Rival Battery Co.",
                    "reference": "4W112233",
                }
            ]
        },
    )

    filed_on: date = PydanticField(description="When it was filed with the office.")
    requester: str | None = PydanticField(default=None, min_length=1, max_length=200)
    reference: str | None = PydanticField(
        default=None, min_length=1, max_length=200, description="The office's case number."
    )

    @model_validator(mode="after")
    def _not_in_the_future(self) -> "InvalidationRequestCreate":
        if self.filed_on > clock.today():
            raise ValueError("filed_on cannot be in the future")
        return self


class PatentEncumbrancePublic(PatentEncumbranceBase):
    id: int
    patent_id: int
    in_force: bool
    released_at: datetime | None
    created_at: datetime


class PatentPublic(PatentFields):
    id: int
    owner_id: int
    application_number: str
    kind: PatentKind
    filing_date: date
    ipc_codes: list[str]
    main_ipc: str | None
    inventors: list[str]
    co_owners: list[CoOwner]
    term_end_date: date = Field(description="Last day of the statutory term.")
    remaining_term_days: int
    fee_status: FeeStatus
    next_fee_due_date: date | None
    in_force: bool
    open_license_listing_id: int | None
    active_pledge_id: int | None
    encumbrances: list[PatentEncumbrancePublic]
    created_at: datetime
    updated_at: datetime


class PatentIssue(BaseModel):
    """Why a patent cannot be declared, pledged or licensed now: a stable code and a sentence."""

    code: str = PydanticField(examples=["annual_fee_in_arrears"])
    detail: str
    patent_id: int | None = None
    application_number: str | None = None


# A plain pydantic class (its docstring is its schema's description): a page of listings builds
# dozens, and pydantic-core builds these without calling Python, unlike SQLModel classes.
class PatentSummary(BaseModel):
    """What anyone sees of a patent covered by a published listing."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    application_number: str
    kind: PatentKind
    title: str
    abstract: str | None
    ipc_codes: list[str]
    filing_date: date
    grant_date: date | None
    legal_status: LegalStatus
    term_end_date: date
    fee_status: FeeStatus
    in_force: bool
