"""Webhook secrets in the Standard Webhooks format: ``whsec_`` and the base64 HMAC key

Revision ID: 8d3f6a1c2e57
Revises: 5b1e7c2d9a40
Create Date: 2026-12-07 15:30:00

Until now a secret was ``whsec_`` and 43 URL-safe characters, and the HMAC key was the UTF-8
bytes of the whole string, prefix included; the specification's key is the base64-decoded part
after ``whsec_``. Each existing secret ``s`` becomes ``whsec_`` + base64(UTF-8 of ``s``): the key
bytes stay exactly the same, and a receiver holding the old secret computes its new form itself,
``"whsec_" + base64.b64encode(s.encode()).decode()``, with no new secret to exchange. Such a
secret is 74 characters long, so the column grows to 128.

Downgrade decodes converted secrets back. A secret created after the upgrade has a random key
that no string of the old format stands for: it is left as it is, and its webhook's receiver
would need a new secret under the old code.
"""

import base64
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "8d3f6a1c2e57"
down_revision: str | None = "5b1e7c2d9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "whsec_"
OLD_LENGTH = 64

subscription = sa.table(
    "webhook_subscription", sa.column("id", sa.Integer), sa.column("secret", sa.String)
)


def _encoded(secret: str) -> str:
    return PREFIX + base64.b64encode(secret.encode()).decode()


def _decoded(secret: str) -> str:
    try:
        old = base64.b64decode(secret.removeprefix(PREFIX)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return secret
    return old if old.startswith(PREFIX) and len(old) <= OLD_LENGTH else secret


def _rewrite(encode: bool) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(subscription.c.id, subscription.c.secret)).all()
    for row_id, secret in rows:
        value = _encoded(secret) if encode else _decoded(secret)
        connection.execute(
            subscription.update().where(subscription.c.id == row_id).values(secret=value)
        )


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.alter_column(
            "secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=OLD_LENGTH),
            type_=sqlmodel.sql.sqltypes.AutoString(length=128),
            existing_nullable=False,
        )
    _rewrite(encode=True)


def downgrade() -> None:
    _rewrite(encode=False)
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.alter_column(
            "secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=128),
            type_=sqlmodel.sql.sqltypes.AutoString(length=OLD_LENGTH),
            existing_nullable=False,
        )
