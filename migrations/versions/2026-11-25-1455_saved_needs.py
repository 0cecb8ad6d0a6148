"""saved needs: a saved search may be a technology need (need_id), alerting on some of its words
(required_terms; for every existing saved search, all of them)

Revision ID: 7c3edbeba91b
Revises: 14187c1a56a0
Create Date: 2026-11-25 14:51:17.363553
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3edbeba91b"
down_revision: str | None = "14187c1a56a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_terms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("need_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_saved_search_need_id"), ["need_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_saved_search_need_id_technology_need"),
            "technology_need",
            ["need_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Until now a saved search required every one of its words.
    op.execute("UPDATE saved_search SET required_terms = term_count")
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        batch_op.alter_column("required_terms", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    # Saved needs would match differently as plain saved searches: they go with the column.
    op.execute(
        "DELETE FROM saved_search_term WHERE saved_search_id IN "
        "(SELECT id FROM saved_search WHERE need_id IS NOT NULL)"
    )
    op.execute("DELETE FROM saved_search WHERE need_id IS NOT NULL")
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_saved_search_need_id_technology_need"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_saved_search_need_id"))
        batch_op.drop_column("need_id")
        batch_op.drop_column("required_terms")
