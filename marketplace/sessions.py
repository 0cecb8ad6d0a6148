"""The sessions that commit use cases, each exactly once: one per request (``SessionDep``) and
one per command or job (``unit_of_work``). Both record every audited change: the audit
recorder's session events are installed here for commands and by the app factory for requests.

Services only flush; these are the only places where commits happen.

Commands and jobs never load the web framework: ``SessionDep`` (a FastAPI dependency) is made
when a router first imports it, and the request is Starlette's (the class FastAPI injects)."""

from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.to_thread
from sqlmodel import Session
from starlette.requests import Request

from marketplace.audit import recorder as audit_recorder
from marketplace.db import SAFE_METHODS, get_engine, get_read_engine
from marketplace.errors import MarketplaceError


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One request, one transaction: committed after the route returns, rolled back on error.

    Safe methods never write, so their transactions need not hold SQLite's write lock.

    Async, because opening a session does no I/O: a synchronous dependency would take a trip to
    the threadpool to open it and another to end it. Ending it takes that trip only when a
    transaction is still open (the commit or rollback talks to the database); a read route that
    ended its own transaction on its worker thread (``end_read``) leaves nothing to end."""
    engine = get_read_engine() if request.method in SAFE_METHODS else get_engine()
    session = Session(engine, expire_on_commit=False)
    # Until the auth dependency names the caller (signup, token requests).
    audit_recorder.act_as(session, audit_recorder.ANONYMOUS)
    try:
        yield session
    except BaseException as exc:
        await _end(session, exc)
        raise
    else:
        await _end(session, None)


async def _end(session: Session, error: BaseException | None) -> None:
    if not (session.in_transaction() or session.new or session.dirty or session.deleted):
        session.close()  # nothing began: no connection to give back, no I/O
        return
    # As FastAPI ends a synchronous dependency: shielded from the request's cancellation, and
    # with a limiter of its own, so that a connection is given back even when every worker
    # thread is taken by a request waiting for one.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_finish, session, error, limiter=anyio.CapacityLimiter(1))


def _finish(session: Session, error: BaseException | None) -> None:
    """What ``transaction`` does when its use case ends, then the session closed."""
    with session:
        ending = transaction(session)
        next(ending)
        if error is None:
            next(ending, None)
            return
        try:
            ending.throw(error)
        except BaseException as raised:
            if raised is not error:
                raise


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """The same transaction outside a request (commands, jobs)."""
    audit_recorder.install()
    with Session(get_engine(), expire_on_commit=False) as session:
        yield from transaction(session)


def end_read(session: Session) -> None:
    """End a transaction that has only read, so that slow work after it (an Argon2 hash) holds
    no database connection; the session opens a new transaction when it is next used.

    Refuses if anything is pending: a use case's writes are committed once, at its end."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("end_read() after a write: the use case would commit twice")
    # Commit, not rollback: nothing is written, and loaded objects stay loaded.
    session.commit()


def transaction(session: Session) -> Generator[Session]:
    try:
        yield session
    except MarketplaceError as exc:
        # Some refusals must leave a trace (a reused refresh token revokes its family).
        if exc.keeps_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()


if TYPE_CHECKING:
    # For the type checker a session; at run time FastAPI's dependency that opens it.
    SessionDep = Session
else:

    def __getattr__(name: str) -> Any:
        if name != "SessionDep":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from fastapi import Depends

        # scope="function" runs the commit before the response is sent, so a failed commit is
        # reported to the client instead of being lost after a 2xx.
        dependency = Annotated[Session, Depends(get_session, scope="function")]
        globals()[name] = dependency
        return dependency
