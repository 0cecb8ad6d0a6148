"""Declarations carry the office's announcement: its source (office, or platform-assigned for the
numbers the platform minted before), the withdrawal request (reason, co-owners' consent) and the
office's withdrawal announcement; each covered patent's annual-fee reduction and why it applies;
patents' own fee reduction and the conclusion of their evaluation report

Revision ID: b05107f91619
Revises: 8a41c0d2e7b9
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import marketplace.db

revision: str = "b05107f91619"
down_revision: str | None = "8a41c0d2e7b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

_listing = sa.table(
    "listing",
    sa.column("id", sa.Integer()),
    sa.column("annual_fee_reduction_percent", marketplace.db.ScaledDecimal(5, 2)),
    sa.column("fee_reductions", marketplace.db.JSONType),
)
_listing_patent = sa.table(
    "listing_patent", sa.column("listing_id", sa.Integer()), sa.column("patent_id", sa.Integer())
)
_patent = sa.table(
    "patent", sa.column("id", sa.Integer()), sa.column("application_number", sa.String())
)


def _record_fee_reductions() -> None:
    """Every declaration so far was stamped with the open-license reduction: record it for each
    of its patents (no patent had a reduction of its own on record)."""
    bind = op.get_bind()
    stamped = bind.execute(
        sa.select(_listing.c.id, _listing.c.annual_fee_reduction_percent).where(
            _listing.c.annual_fee_reduction_percent.is_not(None)
        )
    ).all()
    for listing_id, percent in stamped:
        covered = bind.execute(
            sa.select(_patent.c.id, _patent.c.application_number)
            .join(_listing_patent, _listing_patent.c.patent_id == _patent.c.id)
            .where(_listing_patent.c.listing_id == listing_id)
            .order_by(_patent.c.id)
        ).all()
        shown = Decimal(percent).quantize(Decimal("0.01"))
        bind.execute(
            _listing.update()
            .where(_listing.c.id == listing_id)
            .values(
                fee_reductions=[
                    {
                        "patent_id": patent_id,
                        "application_number": number,
                        "percent": str(shown),
                        "basis": "open_license",
                        "reason": f"open-license reduction of {shown}%, recorded before patents' "
                        "own reductions were",
                    }
                    for patent_id, number in covered
                ]
            )
        )


# SQLite: columns added with ALTER TABLE, each constraint on the column that it concerns (SQLite
# makes no difference between column and table checks). Recreating the tables instead, as batch
# mode would, fails or cascades deletes while other tables' rows refer to them.
_SQLITE_UPGRADE = (
    "ALTER TABLE patent ADD COLUMN evaluation_report_conclusion VARCHAR(32) "
    "CONSTRAINT ck_patent_evaluation_conclusion CHECK (evaluation_report_conclusion IN "
    "('supports_validity', 'partially_supports', 'does_not_support', 'legacy_unknown'))",
    "ALTER TABLE patent ADD COLUMN fee_reduction_percent BIGINT",
    "ALTER TABLE listing ADD COLUMN announcement_source VARCHAR(32) "
    "CONSTRAINT ck_listing_announcement_source "
    "CHECK (announcement_source IN ('office', 'platform_assigned'))",
    # The OL… numbers the platform minted are kept, flagged as not the office's; then the next
    # column carries the checks that need the flag (SQLite checks existing rows on ADD COLUMN).
    "UPDATE listing SET announcement_source = 'platform_assigned' "
    "WHERE announcement_number IS NOT NULL",
    "ALTER TABLE listing ADD COLUMN withdrawal_requested_at DATETIME "
    "CONSTRAINT ck_listing_announcement_source_given "
    "CHECK ((announcement_number IS NULL) = (announcement_source IS NULL)) "
    "CONSTRAINT ck_listing_announced_when_declared "
    "CHECK (status = 'draft' OR announcement_number IS NOT NULL)",
    "ALTER TABLE listing ADD COLUMN withdrawal_reason VARCHAR(2000)",
    "ALTER TABLE listing ADD COLUMN withdrawal_consents JSON NOT NULL DEFAULT '[]'",
    "ALTER TABLE listing ADD COLUMN withdrawal_announcement_number VARCHAR(32) "
    "CONSTRAINT ck_listing_withdrawal_announced_after_request "
    "CHECK (withdrawal_announcement_number IS NULL OR withdrawal_requested_at IS NOT NULL)",
    "ALTER TABLE listing ADD COLUMN withdrawal_announcement_date DATE",
    "ALTER TABLE listing ADD COLUMN fee_reductions JSON NOT NULL DEFAULT '[]'",
    "CREATE UNIQUE INDEX ix_listing_withdrawal_announcement_number "
    "ON listing (withdrawal_announcement_number)",
)


def _upgrade_postgresql() -> None:
    with op.batch_alter_table("patent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "evaluation_report_conclusion",
                sa.Enum(
                    "supports_validity",
                    "partially_supports",
                    "does_not_support",
                    "legacy_unknown",
                    name="evaluation_conclusion",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "fee_reduction_percent",
                marketplace.db.ScaledDecimal(precision=5, scale=2),
                nullable=True,
            )
        )
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "announcement_source",
                sa.Enum(
                    "office",
                    "platform_assigned",
                    name="announcement_source",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "withdrawal_requested_at", marketplace.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "withdrawal_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("withdrawal_consents", _JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column(
                "withdrawal_announcement_number",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("withdrawal_announcement_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("fee_reductions", _JSON, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.create_index(
            "ix_listing_withdrawal_announcement_number",
            ["withdrawal_announcement_number"],
            unique=True,
        )
    # The OL… numbers the platform minted are kept, flagged as not the office's.
    op.execute(
        "UPDATE listing SET announcement_source = 'platform_assigned' "
        "WHERE announcement_number IS NOT NULL"
    )
    with op.batch_alter_table("listing", schema=None) as batch_op:
        # The defaults only filled the rows already there; new rows get theirs from the model.
        batch_op.alter_column("withdrawal_consents", server_default=None)
        batch_op.alter_column("fee_reductions", server_default=None)
        batch_op.create_check_constraint(
            batch_op.f("ck_listing_announcement_source_given"),
            "(announcement_number IS NULL) = (announcement_source IS NULL)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_listing_announced_when_declared"),
            "status = 'draft' OR announcement_number IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_listing_withdrawal_announced_after_request"),
            "withdrawal_announcement_number IS NULL OR withdrawal_requested_at IS NOT NULL",
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)
    else:
        _upgrade_postgresql()
    # Reports recorded without their conclusion: visibly unknown. Declarations already announced
    # on them stand; a new declaration needs the conclusion entered.
    op.execute(
        "UPDATE patent SET evaluation_report_conclusion = 'legacy_unknown' "
        "WHERE evaluation_report_ref IS NOT NULL"
    )
    _record_fee_reductions()


def downgrade() -> None:
    with op.batch_alter_table("listing", schema=None) as batch_op:
        # Before their columns: SQLite's table copy would keep them, naming missing columns.
        batch_op.drop_constraint(
            batch_op.f("ck_listing_withdrawal_announced_after_request"), type_="check"
        )
        batch_op.drop_constraint(batch_op.f("ck_listing_announced_when_declared"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_listing_announcement_source_given"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_listing_announcement_source"), type_="check")
        batch_op.drop_index("ix_listing_withdrawal_announcement_number")
        batch_op.drop_column("fee_reductions")
        batch_op.drop_column("withdrawal_announcement_date")
        batch_op.drop_column("withdrawal_announcement_number")
        batch_op.drop_column("withdrawal_consents")
        batch_op.drop_column("withdrawal_reason")
        batch_op.drop_column("withdrawal_requested_at")
        batch_op.drop_column("announcement_source")
    with op.batch_alter_table("patent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_patent_evaluation_conclusion"), type_="check")
        batch_op.drop_column("fee_reduction_percent")
        batch_op.drop_column("evaluation_report_conclusion")
