"""The hash chain: how an entry's hash is computed, and how entries are appended in order."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from marketplace import clock
from marketplace.audit.models import GENESIS_HASH, AuditEvent, AuditEventParty
from marketplace.canonical import canonical_json

# pg_advisory_xact_lock key of the chain (an arbitrary constant: "audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
PARTIES = AuditEventParty.__table__  # type: ignore[attr-defined]


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
    content = {
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
    return hashlib.sha256(canonical_json(content)).hexdigest()


def head(session: Session) -> tuple[int, str]:
    """The id and hash of the newest entry; (0, genesis) while the trail is empty."""
    # On the connection: plain Core, none of the ORM's execution machinery.
    row = (
        session.connection()
        .execute(sa.select(EVENTS.c.id, EVENTS.c.hash).order_by(EVENTS.c.id.desc()).limit(1))
        .first()
    )
    return (0, GENESIS_HASH) if row is None else (int(row.id), str(row.hash))


def append(session: Session, entries: Sequence[Entry]) -> None:
    """Chain ``entries`` after the current head, in this transaction.

    Appends are serialized, so that the chain stays a line: on PostgreSQL by a transaction-level
    advisory lock, released at commit (taken here, right before the commit, so it is held only
    for it); on SQLite writers already are serialized (BEGIN IMMEDIATE). Ids are taken from the
    head under that lock, not from a sequence: a rolled-back append leaves no gap, so a gap is a
    deleted entry. Should two appends ever race anyway, the primary key refuses one of them."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    last_id, prev_hash = head(session)
    at = clock.now()
    events: list[dict[str, Any]] = []
    parties: list[dict[str, int]] = []
    for entry in entries:
        last_id += 1
        row: dict[str, Any] = {
            "id": last_id,
            "at": at,
            "actor": entry.actor.name,
            "actor_organization_id": entry.actor.organization_id,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "action": entry.action,
            "changes": entry.changes,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = entry_hash(**row, parties=entry.parties)
        events.append(row)
        parties.extend({"event_id": last_id, "organization_id": org} for org in entry.parties)
    connection.execute(sa.insert(EVENTS), events)
    if parties:
        connection.execute(sa.insert(PARTIES), parties)
