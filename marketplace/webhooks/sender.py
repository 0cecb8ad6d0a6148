"""Signing and sending one webhook request. No database here: a request never runs inside a
transaction.

Every request is a POST of the event as JSON with the three headers of the Standard Webhooks
specification, so that its reference libraries verify it:

* ``webhook-id``: ``whd_<delivery id>``, the same for every attempt of one event to one
  subscription: the receiver's key to drop repeats.
* ``webhook-timestamp``: Unix seconds when this attempt was made.
* ``webhook-signature``: ``v1,`` + the base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``,
  keyed with the base64-decoded part of the subscription's ``whsec_`` secret. Several signatures
  (one per secret, e.g. while a secret is replaced) are separated by spaces; a receiver accepts
  the request if any one matches."""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence

import httpx

from marketplace import clock
from marketplace.webhooks import urls
from marketplace.webhooks.errors import InvalidWebhookUrl
from marketplace.webhooks.models import MAX_RESPONSE_BODY_LENGTH
from marketplace.webhooks.service import SECRET_PREFIX, AttemptOutcome, ClaimedDelivery

SIGNATURE_VERSION = "v1"
USER_AGENT = "marketplace-webhooks/1"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret: the bytes that the base64 part encodes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ and standard base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of this request."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(
    *, secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per secret, separated by spaces."""
    return " ".join(
        signature(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
        for secret in secrets
    )


def headers(*, claimed: ClaimedDelivery, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": claimed.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets=[claimed.secret],
            webhook_id=claimed.webhook_id,
            timestamp=timestamp,
            body=claimed.body,
        ),
    }


def _read_prefix(response: httpx.Response) -> str:
    """At most the first MAX_RESPONSE_BODY_LENGTH bytes: a receiver cannot make us read more."""
    collected = bytearray()
    for chunk in response.iter_bytes():
        collected += chunk
        if len(collected) >= MAX_RESPONSE_BODY_LENGTH:
            break
    return bytes(collected[:MAX_RESPONSE_BODY_LENGTH]).decode("utf-8", errors="replace")


def send(
    client: httpx.Client, claimed: ClaimedDelivery, *, check_destination: bool
) -> AttemptOutcome:
    """One attempt. Never raises for what the receiver or the network does: that is an outcome.

    ``check_destination`` (production) resolves the host again first and refuses private and
    loopback addresses, in case its DNS changed since the subscription was created."""
    attempted_at = clock.now()
    timestamp = int(attempted_at.timestamp())
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        if check_destination:
            urls.check_destination(claimed.url)
        with client.stream(
            "POST",
            claimed.url,
            content=claimed.body,
            headers=headers(claimed=claimed, timestamp=timestamp),
        ) as response:
            body = _read_prefix(response)
    except InvalidWebhookUrl as exc:
        return AttemptOutcome(attempted_at, None, elapsed_ms(), error=exc.detail)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return AttemptOutcome(attempted_at, None, elapsed_ms(), error=error)
    failure = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return AttemptOutcome(
        attempted_at, response.status_code, elapsed_ms(), error=failure, response_body=body
    )
