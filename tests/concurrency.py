"""Requests sent to the app at the same moment, for the tests of races (PostgreSQL)."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI


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
