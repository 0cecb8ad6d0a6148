"""gin without pending lists: the search index's GIN indexes take each entry at once
(fastupdate = off) instead of gathering them in a pending list that every search then scans

After a bulk declaration the pending list of the main index held hundreds of pages, and all rows
of the title index; every probe read them all (~465 buffers) until a VACUUM merged them. With
fastupdate off an insert costs a little more and a search stays as fast after a bulk declaration
as after a VACUUM. The pending lists there now are merged here (gin_clean_pending_list).

Revision ID: 4c7d2e9a1b83
Revises: 8d41e6a2c9b0
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4c7d2e9a1b83"
down_revision: str | None = "8d41e6a2c9b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_listing_search_search_vector", "ix_listing_search_title_vector")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
