"""audit chain append: one server-side statement chains a transaction's audit entries
(PostgreSQL), so the chain's lock is held for that statement and the commit only

Revision ID: 8a41c0d2e7b9
Revises: 3f9c2b7d1e4a
Create Date: 2026-12-07 11:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8a41c0d2e7b9"
down_revision: str | None = "3f9c2b7d1e4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hash is SHA-256 over prefix || id || middle || '"' || prev_hash || '"' || suffix, where the
# three parts are the entry's canonical JSON around its link, encoded by the application
# (marketplace.audit.chain.hash_parts): the same bytes the application hashes on SQLite and
# `marketplace audit verify` recomputes. 418581342580 is the chain's advisory-lock key ("audit").
CREATE_FUNCTION = """
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION audit_chain_append(timestamptz, text[], bigint[], text[], bigint[], "
            "text[], text[], text[], text[], text[], text[])"
        )
