"""Races on purpose, for the tests of races (PostgreSQL): requests sent to the app at the same
moment, and two transactions made to overlap (``overlap``)."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.matching.overlap import PATIENCE_SECONDS, backend_pid, start, wait_until_blocked


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None


def send_at_once(app: FastAPI, calls: Sequence[Call]) -> list[httpx.Response]:
    """Send every call at once and wait for all of them."""

    async def run() -> list[httpx.Response]:
        # A 500 must come back as a response to assert on, not as an exception in the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return list(
                await asyncio.gather(
                    *(
                        client.request(c.method, c.path, headers=c.headers, json=c.json)
                        for c in calls
                    )
                )
            )

    return asyncio.run(run())


def post_at_once(
    app: FastAPI, calls: Sequence[tuple[str, dict[str, str], Any]]
) -> list[httpx.Response]:
    """POST every (path, headers, body) at once."""
    return send_at_once(app, [Call("POST", path, headers, body) for path, headers, body in calls])


def statuses_and_bodies(responses: Sequence[httpx.Response]) -> list[tuple[int, Any]]:
    """Each response's status and body."""
    return [(response.status_code, response.json()) for response in responses]


def overlap(
    engine: Engine, first: Callable[[Session], object], second: Callable[[Session], object]
) -> list[BaseException]:
    """``first`` runs and holds its transaction open; ``second`` starts in a thread and must
    wait for it; then ``first`` commits. Returns what ``second`` raised."""
    holding = Session(engine)
    waiting = Session(engine)
    failures: list[BaseException] = []
    thread: threading.Thread | None = None
    try:
        first(holding)
        holder, waiter = backend_pid(holding), backend_pid(waiting)

        def run_second() -> None:
            try:
                second(waiting)
                waiting.commit()
            except BaseException:
                waiting.rollback()
                raise

        thread = start(run_second, failures)
        wait_until_blocked(engine, waiter=waiter, holder=holder, thread=thread)
        holding.commit()
    finally:
        holding.close()
        if thread is not None:
            thread.join(timeout=PATIENCE_SECONDS)
        waiting.close()
    assert thread is not None
    assert not thread.is_alive()
    return failures
