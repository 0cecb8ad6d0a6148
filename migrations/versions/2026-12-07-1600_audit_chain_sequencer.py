"""audit chain sequencer: a transaction records its audit entries unchained (``audit_pending``)
and they are chained after its commit by one sequencer at a time (PostgreSQL), so no lock is
held by a request's transaction

Revision ID: 5c7e2a9d4f16
Revises: 8e3a6f1c2d45
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import marketplace.db

revision: str = "5c7e2a9d4f16"
down_revision: str | None = "8e3a6f1c2d45"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Moves committed pending entries into the chain, in pending-id order, under the chain's
# transaction-level advisory lock (418581342580, "audit"), held until the caller commits. A
# caller whose own entries (p_mine) were chained meanwhile by someone else returns without
# locking; p_mine NULL chains whatever is pending. Each statement of the function sees what was
# committed before it started, so the DELETE taken after the lock sees every entry committed
# before its caller called, and the head that the last holder committed. The hash is SHA-256
# over prefix || id || middle || '"' || prev_hash || '"' || suffix: the entry's canonical JSON
# around its link, as the application encodes it (marketplace.audit.chain.hash_parts) and
# `marketplace audit verify` recomputes it.
CREATE_SEQUENCE_FUNCTION = """
CREATE FUNCTION audit_chain_sequence(p_mine bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint;
    prev text;
    digest text;
    entry record;
    chained integer := 0;
BEGIN
    IF p_mine IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_pending WHERE id = ANY(p_mine)) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(418581342580);
    IF p_mine IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_pending WHERE id = ANY(p_mine)) THEN
        RETURN 0;
    END IF;
    SELECT id, hash INTO last_id, prev FROM audit_event ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        last_id := 0;
        prev := repeat('0', 64);
    END IF;
    FOR entry IN
        WITH taken AS (DELETE FROM audit_pending RETURNING *) SELECT * FROM taken ORDER BY id
    LOOP
        last_id := last_id + 1;
        digest := encode(sha256(convert_to(
            entry.hash_prefix || last_id::text || entry.hash_middle || '"' || prev || '"'
                || entry.hash_suffix,
            'UTF8')), 'hex');
        INSERT INTO audit_event (id, at, actor, actor_organization_id, object_type, object_id,
                                 action, changes, prev_hash, hash)
        VALUES (last_id, entry.at, entry.actor, entry.actor_organization_id, entry.object_type,
                entry.object_id, entry.action, entry.changes, prev, digest);
        INSERT INTO audit_event_party (event_id, organization_id)
        SELECT last_id, party::integer FROM jsonb_array_elements_text(entry.parties) AS party;
        prev := digest;
        chained := chained + 1;
    END LOOP;
    RETURN chained;
END
$$
"""

DROP_APPEND_FUNCTION = (
    "DROP FUNCTION audit_chain_append(timestamptz, text[], bigint[], text[], bigint[], "
    "text[], text[], text[], text[], text[], text[])"
)

# As the migration audit_chain_append created it, for the way down.
CREATE_APPEND_FUNCTION = """
CREATE FUNCTION audit_chain_append(
    p_at timestamptz,
    p_actors text[],
    p_actor_organizations bigint[],
    p_object_types text[],
    p_object_ids bigint[],
    p_actions text[],
    p_changes text[],
    p_parties text[],
    p_prefixes text[],
    p_middles text[],
    p_suffixes text[]
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint;
    prev text;
    digest text;
BEGIN
    PERFORM pg_advisory_xact_lock(418581342580);
    SELECT id, hash INTO last_id, prev FROM audit_event ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        last_id := 0;
        prev := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_actors, 1), 0) LOOP
        last_id := last_id + 1;
        digest := encode(sha256(convert_to(
            p_prefixes[i] || last_id::text || p_middles[i] || '"' || prev || '"' || p_suffixes[i],
            'UTF8')), 'hex');
        INSERT INTO audit_event (id, at, actor, actor_organization_id, object_type, object_id,
                                 action, changes, prev_hash, hash)
        VALUES (last_id, p_at, p_actors[i], p_actor_organizations[i], p_object_types[i],
                p_object_ids[i], p_actions[i], p_changes[i]::jsonb, prev, digest);
        INSERT INTO audit_event_party (event_id, organization_id)
        SELECT last_id, party::integer FROM jsonb_array_elements_text(p_parties[i]::jsonb) AS party;
        prev := digest;
    END LOOP;
END
$$
"""

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("actor_organization_id", sa.Integer(), nullable=True),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("parties", JSON, nullable=False),
        sa.Column("hash_prefix", sa.Text(), nullable=False),
        sa.Column("hash_middle", sa.Text(), nullable=False),
        sa.Column("hash_suffix", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_SEQUENCE_FUNCTION)
        op.execute(DROP_APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Nothing pending is lost: it joins the chain before the table goes.
        op.execute("SELECT audit_chain_sequence(NULL)")
        op.execute("DROP FUNCTION audit_chain_sequence(bigint[])")
        op.execute(CREATE_APPEND_FUNCTION)
    op.drop_table("audit_pending")
