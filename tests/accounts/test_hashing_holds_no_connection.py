"""A sign-in hashes (Argon2, ~0.1 s at production cost) with no database connection checked out:
a flood of sign-ins must not drain the pool that every other request needs."""

import contextlib
import functools
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts import security
from marketplace.accounts import service as accounts
from marketplace.accounts.errors import InvalidClient, InvalidGrant
from tests import factories
from tests.factories import PASSWORD


@pytest.fixture
def connections_while_hashing(
    monkeypatch: pytest.MonkeyPatch, committed_engine: Engine
) -> list[int]:
    """How many pooled connections were checked out at each hash."""
    seen: list[int] = []
    verify = security.verify_secret

    def watched(hashed: str, secret: str) -> bool:
        seen.append(committed_engine.pool.checkedout())  # type: ignore[attr-defined]
        return verify(hashed, secret)

    monkeypatch.setattr(security, "verify_secret", watched)
    return seen


def _grant(engine: Engine, call: Callable[..., object]) -> None:
    """Run a grant (a service taking ``session=``) in a session of its own."""
    with Session(engine) as session, contextlib.suppress(InvalidGrant, InvalidClient):
        call(session=session)


def test_password_sign_ins_hash_with_no_connection_held(
    committed_engine: Engine, connections_while_hashing: list[int]
) -> None:
    with Session(committed_engine) as session:
        email = factories.member(session).email
        session.commit()
    for address, password in ((email, PASSWORD), (email, "wrong password"), ("no@one.org", "x")):
        _grant(
            committed_engine,
            functools.partial(
                accounts.password_grant, email=address, password=password, scope=None
            ),
        )
    assert connections_while_hashing == [0, 0, 0]


def test_client_credentials_hash_with_no_connection_held(
    committed_engine: Engine, connections_while_hashing: list[int]
) -> None:
    _grant(
        committed_engine,
        functools.partial(
            accounts.client_credentials_grant,
            client_id="mkc_unknown",
            client_secret="x",
            scope=None,
        ),
    )
    assert connections_while_hashing == [0]
