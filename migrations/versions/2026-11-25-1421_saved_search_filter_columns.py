"""saved_search_filter_columns: the filters of saved searches as columns, filled from their query

Revision ID: 14187c1a56a0
Revises: c01f97af0ddd
Create Date: 2026-11-25 14:18:11.317795
"""

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import marketplace.db

revision: str = "14187c1a56a0"
down_revision: str | None = "c01f97af0ddd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAGE = 1_000

# The columns as this revision knows them; the application's models may move on.
saved_search = sa.table(
    "saved_search",
    sa.column("id", sa.Integer()),
    sa.column("query", marketplace.db.JSONType),
    sa.column("filter_ipc_pattern", sa.String()),
    sa.column("filter_kind", sa.String()),
    sa.column("filter_owner_id", sa.Integer()),
    sa.column("filter_owner_kind", sa.String()),
    sa.column("filter_region", sa.String()),
    sa.column("filter_royalty_type", sa.String()),
    sa.column("filter_max_upfront_fee", marketplace.db.ScaledDecimal(precision=18, scale=2)),
    sa.column("filter_max_royalty_rate", marketplace.db.ScaledDecimal(precision=7, scale=4)),
    sa.column("filter_min_remaining_years", sa.Integer()),
)


def _ipc_codes_pattern(prefix: str) -> str:
    # Saved queries hold canonical IPC prefixes: "G", "G06", "G06F", "G06F 16", "G06F 16/33".
    if "/" in prefix:
        return f"%|{prefix}|%"
    if " " in prefix:
        return f"%|{prefix}/%"
    if len(prefix) == 4:
        return f"%|{prefix} %"
    return f"%|{prefix}%"


def _round_down(value: Any, quantum: str) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(quantum), rounding=ROUND_FLOOR)


def _filter_columns(query: dict[str, Any]) -> dict[str, Any]:
    ipc = query.get("ipc")
    return {
        "filter_ipc_pattern": _ipc_codes_pattern(ipc) if ipc else None,
        "filter_kind": query.get("kind"),
        "filter_owner_id": query.get("owner_id"),
        "filter_owner_kind": query.get("owner_kind"),
        "filter_region": query.get("region"),
        "filter_royalty_type": query.get("royalty_type"),
        "filter_max_upfront_fee": _round_down(query.get("max_upfront_fee"), "0.01"),
        "filter_max_royalty_rate": _round_down(query.get("max_royalty_rate"), "0.0001"),
        "filter_min_remaining_years": query.get("min_remaining_years"),
    }


def _fill_filter_columns() -> None:
    connection = op.get_bind()
    update = (
        sa.update(saved_search)
        .where(saved_search.c.id == sa.bindparam("saved_search_id"))
        .values({name: sa.bindparam(name) for name in _filter_columns({})})
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(saved_search.c.id, saved_search.c.query)
            .where(saved_search.c.id > after)
            .order_by(saved_search.c.id)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        filled = [(saved_id, _filter_columns(query)) for saved_id, query in rows]
        changes = [
            {"saved_search_id": saved_id, **columns}
            for saved_id, columns in filled
            if any(value is not None for value in columns.values())
        ]
        if changes:
            connection.execute(update, changes)
        after = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "filter_ipc_pattern", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "filter_kind",
                sa.Enum(
                    "invention",
                    "utility_model",
                    "design",
                    name="saved_search_kind",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("filter_owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "filter_owner_kind",
                sa.Enum(
                    "university",
                    "research_institute",
                    "enterprise",
                    "bank",
                    "platform",
                    name="saved_search_owner_kind",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("filter_region", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "filter_royalty_type",
                sa.Enum(
                    "lump_sum",
                    "running",
                    "per_unit",
                    "hybrid",
                    name="saved_search_royalty_type",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "filter_max_upfront_fee",
                marketplace.db.ScaledDecimal(precision=18, scale=2),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "filter_max_royalty_rate",
                marketplace.db.ScaledDecimal(precision=7, scale=4),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("filter_min_remaining_years", sa.Integer(), nullable=True))
    _fill_filter_columns()


def downgrade() -> None:
    with op.batch_alter_table("saved_search", schema=None) as batch_op:
        # Before their columns: SQLite's table copy would keep them, naming missing columns.
        for name in ("saved_search_kind", "saved_search_owner_kind", "saved_search_royalty_type"):
            batch_op.drop_constraint(op.f(f"ck_saved_search_{name}"), type_="check")
        batch_op.drop_column("filter_min_remaining_years")
        batch_op.drop_column("filter_max_royalty_rate")
        batch_op.drop_column("filter_max_upfront_fee")
        batch_op.drop_column("filter_royalty_type")
        batch_op.drop_column("filter_region")
        batch_op.drop_column("filter_owner_kind")
        batch_op.drop_column("filter_owner_id")
        batch_op.drop_column("filter_kind")
        batch_op.drop_column("filter_ipc_pattern")
