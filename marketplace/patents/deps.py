from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from marketplace.accounts.deps import PatentsScope
from marketplace.params import ObjectId
from marketplace.patents import service as patents
from marketplace.patents.import_jobs import SessionFactory
from marketplace.patents.models import Patent
from marketplace.sessions import SessionDep, transaction


def _owned_patent(patent_id: ObjectId, caller: PatentsScope, session: SessionDep) -> Patent:
    return patents.get_owned_patent(
        session=session, owner_id=caller.organization_id, patent_id=patent_id
    )


OwnedPatent = Annotated[Patent, Depends(_owned_patent)]


def import_sessions(session: SessionDep) -> SessionFactory:
    """How an import job opens its own transactions after the response: on the database the
    request used (a savepoint when that is a connection already in a transaction, as in tests)."""
    bind = session.get_bind()

    @contextmanager
    def open_session() -> Iterator[Session]:
        with Session(
            bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        ) as job_session:
            yield from transaction(job_session)

    return open_session


ImportSessions = Annotated[SessionFactory, Depends(import_sessions)]
