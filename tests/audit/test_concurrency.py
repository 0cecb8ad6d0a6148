"""The chain stays one line under concurrent writers (PostgreSQL, real commits)."""

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.audit import service as audit
from marketplace.audit.chain import EVENTS
from tests import factories
from tests.conftest import postgres_only

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
        result = audit.verify_chain(session=session, batch_size=10)
        assert result.ok, result
        assert result.checked == WRITERS * TRANSACTIONS * 2
        # One line: every hash is followed by exactly one entry, no fork.
        prev_hashes = list(session.scalars(sa.select(EVENTS.c.prev_hash)))
        assert len(prev_hashes) == len(set(prev_hashes))


def test_the_chain_lock_is_taken_only_at_commit(committed_engine: Engine) -> None:
    slow = Session(committed_engine)
    fast = Session(committed_engine)
    try:
        first = factories.organization(slow)
        slow.flush()  # changed and recorded, not yet committed: holds no chain lock
        # If the lock were taken at the change, this commit would wait for ``slow``.
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


def test_a_commit_chains_its_entries_in_one_statement(committed_engine: Engine) -> None:
    """Nothing but that statement and the commit runs while the chain's lock is held."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with Session(committed_engine) as session:
        factories.organization(session)
        factories.organization(session)
        session.flush()
        sa.event.listen(committed_engine, "before_cursor_execute", seen)
        try:
            session.commit()
        finally:
            sa.event.remove(committed_engine, "before_cursor_execute", seen)

    assert len(statements) == 1
    assert statements[0].startswith("SELECT audit_chain_append(")
    with Session(committed_engine) as reader:
        verification = audit.verify_chain(session=reader)
        assert verification.ok
        assert verification.checked >= 2
