"""Two server processes (uvicorn, as deployed) against one PostgreSQL: the sign-in limit holds
across both, and a certificate issued by one verifies at the other. Two webhook workers deliver
each event once.

PostgreSQL only: SQLite serves one host."""

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from marketplace.accounts.models import OrganizationKind
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery
from tests import factories
from tests.conftest import TEST_DATABASE_URL, postgres_only
from tests.licensing.royalty_builders import license_for
from tests.webhooks.conftest import subscribe

pytestmark = postgres_only

ROOT = Path(__file__).resolve().parent.parent
ATTEMPTS = 4
RUN_CLI = "import sys; from marketplace.cli import app; sys.argv[0] = 'marketplace'; app()"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MARKETPLACE_DATABASE_URL": TEST_DATABASE_URL,
        "MARKETPLACE_ATTEMPT_WINDOWS": "database",
        "MARKETPLACE_TOKEN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS),
        "MARKETPLACE_SIGNING_KEYS_DIR": str(ROOT / ".no-such-key-directory"),
        **extra,
    }
    return env


def _start_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "marketplace.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_environment(),
    )


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not come up")


@pytest.fixture
def two_servers(committed_engine: Engine) -> Iterator[tuple[str, str]]:
    ports = [_free_port(), _free_port()]
    processes = [_start_server(port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, process in zip(bases, processes, strict=True):
            _wait_until_up(base, process)
        yield bases[0], bases[1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_the_sign_in_limit_holds_across_two_servers(
    committed_engine: Engine, two_servers: tuple[str, str]
) -> None:
    with Session(committed_engine) as session:
        account = factories.member(session)
        email = account.email
        session.commit()
    statuses: list[int] = []
    for attempt in range(ATTEMPTS + 2):
        base = two_servers[attempt % 2]
        response = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"grant_type": "password", "username": email, "password": "wrong password"},
            timeout=30,
        )
        statuses.append(response.status_code)
    # Four wrong passwords, two at each server, then both refuse: they count together.
    assert statuses == [400] * ATTEMPTS + [429, 429]


def test_a_certificate_issued_by_one_server_verifies_at_the_other(
    committed_engine: Engine, two_servers: tuple[str, str]
) -> None:
    with Session(committed_engine) as session:
        licensor = factories.organization(session, kind=OrganizationKind.university)
        licensee_user = factories.member(session)
        licensee = session.get_one(type(licensor), licensee_user.organization_id)
        license_ = license_for(session, licensor, licensee)
        headers = factories.auth(session, licensee_user)
        session.commit()
        license_id = license_.id
    first, second = two_servers

    issued = httpx.get(
        f"{first}/api/v1/licenses/{license_id}/certificate", headers=headers, timeout=30
    )
    assert issued.status_code == 200, issued.text
    verdict = httpx.post(
        f"{second}/api/v1/certificates/verify", json={"jws": issued.json()["jws"]}, timeout=30
    ).json()

    assert verdict["valid"] is True, verdict
    jwks = [httpx.get(f"{base}/.well-known/jwks.json", timeout=30).json() for base in two_servers]
    assert jwks[0] == jwks[1]


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with self.lock:
            self.received.append(self.headers.get("Webhook-Id", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_two_webhook_workers_deliver_each_event_once(committed_engine: Engine) -> None:
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with Session(committed_engine) as session:
        bank = factories.member(session, kind=OrganizationKind.bank)
        subscribe(session, bank, url=url)
        for n in range(20):
            events.record(
                session,
                recipients=[bank.organization_id],
                type=EventType.pledge_registered,
                subject=f"pledge:{n + 1}",
                payload={"n": n},
            )
        session.commit()
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", RUN_CLI, "webhooks", "worker", "--once"],
            cwd=ROOT,
            env=_environment(),
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        server.shutdown()
    with Session(committed_engine) as session:
        delivered = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.succeeded)
        )
    assert delivered == 20
    assert len(_Receiver.received) == 20
    assert len(set(_Receiver.received)) == 20
