"""Signing and sending one webhook request. No database here: a request never runs inside a
transaction.

Every request is a POST of the event as JSON with three headers (the Standard Webhooks
convention, with a ``v1=`` hex signature):

* ``Webhook-Id``: ``whd_<delivery id>``, the same for every attempt of one event to one
  subscription: the receiver's key to drop repeats.
* ``Webhook-Timestamp``: Unix seconds when this attempt was made.
* ``Webhook-Signature``: ``v1=`` + hex HMAC-SHA256, keyed with the subscription's secret (its
  UTF-8 bytes, ``whsec_`` prefix included), over ``"{id}.{timestamp}.{body}"``."""

import hashlib
import hmac
import time

import httpx

from marketplace import clock
from marketplace.webhooks import urls
from marketplace.webhooks.errors import InvalidWebhookUrl
from marketplace.webhooks.models import MAX_RESPONSE_BODY_LENGTH
from marketplace.webhooks.service import AttemptOutcome, ClaimedDelivery

SIGNATURE_VERSION = "v1"
USER_AGENT = "marketplace-webhooks/1"


def signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def headers(*, claimed: ClaimedDelivery, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Webhook-Id": claimed.webhook_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(
            secret=claimed.secret,
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
