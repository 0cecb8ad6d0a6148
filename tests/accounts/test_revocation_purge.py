"""Revocations are forgotten by the daily sweep once nothing they refuse can be presented: a
revoked access token after it expires, a revoked login a refresh token's lifetime after its last
access token expired. Until then they keep refusing."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from marketplace.accounts import revocations
from marketplace.accounts import service as accounts
from marketplace.accounts.models import RevokedAccessToken, RevokedLogin
from marketplace.config import get_settings
from marketplace.workflows import sweep
from tests import factories
from tests.conftest import TODAY


def _rows(session: Session) -> tuple[set[str], set[str]]:
    tokens = set(session.scalars(select(RevokedAccessToken.jti)).all())
    logins = set(session.scalars(select(RevokedLogin.login_id)).all())
    return tokens, logins


def test_the_sweep_forgets_only_revocations_that_can_no_longer_matter(session: Session) -> None:
    now = datetime.now(UTC)
    refresh_ttl = timedelta(seconds=get_settings().refresh_token_ttl_seconds)
    session.add_all(
        [
            RevokedAccessToken(jti="expired", expires_at=now - timedelta(minutes=1)),
            RevokedAccessToken(jti="live", expires_at=now + timedelta(minutes=5)),
            # The login's last access token expired longer ago than a refresh token lives.
            RevokedLogin(login_id="old", expires_at=now - refresh_ttl - timedelta(minutes=1)),
            # Its access tokens have expired, but not a refresh token's lifetime ago.
            RevokedLogin(login_id="recent", expires_at=now - timedelta(days=1)),
            RevokedLogin(login_id="live", expires_at=now + timedelta(minutes=5)),
        ]
    )
    session.flush()

    outcome = sweep.run_daily_sweep(session=session, today=TODAY)

    assert outcome.revocations_purged == 2
    assert _rows(session) == ({"live"}, {"recent", "live"})
    # A second sweep finds nothing more to forget.
    assert revocations.purge_expired_revocations(session=session) == 0


@pytest.mark.parametrize("login_id", ["recent", "live"])
def test_a_kept_revoked_login_still_refuses_its_tokens(
    client: TestClient, session: Session, login_id: str
) -> None:
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=5) if login_id == "live" else now - timedelta(days=1)
    session.add(RevokedLogin(login_id=login_id, expires_at=expires))
    session.flush()
    revocations.purge_expired_revocations(session=session)
    assert accounts.is_access_token_revoked(session=session, jti="any", login_id=login_id)
    # Tokens of other logins are untouched.
    user = factories.member(session)
    assert client.get("/api/v1/me", headers=factories.auth(session, user)).status_code == 200
