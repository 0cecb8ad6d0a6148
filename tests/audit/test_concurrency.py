"""The chain stays one line under concurrent writers (PostgreSQL, real commits): entries are
recorded unchained in each transaction and chained after its commit by one sequencer at a time."""

import itertools
import threading
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.audit import chain, recorder
from marketplace.audit import service as audit
from marketplace.audit.chain import CHAIN_LOCK_KEY, EVENTS
from tests import factories
from tests.conftest import postgres_only
from tests.matching.overlap import PATIENCE_SECONDS, backend_pid, start, wait_until_blocked

pytestmark = postgres_only

WRITERS = 8
TRANSACTIONS = 6


def test_concurrent_writers_make_one_unbroken_chain(committed_engine: Engine) -> None:
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            start.wait()
            for _ in range(TRANSACTIONS):
                with Session(committed_engine) as session:
                    organization = factories.organization(session)  # one entry
                    session.commit()
                    organization.region = "Hubei"  # and one more
                    session.add(organization)
                    session.commit()
        except BaseException as exc:  # reported below, with the thread's traceback
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with Session(committed_engine) as session:
        # Every commit chained its entries before it returned.
        assert audit.pending_count(session=session) == 0
        result = audit.verify_chain(session=session, batch_size=10)
        assert result.ok, result
        assert result.checked == WRITERS * TRANSACTIONS * 2
        # One line: every hash is followed by exactly one entry, no fork.
        prev_hashes = list(session.scalars(sa.select(EVENTS.c.prev_hash)))
        assert len(prev_hashes) == len(set(prev_hashes))


def test_the_chain_lock_is_not_taken_by_the_transaction(committed_engine: Engine) -> None:
    slow = Session(committed_engine)
    fast = Session(committed_engine)
    try:
        first = factories.organization(slow)
        slow.flush()  # changed and recorded, not yet committed: holds no chain lock
        # If the lock were taken by the transaction, this commit would wait for ``slow``.
        fast.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        second = factories.organization(fast)
        fast.commit()
        slow.commit()

        with Session(committed_engine) as reader:
            order = list(
                reader.scalars(
                    sa.select(EVENTS.c.object_id)
                    .where(EVENTS.c.object_type == Organization.__tablename__)
                    .order_by(EVENTS.c.id)
                )
            )
            assert order == [second.id, first.id]
            assert audit.verify_chain(session=reader).ok
    finally:
        slow.close()
        fast.close()


def test_a_commit_records_unchained_and_chains_after_it(committed_engine: Engine) -> None:
    """The transaction inserts its entries in one statement and takes no chain lock; they are
    chained in one more statement after its commit, before ``commit()`` returns."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split("(")[0].strip())

    def committed(_conn: Any) -> None:
        statements.append("COMMIT")

    with Session(committed_engine) as session:
        factories.organization(session)
        factories.organization(session)
        session.flush()
        sa.event.listen(committed_engine, "before_cursor_execute", seen)
        sa.event.listen(committed_engine, "commit", committed)
        try:
            session.commit()
        finally:
            sa.event.remove(committed_engine, "before_cursor_execute", seen)
            sa.event.remove(committed_engine, "commit", committed)

    assert statements == [
        "INSERT INTO audit_pending",
        "COMMIT",
        "SELECT audit_chain_sequence",
        "COMMIT",
    ]
    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 0
        verification = audit.verify_chain(session=reader)
        assert verification.ok
        assert verification.checked >= 2


def test_the_chaining_is_a_transaction_of_its_own_and_the_next_one_is_not(
    committed_engine: Engine,
) -> None:
    """The chaining statement runs in autocommit (one round trip, no BEGIN or COMMIT of its
    own); the connection goes back to the pool transactional, so the next use case on it is
    one transaction again."""
    autocommit: list[tuple[str, bool]] = []

    def seen(conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        autocommit.append((statement.split("(")[0].strip(), bool(dbapi.autocommit)))

    sa.event.listen(committed_engine, "before_cursor_execute", seen)
    try:
        with Session(committed_engine) as session:
            factories.organization(session)
            session.commit()
        with Session(committed_engine) as session:
            organization = factories.organization(session)
            session.flush()
            session.rollback()  # a use case that fails: nothing of it stays
            kept = session.get(Organization, organization.id)
    finally:
        sa.event.remove(committed_engine, "before_cursor_execute", seen)

    assert ("SELECT audit_chain_sequence", True) in autocommit
    assert [on for statement, on in autocommit if statement != "SELECT audit_chain_sequence"]
    assert not any(on for statement, on in autocommit if statement != "SELECT audit_chain_sequence")
    assert kept is None


def test_a_commit_does_not_wait_for_the_sequencer(committed_engine: Engine) -> None:
    """While someone holds the chain's lock, a transaction still commits (its change is visible
    to everyone); only the chaining of its entries waits, and then happens."""
    holder = committed_engine.connect()
    failures: list[BaseException] = []
    writer = Session(committed_engine)
    made: list[int] = []
    thread = None
    try:
        holder.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})

        def write() -> None:
            organization = factories.organization(writer)
            writer.flush()
            assert organization.id is not None
            made.append(organization.id)
            writer.commit()

        writer_pid = backend_pid(writer)
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        thread = start(write, failures)
        wait_until_blocked(committed_engine, waiter=writer_pid, holder=holder_pid, thread=thread)
        with Session(committed_engine) as reader:
            # Committed, though not chained yet.
            assert reader.get(Organization, made[0]) is not None
            assert audit.pending_count(session=reader) >= 1
        holder.commit()
        thread.join(timeout=PATIENCE_SECONDS)
        assert not thread.is_alive()
    finally:
        holder.close()
        writer.close()
    assert failures == []
    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 0
        chained = reader.scalars(
            sa.select(EVENTS.c.object_id).where(EVENTS.c.object_type == "organization")
        ).all()
        assert made[0] in chained
        assert audit.verify_chain(session=reader).ok


def test_entries_left_pending_are_chained_by_the_next_commit(committed_engine: Engine) -> None:
    """A process that died between its commit and the chaining leaves its entries pending:
    the next commit chains them first (in the order they were recorded), then its own."""
    with Session(committed_engine) as dead:
        first_id = factories.organization(dead).id
        assert first_id is not None
        # What the recorder would append at commit, committed without the chaining after it.
        entries = recorder._merge(dead.info.pop(recorder.PENDING_KEY))
        assert chain.append(dead, entries)
        dead.connection().commit()
    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == len(entries)
    with Session(committed_engine) as alive:
        second_id = factories.organization(alive).id
        alive.commit()

    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 0
        order = list(
            reader.scalars(
                sa.select(EVENTS.c.object_id)
                .where(EVENTS.c.object_type == Organization.__tablename__)
                .order_by(EVENTS.c.id)
            )
        )
        assert order[-2:] == [first_id, second_id]
        assert audit.verify_chain(session=reader).ok


def test_chain_pending_chains_what_no_commit_followed(committed_engine: Engine) -> None:
    with Session(committed_engine) as dead:
        organization_id = factories.organization(dead).id
        chain.append(dead, recorder._merge(dead.info.pop(recorder.PENDING_KEY)))
        dead.connection().commit()
    with Session(committed_engine) as sweep:
        assert audit.chain_pending(session=sweep) == 1
        sweep.commit()
    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 0
        assert reader.scalar(
            sa.select(EVENTS.c.id).where(
                EVENTS.c.object_type == "organization", EVENTS.c.object_id == organization_id
            )
        )
        assert audit.verify_chain(session=reader).ok


def test_changes_of_one_object_are_chained_in_the_order_they_were_committed(
    committed_engine: Engine,
) -> None:
    """Writers that change the same row one after another (its row lock orders them) find
    their entries in the chain in that order, each entry's old value the previous one's new."""
    with Session(committed_engine) as setup:
        organization = factories.organization(setup)
        setup.commit()
        organization_id = organization.id
    start_together = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        try:
            start_together.wait()
            for round_ in range(TRANSACTIONS):
                with Session(committed_engine) as session:
                    locked = session.get_one(Organization, organization_id, with_for_update=True)
                    locked.region = f"region {number}-{round_}"
                    session.add(locked)
                    session.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with Session(committed_engine) as reader:
        changes = [
            change["region"]
            for change in reader.scalars(
                sa.select(EVENTS.c.changes)
                .where(
                    EVENTS.c.object_type == Organization.__tablename__,
                    EVENTS.c.object_id == organization_id,
                    EVENTS.c.action == "updated",
                )
                .order_by(EVENTS.c.id)
            )
        ]
        assert len(changes) == WRITERS * TRANSACTIONS
        for before, after in itertools.pairwise(changes):
            assert after[0] == before[1]
        assert audit.verify_chain(session=reader).ok


def test_a_starting_server_chains_what_a_dead_one_left_pending(
    committed_engine: Engine, live_app: FastAPI
) -> None:
    with Session(committed_engine) as dead:
        factories.organization(dead)
        chain.append(dead, recorder._merge(dead.info.pop(recorder.PENDING_KEY)))
        dead.connection().commit()
    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 1

    with TestClient(live_app):  # runs the start-up
        pass

    with Session(committed_engine) as reader:
        assert audit.pending_count(session=reader) == 0
        verification = audit.verify_chain(session=reader)
        assert verification.ok
        assert verification.checked == 1
