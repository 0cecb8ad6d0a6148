"""Licenses past their term become expired

Revision ID: 7d2f4a9c1e35
Revises: 1673af3528aa
Create Date: 2026-11-25 09:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d2f4a9c1e35"
down_revision: str | None = "1673af3528aa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("license") as batch_op:
        batch_op.drop_constraint(op.f("ck_license_license_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_license_license_status"), "status IN ('active', 'terminated', 'expired')"
        )


def downgrade() -> None:
    op.execute("UPDATE license SET status = 'terminated' WHERE status = 'expired'")
    with op.batch_alter_table("license") as batch_op:
        batch_op.drop_constraint(op.f("ck_license_license_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_license_license_status"), "status IN ('active', 'terminated')"
        )
