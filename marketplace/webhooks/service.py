"""Webhooks: subscriptions that organization admins manage, the fan-out of each organization's
event feed into deliveries, claiming due deliveries and recording what each attempt returned.

The event table is the outbox: events are written in the transaction of their change. Fan-out
reads them in the feed's commit-safe order and creates one delivery per (subscription, event),
advancing the subscription's cursor in the same transaction, so that nothing is skipped and
nothing is created twice. Sending happens outside any transaction (marketplace.webhooks.sender)
between a claim and a record, each a short transaction of its own (marketplace.webhooks.worker)."""

import base64
import json
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.config import Environment, Settings, get_settings
from marketplace.events import service as events
from marketplace.events.models import Event, EventType
from marketplace.pagination import PageParams, paginate_by_id
from marketplace.webhooks import urls
from marketplace.webhooks.errors import (
    DeliveryInFlight,
    DeliveryNotFound,
    WebhookDeleted,
    WebhookInactive,
    WebhookNotFound,
)
from marketplace.webhooks.models import (
    MAX_ERROR_LENGTH,
    MAX_RESPONSE_BODY_LENGTH,
    OUTSTANDING_STATUSES,
    DeliveryStatus,
    WebhookAttempt,
    WebhookCreate,
    WebhookDelivery,
    WebhookSubscription,
    WebhookUpdate,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# The HMAC key's size: the Standard Webhooks specification asks for 24 to 64 random bytes.
SECRET_KEY_BYTES = 32
WEBHOOK_ID_PREFIX = "whd_"


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _types(event_types: Sequence[EventType]) -> list[str]:
    return sorted({event_type.value for event_type in event_types})


def webhook_id(delivery_id: int) -> str:
    """The ``Webhook-Id`` header: the same for every attempt of one delivery, that is of one
    event to one subscription, so that receivers can drop what they have already processed."""
    return f"{WEBHOOK_ID_PREFIX}{delivery_id}"


def new_secret() -> str:
    """A signing secret as the Standard Webhooks specification shows it: ``whsec_`` and the
    standard base64 of the random HMAC key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_KEY_BYTES)).decode()


# -- subscriptions ------------------------------------------------------------------------------


def create_subscription(
    *, session: Session, creator: User, data: WebhookCreate
) -> tuple[WebhookSubscription, str]:
    """The subscription and its signing secret (returned to show once).

    It receives the events that come after it: its cursor starts at the feed's present end."""
    assert creator.id is not None
    settings = get_settings()
    url = urls.check_url(
        data.url,
        production=settings.environment is Environment.production,
        allow_local_http=settings.webhook_allow_local_http,
    )
    secret = new_secret()
    cursor_tx, cursor_id = events.position_now(session)
    subscription = WebhookSubscription(
        organization_id=creator.organization_id,
        url=url,
        description=data.description,
        event_types=_types(data.event_types),
        secret=secret,
        created_by_user_id=creator.id,
        cursor_transaction_id=cursor_tx,
        cursor_event_id=cursor_id,
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def list_subscriptions(
    *, session: Session, organization_id: int, params: PageParams
) -> tuple[Sequence[WebhookSubscription], str | None]:
    statement = (
        select(WebhookSubscription)
        .where(WebhookSubscription.organization_id == organization_id)
        .where(col(WebhookSubscription.deleted_at).is_(None))
    )
    return paginate_by_id(session, statement, id_column=WebhookSubscription.id, params=params)


def get_subscription(
    *,
    session: Session,
    organization_id: int,
    subscription_id: int,
    include_deleted: bool = False,
) -> WebhookSubscription:
    """The organization's subscription, undeleted unless ``include_deleted`` (its delivery log
    stays readable); 404 for anybody else's."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if (
        subscription is None
        or subscription.organization_id != organization_id
        or (subscription.deleted_at is not None and not include_deleted)
    ):
        raise WebhookNotFound(f"Webhook {subscription_id} does not exist.")
    return subscription


def update_subscription(
    *, session: Session, subscription: WebhookSubscription, data: WebhookUpdate
) -> WebhookSubscription:
    changes = data.model_dump(exclude_unset=True)
    if "is_active" in changes:
        subscription.is_active = bool(changes["is_active"])
    if data.event_types is not None:
        subscription.event_types = _types(data.event_types)
    if "description" in changes:
        subscription.description = data.description
    subscription.updated_at = clock.now()
    session.add(subscription)
    session.flush()
    return subscription


def delete_subscription(
    *, session: Session, subscription: WebhookSubscription
) -> WebhookSubscription:
    """Stops every delivery at once. The row stays (soft delete), so does its delivery log."""
    now = clock.now()
    subscription.deleted_at = now
    subscription.is_active = False
    subscription.updated_at = now
    session.add(subscription)
    session.flush()
    return subscription


# -- fan-out ------------------------------------------------------------------------------------


def fan_out(*, session: Session, batch_size: int) -> int:
    """One pass: for each subscription, up to ``batch_size`` events after its cursor become
    deliveries (those of its types, and only while it is active) and the cursor moves past them.
    Returns the number of deliveries created.

    Each subscription row is locked while it advances (on PostgreSQL ``FOR UPDATE SKIP LOCKED``,
    so that several workers share the pass; SQLite runs one writer at a time), and the unique
    (subscription, event) pair holds even if something else went wrong."""
    statement = (
        select(WebhookSubscription)
        .where(col(WebhookSubscription.deleted_at).is_(None))
        .order_by(col(WebhookSubscription.id))
    )
    if _is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    created = 0
    for subscription in session.scalars(statement).all():
        created += _fan_out_one(session, subscription, batch_size)
    session.flush()
    return created


def _fan_out_one(session: Session, subscription: WebhookSubscription, batch_size: int) -> int:
    found = events.read_after(
        session=session,
        recipient_id=subscription.organization_id,
        after=(subscription.cursor_transaction_id, subscription.cursor_event_id),
        limit=batch_size,
    )
    if not found:
        return 0
    assert subscription.id is not None
    wanted = set(subscription.event_types)
    now = clock.now()
    deliveries = [
        WebhookDelivery(
            subscription_id=subscription.id,
            event_id=event.id or 0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for event in found
        if subscription.is_active and (not wanted or event.type in wanted)
    ]
    session.add_all(deliveries)
    last = found[-1]
    assert last.id is not None
    subscription.cursor_transaction_id = last.transaction_id
    subscription.cursor_event_id = last.id
    session.add(subscription)
    return len(deliveries)


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """Everything needed to send one delivery without the database."""

    delivery_id: int
    webhook_id: str
    url: str
    secret: str
    body: bytes
    claim_token: str


def event_body(event: Event) -> bytes:
    """The request body: the event as the feed shows it, as compact JSON."""
    document: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "subject": event.subject,
        "created_at": event.created_at.isoformat(),
        "payload": event.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def claim_due(
    *, session: Session, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[ClaimedDelivery]:
    """Takes up to ``limit`` deliveries that are due, of live subscriptions, and not held by a
    worker (or held past their lease: that worker died): each is held for ``lease_seconds``.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so that concurrent workers take disjoint rows.
    SQLite: the transaction holds the database's write lock from its start (BEGIN IMMEDIATE)."""
    now = now or clock.now()
    token = str(uuid.uuid4())
    statement = (
        select(WebhookDelivery)
        .join(
            WebhookSubscription,
            col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id),
        )
        .where(col(WebhookDelivery.status).in_(OUTSTANDING_STATUSES))
        .where(col(WebhookDelivery.next_attempt_at) <= now)
        .where(
            sa.or_(
                col(WebhookDelivery.claimed_until).is_(None),
                col(WebhookDelivery.claimed_until) <= now,
            )
        )
        .where(col(WebhookSubscription.is_active).is_(True))
        .where(col(WebhookSubscription.deleted_at).is_(None))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    )
    if _is_postgres(session):
        statement = statement.with_for_update(of=WebhookDelivery, skip_locked=True)
    deliveries = list(session.scalars(statement).all())
    if not deliveries:
        return []
    until = now + timedelta(seconds=lease_seconds)
    for delivery in deliveries:
        delivery.claimed_until = until
        delivery.claim_token = token
        session.add(delivery)
    session.flush()
    subscriptions = {
        s.id: s
        for s in session.scalars(
            select(WebhookSubscription).where(
                col(WebhookSubscription.id).in_({d.subscription_id for d in deliveries})
            )
        )
    }
    found = {
        e.id: e
        for e in session.scalars(
            select(Event).where(col(Event.id).in_({d.event_id for d in deliveries}))
        )
    }
    claimed = []
    for delivery in deliveries:
        assert delivery.id is not None
        subscription = subscriptions[delivery.subscription_id]
        claimed.append(
            ClaimedDelivery(
                delivery_id=delivery.id,
                webhook_id=webhook_id(delivery.id),
                url=subscription.url,
                secret=subscription.secret,
                body=event_body(found[delivery.event_id]),
                claim_token=token,
            )
        )
    return claimed


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_body: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff_seconds(
    attempts: int, *, settings: Settings, rng: random.Random | None = None
) -> float:
    """The wait after the ``attempts``-th failed attempt: base * factor^(attempts-1), capped, then
    scaled by a random factor in [1 - jitter, 1 + jitter] so that retries do not arrive in step."""
    exponent = max(attempts - 1, 0)
    delay = min(
        settings.webhook_backoff_base_seconds * settings.webhook_backoff_factor**exponent,
        settings.webhook_backoff_max_seconds,
    )
    jitter = settings.webhook_backoff_jitter
    return delay * (rng or random).uniform(1 - jitter, 1 + jitter)


def record_attempt(
    *, session: Session, claimed: ClaimedDelivery, outcome: AttemptOutcome
) -> WebhookDelivery:
    """Logs the attempt and, if this worker still holds the delivery, moves it on: succeeded on
    2xx; otherwise retrying after a backoff, or failed once the attempts are spent.

    A worker whose lease ran out (another took the delivery over) only adds to the log."""
    session.add(
        WebhookAttempt(
            delivery_id=claimed.delivery_id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            succeeded=outcome.succeeded,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None,
            response_body=(
                outcome.response_body[:MAX_RESPONSE_BODY_LENGTH]
                if outcome.response_body is not None
                else None
            ),
        )
    )
    delivery = session.get_one(WebhookDelivery, claimed.delivery_id, with_for_update=True)
    if delivery.claim_token != claimed.claim_token:
        session.flush()
        return delivery
    settings = get_settings()
    now = clock.now()
    delivery.attempt_count += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
    delivery.claimed_until = None
    delivery.claim_token = None
    delivery.updated_at = now
    if outcome.succeeded:
        delivery.status = DeliveryStatus.succeeded
        delivery.delivered_at = outcome.attempted_at
        delivery.next_attempt_at = None
    elif delivery.attempt_count >= settings.webhook_max_attempts:
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
    else:
        delivery.status = DeliveryStatus.retrying
        delivery.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(delivery.attempt_count, settings=settings)
        )
    session.add(delivery)
    session.flush()
    return delivery


# -- the delivery log ---------------------------------------------------------------------------


def list_deliveries(
    *,
    session: Session,
    subscription: WebhookSubscription,
    status: DeliveryStatus | None,
    params: PageParams,
) -> tuple[Sequence[WebhookDelivery], str | None]:
    statement = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    return paginate_by_id(session, statement, id_column=WebhookDelivery.id, params=params)


def get_delivery(*, session: Session, organization_id: int, delivery_id: int) -> WebhookDelivery:
    """A delivery of one of the organization's subscriptions, deleted ones included (their log is
    kept); 404 otherwise."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is not None:
        subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
        if subscription.organization_id == organization_id:
            return delivery
    raise DeliveryNotFound(f"Delivery {delivery_id} does not exist.")


def attempts_of(*, session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(col(WebhookAttempt.id))
        ).all()
    )


def redeliver(*, session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Schedules one more attempt now, under the same ``Webhook-Id``, whatever the delivery's
    status. A failed delivery gets this one attempt; a retrying one goes on with its backoff."""
    now = clock.now()
    # Lock it: a worker must not claim it between the check and the change.
    session.refresh(delivery, with_for_update=True)
    subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
    if subscription.deleted_at is not None:
        raise WebhookDeleted(f"Webhook {subscription.id} is deleted; nothing more is sent to it.")
    if not subscription.is_active:
        raise WebhookInactive(
            f"Webhook {subscription.id} is paused; resume it before redelivering."
        )
    if delivery.claimed_until is not None and delivery.claimed_until > now:
        raise DeliveryInFlight(f"Delivery {delivery.id} is being sent right now; retry shortly.")
    delivery.status = DeliveryStatus.pending
    delivery.next_attempt_at = now
    delivery.claimed_until = None
    delivery.claim_token = None
    delivery.updated_at = now
    session.add(delivery)
    session.flush()
    return delivery
