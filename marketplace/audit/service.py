"""Reading and verifying the audit trail. Entries are written by the session events in
``recorder``, never by services."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from marketplace.audit import chain
from marketplace.audit.chain import EVENTS, PARTIES, PENDING
from marketplace.audit.models import (
    GENESIS_HASH,
    AuditEvent,
    AuditEventPublic,
    ChainBreak,
    ChainVerification,
)
from marketplace.errors import NotFound
from marketplace.pagination import PageParams, paginate_by_id

VERIFY_BATCH = 1000


class AuditObjectNotFound(NotFound):
    default_code = "audit_object_not_found"
    title = "No audit entries for this object"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    object_type: str | None = None
    object_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _parties_of(session: Session, event_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {event_id: [] for event_id in event_ids}
    if event_ids:
        rows = session.execute(
            sa.select(PARTIES.c.event_id, PARTIES.c.organization_id)
            .where(PARTIES.c.event_id.in_(event_ids))
            .order_by(PARTIES.c.event_id, PARTIES.c.organization_id)
        )
        for event_id, organization_id in rows:
            found[event_id].append(organization_id)
    return found


def _visible_to(organization_id: int) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        PARTIES.c.event_id == EVENTS.c.id, PARTIES.c.organization_id == organization_id
    )


def list_events(
    *,
    session: Session,
    filters: AuditFilter,
    params: PageParams,
    party_id: int | None,
) -> tuple[list[AuditEventPublic], str | None]:
    """Entries newest first. With ``party_id`` only those of objects that organization is party
    to (platform admins pass None and see all). Asking for one object that has no entry the
    caller may see is a 404, whether the object is foreign or does not exist."""
    visible = _visible_to(party_id) if party_id is not None else sa.true()
    if filters.object_type is not None and filters.object_id is not None:
        exists = session.scalar(
            sa.select(
                sa.exists().where(
                    EVENTS.c.object_type == filters.object_type,
                    EVENTS.c.object_id == filters.object_id,
                    visible,
                )
            )
        )
        if not exists:
            raise AuditObjectNotFound(
                f"No audit entries for {filters.object_type} {filters.object_id}."
            )
    statement = sa.select(AuditEvent).where(visible)
    conditions: list[tuple[Any, Callable[[Any], sa.ColumnElement[bool]]]] = [
        (filters.object_type, lambda value: EVENTS.c.object_type == value),
        (filters.object_id, lambda value: EVENTS.c.object_id == value),
        (filters.action, lambda value: EVENTS.c.action == value),
        (filters.since, lambda value: EVENTS.c.at >= value),
        (filters.until, lambda value: EVENTS.c.at < value),
    ]
    for value, condition in conditions:
        if value is not None:
            statement = statement.where(condition(value))
    found, next_cursor = paginate_by_id(
        session,
        statement,
        id_column=EVENTS.c.id,
        params=params,
    )
    parties = _parties_of(session, [event.id for event in found])
    items = [
        AuditEventPublic.model_validate(
            {**event.model_dump(), "parties": parties[event.id]}, from_attributes=False
        )
        for event in found
    ]
    return items, next_cursor


def head(*, session: Session) -> tuple[int, str]:
    return chain.head(session)


def chain_pending(*, session: Session) -> int:
    """Chain every committed entry still pending (PostgreSQL; nothing is pending on SQLite):
    those of a process that died between its commit and their chaining. Takes the chain's
    lock until the session commits: call it in a transaction of its own. Returns how many."""
    return chain.sequence(session.connection(), None)


def pending_count(*, session: Session) -> int:
    """Entries committed but not chained yet (a request chains its own before it answers)."""
    return session.scalar(sa.select(sa.func.count()).select_from(PENDING)) or 0


def verify_chain(
    *,
    session: Session,
    batch_size: int = VERIFY_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ChainVerification:
    """Walk the whole chain in id order, a batch at a time (memory stays flat at any size), and
    report the first entry that breaks it: a gap in the ids (an entry deleted), a hash that does
    not match the entry's content (an entry changed), or a ``prev_hash`` that is not the hash of
    the entry before (entries replaced, reordered or rehashed). ``progress`` gets the number of
    entries checked after each batch."""
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0

    def broken(event_id: int, reason: ChainBreak) -> ChainVerification:
        return ChainVerification(
            ok=False,
            checked=checked,
            head_id=expected_id - 1,
            head_hash=prev_hash,
            broken_at=event_id,
            reason=reason,
        )

    while True:
        rows = session.execute(
            sa.select(EVENTS)
            .where(EVENTS.c.id >= expected_id)
            .order_by(EVENTS.c.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        parties = _parties_of(session, [row.id for row in rows])
        for row in rows:
            if row.id != expected_id:
                return broken(row.id, ChainBreak.gap)
            computed = chain.entry_hash(
                id=row.id,
                at=row.at,
                actor=row.actor,
                actor_organization_id=row.actor_organization_id,
                object_type=row.object_type,
                object_id=row.object_id,
                action=row.action,
                changes=row.changes,
                parties=parties[row.id],
                prev_hash=row.prev_hash,
            )
            if computed != row.hash:
                return broken(row.id, ChainBreak.content_hash_mismatch)
            if row.prev_hash != prev_hash:
                return broken(row.id, ChainBreak.prev_link_mismatch)
            expected_id, prev_hash, checked = row.id + 1, row.hash, checked + 1
        if progress is not None:
            progress(checked)
    return ChainVerification(ok=True, checked=checked, head_id=expected_id - 1, head_hash=prev_hash)
