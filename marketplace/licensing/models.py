from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from marketplace import clock
from marketplace.audit.spec import Audited
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
    __audited__: ClassVar[Audited] = Audited(parties=("licensor_id", "licensee_id"), state="status")
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
    pledge_ids: list[int] = Field(
        description="Pledges on the licensed patents when the license was granted (their "
        "pledgees are entitled to its royalty income, Civil Code art. 444)."
    )


class LicenseTermination(SQLModel):
    reason: str | None = Field(default=None, max_length=1000)
