"""listing_search: a GIN index over the title part of the search vector (PostgreSQL)

A search first fills its bounded candidate set with the listings that have a word in their
title; without this index, finding them reads every listing with the word anywhere. SQLite's
FTS5 table filters by column on its own and needs nothing.

Revision ID: 6c75ac7aed37
Revises: 7c3edbeba91b
Create Date: 2026-11-25 14:46:50.189869
"""

from collections.abc import Sequence

from alembic import op

revision: str = "6c75ac7aed37"
down_revision: str | None = "7c3edbeba91b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_listing_search_title_vector ON listing_search "
            "USING gin (ts_filter(search_vector, '{a}'))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_listing_search_title_vector")
