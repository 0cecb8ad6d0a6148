"""The event feed: written with the change it describes, read in commit-safe order."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.events.catalogue import CATALOGUE
from marketplace.events.models import Event, EventType
from marketplace.pagination import InvalidCursor, decode_cursor, encode_cursor

# The current transaction's id on PostgreSQL (taking one if it has none yet): events carry it, so
# that the feed reads them in commit-safe order.
_CURRENT_TRANSACTION_ID = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)


def _transaction_id(session: Session) -> int:
    if session.get_bind().dialect.name != "postgresql":
        # SQLite runs one writer at a time: the id order is the commit order.
        return 0
    return int(session.execute(sa.select(_CURRENT_TRANSACTION_ID)).scalar_one())


_EVENTS: sa.Table = Event.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event of a bulk recording: who is told, about what, with which details."""

    recipient_id: int
    subject: str
    payload: dict[str, Any]


# The rows of a ``together`` block still to be written, in the session's info.
_HELD_KEY = "events_held"


def record_many(session: Session, *, type: EventType, events: Sequence[NewEvent]) -> None:
    """Add the events, all of one type, to the current transaction: one multi-row INSERT (per
    thousand events) instead of a flush per event, for fan-outs to many organizations.

    The rows are those ``record`` writes: one transaction id (the feed shows them together, once
    the transaction has committed) and ids in the order given, so a recipient reads its events in
    the order they were recorded. Within ``together`` they are written at its end, with the
    block's other events."""
    if type not in CATALOGUE:
        # Every type the platform records is documented with its payload, or not recorded.
        raise ValueError(f"Event type {type!r} is not in the event catalogue.")
    if not events:
        return
    created_at = clock.timestamp()
    rows = [
        {
            "recipient_id": event.recipient_id,
            "type": type.value,
            "subject": event.subject,
            "payload": event.payload,
            "created_at": created_at,
        }
        for event in events
    ]
    held: list[dict[str, Any]] | None = session.info.get(_HELD_KEY)
    if held is not None:
        held.extend(rows)
    else:
        _write(session, rows)


@contextmanager
def together(session: Session) -> Iterator[None]:
    """The events recorded in the block, of whatever types, written in one INSERT at its end
    (in the order recorded) rather than one per ``record``: for a use case that tells several
    things at once (an acceptance: the notice, the license in force, the pledgees). If the block
    raises, its events are not written: the use case fails, and its transaction is rolled back.
    Nested blocks write with the outermost one."""
    if session.info.get(_HELD_KEY) is not None:
        yield
        return
    held: list[dict[str, Any]] = []
    session.info[_HELD_KEY] = held
    try:
        yield
    finally:
        del session.info[_HELD_KEY]
    if held:
        _write(session, held)


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    # What is pending first, as a flush would have written it: the events may refer to it.
    session.flush()
    connection = session.connection()
    connection.execute(_insert_statement(connection.dialect.name), rows).all()


@cache
def _insert_statement(dialect_name: str) -> sa.Insert:
    """``record_many``'s INSERT, built once per dialect (every change that tells someone runs
    it)."""
    if dialect_name == "postgresql":
        # The transaction's id taken by the INSERT itself: no round trip to ask for it first.
        statement = _EVENTS.insert().values(transaction_id=_CURRENT_TRANSACTION_ID)
    else:
        statement = _EVENTS.insert().values(transaction_id=0)
    # With RETURNING, SQLAlchemy sends the rows as multi-row INSERTs ("insertmanyvalues") of up to
    # a thousand rows each, within the bound-parameter limits of both databases. On the table, not
    # the model: the ORM's bulk path would only add work per row (events are not audited).
    return statement.returning(_EVENTS.c.id)


def record(
    session: Session,
    *,
    recipients: Sequence[int],
    type: EventType,
    subject: str,
    payload: dict[str, Any],
) -> None:
    """Add one event per recipient (each once) to the current transaction."""
    record_many(
        session,
        type=type,
        events=[NewEvent(recipient, subject, payload) for recipient in dict.fromkeys(recipients)],
    )


def feed(
    *, session: Session, recipient_id: int, since: str | None, limit: int
) -> tuple[list[Event], str]:
    """The next events after ``since``, oldest first, and the cursor to continue from.

    On PostgreSQL an event becomes readable only once every transaction older than its own has
    ended: ids are taken at insert but become visible at commit, and without this rule a reader
    could pass id 10 while id 9 was still being written, and never see 9."""
    after_tx, after_id = 0, 0
    if since is not None:
        position = decode_cursor(since)
        tx, event_id = position.get("tx"), position.get("id")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (tx, event_id)
        ):
            raise InvalidCursor("The cursor is not one this API issued.")
        assert isinstance(tx, int)
        assert isinstance(event_id, int)
        if max(tx, event_id) >= 2**63:
            raise InvalidCursor("The cursor is not one this API issued.")
        after_tx, after_id = tx, event_id
    events = read_after(
        session=session, recipient_id=recipient_id, after=(after_tx, after_id), limit=limit
    )
    if events:
        last = events[-1]
        after_tx, after_id = last.transaction_id, last.id or 0
    return events, encode_cursor({"tx": after_tx, "id": after_id})


def read_after(
    *, session: Session, recipient_id: int, after: tuple[int, int], limit: int
) -> list[Event]:
    """The committed events after the position ``(transaction_id, id)``, oldest first: the feed's
    order, for readers that keep their position themselves (webhook fan-out)."""
    after_tx, after_id = after
    statement = (
        select(Event)
        .where(col(Event.recipient_id) == recipient_id)
        .where(sa.tuple_(col(Event.transaction_id), col(Event.id)) > sa.tuple_(after_tx, after_id))
    )
    if session.get_bind().dialect.name == "postgresql":
        horizon = sa.text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        statement = statement.where(col(Event.transaction_id) < horizon)
    return list(
        session.scalars(
            statement.order_by(col(Event.transaction_id), col(Event.id)).limit(limit)
        ).all()
    )


def position_now(session: Session) -> tuple[int, int]:
    """A feed position that every event committed so far is at or before, and every event of a
    later transaction is after: where a new reader starts so that it sees only what comes next.
    (On PostgreSQL, events of transactions still open and older than this one may fall before
    it: they are concurrent with the caller's change.)"""
    if session.get_bind().dialect.name != "postgresql":
        last = session.scalar(select(sa.func.max(col(Event.id))))
        return 0, int(last or 0)
    return _transaction_id(session), 0
