"""The delivery worker: fan-out, then claim → send → record, each step its own transaction.

Guarantees (see README, "Webhooks"):

* Nothing is lost: events are in the database with their change; a delivery row exists for each
  (subscription, event) once fan-out has passed it; a delivery stays outstanding until a 2xx or
  its attempts are spent, and a worker that dies holding one loses it when its lease expires.
* Nothing is created twice: one delivery row per (subscription, event), held by a unique
  constraint and by the cursor advancing in the same transaction.
* At-least-once: a worker that dies after sending but before recording leaves the delivery to be
  sent again under the same ``Webhook-Id``. Receivers drop repeats by that id."""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
from sqlmodel import Session

from marketplace.config import Environment, Settings, get_settings
from marketplace.sessions import unit_of_work
from marketplace.webhooks import sender
from marketplace.webhooks import service as webhooks
from marketplace.webhooks.service import AttemptOutcome, ClaimedDelivery

logger = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True, slots=True)
class PassResult:
    created: int
    attempted: int
    succeeded: int

    @property
    def busy(self) -> bool:
        return bool(self.created or self.attempted)


class Worker:
    """One worker; run several (processes or machines) against PostgreSQL to share the load."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        settings: Settings | None = None,
        session_factory: SessionFactory = unit_of_work,
    ) -> None:
        self.settings = settings or get_settings()
        self.client = client or httpx.Client(
            timeout=self.settings.webhook_timeout_seconds, follow_redirects=False
        )
        self.session_factory = session_factory

    def close(self) -> None:
        self.client.close()

    def fan_out_pass(self) -> int:
        """New events become deliveries; returns how many were created."""
        with self.session_factory() as session:
            return webhooks.fan_out(session=session, batch_size=self.settings.webhook_batch_size)

    def claim(self) -> list[ClaimedDelivery]:
        with self.session_factory() as session:
            return webhooks.claim_due(
                session=session,
                limit=self.settings.webhook_batch_size,
                lease_seconds=self.settings.webhook_lease_seconds,
            )

    def send(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        return sender.send(
            self.client,
            claimed,
            check_destination=self.settings.environment is Environment.production,
        )

    def record(self, claimed: ClaimedDelivery, outcome: AttemptOutcome) -> None:
        with self.session_factory() as session:
            webhooks.record_attempt(session=session, claimed=claimed, outcome=outcome)

    def send_pass(self) -> tuple[int, int]:
        """Sends what is due; returns (attempts, successes)."""
        attempted = succeeded = 0
        for claimed in self.claim():
            outcome = self.send(claimed)
            self.record(claimed, outcome)
            attempted += 1
            succeeded += outcome.succeeded
            if not outcome.succeeded:
                logger.info(
                    "webhook %s to %s failed: %s", claimed.webhook_id, claimed.url, outcome.error
                )
        return attempted, succeeded

    def run_once(self) -> PassResult:
        created = self.fan_out_pass()
        attempted, succeeded = self.send_pass()
        return PassResult(created=created, attempted=attempted, succeeded=succeeded)

    def run(self, stop: threading.Event) -> None:
        """Passes until ``stop`` is set; sleeps between passes only when there was nothing to do.
        A pass in progress finishes (its claims are recorded) before the loop ends."""
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception:
                logger.exception("webhook worker pass failed; retrying after the poll interval")
                result = PassResult(0, 0, 0)
            if not result.busy:
                stop.wait(self.settings.webhook_poll_interval_seconds)
