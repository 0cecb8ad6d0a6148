from typing import Annotated

from fastapi import APIRouter, Query, status

from marketplace.accounts.deps import PatentsScope, PlatformAdmin
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import ObjectId
from marketplace.patents import service as patents
from marketplace.patents.deps import OwnedPatent
from marketplace.patents.identifiers import PatentKind
from marketplace.patents.models import (
    InvalidationRequestCreate,
    IpcPrefix,
    LegalStatus,
    PatentCreate,
    PatentEncumbranceCreate,
    PatentEncumbrancePublic,
    PatentPublic,
    PatentUpdate,
)
from marketplace.sessions import SessionDep
from marketplace.workflows import patents as patent_workflows

router = APIRouter(prefix="/api/v1/patents", tags=["patents"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PatentPublic,
    responses=problem_responses(401, 403, 409, 422),
    summary="Register a patent the caller's organization owns",
    openapi_extra=response_example(201, "patent"),
)
def register_patent(body: PatentCreate, caller: PatentsScope, session: SessionDep) -> PatentPublic:
    patent = patents.register_patent(session=session, owner=caller.organization, data=body)
    return patents.to_public(patent)


@router.get(
    "",
    response_model=Page[PatentPublic],
    responses=problem_responses(401, 403, 422),
    summary="The caller's patents, newest first",
)
def list_patents(
    caller: PatentsScope,
    session: SessionDep,
    page: PageParamsDep,
    legal_status: LegalStatus | None = None,
    kind: PatentKind | None = None,
    ipc: Annotated[
        IpcPrefix | None,
        Query(description="IPC prefix at any level: `G`, `G06F`, `G06F 16`, `G06F 16/33`."),
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Title or number contains.")
    ] = None,
) -> Page[PatentPublic]:
    found = patents.list_patents(
        session=session,
        owner_id=caller.organization_id,
        params=page,
        legal_status=legal_status,
        kind=kind,
        ipc=ipc,
        q=q,
    )
    return page_of(found, page, patents.to_public)


@router.get(
    "/{patent_id}",
    response_model=PatentPublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_patent(patent: OwnedPatent) -> PatentPublic:
    return patents.to_public(patent)


@router.patch(
    "/{patent_id}",
    response_model=PatentPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Update a patent's bibliographic data, legal status or fee standing",
    openapi_extra=response_example(200, "patent"),
)
def update_patent(patent: OwnedPatent, body: PatentUpdate, session: SessionDep) -> PatentPublic:
    updated = patent_workflows.update_patent(session=session, patent=patent, changes=body)
    return patents.to_public(updated)


@router.post(
    "/{patent_id}/encumbrances",
    status_code=status.HTTP_201_CREATED,
    response_model=PatentEncumbrancePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Declare an off-platform license, court preservation or ownership dispute",
    openapi_extra=response_example(201, "encumbrance"),
)
def add_encumbrance(
    patent: OwnedPatent, body: PatentEncumbranceCreate, session: SessionDep
) -> PatentEncumbrancePublic:
    encumbrance = patents.add_encumbrance(session=session, patent=patent, data=body)
    return patents.encumbrance_public(encumbrance)


@router.delete(
    "/{patent_id}/encumbrances/{encumbrance_id}",
    response_model=PatentEncumbrancePublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Release an encumbrance (kept in history with its release time)",
)
def release_encumbrance(
    patent: OwnedPatent, encumbrance_id: ObjectId, session: SessionDep
) -> PatentEncumbrancePublic:
    encumbrance = patents.get_encumbrance(
        session=session, patent=patent, encumbrance_id=encumbrance_id
    )
    return patents.encumbrance_public(
        patents.release_encumbrance(session=session, encumbrance=encumbrance)
    )


@router.post(
    "/{patent_id}/invalidation-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=PatentEncumbrancePublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Record a request for invalidation filed with the office (platform admin)",
    openapi_extra=response_example(201, "invalidation_request"),
    description="Anyone may file a request for invalidation with the office, not only the "
    "patent's owner: a platform admin records it on any patent (the owner records it through "
    "`POST /patents/{id}/encumbrances` with kind `invalidation_request`). While it is pending, "
    "a pledge on the patent is refused (`invalidation_pending`) unless both the pledgee (in "
    "its application) and the pledgor (in its confirmation) proceed regardless.",
)
def record_invalidation_request(
    patent_id: ObjectId, body: InvalidationRequestCreate, _admin: PlatformAdmin, session: SessionDep
) -> PatentEncumbrancePublic:
    patent = patents.get_patent(session=session, patent_id=patent_id)
    return patents.encumbrance_public(
        patents.record_invalidation_request(session=session, patent=patent, data=body)
    )


@router.delete(
    "/{patent_id}/invalidation-requests/{encumbrance_id}",
    response_model=PatentEncumbrancePublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="Clear a request for invalidation once the office decided it (platform admin)",
    description="Kept in history with its release time; the pledge ground ends with it.",
)
def clear_invalidation_request(
    patent_id: ObjectId, encumbrance_id: ObjectId, _admin: PlatformAdmin, session: SessionDep
) -> PatentEncumbrancePublic:
    patent = patents.get_patent(session=session, patent_id=patent_id)
    request = patents.get_invalidation_request(
        session=session, patent=patent, encumbrance_id=encumbrance_id
    )
    return patents.encumbrance_public(
        patents.release_encumbrance(session=session, encumbrance=request)
    )
