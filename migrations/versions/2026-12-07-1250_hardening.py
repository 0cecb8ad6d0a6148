"""hardening: country codes stored in capitals

Revision ID: 8d41e6a2c9b0
Revises: 3f9c2b7d1e4a
Create Date: 2026-12-07 12:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8d41e6a2c9b0"
down_revision: str | None = "3f9c2b7d1e4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Signup upper-cased codes already; rows written another way are brought in line. A code that
    # names no country is left as it is (only its owner can say which was meant) and still shown.
    op.execute("UPDATE organization SET country = upper(country) WHERE country <> upper(country)")


def downgrade() -> None:
    pass
