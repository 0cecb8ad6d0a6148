"""listing_search words: each published listing's indexed words, title part and body, as the
relevance model counts them (term frequencies and lengths), on both databases; and on SQLite the
FTS5 vocabulary table that gives each word's document frequency

The words are those the search index already holds: copied from the FTS5 table on SQLite, and
rebuilt from the tsvector on PostgreSQL (weight A is the title part, C the body; the IPC lexemes,
which have no positions, are left out). Their order within a part is not kept by a tsvector and
does not matter to the counts.

Revision ID: 9b1e6d4c2a70
Revises: 5b8e2d4c7a19
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b1e6d4c2a70"
down_revision: str | None = "5b8e2d4c7a19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each part of the vector as words separated by spaces, each repeated once per position.
FILL_FROM_VECTOR = """
UPDATE listing_search SET
title_words = coalesce((
    SELECT string_agg(entry.lexeme, ' ' ORDER BY entry.lexeme)
    FROM unnest(listing_search.search_vector) AS entry, LATERAL unnest(entry.weights) AS weight
    WHERE weight = 'A' AND entry.lexeme NOT LIKE 'ipc:%'
), ''),
body_words = coalesce((
    SELECT string_agg(entry.lexeme, ' ' ORDER BY entry.lexeme)
    FROM unnest(listing_search.search_vector) AS entry, LATERAL unnest(entry.weights) AS weight
    WHERE weight = 'C' AND entry.lexeme NOT LIKE 'ipc:%'
), '')
"""


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite adds and drops columns in place).
    op.add_column(
        "listing_search", sa.Column("title_words", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "listing_search", sa.Column("body_words", sa.Text(), nullable=False, server_default="")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FILL_FROM_VECTOR)
        return
    op.execute(
        "UPDATE listing_search SET "
        "title_words = coalesce((SELECT f.title FROM listing_search_fts AS f "
        "WHERE f.rowid = listing_search.listing_id), ''), "
        "body_words = coalesce((SELECT f.body FROM listing_search_fts AS f "
        "WHERE f.rowid = listing_search.listing_id), '')"
    )
    op.execute(
        "CREATE VIRTUAL TABLE listing_search_fts_vocab USING fts5vocab(listing_search_fts, 'row')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE listing_search_fts_vocab")
    op.drop_column("listing_search", "body_words")
    op.drop_column("listing_search", "title_words")
