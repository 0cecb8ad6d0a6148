"""IPC prefix search uses the index on PostgreSQL whatever the database collation

Revision ID: 5b1e0c7a9f21
Revises: d261299aaae8
Create Date: 2026-11-25 09:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b1e0c7a9f21"
down_revision: str | None = "d261299aaae8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # LIKE 'G06F %' can only use a b-tree index under the C collation or with pattern operators.
    with op.batch_alter_table("patent_ipc") as batch_op:
        batch_op.drop_index("ix_patent_ipc_code")
        batch_op.create_index(
            "ix_patent_ipc_code", ["code"], postgresql_ops={"code": "varchar_pattern_ops"}
        )


def downgrade() -> None:
    with op.batch_alter_table("patent_ipc") as batch_op:
        batch_op.drop_index("ix_patent_ipc_code")
        batch_op.create_index("ix_patent_ipc_code", ["code"])
