"""Admission control keeps requests in flight at or under the limit and loses none."""

import anyio
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from marketplace.config import WORKER_THREADS, Settings
from marketplace.middleware import ConcurrencyLimit


def test_requests_beyond_the_limit_wait_and_all_complete() -> None:
    limit, requests = 3, 12
    in_flight = peak = 0
    release = anyio.Event()

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    statuses: list[int] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=ConcurrencyLimit(slow_app, limit=limit))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def call() -> None:
                statuses.append((await client.get("/")).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(requests):
                    group.start_soon(call)
                # Let every request reach the app or the queue before releasing them.
                for _ in range(1000):
                    if in_flight == limit:
                        break
                    await anyio.sleep(0)
                assert in_flight == limit
                release.set()

    anyio.run(main)
    assert peak == limit
    assert statuses == [204] * requests


def test_settings_refuse_more_requests_than_pooled_connections() -> None:
    with pytest.raises(ValueError, match="exceeds the database pool"):
        Settings(database_pool_size=4, database_max_overflow=1, max_concurrent_requests=6)


def test_the_default_limit_leaves_worker_threads_free() -> None:
    settings = Settings()
    in_flight = settings.max_concurrent_requests + settings.max_concurrent_sign_ins
    assert in_flight < WORKER_THREADS
    assert in_flight <= settings.database_pool_size + settings.database_max_overflow


def test_a_full_sign_in_pool_leaves_the_rest_of_the_api_its_slots() -> None:
    """Sign-ins waiting for their hash fill only their own pool: a health check still gets in,
    and the sign-ins beyond the pool wait rather than take general slots."""
    sign_in_started = 0
    release = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal sign_in_started
        if scope["path"] == "/api/v1/auth/token":
            sign_in_started += 1
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = ConcurrencyLimit(app, limit=2, pools={"/api/v1/auth/token": 2})
    health: list[int] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=limited)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as group,
        ):
            for _ in range(10):
                group.start_soon(client.post, "/api/v1/auth/token")
            for _ in range(1000):
                if sign_in_started == 2:
                    break
                await anyio.sleep(0)
            # Ten sign-ins are waiting, two inside: the general slots are all free. (Were they
            # not, the health check would wait forever: the guard turns that into a failure.)
            with anyio.fail_after(10):
                for _ in range(3):
                    health.append((await client.get("/healthz")).status_code)
            assert sign_in_started == 2
            release.set()

    anyio.run(main)
    assert health == [200, 200, 200]
    assert sign_in_started == 10
