"""idempotency license deferred: the key's record may name its license before the license is
inserted (its foreign key is checked at commit), so that an acceptance's claim names the license
id it takes from the sequence and no UPDATE has to follow the license's INSERT

Revision ID: 3c8f1a6e9b42
Revises: 9d4b6e2a7c31
Create Date: 2026-12-08 03:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3c8f1a6e9b42"
down_revision: str | None = "9d4b6e2a7c31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_idempotency_record_license_id_license"


def _replace(*, deferrable: bool | None, initially: str | None) -> None:
    # Batch mode: SQLite changes a constraint by copying the table, PostgreSQL alters it.
    with op.batch_alter_table("idempotency_record") as batch_op:
        batch_op.drop_constraint(NAME, type_="foreignkey")
        batch_op.create_foreign_key(
            NAME, "license", ["license_id"], ["id"], deferrable=deferrable, initially=initially
        )


def upgrade() -> None:
    _replace(deferrable=True, initially="DEFERRED")


def downgrade() -> None:
    _replace(deferrable=None, initially=None)
