"""Builders shared by the accounts tests: signup bodies, logins and API clients over HTTP."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts import service as accounts
from marketplace.accounts.models import User
from tests.factories import PASSWORD, credit_code, next_number

SignupBody = Callable[..., dict[str, Any]]
Login = Callable[..., dict[str, Any]]
ClientCredentials = Callable[[User], tuple[str, str]]


@pytest.fixture
def signup_body() -> SignupBody:
    """A valid signup request; keyword arguments replace organization or user fields."""

    def build(
        *, organization: dict[str, Any] | None = None, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        number = next_number()
        return {
            "organization": {
                "name": f"Hangzhou Battery Works {number}",
                "kind": "enterprise",
                "country": "CN",
                "region": "Zhejiang",
                "credit_code": credit_code(),
                **(organization or {}),
            },
            "user": {
                "email": f"founder{number}@battery.example.com",
                "full_name": "Wang Fang",
                "password": PASSWORD,
                **(user or {}),
            },
        }

    return build


@pytest.fixture
def login(client: TestClient) -> Login:
    """Password grant over HTTP; returns the token response body (asserting it succeeded)."""

    def do(email: str, *, password: str = PASSWORD, scope: str | None = None) -> dict[str, Any]:
        form = {"grant_type": "password", "username": email, "password": password}
        if scope is not None:
            form["scope"] = scope
        response = client.post("/api/v1/auth/token", data=form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return do


@pytest.fixture
def api_client_of(session: Session) -> ClientCredentials:
    """An API client created by ``creator``; returns (client_id, client_secret)."""

    def make(creator: User) -> tuple[str, str]:
        created, secret = accounts.create_api_client(
            session=session, creator=creator, name="loan-origination"
        )
        return created.client_id, secret

    return make
