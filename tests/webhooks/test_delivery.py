"""Webhook delivery end to end, against a real local receiver and real commits (the worker runs
its own transactions, as deployed): signed, retried through an outage, surviving a worker
restart, never two deliveries for one event and subscription."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from marketplace import clock
from marketplace.accounts.models import OrganizationKind, User
from marketplace.cli import app as cli_app
from marketplace.config import get_settings
from marketplace.events import service as events
from marketplace.events.models import Event, EventType
from marketplace.main import create_app
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from marketplace.webhooks.worker import PassResult, Worker
from tests import factories
from tests.webhooks.conftest import MovableClock, Receiver, record_event, subscribe, verify

LEASE = get_settings().webhook_lease_seconds
MAX_BACKOFF = get_settings().webhook_backoff_max_seconds * 2


@pytest.fixture
def worker(committed_engine: Engine) -> Iterator[Worker]:
    instance = Worker()
    yield instance
    instance.close()


def bank_admin(engine: Engine) -> User:
    with Session(engine, expire_on_commit=False) as setup:
        admin = factories.member(setup, kind=OrganizationKind.bank)
        setup.commit()
        return admin


def subscribed(
    engine: Engine, receiver: Receiver, event_types: list[EventType] | None = None
) -> tuple[User, int, str]:
    admin = bank_admin(engine)
    with Session(engine, expire_on_commit=False) as setup:
        subscription, secret = subscribe(setup, admin, receiver.url, event_types)
        setup.commit()
        assert subscription.id is not None
        return admin, subscription.id, secret


def happen(engine: Engine, organization_id: int, *subjects: str, **kwargs: EventType) -> None:
    """Events committed as a change would commit them, one transaction each."""
    for subject in subjects:
        with Session(engine) as writer:
            record_event(writer, organization_id, subject, **kwargs)
            writer.commit()


def deliveries(engine: Engine, subscription_id: int) -> list[WebhookDelivery]:
    with Session(engine) as reader:
        return list(
            reader.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == subscription_id)
                .order_by(col(WebhookDelivery.id))
            ).all()
        )


def fan_out(worker: Worker, engine: Engine) -> int:
    """Fan-out passes until every subscription's cursor has reached its organization's last
    event. On a shared PostgreSQL server an event becomes readable only once every older
    transaction on the server has ended, which other clients may delay for a moment."""
    created = 0
    deadline = time.monotonic() + 30
    while True:
        created += worker.fan_out_pass()
        if caught_up(engine):
            return created
        assert time.monotonic() < deadline, "fan-out did not reach the last events"
        time.sleep(0.05)


def caught_up(engine: Engine) -> bool:
    with Session(engine) as reader:
        live = reader.scalars(
            select(WebhookSubscription).where(col(WebhookSubscription.deleted_at).is_(None))
        ).all()
        for subscription in live:
            last = reader.scalars(
                select(Event)
                .where(Event.recipient_id == subscription.organization_id)
                .order_by(col(Event.transaction_id).desc(), col(Event.id).desc())
                .limit(1)
            ).first()
            position = (subscription.cursor_transaction_id, subscription.cursor_event_id)
            if last is not None and (last.transaction_id, last.id or 0) > position:
                return False
    return True


def run_once(worker: Worker, engine: Engine) -> PassResult:
    """``worker.run_once()`` once the fan-out has caught up."""
    created = fan_out(worker, engine)
    attempted, succeeded = worker.send_pass()
    return PassResult(created=created, attempted=attempted, succeeded=succeeded)


def test_an_event_arrives_signed_as_documented(
    committed_engine: Engine, receiver: Receiver, worker: Worker, moving_clock: MovableClock
) -> None:
    admin, subscription_id, secret = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")

    result = run_once(worker, committed_engine)

    assert (result.created, result.attempted, result.succeeded) == (1, 1, 1)
    [request] = receiver.requests
    assert verify(request, secret, now=moving_clock.now)
    assert not verify(request, webhooks.new_secret(), now=moving_clock.now)
    assert int(request.headers["webhook-timestamp"]) == int(moving_clock.now.timestamp())
    assert request.headers["content-type"] == "application/json"
    assert request.event["type"] == "pledge.registered"
    assert request.event["subject"] == "pledge:1"
    assert request.event["payload"] == {"subject": "pledge:1", "amount": "5000000.00"}
    [delivery] = deliveries(committed_engine, subscription_id)
    assert request.webhook_id == f"whd_{delivery.id}"
    assert request.event["id"] == delivery.event_id
    assert delivery.status is DeliveryStatus.succeeded
    assert delivery.attempt_count == 1
    assert delivery.last_status_code == 200
    assert delivery.delivered_at == moving_clock.now

    # Nothing more to do: a second pass neither creates nor sends anything.
    again = run_once(worker, committed_engine)
    assert (again.created, again.attempted) == (0, 0)
    assert len(receiver.requests) == 1


def test_a_delivery_verifies_with_the_standard_webhooks_reference_library(
    committed_engine: Engine,
    receiver: Receiver,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real present: the library checks the timestamp against it.
    MovableClock(monkeypatch, datetime.now(UTC))
    admin, _, secret = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    assert run_once(worker, committed_engine).succeeded == 1
    [request] = receiver.requests

    assert Webhook(secret).verify(request.body, request.headers) == request.event
    signatures = request.headers["webhook-signature"].split(" ")
    assert [s.split(",", 1)[0] for s in signatures] == ["v1"]

    tampered = request.body.replace(b"pledge:1", b"pledge:2")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request.body, request.headers)
    # The timestamp is signed too: another one with the same signature does not pass.
    moved = str(int(request.headers["webhook-timestamp"]) - 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, {**request.headers, "webhook-timestamp": moved})


def test_a_delivery_signed_too_long_ago_does_not_verify(
    committed_engine: Engine,
    receiver: Receiver,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sent (by the worker's clock) ten minutes ago: past the library's five-minute tolerance.
    MovableClock(monkeypatch, datetime.now(UTC) - timedelta(minutes=10))
    admin, _, secret = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    assert run_once(worker, committed_engine).succeeded == 1
    [request] = receiver.requests

    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(request.body, request.headers)


def test_an_outage_is_retried_with_backoff_then_delivered_once(
    committed_engine: Engine, receiver: Receiver, worker: Worker, moving_clock: MovableClock
) -> None:
    settings = get_settings()
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    receiver.down()
    happen(committed_engine, admin.organization_id, "pledge:1")

    assert run_once(worker, committed_engine).attempted == 1  # connection refused
    [delivery] = deliveries(committed_engine, subscription_id)
    assert delivery.status is DeliveryStatus.retrying
    assert delivery.last_status_code is None
    assert delivery.last_error is not None
    assert delivery.next_attempt_at is not None
    first_wait = (delivery.next_attempt_at - moving_clock.now).total_seconds()
    jitter = settings.webhook_backoff_jitter
    base = settings.webhook_backoff_base_seconds
    assert base * (1 - jitter) <= first_wait <= base * (1 + jitter)

    # Not due yet: nothing is sent.
    moving_clock.advance(first_wait - 1)
    assert worker.send_pass() == (0, 0)

    # Up again but failing: 503 is a failure too, and the wait grows.
    receiver.status = 503
    receiver.up()
    moving_clock.advance(2)
    assert worker.send_pass() == (1, 0)
    [delivery] = deliveries(committed_engine, subscription_id)
    assert delivery.status is DeliveryStatus.retrying
    assert delivery.last_status_code == 503
    assert delivery.next_attempt_at is not None
    second_wait = (delivery.next_attempt_at - moving_clock.now).total_seconds()
    factor = settings.webhook_backoff_factor
    assert base * factor * (1 - jitter) <= second_wait <= base * factor * (1 + jitter)

    receiver.status = 200
    moving_clock.advance(second_wait)
    assert worker.send_pass() == (1, 1)
    [delivery] = deliveries(committed_engine, subscription_id)
    assert delivery.status is DeliveryStatus.succeeded
    assert delivery.attempt_count == 3
    # Refused connections reach nobody; the 503 and the success came under one Webhook-Id.
    assert receiver.ids() == [f"whd_{delivery.id}"] * 2

    moving_clock.advance(MAX_BACKOFF)
    assert run_once(worker, committed_engine).attempted == 0
    with Session(committed_engine) as reader:
        attempts = reader.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(col(WebhookAttempt.id))
        ).all()
    assert [a.status_code for a in attempts] == [None, 503, 200]
    assert [a.succeeded for a in attempts] == [False, False, True]
    assert attempts[0].error
    assert attempts[1].response_body == "receiver unavailable"


def test_a_delivery_fails_once_its_attempts_are_spent(
    committed_engine: Engine,
    receiver: Receiver,
    worker: Worker,
    moving_clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "webhook_max_attempts", 3)
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    receiver.status = 500
    happen(committed_engine, admin.organization_id, "pledge:1")

    for _ in range(5):
        run_once(worker, committed_engine)
        moving_clock.advance(MAX_BACKOFF)

    [delivery] = deliveries(committed_engine, subscription_id)
    assert delivery.status is DeliveryStatus.failed
    assert delivery.attempt_count == 3
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 3


def test_a_worker_dying_mid_delivery_loses_nothing(
    committed_engine: Engine, receiver: Receiver, moving_clock: MovableClock
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1", "pledge:2")

    # The first worker creates the deliveries, claims both, sends one and dies before recording
    # it (and before sending the other).
    dying = Worker()
    assert fan_out(dying, committed_engine) == 2
    first, second = dying.claim()
    dying.send(first)
    dying.close()
    assert len(receiver.requests) == 1

    # A new worker (a restart): both are held by the dead worker's lease until it expires.
    restarted = Worker()
    try:
        assert run_once(restarted, committed_engine).attempted == 0
        moving_clock.advance(LEASE + 1)
        result = run_once(restarted, committed_engine)
        assert (result.created, result.attempted, result.succeeded) == (0, 2, 2)
    finally:
        restarted.close()

    rows = deliveries(committed_engine, subscription_id)
    assert [row.status for row in rows] == [DeliveryStatus.succeeded] * 2
    # At least once: the receiver saw the first again under the same Webhook-Id, so it can
    # drop the repeat; each event has exactly one delivery (one id).
    assert receiver.ids() == [first.webhook_id, first.webhook_id, second.webhook_id]
    assert len(rows) == 2
    assert {row.event_id for row in rows} == {request.event["id"] for request in receiver.requests}


def test_a_late_report_from_a_worker_that_lost_its_lease_changes_nothing(
    committed_engine: Engine, receiver: Receiver, moving_clock: MovableClock
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    slow, quick = Worker(), Worker()
    try:
        fan_out(slow, committed_engine)
        [held] = slow.claim()
        moving_clock.advance(LEASE + 1)
        assert quick.send_pass() == (1, 1)
        # The slow worker's request finally fails; its report is logged, not applied.
        receiver.status = 500
        slow.record(held, slow.send(held))
    finally:
        slow.close()
        quick.close()
    [delivery] = deliveries(committed_engine, subscription_id)
    assert delivery.status is DeliveryStatus.succeeded
    assert delivery.attempt_count == 1
    with Session(committed_engine) as reader:
        logged = reader.scalar(
            select(func.count()).where(WebhookAttempt.delivery_id == delivery.id)
        )
    assert logged == 2


def test_nothing_is_lost_across_a_restart_between_fan_out_passes(
    committed_engine: Engine, receiver: Receiver, moving_clock: MovableClock
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1", "pledge:2")
    first = Worker()
    fan_out(first, committed_engine)
    first.close()
    happen(committed_engine, admin.organization_id, "pledge:3")
    second = Worker()
    try:
        result = run_once(second, committed_engine)
    finally:
        second.close()
    assert (result.created, result.attempted, result.succeeded) == (1, 3, 3)
    assert [r.event["subject"] for r in receiver.requests] == ["pledge:1", "pledge:2", "pledge:3"]
    assert len(deliveries(committed_engine, subscription_id)) == 3


def test_only_the_chosen_event_types_and_only_later_events_are_delivered(
    committed_engine: Engine, receiver: Receiver, worker: Worker
) -> None:
    admin = bank_admin(committed_engine)
    happen(committed_engine, admin.organization_id, "before-subscribing")
    with Session(committed_engine, expire_on_commit=False) as setup:
        subscription, _ = subscribe(setup, admin, receiver.url, [EventType.pledge_cancelled])
        everything, _ = subscribe(setup, admin, receiver.url)
        setup.commit()
    happen(committed_engine, admin.organization_id, "registered")
    happen(committed_engine, admin.organization_id, "cancelled", type=EventType.pledge_cancelled)
    other = bank_admin(committed_engine)
    happen(committed_engine, other.organization_id, "someone-else's")

    run_once(worker, committed_engine)

    assert subject_by_subscription(committed_engine, subscription.id) == ["cancelled"]
    assert subject_by_subscription(committed_engine, everything.id) == ["registered", "cancelled"]
    assert sorted(r.event["subject"] for r in receiver.requests) == [
        "cancelled",
        "cancelled",
        "registered",
    ]


def subject_by_subscription(engine: Engine, subscription_id: int | None) -> list[str]:
    assert subscription_id is not None
    with Session(engine) as reader:
        return list(
            reader.scalars(
                select(Event.subject)
                .join(WebhookDelivery, col(WebhookDelivery.event_id) == col(Event.id))
                .where(WebhookDelivery.subscription_id == subscription_id)
                .order_by(col(Event.id))
            ).all()
        )


def test_a_paused_or_deleted_webhook_gets_nothing(
    committed_engine: Engine, receiver: Receiver, worker: Worker, moving_clock: MovableClock
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    headers = auth(committed_engine, admin)
    with TestClient(create_app()) as client:
        # An outstanding delivery waits while the webhook is paused...
        receiver.status = 503
        happen(committed_engine, admin.organization_id, "before-pause")
        run_once(worker, committed_engine)
        receiver.status = 200
        paused = client.patch(
            f"/api/v1/webhooks/{subscription_id}", headers=headers, json={"is_active": False}
        )
        assert paused.status_code == 200, paused.text
        # ...and events while paused are not delivered at all.
        happen(committed_engine, admin.organization_id, "while-paused")
        moving_clock.advance(MAX_BACKOFF)
        assert run_once(worker, committed_engine).attempted == 0
        assert len(receiver.requests) == 1

        resumed = client.patch(
            f"/api/v1/webhooks/{subscription_id}", headers=headers, json={"is_active": True}
        )
        assert resumed.status_code == 200
        happen(committed_engine, admin.organization_id, "after-resume")
        assert run_once(worker, committed_engine).succeeded == 2
        assert [r.event["subject"] for r in receiver.requests] == [
            "before-pause",
            "before-pause",
            "after-resume",
        ]

        # Deleted: neither new events nor outstanding deliveries are sent.
        receiver.status = 503
        happen(committed_engine, admin.organization_id, "failing")
        run_once(worker, committed_engine)
        deleted = client.delete(f"/api/v1/webhooks/{subscription_id}", headers=headers)
        assert deleted.status_code == 204
        happen(committed_engine, admin.organization_id, "after-delete")
        moving_clock.advance(MAX_BACKOFF)
        assert run_once(worker, committed_engine) == PassResult(created=0, attempted=0, succeeded=0)
    assert len(receiver.requests) == 4
    with Session(committed_engine) as reader:
        subscription = reader.get_one(WebhookSubscription, subscription_id)
        assert subscription.deleted_at is not None


def auth(engine: Engine, admin: User) -> dict[str, str]:
    with Session(engine) as setup:
        headers = factories.auth(setup, admin)
        setup.commit()
        return headers


def test_a_manual_redelivery_resends_under_the_same_id(
    committed_engine: Engine, receiver: Receiver, worker: Worker
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    run_once(worker, committed_engine)
    [delivery] = deliveries(committed_engine, subscription_id)

    with TestClient(create_app()) as client:
        response = client.post(
            f"/api/v1/deliveries/{delivery.id}/redeliver", headers=auth(committed_engine, admin)
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"

    assert run_once(worker, committed_engine).succeeded == 1
    first, again = receiver.requests
    assert first.webhook_id == again.webhook_id == f"whd_{delivery.id}"
    assert first.body == again.body
    [redelivered] = deliveries(committed_engine, subscription_id)
    assert redelivered.status is DeliveryStatus.succeeded
    assert redelivered.attempt_count == 2


def test_the_worker_loop_stops_when_asked(
    committed_engine: Engine, receiver: Receiver, worker: Worker
) -> None:
    admin, _, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    try:
        for _ in range(200):
            if receiver.requests:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert len(receiver.requests) == 1


def test_the_worker_command_makes_one_pass(committed_engine: Engine, receiver: Receiver) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    visible_to_fan_out(committed_engine, admin.organization_id)

    result = CliRunner().invoke(cli_app, ["webhooks", "worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "1 delivery(ies) created, 1 attempt(s), 1 succeeded" in result.output
    assert len(receiver.requests) == 1
    assert deliveries(committed_engine, subscription_id)[0].status is DeliveryStatus.succeeded


def test_a_claim_takes_only_what_is_due(committed_engine: Engine, receiver: Receiver) -> None:
    admin, _, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")
    worker = Worker()
    try:
        fan_out(worker, committed_engine)
        with Session(committed_engine) as session:
            past = webhooks.claim_due(
                session=session, limit=10, lease_seconds=LEASE, now=clock.now() - timedelta(days=1)
            )
            session.rollback()
        assert past == []
        assert len(worker.claim()) == 1
        assert worker.claim() == []  # held
    finally:
        worker.close()


def visible_to_fan_out(engine: Engine, organization_id: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        with Session(engine) as reader:
            if events.read_after(
                session=reader, recipient_id=organization_id, after=(0, 0), limit=1
            ):
                return
        assert time.monotonic() < deadline, "the event never became readable"
        time.sleep(0.05)


def start_worker_process() -> subprocess.Popen[str]:
    env = os.environ | {"MARKETPLACE_WEBHOOK_POLL_INTERVAL_SECONDS": "0.1"}
    return subprocess.Popen(
        [sys.executable, "-c", "from marketplace.cli import app; app()", "webhooks", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_processes_stop_on_sigterm_and_a_new_one_carries_on(
    committed_engine: Engine, receiver: Receiver
) -> None:
    admin, subscription_id, _ = subscribed(committed_engine, receiver)
    happen(committed_engine, admin.organization_id, "pledge:1")

    first = start_worker_process()
    try:
        wait_for(lambda: len(receiver.requests) == 1)
    finally:
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, output
    assert "Webhook worker stopped." in output

    # Changes made while no worker runs are delivered by the next one.
    happen(committed_engine, admin.organization_id, "pledge:2")
    second = start_worker_process()
    try:
        wait_for(lambda: len(receiver.requests) == 2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    assert second.returncode == 0

    rows = deliveries(committed_engine, subscription_id)
    assert [row.status for row in rows] == [DeliveryStatus.succeeded] * 2
    assert receiver.ids() == [f"whd_{row.id}" for row in rows]
    assert [r.event["subject"] for r in receiver.requests] == ["pledge:1", "pledge:2"]
