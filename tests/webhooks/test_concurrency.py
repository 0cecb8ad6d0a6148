"""Two workers side by side on PostgreSQL (FOR UPDATE SKIP LOCKED), while changes keep
committing: every event reaches every subscription under exactly one delivery, sent once."""

import threading
import time
from collections import Counter

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from marketplace.events.models import Event
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery
from marketplace.webhooks.worker import Worker
from tests.conftest import postgres_only
from tests.webhooks.conftest import Receiver, subscribe
from tests.webhooks.test_delivery import caught_up, happen, subscribed

pytestmark = postgres_only

EVENTS_PER_ORGANIZATION = 30


def test_two_workers_deliver_each_event_once(committed_engine: Engine, receiver: Receiver) -> None:
    first_admin, _, _ = subscribed(committed_engine, receiver)
    second_admin, _, _ = subscribed(committed_engine, receiver)
    with Session(committed_engine) as setup:
        # A second subscription of the first organization: each event goes to both.
        subscribe(setup, first_admin, receiver.url)
        setup.commit()
    organizations = [first_admin.organization_id, second_admin.organization_id]
    expected = EVENTS_PER_ORGANIZATION * 3

    done = threading.Event()
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def work() -> None:
        worker = Worker()
        try:
            start.wait()
            while not done.is_set():
                worker.run_once()
        except BaseException as exc:
            failures.append(exc)
        finally:
            worker.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    start.wait()
    # Changes keep committing while the workers fan out and send.
    for number in range(EVENTS_PER_ORGANIZATION):
        for organization_id in organizations:
            happen(committed_engine, organization_id, f"pledge:{organization_id}-{number}")

    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not failures:
            with Session(committed_engine) as reader:
                succeeded = reader.scalar(
                    select(func.count()).where(WebhookDelivery.status == DeliveryStatus.succeeded)
                )
            if succeeded == expected and caught_up(committed_engine):
                break
            time.sleep(0.1)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures

    with Session(committed_engine) as reader:
        rows = reader.scalars(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
        event_count = reader.scalar(select(func.count()).select_from(Event))
    assert event_count == EVENTS_PER_ORGANIZATION * 2
    assert len(rows) == expected
    assert len({(row.subscription_id, row.event_id) for row in rows}) == expected
    assert all(row.status is DeliveryStatus.succeeded for row in rows)
    assert all(row.attempt_count == 1 for row in rows)
    # No lease expired (the clock stands still), so no delivery was sent twice.
    sent = Counter(receiver.ids())
    assert set(sent) == {f"whd_{row.id}" for row in rows}
    assert max(sent.values()) == 1
