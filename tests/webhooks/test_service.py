"""The webhook rules, through the services and the sender, without HTTP to the API."""

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from marketplace.accounts.models import OrganizationKind
from marketplace.config import Settings, get_settings
from marketplace.webhooks import sender
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.errors import DeliveryInFlight, WebhookInactive, WebhookNotFound
from marketplace.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WebhookUpdate,
)
from marketplace.webhooks.service import AttemptOutcome, ClaimedDelivery
from tests import factories
from tests.webhooks.conftest import Receiver, delivery_for, subscribe, verify

URL = "https://bank.example.com/hooks"
LEASE = 60.0


def subscription_of(session: Session) -> WebhookSubscription:
    admin = factories.member(session, kind=OrganizationKind.bank)
    subscription, _ = subscribe(session, admin, URL)
    return subscription


def claim(session: Session) -> list[ClaimedDelivery]:
    return webhooks.claim_due(session=session, limit=50, lease_seconds=LEASE)


def outcome(at: datetime, status: int | None, error: str | None = None) -> AttemptOutcome:
    return AttemptOutcome(attempted_at=at, status_code=status, duration_ms=12, error=error)


def test_each_subscription_gets_its_own_secret(session: Session) -> None:
    admin = factories.member(session, kind=OrganizationKind.bank)
    first, first_secret = subscribe(session, admin, URL)
    _, second_secret = subscribe(session, admin, URL)
    assert first_secret != second_secret
    assert first.secret == first_secret
    assert len(first_secret) > 40


def test_a_foreign_or_deleted_subscription_is_not_found(session: Session) -> None:
    subscription = subscription_of(session)
    assert subscription.id is not None
    other = factories.organization(session, kind=OrganizationKind.bank)
    assert other.id is not None
    with pytest.raises(WebhookNotFound):
        webhooks.get_subscription(
            session=session, organization_id=other.id, subscription_id=subscription.id
        )
    webhooks.delete_subscription(session=session, subscription=subscription)
    with pytest.raises(WebhookNotFound):
        webhooks.get_subscription(
            session=session,
            organization_id=subscription.organization_id,
            subscription_id=subscription.id,
        )


def test_an_update_changes_only_what_it_names(session: Session) -> None:
    subscription = subscription_of(session)
    webhooks.update_subscription(
        session=session, subscription=subscription, data=WebhookUpdate(is_active=False)
    )
    assert subscription.is_active is False
    assert subscription.event_types == []
    assert subscription.url == URL


def test_backoff_grows_is_capped_and_jittered() -> None:
    settings = get_settings().model_copy(
        update={
            "webhook_backoff_base_seconds": 10.0,
            "webhook_backoff_factor": 3.0,
            "webhook_backoff_max_seconds": 200.0,
            "webhook_backoff_jitter": 0.0,
        }
    )
    assert [webhooks.backoff_seconds(n, settings=settings) for n in (1, 2, 3, 4, 9)] == [
        10.0,
        30.0,
        90.0,
        200.0,
        200.0,
    ]
    jittered = settings.model_copy(update={"webhook_backoff_jitter": 0.25})
    rng = random.Random(7)
    waits = [webhooks.backoff_seconds(2, settings=jittered, rng=rng) for _ in range(200)]
    assert all(22.5 <= wait <= 37.5 for wait in waits)
    assert len(set(waits)) > 100


def test_claims_take_due_deliveries_of_live_subscriptions_only(
    session: Session, fixed_clock: datetime
) -> None:
    due = delivery_for(session, subscription_of(session))
    later = delivery_for(session, subscription_of(session))
    later.next_attempt_at = fixed_clock + timedelta(minutes=5)
    paused_subscription = subscription_of(session)
    paused = delivery_for(session, paused_subscription)
    paused_subscription.is_active = False
    deleted_subscription = subscription_of(session)
    deleted = delivery_for(session, deleted_subscription)
    webhooks.delete_subscription(session=session, subscription=deleted_subscription)
    done = delivery_for(session, subscription_of(session))
    done.status = DeliveryStatus.succeeded
    failed = delivery_for(session, subscription_of(session))
    failed.status = DeliveryStatus.failed
    session.add_all([later, paused_subscription, done, failed])
    session.flush()

    claimed = claim(session)

    assert [c.delivery_id for c in claimed] == [due.id]
    assert claimed[0].webhook_id == f"whd_{due.id}"
    assert claimed[0].url == URL
    session.refresh(due)
    assert due.claimed_until == fixed_clock + timedelta(seconds=LEASE)
    # Held now: not claimed again until the lease runs out.
    assert claim(session) == []
    assert {paused.id, deleted.id}.isdisjoint(c.delivery_id for c in claim(session))


def test_an_expired_lease_is_taken_over(session: Session, fixed_clock: datetime) -> None:
    delivery = delivery_for(session, subscription_of(session))
    [first] = claim(session)
    later = fixed_clock + timedelta(seconds=LEASE)
    [again] = webhooks.claim_due(session=session, limit=50, lease_seconds=LEASE, now=later)
    assert again.delivery_id == first.delivery_id == delivery.id
    assert again.claim_token != first.claim_token
    assert again.body == first.body


def test_success_settles_the_delivery(session: Session, fixed_clock: datetime) -> None:
    delivery = delivery_for(session, subscription_of(session))
    [held] = claim(session)
    webhooks.record_attempt(session=session, claimed=held, outcome=outcome(fixed_clock, 204))
    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.succeeded
    assert delivery.attempt_count == 1
    assert delivery.delivered_at == fixed_clock
    assert delivery.claimed_until is None
    assert delivery.next_attempt_at is None


def test_failures_retry_then_fail(
    session: Session, fixed_clock: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_max_attempts", 2)
    delivery = delivery_for(session, subscription_of(session))
    [held] = claim(session)
    webhooks.record_attempt(
        session=session, claimed=held, outcome=outcome(fixed_clock, None, "ConnectError")
    )
    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.retrying
    assert delivery.last_error == "ConnectError"
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > fixed_clock

    [held] = webhooks.claim_due(
        session=session, limit=50, lease_seconds=LEASE, now=delivery.next_attempt_at
    )
    webhooks.record_attempt(
        session=session, claimed=held, outcome=outcome(fixed_clock, 410, "HTTP 410")
    )
    assert factories.reread(session, delivery).status is DeliveryStatus.failed
    assert delivery.attempt_count == 2
    assert delivery.last_status_code == 410
    assert delivery.next_attempt_at is None
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(col(WebhookAttempt.id))
    ).all()
    assert [a.status_code for a in attempts] == [None, 410]


def test_a_report_without_the_lease_is_only_logged(session: Session, fixed_clock: datetime) -> None:
    delivery = delivery_for(session, subscription_of(session))
    [stale] = claim(session)
    webhooks.claim_due(
        session=session, limit=50, lease_seconds=LEASE, now=fixed_clock + timedelta(hours=1)
    )
    webhooks.record_attempt(session=session, claimed=stale, outcome=outcome(fixed_clock, 200))
    session.refresh(delivery)
    assert delivery.status is DeliveryStatus.pending
    assert delivery.attempt_count == 0
    assert delivery.claim_token is not None


def test_redelivery_rules(session: Session, fixed_clock: datetime) -> None:
    subscription = subscription_of(session)
    delivery = delivery_for(session, subscription)
    claim(session)
    with pytest.raises(DeliveryInFlight):
        webhooks.redeliver(session=session, delivery=delivery)
    delivery.claimed_until = fixed_clock - timedelta(seconds=1)
    delivery.status = DeliveryStatus.succeeded
    session.add(delivery)
    session.flush()
    webhooks.redeliver(session=session, delivery=delivery)
    assert delivery.status is DeliveryStatus.pending
    assert delivery.next_attempt_at == fixed_clock
    assert delivery.claimed_until is None

    subscription.is_active = False
    session.add(subscription)
    session.flush()
    with pytest.raises(WebhookInactive):
        webhooks.redeliver(session=session, delivery=delivery)


def test_one_delivery_per_subscription_and_event(session: Session) -> None:
    delivery = delivery_for(session, subscription_of(session))
    duplicate = WebhookDelivery(
        subscription_id=delivery.subscription_id, event_id=delivery.event_id
    )
    session.add(duplicate)
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        session.flush()
    session.rollback()


SECRET = "whsec_" + base64.b64encode(b"a test key of twenty-four+").decode()


def test_the_signature_is_base64_hmac_sha256_over_id_timestamp_and_body() -> None:
    body = b'{"id":1}'
    digest = hmac.new(
        b"a test key of twenty-four+", b'whd_7.1700000000.{"id":1}', hashlib.sha256
    ).digest()
    signed = sender.signature(secret=SECRET, webhook_id="whd_7", timestamp=1700000000, body=body)
    assert signed == "v1," + base64.b64encode(digest).decode()
    # As the Standard Webhooks reference library computes it.
    moment = datetime.fromtimestamp(1700000000, UTC)
    assert signed == Webhook(SECRET).sign("whd_7", moment, body)


def test_several_secrets_give_a_space_separated_list_and_any_one_verifies() -> None:
    other = "whsec_" + base64.b64encode(b"another key, also 24 byte").decode()
    body = b'{"id":1}'
    header = sender.signature_header(
        secrets=[SECRET, other], webhook_id="whd_7", timestamp=1700000000, body=body
    )
    first, second = header.split(" ")
    assert first.startswith("v1,")
    assert second.startswith("v1,")
    moment = datetime.fromtimestamp(1700000000, UTC)
    assert second == Webhook(other).sign("whd_7", moment, body)


def test_new_secrets_are_whsec_and_base64_of_32_random_bytes() -> None:
    first, second = webhooks.new_secret(), webhooks.new_secret()
    assert first != second
    for secret in (first, second):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
        assert sender.signing_key(secret) == base64.b64decode(secret[len("whsec_") :])


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not*base64", "c2VjcmV0"])
def test_a_malformed_secret_is_refused_for_signing(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        sender.signing_key(secret)


def held_for(url: str) -> ClaimedDelivery:
    return ClaimedDelivery(
        delivery_id=7,
        webhook_id="whd_7",
        url=url,
        secret=SECRET,
        body=b'{"id":1}',
        claim_token="token",
    )


def test_sending_reports_the_receivers_answer(receiver: Receiver, fixed_clock: datetime) -> None:
    with httpx.Client(timeout=5) as client:
        result = sender.send(client, held_for(receiver.url), check_destination=False)
        receiver.status = 500
        failing = sender.send(client, held_for(receiver.url), check_destination=False)
    assert result.succeeded
    assert result.status_code == 200
    assert result.response_body == "ok"
    assert verify(receiver.requests[0], SECRET, now=fixed_clock)
    assert not failing.succeeded
    assert failing.error == "HTTP 500"


def test_sending_to_nobody_is_an_outcome_not_an_exception(receiver: Receiver) -> None:
    url = receiver.url
    receiver.down()
    with httpx.Client(timeout=5) as client:
        result = sender.send(client, held_for(url), check_destination=False)
    assert result.status_code is None
    assert result.error is not None
    assert "Connect" in result.error


def test_only_the_start_of_a_long_answer_is_kept() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 100_000))
    with httpx.Client(transport=transport) as client:
        result = sender.send(client, held_for(URL), check_destination=False)
    assert result.response_body == "x" * 2000


def test_production_checks_the_destination_before_sending() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    with httpx.Client(transport=transport) as client:
        result = sender.send(client, held_for("https://localhost/x"), check_destination=True)
    assert calls == []
    assert not result.succeeded
    assert result.error is not None
    assert "public host" in result.error


def test_a_lease_must_outlast_a_request() -> None:
    with pytest.raises(ValidationError, match="webhook_lease_seconds"):
        Settings(webhook_timeout_seconds=30, webhook_lease_seconds=30)
