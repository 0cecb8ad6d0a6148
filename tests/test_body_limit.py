"""Request bodies are capped before they are parsed, and a large one is read only from a client
with a valid bearer token."""

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from marketplace.accounts.models import OrganizationKind
from marketplace.config import get_settings
from tests.factories import NewParty, Party
from tests.problems import assert_problem

CHECK = "/api/v1/encumbrances/check"


@pytest.fixture
def bank(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.bank)


def _big_check_body(size: int) -> bytes:
    numbers = ["202110123456.7"] * (size // 17 + 1)
    return json.dumps({"application_numbers": numbers}).encode()


def test_an_anonymous_large_body_is_refused_before_it_is_parsed(client: TestClient) -> None:
    response = client.post(
        CHECK,
        content=_big_check_body(10 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )

    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_large_body_with_a_forged_token_is_refused_as_anonymous(client: TestClient) -> None:
    response = client.post(
        CHECK,
        content=_big_check_body(100 * 1024),
        headers={"content-type": "application/json", "authorization": "Bearer not.a.token"},
    )

    assert_problem(response, 401, "not_authenticated")


def test_a_body_over_the_cap_is_refused_with_413_even_when_signed_in(
    client: TestClient, bank: Party
) -> None:
    cap = get_settings().max_request_body_bytes

    response = client.post(
        CHECK,
        content=_big_check_body(cap + 1),
        headers={**bank.headers, "content-type": "application/json"},
    )

    body = assert_problem(response, 413, "request_body_too_large")
    assert body["max_bytes"] == cap


def test_a_streamed_body_without_a_length_is_cut_off_at_the_cap(
    client: TestClient, bank: Party
) -> None:
    cap = get_settings().max_request_body_bytes
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"application_numbers": ["'
        while sent < 4 * cap:
            sent += 64 * 1024
            yield b"1" * 64 * 1024
        yield b'"]}'

    response = client.post(
        CHECK, content=chunks(), headers={**bank.headers, "content-type": "application/json"}
    )

    assert_problem(response, 413, "request_body_too_large")


def test_a_streamed_anonymous_body_is_refused_once_it_passes_the_anonymous_cap(
    client: TestClient,
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"application_numbers": ["'
        for _ in range(8):
            yield b"1" * 16 * 1024
        yield b'"]}'

    response = client.post(CHECK, content=chunks(), headers={"content-type": "application/json"})

    assert_problem(response, 401, "not_authenticated")


def test_a_small_anonymous_body_is_answered_as_before(client: TestClient) -> None:
    response = client.post(CHECK, json={"application_numbers": ["202110123456.7"]})

    assert_problem(response, 401, "not_authenticated")


def test_a_signed_in_body_under_the_cap_is_served(client: TestClient, bank: Party) -> None:
    response = client.post(
        CHECK, json={"application_numbers": ["202110123456.7"]}, headers=bank.headers
    )

    assert response.status_code == 200, response.text
