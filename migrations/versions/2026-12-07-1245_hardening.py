"""hardening: country codes stored in capitals; revoked logins; attempt
windows shared by every process;
certificate signing keys in the database, encrypted

Revision ID: 8d41e6a2c9b0
Revises: 9b1e6d4c2a70
Create Date: 2026-12-07 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import marketplace.db

revision: str = "8d41e6a2c9b0"
down_revision: str | None = "9b1e6d4c2a70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Signup upper-cased codes already; rows written another way are brought in line. A code that
    # names no country is left as it is (only its owner can say which was meant) and still shown.
    op.execute("UPDATE organization SET country = upper(country) WHERE country <> upper(country)")

    op.create_table(
        "revoked_login",
        sa.Column("login_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("revoked_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("login_id", name=op.f("pk_revoked_login")),
    )
    with op.batch_alter_table("revoked_login", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revoked_login_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "attempt_window",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_attempt_window")),
    )
    with op.batch_alter_table("attempt_window", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attempt_window_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "signing_key",
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("algorithm", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signing_key_activated_at"), ["activated_at"], unique=False
        )
    # Keys of the former key directory are moved in by the application on first use (or by
    # `marketplace keys import`): encrypting them needs the deployment's key, not the schema's.


def downgrade() -> None:
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_key_activated_at"))
    op.drop_table("signing_key")
    with op.batch_alter_table("attempt_window", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempt_window_started_at"))
    op.drop_table("attempt_window")
    with op.batch_alter_table("revoked_login", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revoked_login_expires_at"))
    op.drop_table("revoked_login")
