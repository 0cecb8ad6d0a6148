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
    assert settings.max_concurrent_requests < WORKER_THREADS
    assert settings.max_concurrent_requests <= (
        settings.database_pool_size + settings.database_max_overflow
    )
