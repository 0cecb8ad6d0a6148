"""Secrets made before the Standard Webhooks format keep their HMAC key through the migration."""

import base64
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts.models import OrganizationKind
from marketplace.models import metadata
from marketplace.webhooks import sender
from marketplace.webhooks.models import WebhookSubscription
from tests import factories
from tests.conftest import alembic_config, reset_database, upgrade_database
from tests.webhooks.conftest import subscribe

BEFORE = "5b1e7c2d9a40"


def test_an_old_secret_becomes_whsec_base64_of_the_same_key_and_back(engine: Engine) -> None:
    from alembic import command

    table = WebhookSubscription.__table__  # type: ignore[attr-defined]
    old = "whsec_" + secrets.token_urlsafe(32)  # the format until now, signed with its UTF-8
    try:
        with Session(engine) as setup:
            admin = factories.member(setup, kind=OrganizationKind.bank)
            subscription, _ = subscribe(setup, admin, "https://bank.example.com/hooks")
            setup.commit()
            subscription_id = subscription.id
            assert subscription_id is not None
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
            connection.execute(
                sa.update(table).where(table.c.id == subscription_id).values(secret=old)
            )

        upgrade_database(engine)
        with engine.connect() as check:
            converted = check.execute(
                sa.select(table.c.secret).where(table.c.id == subscription_id)
            ).scalar_one()
        assert converted == "whsec_" + base64.b64encode(old.encode()).decode()
        assert sender.signing_key(converted) == old.encode()

        with Session(engine) as later:
            admin = factories.member(later, kind=OrganizationKind.bank)
            newer, newer_secret = subscribe(later, admin, "https://bank.example.com/other")
            later.commit()
            newer_id = newer.id
            assert newer_id is not None

        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, BEFORE)
            rows = connection.execute(sa.select(table.c.id, table.c.secret)).all()
            restored: dict[int, str] = dict(rows)
        assert restored[subscription_id] == old
        # A random key has no old form: it stays as it is.
        assert restored[newer_id] == newer_secret
    finally:
        # The rows go at head, where every table of the models exists.
        upgrade_database(engine)
        with engine.begin() as connection:
            for each in reversed(metadata.sorted_tables):
                connection.execute(each.delete())
        reset_database(engine)
        upgrade_database(engine)
