"""Licenses: recordation with the office (number, date, who marked it, when)

Revision ID: 81048b61ac6b
Revises: 0fcb55fe25f6
Create Date: 2026-11-25 11:12:51.957411
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import marketplace.db

revision: str = "81048b61ac6b"
down_revision: str | None = "0fcb55fe25f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("license", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("record_number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(sa.Column("record_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("recorded_by_org_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("recorded_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_license_recordation_due_licensee",
            ["licensee_id", "recordation_deadline", "id"],
            unique=False,
            postgresql_where=sa.text("record_number IS NULL AND status = 'active'"),
            sqlite_where=sa.text("record_number IS NULL AND status = 'active'"),
        )
        batch_op.create_index(
            "ix_license_recordation_due_licensor",
            ["licensor_id", "recordation_deadline", "id"],
            unique=False,
            postgresql_where=sa.text("record_number IS NULL AND status = 'active'"),
            sqlite_where=sa.text("record_number IS NULL AND status = 'active'"),
        )
        batch_op.create_unique_constraint(batch_op.f("uq_license_record_number"), ["record_number"])
        batch_op.create_foreign_key(
            batch_op.f("fk_license_recorded_by_org_id_organization"),
            "organization",
            ["recorded_by_org_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_license_recordation_complete"),
            "(record_number IS NULL AND record_date IS NULL AND recorded_by_org_id IS NULL"
            " AND recorded_at IS NULL) OR (record_number IS NOT NULL AND record_date IS NOT NULL"
            " AND recorded_by_org_id IS NOT NULL AND recorded_at IS NOT NULL)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_license_recorded_after_effective"), "record_date >= effective_date"
        )


def downgrade() -> None:
    with op.batch_alter_table("license", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_license_recorded_after_effective"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_license_recordation_complete"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_license_recorded_by_org_id_organization"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_license_record_number"), type_="unique")
        batch_op.drop_index(
            "ix_license_recordation_due_licensor",
            postgresql_where=sa.text("record_number IS NULL AND status = 'active'"),
            sqlite_where=sa.text("record_number IS NULL AND status = 'active'"),
        )
        batch_op.drop_index(
            "ix_license_recordation_due_licensee",
            postgresql_where=sa.text("record_number IS NULL AND status = 'active'"),
            sqlite_where=sa.text("record_number IS NULL AND status = 'active'"),
        )
        batch_op.drop_column("recorded_at")
        batch_op.drop_column("recorded_by_org_id")
        batch_op.drop_column("record_date")
        batch_op.drop_column("record_number")
