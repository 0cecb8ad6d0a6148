"""Forgetting revocations once they can no longer refuse anything (the daily sweep).

Apart from the token code (``security``, which loads the hashing and JWT libraries), so that
the sweep starts without them."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from marketplace.accounts.models import RevokedAccessToken, RevokedLogin
from marketplace.config import get_settings


def purge_expired_revocations(*, session: Session, now: datetime | None = None) -> int:
    """Forgets revocations that no longer refuse anything; returns how many rows went.

    A revoked access token is kept until it expires. A revoked login is kept for a refresh
    token's lifetime past the end of its last access token: by then no token of the login is
    valid, not even one refreshed in a race with the revocation. Wall-clock time, as for token
    expiry."""
    moment = now or datetime.now(UTC)
    login_cutoff = moment - timedelta(seconds=get_settings().refresh_token_ttl_seconds)
    tokens = session.execute(
        sa.delete(RevokedAccessToken)
        .where(col(RevokedAccessToken.expires_at) < moment)
        .execution_options(synchronize_session=False)
    )
    logins = session.execute(
        sa.delete(RevokedLogin)
        .where(col(RevokedLogin.expires_at) < login_cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(tokens.rowcount or 0) + int(logins.rowcount or 0)  # type: ignore[attr-defined]
