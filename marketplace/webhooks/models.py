"""Webhook subscriptions, one delivery per (subscription, event), and the log of its attempts."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from marketplace import clock
from marketplace.db import JSONType, UTCDateTime, enum_type
from marketplace.events.models import EventType

# Event ids are BIGINT on PostgreSQL (see marketplace.events.models).
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 500
MAX_RESPONSE_BODY_LENGTH = 2000
# ``whsec_`` and the base64 of the HMAC key (32 bytes today; up to 64 bytes, or a converted
# secret of an earlier format, still fit).
MAX_SECRET_LENGTH = 128


class DeliveryStatus(StrEnum):
    pending = "pending"
    retrying = "retrying"
    succeeded = "succeeded"
    failed = "failed"


# What the worker still has to send.
OUTSTANDING_STATUSES = (DeliveryStatus.pending, DeliveryStatus.retrying)


class WebhookSubscription(SQLModel, table=True):
    """An organization's HTTPS endpoint for its events.

    ``secret`` is kept as is (``whsec_`` and the base64 HMAC key, as the Standard Webhooks
    specification writes it): the worker needs it to sign every request, so a hash would not
    do. It is shown to the organization once, at creation. ``cursor_*`` is this subscription's
    position in its organization's event feed; fan-out advances it in the transaction that
    creates the deliveries, so no event is skipped or taken twice."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    url: str = Field(max_length=MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=200)
    # Empty: every event type, including types added later.
    event_types: list[str] = Field(default_factory=list, sa_type=JSONType)
    secret: str = Field(max_length=MAX_SECRET_LENGTH)
    is_active: bool = True
    created_by_user_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cursor_transaction_id: int = Field(default=0, sa_type=sa.BigInteger)
    cursor_event_id: int = Field(default=0, sa_type=sa.BigInteger)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription. Unique per pair: its id is the stable ``Webhook-Id``
    however often it is sent, so that a receiver can drop repeats."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    event_id: int = Field(foreign_key="event.id", sa_type=_BIG_ID)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.pending, sa_type=enum_type(DeliveryStatus, "delivery_status")
    )
    attempt_count: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A worker sending this delivery holds it until then; after that another may take it over.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claim_token: str | None = Field(default=None, max_length=36)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    created_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=clock.timestamp, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One request to the receiver, whatever came of it."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None
    succeeded: bool
    duration_ms: int
    error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    response_body: str | None = Field(default=None, max_length=MAX_RESPONSE_BODY_LENGTH)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = PydanticField(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="Where events are POSTed. HTTPS; in production, a public host only.",
        examples=["https://bank.example.com/hooks/marketplace"],
    )
    event_types: list[EventType] = PydanticField(
        default_factory=list,
        max_length=len(EventType),
        description="The event types to receive; empty (the default) for every type, including "
        "types added later. Each type, who receives it and its payload: `GET /api/v1/events` "
        "and docs/events.md.",
        examples=[["pledge.registered", "pledge.cancelled"]],
    )
    description: str | None = PydanticField(
        default=None, max_length=200, examples=["Loan monitoring"]
    )


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = PydanticField(
        default=None,
        description="Pause (false) or resume (true). Events while paused are not delivered.",
        examples=[False],
    )
    event_types: list[EventType] | None = PydanticField(
        default=None, max_length=len(EventType), examples=[["pledge.registered"]]
    )
    description: str | None = PydanticField(default=None, max_length=200)

    @field_validator("is_active")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool | None:
        if value is None:
            raise ValueError("is_active may be omitted, not null")
        return value


class WebhookPublic(BaseModel):
    id: int
    organization_id: int
    url: str
    description: str | None
    event_types: list[str] = PydanticField(description="Empty: every event type.")
    is_active: bool
    created_by_user_id: int
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = PydanticField(
        description="The signing secret, shown only in this response: `whsec_` and the base64 "
        "of the HMAC key, as the Standard Webhooks specification writes it. Verify each "
        "request with it, e.g. `standardwebhooks.Webhook(secret).verify(body, headers)`.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class DeliveryPublic(BaseModel):
    id: int = PydanticField(description="`Webhook-Id` of every request for it is `whd_{id}`.")
    subscription_id: int
    event_id: int
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class AttemptPublic(BaseModel):
    attempted_at: datetime
    status_code: int | None
    succeeded: bool
    duration_ms: int
    error: str | None
    response_body: str | None = PydanticField(description="The first 2000 characters.")


class DeliveryDetail(DeliveryPublic):
    attempts: list[AttemptPublic] = PydanticField(description="Oldest first.")
