"""Admission control: at most ``limit`` requests are inside the application at once; request
bodies capped before they are parsed."""

import json
import re
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.errors import PROBLEM_TYPE_PREFIX


class ConcurrencyLimit:
    """Requests beyond the limit wait here, in the event loop, holding neither a worker thread
    nor a database connection.

    Sync routes run in a threadpool and then validate their response in a second threadpool
    call while their transaction (and any row lock or unique-key claim) is still open. If every
    worker thread were taken by requests queued behind that lock or waiting for a pooled
    connection, the holder could never finish. Keeping requests in flight at most the size of
    the connection pool, and below the number of worker threads, rules that out.

    ``pools`` gives some paths an admission limit of their own (path prefix → limit): sign-ins
    wait for Argon2, so a flood of them queues in its own pool instead of taking every slot
    from the rest of the API. Their limits count against the same threads and connections, so
    the configured total stays within both."""

    def __init__(self, app: ASGIApp, *, limit: int, pools: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.pools = dict(pools or {})
        self._semaphores: dict[str, anyio.Semaphore] | None = None

    def _semaphore(self, path: str) -> anyio.Semaphore:
        if self._semaphores is None:
            # Created on first use, inside the server's event loop.
            self._semaphores = {
                "": anyio.Semaphore(self.limit),
                **{prefix: anyio.Semaphore(size) for prefix, size in self.pools.items()},
            }
        for prefix in self.pools:
            if path.startswith(prefix):
                return self._semaphores[prefix]
        return self._semaphores[""]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._semaphore(scope.get("path", "")):
            await self.app(scope, receive, send)


class BodyRefused(Exception):
    """Raised from inside ``receive`` when a body passes its cap or needs a credential."""


def _problem(
    scope: Scope, status: int, code: str, title: str, detail: str, **extra: object
) -> bytes:
    body = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": scope.get("path", ""),
    }
    return json.dumps({**body, **extra}).encode()


class BodyLimit:
    """Caps request bodies before anything parses them, and asks for a credential before a
    large body is read at all.

    * A body is capped per route: ``max_bytes`` by default, ``upload_max_bytes`` on the upload
      routes (path prefixes in ``upload_paths``). A declared ``Content-Length`` over the cap is
      refused at once; a body without one is counted while it is read and refused as soon as it
      passes the cap, so no more than the cap is ever held.
    * A body larger than ``anonymous_max_bytes`` needs a bearer token that ``token_is_valid``
      accepts (signature and expiry only: cheap, no database): an anonymous client cannot make
      the server read and validate megabytes before authentication says no (401). Routes meant
      for anyone (``public_paths``, such as certificate verification) are exempt, not uncapped.
    Refusals are problem+json: 413 ``request_body_too_large``, 401 ``not_authenticated``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_max_bytes: int,
        upload_paths: tuple[str, ...],
        anonymous_max_bytes: int,
        token_is_valid: Callable[[str], bool],
        public_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths
        self.anonymous_max_bytes = anonymous_max_bytes
        self.token_is_valid = token_is_valid
        self.public_paths = public_paths

    def _cap(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        if scope.get("method") == "POST" and path.startswith(self.upload_paths):
            return self.upload_max_bytes
        return self.max_bytes

    def _authenticated(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and bool(token) and self.token_is_valid(token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope)
        declared = _content_length(scope)
        # Public routes (verifying a certificate) take their whole cap from anyone.
        credential_checked = scope.get("path", "") in self.public_paths
        if not credential_checked and declared is not None and declared > self.anonymous_max_bytes:
            if not self._authenticated(scope):
                await _refuse_anonymous(scope, send, self.anonymous_max_bytes)
                return
            credential_checked = True
        if declared is not None and declared > cap:
            await _refuse_too_large(scope, send, cap)
            return
        received = 0
        refusal: str | None = None

        async def capped_receive() -> Message:
            nonlocal received, credential_checked, refusal
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.anonymous_max_bytes and not credential_checked:
                    if not self._authenticated(scope):
                        refusal = "anonymous"
                        raise BodyRefused
                    credential_checked = True
                if received > cap:
                    refusal = "too_large"
                    raise BodyRefused
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body is refused, whatever the app makes of the interrupted read (a 400
            # from the body parser, say) is replaced by the refusal.
            if refusal is None:
                await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except BodyRefused:
            pass
        except Exception:
            if refusal is None:
                raise
        if refusal == "too_large":
            await _refuse_too_large(scope, send, cap)
        elif refusal == "anonymous":
            await _refuse_anonymous(scope, send, self.anonymous_max_bytes)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Send, status: int, body: bytes, extra_headers: list[Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot carry another request.
                (b"connection", b"close"),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_too_large(scope: Scope, send: Send, cap: int) -> None:
    body = _problem(
        scope,
        413,
        "request_body_too_large",
        "Request body too large",
        f"This route accepts a request body of at most {cap} bytes.",
        max_bytes=cap,
    )
    await _send_problem(send, 413, body, [])


async def _refuse_anonymous(scope: Scope, send: Send, anonymous_max_bytes: int) -> None:
    body = _problem(
        scope,
        401,
        "not_authenticated",
        "Unauthorized",
        f"A request body over {anonymous_max_bytes} bytes needs a valid bearer token.",
    )
    await _send_problem(send, 401, body, [(b"www-authenticate", b"Bearer")])


# A C0 control character other than tab, line feed and carriage return, or DEL: as a JSON
# escape not itself escaped (an even run of backslashes before it), or percent-encoded.
_JSON_CONTROL = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:u00(0[0-8bcef]|1[0-9a-f]|7f)|([bf]))", re.IGNORECASE
)
# JSON's short escapes for backspace and form feed.
_SHORT_ESCAPES = {b"b": b"08", b"f": b"0c"}
_RAW_DEL = re.compile(rb"\x7f")
_PERCENT_CONTROL = re.compile(rb"%(0[0-8bcef]|1[0-9a-f]|7f)", re.IGNORECASE)
# A UTF-16 surrogate escape that is not half of a pair: a high one not followed by a low one, or a
# low one not preceded by a high one. Such a string cannot be stored or written out as UTF-8.
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(?:\\u(d[89ab][0-9a-f]{2})(?!\\ud[c-f][0-9a-f]{2})"
    rb"|(?<!\\ud[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2}))",
    re.IGNORECASE,
)


class ControlCharacterGuard:
    """Refuses text with control characters (NUL and the like) in query strings and JSON bodies,
    whatever the field: they break exports, logs and other systems that read our records, and no
    field of this API has a use for them. Tab, line feed and carriage return stay allowed.

    A JSON body is held until it is complete (``BodyLimit``, outside this, caps its size) and
    scanned once before the application reads it. 422 ``control_character``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _PERCENT_CONTROL.search(scope.get("query_string", b""))
        if found is not None:
            await _refuse_control(scope, send, found.group(1), "the query string")
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its whole body: no one to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        found = _JSON_CONTROL.search(body)
        if found is not None:
            hex_code = found.group(1) or _SHORT_ESCAPES[found.group(2).lower()]
            await _refuse_control(scope, send, hex_code, "the request body")
            return
        if _RAW_DEL.search(body) is not None:
            await _refuse_control(scope, send, b"7f", "the request body")
            return
        unreadable = _unreadable_text(body)
        if unreadable is not None:
            await _send_problem(
                send,
                422,
                _problem(scope, 422, "invalid_text", "Text that is not Unicode", unreadable),
                [],
            )
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _unreadable_text(body: bytes) -> str | None:
    """Why a JSON body's text cannot be stored, or ``None``: bytes that are not UTF-8 (RFC 8259
    asks for it), or an escaped surrogate that is not half of a pair."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"The request body is not UTF-8 (byte {error.start})."
    found = _LONE_SURROGATE.search(body)
    if found is not None:
        code_point = (found.group(1) or found.group(2)).decode().upper()
        return (
            f"The request body holds the lone surrogate U+{code_point}; a surrogate is only "
            "half of a character."
        )
    return None


def _is_json(scope: Scope) -> bool:
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return bool(media_type == b"application/json" or media_type.endswith(b"+json"))
    return False


async def _refuse_control(scope: Scope, send: Send, hex_code: bytes, where: str) -> None:
    code_point = f"U+{int(hex_code, 16):04X}"
    body = _problem(
        scope,
        422,
        "control_character",
        "Control character in text",
        f"{where.capitalize()} holds the control character {code_point}; text may hold tab, "
        "line feed and carriage return, no other control characters.",
    )
    await _send_problem(send, 422, body, [])
