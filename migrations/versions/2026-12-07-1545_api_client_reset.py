"""API clients: when the secret was last reset by an operator

Revision ID: 8e3a6f1c2d45
Revises: 8d3f6a1c2e57
Create Date: 2026-12-07 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "8e3a6f1c2d45"
down_revision: str | None = "8d3f6a1c2e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.add_column(
            sa.Column(
                "credentials_reset_at", marketplace.db.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.drop_column("credentials_reset_at")
