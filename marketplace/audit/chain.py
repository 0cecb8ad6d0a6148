"""The hash chain: how an entry's hash is computed, and how entries are appended in order."""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace import clock
from marketplace.audit.models import GENESIS_HASH, AuditEvent, AuditEventParty, AuditPending
from marketplace.canonical import canonical_json

# The pg_advisory_xact_lock key of the chain ("audit" in ASCII), taken by the server-side
# function audit_chain_sequence (its migration spells it in decimal, 418581342580).
CHAIN_LOCK_KEY = 0x6175646974

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
PARTIES = AuditEventParty.__table__  # type: ignore[attr-defined]
PENDING = AuditPending.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made the change: ``user:<id>``, ``client:<client id>``, ``anonymous`` or ``system``."""

    name: str
    organization_id: int | None = None


@dataclass(slots=True)
class Entry:
    """One object's change in one transaction, ready to be chained."""

    object_type: str
    object_id: int
    action: str
    changes: dict[str, list[Any]]
    parties: list[int]
    actor: Actor


def _content(
    *,
    id: Any,
    at: datetime,
    actor: str,
    actor_organization_id: int | None,
    object_type: str,
    object_id: int,
    action: str,
    changes: dict[str, Any],
    parties: Sequence[int],
    prev_hash: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "actor_organization_id": actor_organization_id,
        "object_type": object_type,
        "object_id": object_id,
        "action": action,
        "changes": changes,
        "parties": sorted(parties),
        "prev_hash": prev_hash,
    }


def entry_hash(
    *,
    id: int,
    at: datetime,
    actor: str,
    actor_organization_id: int | None,
    object_type: str,
    object_id: int,
    action: str,
    changes: dict[str, Any],
    parties: Sequence[int],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of everything an entry says, and the hash before it."""
    content = _content(
        id=id,
        at=at,
        actor=actor,
        actor_organization_id=actor_organization_id,
        object_type=object_type,
        object_id=object_id,
        action=action,
        changes=changes,
        parties=parties,
        prev_hash=prev_hash,
    )
    return hashlib.sha256(canonical_json(content)).hexdigest()


@dataclass(frozen=True, slots=True)
class HashParts:
    """An entry's canonical JSON around its two unknowns, the chain position and the hash before
    it: ``prefix + str(id) + middle + '"' + prev_hash + '"' + suffix``. Everything but the link
    is encoded before the chain is locked; whoever holds the lock only fills in the link."""

    prefix: str
    middle: str
    suffix: str

    def hash(self, id: int, prev_hash: str) -> str:
        text = f'{self.prefix}{id}{self.middle}"{prev_hash}"{self.suffix}'
        return hashlib.sha256(text.encode()).hexdigest()


def hash_parts(entry: "Entry", at: datetime) -> HashParts:
    # Markers no content can contain (a fresh random token), replaced by the link later.
    marker = uuid.uuid4().hex
    id_mark, prev_mark = f"id-{marker}", f"prev-{marker}"
    text = canonical_json(
        _content(
            id=id_mark,
            at=at,
            actor=entry.actor.name,
            actor_organization_id=entry.actor.organization_id,
            object_type=entry.object_type,
            object_id=entry.object_id,
            action=entry.action,
            changes=entry.changes,
            parties=entry.parties,
            prev_hash=prev_mark,
        )
    ).decode()
    prefix, rest = text.split(f'"{id_mark}"')
    middle, suffix = rest.split(f'"{prev_mark}"')
    return HashParts(prefix, middle, suffix)


def head(session: Session) -> tuple[int, str]:
    """The id and hash of the newest entry; (0, genesis) while the trail is empty."""
    # On the connection: plain Core, none of the ORM's execution machinery.
    row = (
        session.connection()
        .execute(sa.select(EVENTS.c.id, EVENTS.c.hash).order_by(EVENTS.c.id.desc()).limit(1))
        .first()
    )
    return (0, GENESIS_HASH) if row is None else (int(row.id), str(row.hash))


def _columns(entry: "Entry", at: datetime) -> dict[str, Any]:
    """An entry's own columns, pending or chained."""
    return {
        "at": at,
        "actor": entry.actor.name,
        "actor_organization_id": entry.actor.organization_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "action": entry.action,
        "changes": entry.changes,
    }


def append(session: Session, entries: Sequence[Entry]) -> list[int]:
    """Record ``entries`` in this transaction; on PostgreSQL they are chained after it commits.

    Ids are chain positions, taken from the head under a lock rather than from a sequence: a
    rolled-back append leaves no gap, so a gap is a deleted entry. Should two chainings ever
    race anyway, the primary key refuses one of them.

    Everything that does not depend on the chain's head (each entry's canonical JSON, split
    around its link) is prepared here. On PostgreSQL the entries are inserted unchained into
    ``audit_pending`` (one statement, no lock: concurrent transactions do not wait for each
    other), and the ids returned are handed to ``sequence`` once the transaction has
    committed. On SQLite writers are serialized already (BEGIN IMMEDIATE), and the entries are
    chained here, in the transaction; nothing is returned."""
    at = clock.now()
    parts = [hash_parts(entry, at) for entry in entries]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = [
            {
                **_columns(entry, at),
                "parties": sorted(entry.parties),
                "hash_prefix": part.prefix,
                "hash_middle": part.middle,
                "hash_suffix": part.suffix,
            }
            for entry, part in zip(entries, parts, strict=True)
        ]
        inserted = connection.execute(
            sa.insert(PENDING).returning(PENDING.c.id, sort_by_parameter_order=True), rows
        )
        return [int(pending_id) for pending_id in inserted.scalars()]
    last_id, prev_hash = head(session)
    events: list[dict[str, Any]] = []
    parties: list[dict[str, int]] = []
    for entry, part in zip(entries, parts, strict=True):
        last_id += 1
        digest = part.hash(last_id, prev_hash)
        events.append(
            {
                "id": last_id,
                **_columns(entry, at),
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        parties.extend({"event_id": last_id, "organization_id": org} for org in entry.parties)
        prev_hash = digest
    connection.execute(sa.insert(EVENTS), events)
    if parties:
        connection.execute(sa.insert(PARTIES), parties)
    return []


def sequence(connection: sa.Connection, mine: Sequence[int] | None) -> int:
    """Chain committed pending entries (PostgreSQL), in one statement; the number chained.

    ``mine``: the pending ids a transaction just committed. When none of them is pending any
    more, another caller chained them already and nothing is locked. Otherwise the statement
    takes the chain's transaction-level advisory lock (held until the caller commits), reads
    the head and moves every committed pending entry, whoever wrote it, into the chain in id
    order: one caller chains the entries of many transactions under one commit. With
    ``mine=None`` it chains whatever is pending (the sweep, ``audit verify``, a server
    starting after one died between a commit and its chaining)."""
    if connection.dialect.name != "postgresql":
        return 0
    return int(connection.execute(SEQUENCE_STATEMENT, {"mine": mine}).scalar_one())


# The function is created by the migration ``audit_chain_sequencer``; its body is written there.
SEQUENCE_STATEMENT = sa.text("SELECT audit_chain_sequence(CAST(:mine AS bigint[]))")
