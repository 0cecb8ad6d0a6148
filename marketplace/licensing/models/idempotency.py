"""Claimed idempotency keys of acceptances."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import UTCDateTime


class IdempotencyRecord(SQLModel, table=True):
    """A claimed ``Idempotency-Key``: written in the same transaction as the license it produced."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("organization_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id")
    key: str = Field(max_length=255)
    request_fingerprint: str = Field(max_length=64)
    # Checked at commit (deferred): on PostgreSQL the claim names the license's id, taken from
    # its sequence, before the acceptance inserts the license, so that no UPDATE has to follow.
    license_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("license.id", deferrable=True, initially="DEFERRED")
        ),
    )
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
