"""Control characters never reach a record: NUL and the like are refused in JSON bodies and
query strings on every route, with a 422 problem, while tab, line feed and carriage return and
text that merely shows an escape sequence pass."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from marketplace.accounts.models import OrganizationKind
from marketplace.patents.models import Patent
from tests import factories
from tests.factories import NewParty, Party
from tests.problems import assert_problem

PATENTS = "/api/v1/patents"


@pytest.fixture
def university(new_party: NewParty) -> Party:
    return new_party(kind=OrganizationKind.university)


def _patent(title: str) -> dict[str, object]:
    return {
        "application_number": factories.application_number(),
        "title": title,
        "filing_date": "2020-03-01",
        "grant_date": "2022-05-10",
        "legal_status": "granted",
        "fee_paid_until": "2027-02-28",
    }


@pytest.mark.parametrize(
    "character", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
)
def test_a_control_character_in_a_json_body_is_refused(
    client: TestClient, university: Party, session: Session, character: str
) -> None:
    body = _patent(f"Battery{character}pack")

    response = client.post(PATENTS, headers=university.headers, json=body)

    problem = assert_problem(response, 422, "control_character")
    assert f"U+{ord(character):04X}" in problem["detail"]
    assert session.scalar(select(Patent).where(col(Patent.title).contains("Battery"))) is None


def test_tab_newline_and_an_escaped_backslash_are_text(
    client: TestClient, university: Party
) -> None:
    # "\\u0000" in JSON is a backslash followed by "u0000": six printable characters.
    raw = json.dumps(_patent("Line one\nline\ttwo \\u0000 shown"))

    response = client.post(
        PATENTS,
        headers={**university.headers, "content-type": "application/json"},
        content=raw.encode(),
    )

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Line one\nline\ttwo \\u0000 shown"


def test_a_control_character_in_a_query_string_is_refused(client: TestClient) -> None:
    response = client.get("/api/v1/listings", params={"q": "battery\x00"})

    assert_problem(response, 422, "control_character")


def test_an_escaped_nul_after_an_escaped_backslash_is_still_found(
    client: TestClient, university: Party
) -> None:
    # "\\\u0000": an escaped backslash, then an escaped NUL.
    raw = json.dumps(_patent("x")).replace('"x"', '"x\\\\\\u0000"')

    response = client.post(
        PATENTS,
        headers={**university.headers, "content-type": "application/json"},
        content=raw.encode(),
    )

    assert_problem(response, 422, "control_character")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"name": "\\ud800"}', id="lone-high-surrogate"),
        pytest.param(b'{"name": "x\\udc00"}', id="lone-low-surrogate"),
        pytest.param(b'{"name": "\\ud83d"}', id="high-surrogate-at-end"),
        pytest.param(b'{"name": "\xed\xa0\x80"}', id="surrogate-as-bytes"),
        pytest.param(b'{"name": "\xff"}', id="not-utf-8"),
    ],
)
def test_text_that_is_not_unicode_is_refused(client: TestClient, raw: bytes) -> None:
    """A lone surrogate passes JSON parsing but can be neither stored nor written out again:
    such a value once made a patent unreadable (500 on every later read)."""
    response = client.post(
        "/api/v1/api-clients", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "invalid_text")


def test_a_surrogate_pair_and_an_escaped_backslash_are_text(client: TestClient) -> None:
    for raw in (b'{"name": "\\ud83d\\ude00"}', b'{"name": "\\\\ud800"}'):
        response = client.post(
            "/api/v1/api-clients", content=raw, headers={"Content-Type": "application/json"}
        )
        # Past the guard: the anonymous caller is refused by authentication, not by the guard.
        assert response.status_code == 401, response.text
