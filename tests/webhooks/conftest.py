"""A real local webhook receiver (an HTTP server in a thread), a clock the tests move, and small
builders for webhook subscriptions and their events."""

import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.events import service as events
from marketplace.events.models import Event, EventType
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.models import WebhookCreate, WebhookDelivery, WebhookSubscription


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Receiver:
    """Records every request; answers ``status`` (200 by default), or refuses connections
    while ``down()``."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver unavailable")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Connections are refused until ``up()`` (on the same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [request.webhook_id for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.up()
    yield server
    server.down()


def verify(request: Received, secret: str, *, now: datetime, tolerance: int = 300) -> bool:
    """The receiver's check at the moment ``now`` of the tests' clock: the signature as the
    Standard Webhooks reference library computes it, and the timestamp within ``tolerance``.
    (``Webhook.verify`` does both at the real present; see test_delivery for that.)"""
    webhook_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        return False
    expected = Webhook(secret).sign(
        webhook_id, datetime.fromtimestamp(int(timestamp), UTC), request.body
    )
    offered = request.headers["webhook-signature"].split(" ")
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


class MovableClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr(clock, "now", lambda: self.now)
        monkeypatch.setattr(clock, "today", lambda: clock.day_of(self.now))

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def moving_clock(monkeypatch: pytest.MonkeyPatch, fixed_clock: datetime) -> MovableClock:
    return MovableClock(monkeypatch, fixed_clock)


def subscribe(
    session: Session,
    admin: User,
    url: str,
    event_types: list[EventType] | None = None,
) -> tuple[WebhookSubscription, str]:
    return webhooks.create_subscription(
        session=session,
        creator=admin,
        data=WebhookCreate(url=url, event_types=event_types or []),
    )


def record_event(
    session: Session,
    organization_id: int,
    subject: str,
    type: EventType = EventType.pledge_registered,
) -> None:
    events.record(
        session,
        recipients=[organization_id],
        type=type,
        subject=subject,
        payload={"subject": subject, "amount": "5000000.00"},
    )


def delivery_for(
    session: Session, subscription: WebhookSubscription, subject: str = "pledge:1"
) -> WebhookDelivery:
    """A delivery as fan-out creates it, for tests that do not run the worker."""
    record_event(session, subscription.organization_id, subject)
    event = session.scalars(
        select(Event)
        .where(Event.recipient_id == subscription.organization_id)
        .order_by(col(Event.id).desc())
    ).first()
    assert event is not None
    assert event.id is not None
    assert subscription.id is not None
    delivery = WebhookDelivery(
        subscription_id=subscription.id, event_id=event.id, next_attempt_at=clock.now()
    )
    session.add(delivery)
    session.flush()
    return delivery
