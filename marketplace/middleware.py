"""Admission control: at most ``limit`` requests are inside the application at once."""

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send


class ConcurrencyLimit:
    """Requests beyond the limit wait here, in the event loop, holding neither a worker thread
    nor a database connection.

    Sync routes run in a threadpool and then validate their response in a second threadpool
    call while their transaction (and any row lock or unique-key claim) is still open. If every
    worker thread were taken by requests queued behind that lock or waiting for a pooled
    connection, the holder could never finish. Keeping requests in flight at most the size of
    the connection pool, and below the number of worker threads, rules that out."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            # Created on first use, inside the server's event loop.
            self._semaphore = anyio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)
