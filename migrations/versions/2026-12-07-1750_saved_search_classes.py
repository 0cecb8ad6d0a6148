"""saved search classes: the IPC subclasses of a saved query's best matches, by which a listing in
the other language alerts it, as the search brings such a listing in

Existing saved searches are not weighed yet (classes_weighed_at NULL): they are weighed at their
first alert, when a listing has their words, as a saved search whose words no listing had.

Revision ID: 7a3e91c5d2b8
Revises: 5b7d2e9c4a16
Create Date: 2026-12-07 17:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import marketplace.db

revision: str = "7a3e91c5d2b8"
down_revision: str | None = "5b7d2e9c4a16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("classes_weighed_at", marketplace.db.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "saved_search_class",
        sa.Column("subclass", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("saved_search_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("listing_in_chinese", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["saved_search_id"],
            ["saved_search.id"],
            name=op.f("fk_saved_search_class_saved_search_id_saved_search"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subclass", "saved_search_id", name=op.f("pk_saved_search_class")),
    )
    with op.batch_alter_table("saved_search_class", schema=None) as batch_op:
        batch_op.create_index(
            "ix_saved_search_class_saved_search_id", ["saved_search_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("saved_search_class", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_search_class_saved_search_id")
    op.drop_table("saved_search_class")
    # In place, not by batch's copy of the table: on SQLite, dropping the old copy would break
    # the foreign keys of the saved searches' words.
    op.drop_column("saved_search", "classes_weighed_at")
