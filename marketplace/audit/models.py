"""The audit trail: one hash-chained entry per audited object per committed transaction."""

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace.db import JSONType, UTCDateTime

# The chain is anchored here: the first entry's prev_hash.
GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    """A state change, chained to the entry before it: ``hash`` is SHA-256 over the canonical
    JSON of the entry's content and ``prev_hash``. Ids are the chain positions 1, 2, 3, …,
    assigned at commit under a lock (not from a sequence), so a missing id is a deleted entry."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id", "id"),)

    id: int = Field(
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=100, description="`user:<id>`, `client:<id>`, or `system`.")
    actor_organization_id: int | None = None
    object_type: str = Field(max_length=64)
    object_id: int = Field(sa_type=sa.BigInteger)
    action: str = Field(max_length=64)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    prev_hash: str = Field(max_length=64, sa_type=sa.String(64))
    hash: str = Field(max_length=64, sa_type=sa.String(64), unique=True)


class AuditEventParty(SQLModel, table=True):
    """The organizations party to an entry's object; they may read the entry."""

    __tablename__ = "audit_event_party"
    __table_args__ = (sa.Index("ix_audit_event_party_organization", "organization_id", "event_id"),)

    event_id: int = Field(
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        foreign_key="audit_event.id",
        primary_key=True,
    )
    organization_id: int = Field(primary_key=True)


class AuditPending(SQLModel, table=True):
    """An entry committed with its change but not chained yet (PostgreSQL): the sequencer
    (``audit_chain_sequence``) moves it into ``audit_event`` with its chain position and hash,
    in the order of these ids. It carries the entry's canonical JSON split around its link
    (``chain.HashParts``), so the sequencer only fills in the position and the hash before it."""

    __tablename__ = "audit_pending"

    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=100)
    actor_organization_id: int | None = None
    object_type: str = Field(max_length=64)
    object_id: int = Field(sa_type=sa.BigInteger)
    action: str = Field(max_length=64)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    parties: list[int] = Field(default_factory=list, sa_type=JSONType)
    hash_prefix: str = Field(sa_type=sa.Text)
    hash_middle: str = Field(sa_type=sa.Text)
    hash_suffix: str = Field(sa_type=sa.Text)


class AuditEventPublic(BaseModel):
    id: int = PydanticField(examples=[42])
    at: datetime
    actor: str = PydanticField(examples=["user:7"])
    actor_organization_id: int | None = PydanticField(examples=[3])
    object_type: str = PydanticField(examples=["license"])
    object_id: int = PydanticField(examples=[12])
    action: str = PydanticField(
        description="`created`, `updated`, `deleted`, or the state the object moved to.",
        examples=["terminated"],
    )
    changes: dict[str, Any] = PydanticField(
        description="Changed fields as `[old, new]`; secrets are never recorded.",
        examples=[{"status": ["active", "terminated"]}],
    )
    parties: list[int] = PydanticField(examples=[[3, 9]])
    prev_hash: str
    hash: str


class AuditHead(BaseModel):
    """The newest entry of the chain: note it, and a later verification proves nothing before
    it was changed."""

    id: int = PydanticField(description="0 while the trail is empty.", examples=[42])
    hash: str = PydanticField(examples=[GENESIS_HASH])


class ChainBreak(StrEnum):
    content_hash_mismatch = "content_hash_mismatch"
    prev_link_mismatch = "prev_link_mismatch"
    gap = "gap"


class ChainVerification(BaseModel):
    ok: bool
    checked: int
    head_id: int
    head_hash: str
    broken_at: int | None = None
    reason: ChainBreak | None = None
