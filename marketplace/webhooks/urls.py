"""Which webhook URLs the platform will call: a guard against server-side request forgery."""

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

from marketplace.webhooks.errors import InvalidWebhookUrl

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _split(url: str) -> SplitResult:
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidWebhookUrl("The URL contains whitespace or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidWebhookUrl(f"The URL cannot be parsed: {exc}.") from exc
    if parts.scheme not in ("https", "http"):
        raise InvalidWebhookUrl("The URL must use https.")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("The URL must not contain credentials.")
    if not parts.hostname:
        raise InvalidWebhookUrl("The URL has no host.")
    if parts.fragment:
        raise InvalidWebhookUrl("The URL must not have a fragment.")
    return parts


def check_url(
    url: str, *, production: bool, allow_local_http: bool, resolver: Resolver = resolve
) -> str:
    """The URL if the platform may call it, else ``InvalidWebhookUrl``.

    https everywhere; plain http only to this machine (127.0.0.1, localhost, ::1) and only
    outside production when ``allow_local_http`` is set, for a local receiver. In production the
    host must resolve to public addresses only: no loopback, private, link-local or reserved."""
    parts = _split(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        if production or not allow_local_http or host not in LOCAL_HOSTS:
            raise InvalidWebhookUrl("The URL must use https.")
        return url
    if production:
        check_destination(url, resolver=resolver)
    return url


def check_destination(url: str, *, resolver: Resolver = resolve) -> None:
    """In production, before each request as well as at creation: the host must (still) resolve
    to public addresses only."""
    parts = _split(url)
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise InvalidWebhookUrl("The URL must point to a public host.")
    addresses = resolver(host, parts.port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise InvalidWebhookUrl(f"The host {host} does not resolve.")
    if not all(is_public_address(address) for address in addresses):
        raise InvalidWebhookUrl("The URL must point to a public address.")
