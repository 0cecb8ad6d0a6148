"""Session events that record every change of an audited model, so that no service can forget.

* ``after_flush`` sees what the unit of work wrote (``session.new/dirty/deleted``, with each
  attribute's history for old → new);
* ``do_orm_execute`` sees bulk ``UPDATE``/``DELETE`` statements on audited models (the guarded
  state transitions of ``db.transition``): they run with ``RETURNING``, so the rows they really
  changed are known; old values come from the identity map when the statement pins one loaded
  object, and otherwise from one SELECT over the statement's own WHERE just before it (locking
  the rows on PostgreSQL), never from a query per row. Loaded objects are synchronized from the
  returned rows unless ``synchronize_session=False``;
* ``before_commit`` of the outermost transaction merges what was recorded into one entry per
  object and records the entries (``chain.append``): on PostgreSQL unchained, in one INSERT
  that takes no lock; on SQLite (one writer at a time) chained at once;
* ``after_commit`` chains what the transaction committed unchained (``chain.sequence``), so
  that the chain's lock is never held by a request's transaction, only by the one sequencer
  that chains the committed entries of many transactions at once.

What a rolled-back savepoint recorded is forgotten with it. Statements on tables rather than
models (``sa.update(Model.__table__)``) and raw SQL are not seen: services use models.
"""

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import (
    InstanceState,
    Mapper,
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql import operators

from marketplace.audit import chain
from marketplace.audit.chain import Actor, Entry
from marketplace.audit.spec import Audited, audited

ACTOR_KEY = "audit_actor"
PENDING_KEY = "audit_pending"
UNCHAINED_KEY = "audit_unchained"

logger = logging.getLogger(__name__)


class UnauditableStatement(Exception):
    """A programming error: a bulk statement on an audited model that the recorder cannot follow."""


SYSTEM = Actor("system")
ANONYMOUS = Actor("anonymous")


def act_as(session: Session, actor: Actor) -> None:
    """Attribute the changes of the session's current transaction to ``actor`` (until it ends).
    Without a call, changes are the system's (commands, jobs)."""
    session.info[ACTOR_KEY] = actor


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


# An old value the recorder did not see (the row was changed in bulk and was not loaded).
UNKNOWN: Any = _Unknown()


@dataclass(slots=True)
class _Record:
    transaction: SessionTransaction
    object_type: str
    object_id: int
    action: str  # created, updated, deleted
    changes: dict[str, list[Any]]
    parties: tuple[int, ...]
    actor: Actor
    spec: Audited


@dataclass(slots=True)
class _Merged:
    first: _Record
    created: bool = False
    deleted: _Record | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    parties: dict[int, None] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """The JSON form of a column value, the same on every database."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, float):
        # JSON numbers are decimal text on PostgreSQL (JSONB): keep the exact repr.
        return repr(value)
    return str(value)


@cache
def _column_set(mapper: Mapper[Any], spec: Audited) -> frozenset[str]:
    return frozenset(_columns(mapper, spec))


@cache
def _columns(mapper: Mapper[Any], spec: Audited) -> tuple[str, ...]:
    return tuple(attr.key for attr in mapper.column_attrs if spec.records(attr.key))


def _table(mapper: Mapper[Any]) -> sa.Table:
    table = mapper.local_table
    assert isinstance(table, sa.Table)
    return table


def _transaction(session: Session) -> SessionTransaction:
    current = session.get_nested_transaction() or session.get_transaction()
    assert current is not None
    return current


def _actor(session: Session) -> Actor:
    actor = session.info.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else SYSTEM


def _object_id(mapper: Mapper[Any], values: Mapping[str, Any]) -> int:
    return int(values[str(mapper.primary_key[0].key)])


def _parties(session: Session, spec: Audited, values: Mapping[str, Any]) -> tuple[int, ...]:
    found: dict[int, None] = {}
    for column in spec.parties:
        party = values.get(column)
        if isinstance(party, int):
            found[party] = None
    if spec.parent is not None:
        parent_model, foreign_key = spec.parent
        parent_id = values.get(foreign_key)
        parent_spec = audited(parent_model)
        if parent_id is not None and parent_spec is not None:
            # Found in the identity map when loaded (the usual case), without a query.
            with session.no_autoflush:
                parent = session.get(parent_model, parent_id)
            if parent is not None:
                parent_values = sa.inspect(parent).dict
                found.update(dict.fromkeys(_parties(session, parent_spec, parent_values)))
    return tuple(found)


def _pending(session: Session) -> list[_Record]:
    pending: list[_Record] = session.info.setdefault(PENDING_KEY, [])
    return pending


def _record(
    session: Session,
    mapper: Mapper[Any],
    spec: Audited,
    *,
    values: Mapping[str, Any],
    action: str,
    changes: dict[str, list[Any]],
) -> None:
    _pending(session).append(
        _Record(
            transaction=_transaction(session),
            object_type=_table(mapper).name,
            object_id=_object_id(mapper, values),
            action=action,
            changes=changes,
            parties=_parties(session, spec, values),
            actor=_actor(session),
            spec=spec,
        )
    )


def _audited_states(objects: Iterable[Any]) -> Iterator[tuple[InstanceState[Any], Audited]]:
    for obj in objects:
        spec = audited(type(obj))
        if spec is not None:
            yield sa.inspect(obj), spec


def _after_flush(session: Session, _flush_context: UOWTransaction) -> None:
    # The session still shows its pre-flush state here: new/dirty/deleted and each attribute's
    # history; new rows already have their ids.
    for state, spec in _audited_states(session.new):
        values = state.dict
        changes = {
            key: [None, jsonable(values[key])]
            for key in _columns(state.mapper, spec)
            if values.get(key) is not None
        }
        _record(session, state.mapper, spec, values=values, action="created", changes=changes)
    for state, spec in _audited_states(session.dirty):
        if state.deleted or state.was_deleted:
            continue
        # Only the attributes changed since load are in committed_state, with their originals.
        recorded = _column_set(state.mapper, spec)
        changes = {}
        for key, old in state.committed_state.items():
            if key not in recorded:
                continue
            new = state.dict.get(key)
            if old is not NO_VALUE and old == new:
                continue
            changes[key] = [UNKNOWN if old is NO_VALUE else jsonable(old), jsonable(new)]
        if changes:
            _record(
                session, state.mapper, spec, values=state.dict, action="updated", changes=changes
            )
    for state, spec in _audited_states(session.deleted):
        values = state.dict
        changes = {
            key: [jsonable(values[key]), None]
            for key in _columns(state.mapper, spec)
            if values.get(key) is not None
        }
        _record(session, state.mapper, spec, values=values, action="deleted", changes=changes)


class _Counted(IteratorResult):  # type: ignore[type-arg]
    """What a bulk statement without RETURNING gives its caller: no rows, a row count (which
    SQLite does not report reliably once RETURNING rows have been read)."""

    def __init__(self, rowcount: int) -> None:
        super().__init__(SimpleResultMetaData([]), iter(()))
        self.rowcount = rowcount


def _set_columns(statement: sa.Update, table: sa.Table, parameters: Any) -> list[str]:
    # The SET clause as the statement holds it (the public API offers no accessor), and values
    # given at execution (``session.execute(update(Model), {"status": ...})``).
    keys = [key if isinstance(key, str) else str(key.key) for key in statement._values or {}]
    if isinstance(parameters, Mapping):
        keys.extend(key for key in parameters if key in table.c)
    return list(dict.fromkeys(keys))


def _single_target(where: sa.ColumnElement[Any] | None, key_column: sa.Column[Any]) -> Any:
    """The primary key a WHERE clause pins with ``key = value`` (alone or ANDed), if it does."""
    if where is None:
        return None
    clauses = where.clauses if isinstance(where, sa.BooleanClauseList) else [where]
    if isinstance(where, sa.BooleanClauseList) and where.operator is not operators.and_:
        return None
    for clause in clauses:
        if (
            isinstance(clause, sa.BinaryExpression)
            and clause.operator is operators.eq
            # The column as the statement holds it: an ORM attribute (``col(Model.id)``) gives
            # the table's column annotated, another object than ``key_column`` itself.
            and isinstance(clause.left, sa.ColumnElement)
            and clause.left.compare(key_column)
            and isinstance(clause.right, sa.BindParameter)
        ):
            return clause.right.effective_value
    return None


def _values_before(
    execute_state: ORMExecuteState, table: sa.Table, primary_key: str, recorded: list[str]
) -> dict[Any, dict[str, Any]]:
    """What the rows a bulk UPDATE is about to change hold now, for the recorded columns.

    Skipped when the statement pins one row whose object is loaded (its state knows); otherwise
    one SELECT over the statement's own WHERE, locking the rows on PostgreSQL so that what it
    reads is what the UPDATE then overwrites. One query per statement, never one per row."""
    statement = execute_state.statement
    if not recorded or not isinstance(statement, sa.Update):
        return {}
    session = execute_state.session
    mapper = execute_state.bind_mapper
    assert mapper is not None
    target = _single_target(statement.whereclause, table.c[primary_key])
    if target is not None:
        identity = mapper.identity_key_from_primary_key((target,))
        if session.identity_map.get(identity) is not None:
            return {}
    query = sa.select(table.c[primary_key], *(table.c[key] for key in recorded))
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return {
        row[primary_key]: dict(row)
        for row in connection.execute(query, execute_state.parameters or None).mappings()
    }


def _on_orm_execute(execute_state: ORMExecuteState) -> Any:
    if not (execute_state.is_update or execute_state.is_delete):
        return None
    mapper = execute_state.bind_mapper
    spec = audited(mapper.class_) if mapper is not None else None
    if mapper is None or spec is None:
        return None
    statement = execute_state.statement
    assert isinstance(statement, sa.Update | sa.Delete)
    synchronize = execute_state.execution_options.get("synchronize_session", "auto") is not False
    if (
        statement._returning
        or isinstance(execute_state.parameters, list)
        or (isinstance(statement, sa.Delete) and synchronize)
    ):
        raise UnauditableStatement(
            f"Bulk statements on {mapper.class_.__name__} (audited) cannot use RETURNING or "
            "executemany, and bulk deletes need synchronize_session=False."
        )
    session = execute_state.session
    table = _table(mapper)
    set_columns = (
        _set_columns(statement, table, execute_state.parameters)
        if isinstance(statement, sa.Update)
        else []
    )
    recorded = [key for key in set_columns if spec.records(key)]
    primary_key = str(mapper.primary_key[0].key)
    earlier = _values_before(execute_state, table, primary_key, recorded)
    wanted = dict.fromkeys([primary_key, *set_columns, *spec.parties])
    if spec.parent is not None:
        wanted[spec.parent[1]] = None
    result = session.connection().execute(
        statement.returning(*(table.c[key] for key in wanted)),
        execute_state.parameters or None,
    )
    rows = [dict(row) for row in result.mappings()]
    action = "updated" if isinstance(statement, sa.Update) else "deleted"
    for row in rows:
        identity = mapper.identity_key_from_primary_key((row[primary_key],))
        loaded = session.identity_map.get(identity)
        before: Mapping[str, Any] = earlier.get(row[primary_key], {})
        if loaded is not None:
            loaded_state = sa.inspect(loaded)
            # No synchronization: the object still holds what was read before this statement.
            before = {
                key: value
                for key, value in {**loaded_state.dict, **loaded_state.committed_state}.items()
                if value is not NO_VALUE
            }
            if synchronize:
                # What synchronize_session asks for, from the rows RETURNING gave anyway.
                for key in set_columns:
                    set_committed_value(loaded, key, row[key])
        changes = {
            key: [jsonable(before[key]) if key in before else UNKNOWN, jsonable(row[key])]
            for key in recorded
        }
        _record(session, mapper, spec, values=row, action=action, changes=changes)
    return _Counted(len(rows))


def _merge(records: Iterable[_Record]) -> list[Entry]:
    """One entry per object: its first known old and last new value of each field."""
    merged: dict[tuple[str, int], _Merged] = {}
    for record in records:
        item = merged.setdefault((record.object_type, record.object_id), _Merged(first=record))
        item.parties.update(dict.fromkeys(record.parties))
        if record.action == "deleted":
            item.deleted = record
            continue
        item.created = item.created or record.action == "created"
        for key, (old, new) in record.changes.items():
            if key not in item.changes:
                item.changes[key] = [old, new]
            else:
                if item.changes[key][0] is UNKNOWN:
                    item.changes[key][0] = old
                item.changes[key][1] = new
    entries = []
    for item in merged.values():
        if item.created and item.deleted is not None:
            continue  # it never existed outside this transaction
        if item.deleted is not None:
            action, changes = "deleted", item.deleted.changes
        elif item.created:
            action = "created"
            changes = {
                key: [None, new] for key, (_, new) in item.changes.items() if new is not None
            }
        else:
            changes = {key: pair for key, pair in item.changes.items() if pair[0] != pair[1]}
            if not changes:
                continue
            state = item.first.spec.state
            action = str(changes[state][1]) if state in changes else "updated"
        entries.append(
            Entry(
                object_type=item.first.object_type,
                object_id=item.first.object_id,
                action=action,
                # Through JSON, so that the entry is exactly what the database will give back.
                changes=json.loads(
                    json.dumps(
                        {
                            key: [None if value is UNKNOWN else value for value in pair]
                            for key, pair in changes.items()
                        }
                    )
                ),
                parties=sorted(item.parties),
                actor=item.first.actor,
            )
        )
    return entries


def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint: the outermost commit chains what it recorded
    session.flush()
    entries = _merge(session.info.pop(PENDING_KEY, []))
    if entries:
        unchained = chain.append(session, entries)
        if unchained:
            session.info[UNCHAINED_KEY] = (session.connection(), unchained)


def _after_commit(session: Session) -> None:
    """Chain what the transaction committed unchained, on the connection it committed on
    (still the session's until the session lets it go), before the caller goes on: a request
    answers once its entries are in the chain. Usually another caller has chained them
    already and nothing is locked; otherwise this waits for the sequencer's lock and chains
    every committed pending entry at once."""
    unchained = session.info.pop(UNCHAINED_KEY, None)
    if unchained is None:
        return
    connection, mine = unchained
    if connection.in_transaction():
        # The session joined a transaction that goes on (tests that roll back what they did):
        # chained in it, and committed or rolled back with it.
        chain.sequence(connection, mine)
        return
    try:
        # The chaining is one statement: run as its own transaction (autocommit), it takes one
        # round trip instead of three (BEGIN, the statement, COMMIT), and holds the chain's
        # lock as long as before, to the end of that transaction. The connection's isolation
        # level is reset when the session gives it back to the pool, right after.
        chain.sequence(connection.execution_options(isolation_level="AUTOCOMMIT"), mine)
        connection.commit()  # ends the connection's own bookkeeping: nothing is sent
    except sa.exc.DBAPIError:
        # The change is committed; its entries stay pending, and whoever sequences next (any
        # commit, the sweep, `audit verify`, a server starting) chains them.
        connection.rollback()
        logger.warning("audit entries %s committed but not chained yet", mine, exc_info=True)


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(PENDING_KEY)
    if not pending:
        return

    def undone(record: _Record) -> bool:
        transaction: SessionTransaction | None = record.transaction
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[PENDING_KEY] = [record for record in pending if not undone(record)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
        session.info.pop(ACTOR_KEY, None)
        session.info.pop(UNCHAINED_KEY, None)


_LISTENERS: tuple[tuple[str, Any], ...] = (
    ("after_flush", _after_flush),
    ("do_orm_execute", _on_orm_execute),
    ("before_commit", _before_commit),
    ("after_commit", _after_commit),
    ("after_soft_rollback", _after_soft_rollback),
    ("after_transaction_end", _after_transaction_end),
)


def install() -> None:
    """Record every change of an audited model made through any ORM session of this process.

    Called explicitly by the app factory, by ``sessions.unit_of_work`` (commands, jobs) and by
    the tests' fixtures; installing twice is a no-op."""
    for name, listener in _LISTENERS:
        if not sa.event.contains(Session, name, listener):
            sa.event.listen(Session, name, listener)


def is_installed() -> bool:
    return all(sa.event.contains(Session, name, listener) for name, listener in _LISTENERS)
