from typing import Annotated

from fastapi import Depends

from marketplace.accounts.deps import Principal, require_scope
from marketplace.db import SessionDep, unit_of_work
from marketplace.params import ObjectId
from marketplace.patents import service as patents
from marketplace.patents.imports import SessionFactory
from marketplace.patents.models import Patent

PatentsScope = Annotated[Principal, Depends(require_scope("patents"))]


def _owned_patent(patent_id: ObjectId, principal: PatentsScope, session: SessionDep) -> Patent:
    return patents.get_owned_patent(
        session=session, owner_id=principal.organization_id, patent_id=patent_id
    )


OwnedPatent = Annotated[Patent, Depends(_owned_patent)]


def import_sessions() -> SessionFactory:
    """How an import job opens its own transactions after the response (tests replace it)."""
    return unit_of_work


ImportSessions = Annotated[SessionFactory, Depends(import_sessions)]
