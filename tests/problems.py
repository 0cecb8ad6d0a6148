"""The one check that a response is the problem+json the API promises."""

from typing import Any

import httpx

from marketplace.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Status, media type and stable code of an error response; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == PROBLEM_TYPE_PREFIX + code
    return body
