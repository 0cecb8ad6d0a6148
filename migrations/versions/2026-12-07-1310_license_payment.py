"""Licenses arise on notice and payment: pending_payment and lapsed_unpaid statuses, the payment
due date, recordation deadline announcements; void upfront fees; profit-share offers and the
profit in royalty reports

Revision ID: 5b1e7c2d9a40
Revises: 4c7d2e9a1b83
Create Date: 2026-12-07 13:10:00

Licenses already active stay active: they took effect under the rule of the time, and their
terms (schema version 1, without ``payment``) and certificates stay as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "5b1e7c2d9a40"
down_revision: str | None = "4c7d2e9a1b83"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LICENSE_STATUSES_BEFORE = (
    "'active', 'terminated', 'expired', 'pending_export_review', 'export_refused'"
)
LICENSE_STATUSES = LICENSE_STATUSES_BEFORE + ", 'pending_payment', 'lapsed_unpaid'"
HOLDING_BEFORE = "status IN ('active', 'pending_export_review')"
HOLDING = "status IN ('active', 'pending_export_review', 'pending_payment')"
RECORDATION_UNANNOUNCED = (
    "record_number IS NULL AND status = 'active' AND recordation_overdue_notified_at IS NULL"
)
OBLIGATION_STATUSES_BEFORE = "'due', 'overdue', 'paid', 'credit'"
AMOUNT_SIGN_BEFORE = (
    "(amount > 0 AND status IN ('due', 'paid')) OR (amount < 0 AND status = 'credit')"
)
AMOUNT_SIGN = (
    "(amount > 0 AND status IN ('due', 'paid', 'void')) OR (amount < 0 AND status = 'credit')"
)
ROYALTY_TYPES_BEFORE = "'lump_sum', 'running', 'per_unit', 'hybrid'"
RATE_REQUIRED_BEFORE = "royalty_type NOT IN ('running', 'hybrid') OR royalty_rate IS NOT NULL"
RATE_REQUIRED = (
    "royalty_type NOT IN ('running', 'hybrid', 'profit_share') OR royalty_rate IS NOT NULL"
)


def _holding_index(where: str) -> None:
    op.drop_index("uq_license_active_licensee_offer", table_name="license")
    op.create_index(
        "uq_license_active_licensee_offer",
        "license",
        ["licensee_id", "offer_id"],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("license", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_due_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "recordation_reminded_at", marketplace.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "recordation_overdue_notified_at",
                marketplace.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.drop_constraint(op.f("ck_license_license_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_license_license_status"), f"status IN ({LICENSE_STATUSES})"
        )
        batch_op.create_check_constraint(
            op.f("ck_license_pending_payment_has_due_date"),
            "status != 'pending_payment' OR payment_due_date IS NOT NULL",
        )
    _holding_index(HOLDING)
    op.create_index(
        "ix_license_recordation_unannounced",
        "license",
        ["recordation_deadline"],
        unique=False,
        postgresql_where=sa.text(RECORDATION_UNANNOUNCED),
        sqlite_where=sa.text(RECORDATION_UNANNOUNCED),
    )
    op.create_index(
        "ix_license_pending_payment",
        "license",
        ["payment_due_date"],
        unique=False,
        postgresql_where=sa.text("status = 'pending_payment'"),
        sqlite_where=sa.text("status = 'pending_payment'"),
    )
    # Deadlines already past when this runs are not announced as news: they are marked told,
    # so that the first sweep does not flood both parties of every old license.
    op.execute(
        "UPDATE license SET recordation_overdue_notified_at = CURRENT_TIMESTAMP "
        "WHERE record_number IS NULL AND recordation_deadline < CURRENT_DATE"
    )

    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_obligation_obligation_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_obligation_obligation_status"),
            f"status IN ({OBLIGATION_STATUSES_BEFORE}, 'void')",
        )
        batch_op.drop_constraint(op.f("ck_obligation_amount_sign"), type_="check")
        batch_op.create_check_constraint(op.f("ck_obligation_amount_sign"), AMOUNT_SIGN)

    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_offer_royalty_type"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_offer_royalty_type"),
            f"royalty_type IN ({ROYALTY_TYPES_BEFORE}, 'profit_share')",
        )
        batch_op.drop_constraint(op.f("ck_offer_royalty_rate_required"), type_="check")
        batch_op.create_check_constraint(op.f("ck_offer_royalty_rate_required"), RATE_REQUIRED)

    with op.batch_alter_table("royalty_report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profit", marketplace.db.ScaledDecimal(18, 2), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_royalty_report_profit_not_negative"), "profit IS NULL OR profit >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("royalty_report", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_royalty_report_profit_not_negative"), type_="check")
        batch_op.drop_column("profit")

    # Profit-share offers had no earlier form; the nearest is a running royalty at the same rate.
    op.execute("UPDATE offer SET royalty_type = 'running' WHERE royalty_type = 'profit_share'")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_offer_royalty_rate_required"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_offer_royalty_rate_required"), RATE_REQUIRED_BEFORE
        )
        batch_op.drop_constraint(op.f("ck_offer_royalty_type"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_offer_royalty_type"), f"royalty_type IN ({ROYALTY_TYPES_BEFORE})"
        )

    # A void fee was owed by a license that never arose: before, there was no such license.
    op.execute(
        "DELETE FROM payment WHERE obligation_id IN "
        "(SELECT id FROM obligation WHERE status = 'void')"
    )
    op.execute("DELETE FROM obligation WHERE status = 'void'")
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_obligation_amount_sign"), type_="check")
        batch_op.create_check_constraint(op.f("ck_obligation_amount_sign"), AMOUNT_SIGN_BEFORE)
        batch_op.drop_constraint(op.f("ck_obligation_obligation_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_obligation_obligation_status"), f"status IN ({OBLIGATION_STATUSES_BEFORE})"
        )

    # Before, a license was in force from acceptance: one waiting for payment becomes active,
    # one that lapsed unpaid is ended as terminated.
    op.execute("UPDATE license SET status = 'active' WHERE status = 'pending_payment'")
    op.execute("UPDATE license SET status = 'terminated' WHERE status = 'lapsed_unpaid'")
    op.drop_index(
        "ix_license_pending_payment",
        table_name="license",
        postgresql_where=sa.text("status = 'pending_payment'"),
        sqlite_where=sa.text("status = 'pending_payment'"),
    )
    op.drop_index(
        "ix_license_recordation_unannounced",
        table_name="license",
        postgresql_where=sa.text(RECORDATION_UNANNOUNCED),
        sqlite_where=sa.text(RECORDATION_UNANNOUNCED),
    )
    _holding_index(HOLDING_BEFORE)
    with op.batch_alter_table("license", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_license_pending_payment_has_due_date"), type_="check")
        batch_op.drop_constraint(op.f("ck_license_license_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_license_license_status"), f"status IN ({LICENSE_STATUSES_BEFORE})"
        )
        batch_op.drop_column("recordation_overdue_notified_at")
        batch_op.drop_column("recordation_reminded_at")
        batch_op.drop_column("payment_due_date")
