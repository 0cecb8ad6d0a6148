"""saved searches alert by relevance: a saved search (not a saved need) takes any of its words as
a candidate, and the weight the listing covers decides (required_terms 1 instead of all of them)

Revision ID: 5b7d2e9c4a16
Revises: 5c7e2a9d4f16
Create Date: 2026-12-07 16:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b7d2e9c4a16"
down_revision: str | None = "5c7e2a9d4f16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE saved_search SET required_terms = 1 WHERE need_id IS NULL AND term_count > 0"
    )


def downgrade() -> None:
    # Before, a saved search required every one of its words.
    op.execute("UPDATE saved_search SET required_terms = term_count WHERE need_id IS NULL")
