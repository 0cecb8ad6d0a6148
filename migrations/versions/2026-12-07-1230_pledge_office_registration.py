"""pledges carry the office's registration: numbers the platform minted are kept and flagged as
platform-assigned; the application carries the co-owners' consents, the pledgee's consent to the
open licenses in force, and both parties' confirmation that they proceed despite a pending
invalidation request (a new encumbrance kind)

Revision ID: 5b8e2d4c7a19
Revises: b05107f91619
Create Date: 2026-12-07 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b8e2d4c7a19"
down_revision: str | None = "b05107f91619"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENCUMBRANCE_KINDS = (
    "exclusive_license",
    "sole_license",
    "non_exclusive_license",
    "court_preservation",
    "ownership_dispute",
)


BOOLEAN_COLUMNS = (
    "registration_number_platform_assigned",
    "consents_to_open_licenses",
    "pledgee_proceeds_despite_invalidation",
    "pledgor_proceeds_despite_invalidation",
)


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade() -> None:
    # Plain ADD COLUMN with a server default (which the models declare too): on SQLite a batch
    # rebuild of `pledge` would drop a table that patents and licenses refer to.
    for name in BOOLEAN_COLUMNS:
        op.add_column(
            "pledge", sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.add_column(
        "pledge",
        sa.Column("co_owner_consents", _json(), nullable=False, server_default=sa.text("'[]'")),
    )
    # Every number recorded so far was minted by the platform (`ZL` + year + pledge id), not
    # issued by the office: kept, so that what was shown stays traceable, and flagged.
    op.execute(
        "UPDATE pledge SET registration_number_platform_assigned = true "
        "WHERE registration_number IS NOT NULL"
    )
    with op.batch_alter_table("patent_encumbrance") as batch_op:
        batch_op.drop_constraint(op.f("ck_patent_encumbrance_encumbrance_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_patent_encumbrance_encumbrance_kind"),
            _kinds((*ENCUMBRANCE_KINDS, "invalidation_request")),
        )


def downgrade() -> None:
    # An invalidation request has no place in the older schema: it goes.
    op.execute("DELETE FROM patent_encumbrance WHERE kind = 'invalidation_request'")
    with op.batch_alter_table("patent_encumbrance") as batch_op:
        batch_op.drop_constraint(op.f("ck_patent_encumbrance_encumbrance_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_patent_encumbrance_encumbrance_kind"), _kinds(ENCUMBRANCE_KINDS)
        )
    for name in ("co_owner_consents", *reversed(BOOLEAN_COLUMNS)):
        op.drop_column("pledge", name)
