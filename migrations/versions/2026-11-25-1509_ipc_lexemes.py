"""ipc lexemes: every level of a listing's IPC codes in its search vector (PostgreSQL), so that
the IPC filter is an index lookup

Revision ID: 3f9c2b7d1e4a
Revises: 6c75ac7aed37
Create Date: 2026-11-25 15:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f9c2b7d1e4a"
down_revision: str | None = "6c75ac7aed37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Appends the levels of each "|code|code|" entry as marketplace.matching.search_index.ipc_lexeme
# spells them (section, class, subclass, main group, subgroup; repeats collapse), unpositioned.
ADD_IPC_LEXEMES = """
UPDATE listing_search SET search_vector = search_vector || coalesce((
    SELECT array_to_tsvector(array_agg(DISTINCT 'ipc:' || lower(replace(level, ' ', ''))))
    FROM unnest(string_to_array(trim(both '|' from listing_search.ipc_codes), '|')) AS code,
    LATERAL (VALUES (left(code, 1)), (left(code, 3)), (left(code, 4)),
                    (split_part(code, '/', 1)), (code)) AS levels(level)
    WHERE code <> ''
), ''::tsvector)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite filters IPC codes by LIKE; its full-text table holds words only.
    op.execute(ADD_IPC_LEXEMES)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Words always have positions; the IPC lexemes have none.
    op.execute(
        "UPDATE listing_search SET search_vector = ts_delete(search_vector, ARRAY("
        "SELECT lexeme FROM unnest(search_vector) AS entry "
        "WHERE entry.lexeme LIKE 'ipc:%' AND entry.positions IS NULL))"
    )
