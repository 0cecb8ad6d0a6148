"""Which URLs the platform will call (SSRF guard)."""

import pytest

from marketplace.webhooks.errors import InvalidWebhookUrl
from marketplace.webhooks.urls import check_destination, check_url, is_public_address


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url",
    [
        "https://bank.example.com/hooks",
        "https://bank.example.com:8443/hooks?x=1",
        "https://10.1.2.3/hooks",  # private addresses are fine outside production
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_allowed_outside_production(url: str) -> None:
    assert check_url(url, production=False, allow_local_http=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bank.example.com/hooks",
        "file:///etc/passwd",
        "gopher://bank.example.com/",
        "https://user:secret@bank.example.com/hooks",
        "https://user@bank.example.com/hooks",
        "http://bank.example.com/hooks",
        "http://10.0.0.1/hooks",
        "https://bank.example.com/hooks#part",
        "https://bank.example.com:99999/hooks",
        "https:///hooks",
        "https://bank.example.com/ho oks",
        "https://bank.example.com/\nhooks",
    ],
)
def test_refused_everywhere(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url(url, production=False, allow_local_http=True)


def test_local_http_needs_the_setting_and_is_never_allowed_in_production() -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url("http://127.0.0.1/hook", production=False, allow_local_http=False)
    with pytest.raises(InvalidWebhookUrl):
        check_url(
            "http://127.0.0.1/hook",
            production=True,
            allow_local_http=True,
            resolver=resolving_to("127.0.0.1"),
        )


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("10.0.0.7",),
        ("192.168.1.1",),
        ("172.16.0.1",),
        ("169.254.169.254",),  # cloud metadata
        ("100.64.0.1",),
        ("0.0.0.0",),  # noqa: S104 - an address under test, not a bind
        ("::1",),
        ("fd00::1",),
        ("::ffff:10.0.0.1",),
        ("93.184.216.34", "10.0.0.1"),  # one private answer is enough to refuse
        (),
    ],
)
def test_production_refuses_hosts_that_resolve_to_non_public_addresses(
    addresses: tuple[str, ...],
) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url(
            "https://hooks.example.com/x",
            production=True,
            allow_local_http=True,
            resolver=resolving_to(*addresses),
        )


def test_production_accepts_public_hosts() -> None:
    url = "https://hooks.example.com/x"
    resolver = resolving_to("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert check_url(url, production=True, allow_local_http=False, resolver=resolver) == url


@pytest.mark.parametrize("host", ["localhost", "app.localhost", "printer.local", "db.internal"])
def test_production_refuses_local_names_without_asking_dns(host: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_destination(f"https://{host}/x", resolver=resolving_to("93.184.216.34"))


def test_public_addresses() -> None:
    assert is_public_address("93.184.216.34")
    assert not is_public_address("224.0.0.1")
    assert not is_public_address("not-an-address")
