"""Two transactions made to overlap on purpose (PostgreSQL): the first holds its locks, the
second runs in a thread, and the test lets the first commit only once the server shows the
second waiting for it (``pg_blocking_pids``). Nothing rests on timing: either the second is
seen waiting, or the test fails saying it never waited."""

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

# How long a step may take before the test gives up on it (a safety net, never a pause).
PATIENCE_SECONDS = 30
# How often the locks are looked at while waiting for the second transaction to block.
POLL_SECONDS = 0.01


def backend_pid(session: Session) -> int:
    """The server process of the session's connection (this begins its transaction)."""
    pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


def start(step: Callable[[], None], failures: list[BaseException]) -> threading.Thread:
    """Run ``step`` in a thread; what it raises goes to ``failures``."""

    def run() -> None:
        try:
            step()
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_blocked(
    engine: Engine, *, waiter: int, holder: int, thread: threading.Thread
) -> None:
    """Return once the backend ``waiter`` waits for a lock that ``holder`` holds. Fails as soon
    as ``thread`` (the waiter's) ends without having waited: then nothing made it wait."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    with engine.connect() as connection:
        while True:
            blockers = connection.execute(
                sa.text("SELECT pg_blocking_pids(:pid)"), {"pid": waiter}
            ).scalar_one()
            if holder in blockers:
                return
            if not thread.is_alive():
                raise AssertionError("The second transaction never waited for the first.")
            if time.monotonic() > deadline:
                raise AssertionError("The second transaction is not waiting for the first.")
            connection.rollback()
            time.sleep(POLL_SECONDS)
