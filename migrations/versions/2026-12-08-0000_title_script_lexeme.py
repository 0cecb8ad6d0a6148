"""title script lexeme: whether a listing's title part is written in Chinese, as one lexeme in its
search vector (PostgreSQL), so that the relevance model's fetch of a subclass's listings in the
other language is one index lookup instead of a scan of the subclass

Revision ID: 9d4b6e2a7c31
Revises: 7a3e91c5d2b8
Create Date: 2026-12-08 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4b6e2a7c31"
down_revision: str | None = "7a3e91c5d2b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The Chinese characters as marketplace.matching.tokenizer.CJK_RANGES has them, and the lexemes
# as marketplace.matching.search_index.title_script_lexeme spells them.
CHINESE = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
ADD_SCRIPT_LEXEME = """
UPDATE listing_search SET search_vector = search_vector || array_to_tsvector(ARRAY[CASE
    WHEN title_words ~ :chinese THEN 'script:zh' ELSE 'script:other' END])
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite tells a title's script by a row filter on its words.
    op.get_bind().execute(sa.text(ADD_SCRIPT_LEXEME), {"chinese": CHINESE})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE listing_search SET search_vector = "
        "ts_delete(search_vector, ARRAY['script:zh', 'script:other'])"
    )
