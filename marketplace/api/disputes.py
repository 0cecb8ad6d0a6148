from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from marketplace.accounts.caller import Caller
from marketplace.accounts.deps import CurrentCaller, LicensesScope, PlatformAdmin
from marketplace.accounts.errors import InsufficientScope
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.licensing import disputes
from marketplace.licensing import service as licensing
from marketplace.licensing.models.disputes import (
    DisputeCreate,
    DisputePublic,
    DisputeReason,
    DisputeResolution,
    DisputeStatementCreate,
    DisputeStatementPublic,
    DisputeStatus,
    LicenseDispute,
)
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import MAX_ID, ObjectId
from marketplace.sessions import SessionDep

router = APIRouter(prefix="/api/v1", tags=["disputes"])


def _party_or_admin(caller: CurrentCaller) -> Caller:
    if not (caller.is_platform_admin or "licenses" in caller.scopes):
        raise InsufficientScope("This needs the 'licenses' scope.", required_scope="licenses")
    return caller


PartyOrAdmin = Annotated[Caller, Depends(_party_or_admin)]


def _visible_dispute(
    dispute_id: ObjectId, caller: PartyOrAdmin, session: SessionDep
) -> LicenseDispute:
    """The dispute if the caller is a party to its license or a platform admin (404 else)."""
    return disputes.get_dispute(session=session, dispute_id=dispute_id, caller=caller)


VisibleDispute = Annotated[LicenseDispute, Depends(_visible_dispute)]


def _user_id(caller: Caller) -> int | None:
    return caller.user.id if caller.user is not None else None


@router.post(
    "/licenses/{license_id}/disputes",
    status_code=status.HTTP_201_CREATED,
    response_model=DisputePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Open a dispute about a license (either party)",
    description="The license then shows `disputed: true` and `open_dispute_id`; its status is "
    "unchanged. Terminated and expired licenses may be disputed too (e.g. royalties unpaid "
    "after the end). At most one dispute per license is open or in mediation at a time "
    "(409 `dispute_already_open`).",
    openapi_extra=response_example(201, "dispute"),
)
def open_dispute(
    license_id: ObjectId, body: DisputeCreate, caller: LicensesScope, session: SessionDep
) -> DisputePublic:
    license_ = licensing.get_license(session=session, license_id=license_id, caller=caller)
    dispute = disputes.open_dispute(
        session=session,
        license_=license_,
        organization_id=caller.organization_id,
        user_id=_user_id(caller),
        reason=body.reason,
        statement=body.statement,
    )
    return disputes.to_public(dispute)


@router.get(
    "/licenses/{license_id}/disputes",
    response_model=Page[DisputePublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="Disputes about a license, newest first (its parties and platform admins)",
)
def list_license_disputes(
    license_id: ObjectId, caller: PartyOrAdmin, session: SessionDep, page: PageParamsDep
) -> Page[DisputePublic]:
    license_ = licensing.get_license(
        session=session, license_id=license_id, caller=caller, mediation=True
    )
    found = disputes.list_disputes(
        session=session,
        caller=caller,
        params=page,
        license_id=license_.id,
    )
    return page_of(found, page, disputes.to_public)


@router.get(
    "/disputes",
    response_model=Page[DisputePublic],
    responses=problem_responses(401, 403, 422),
    summary="Disputes, newest first: all for platform admins, else those about own licenses",
)
def list_disputes(
    caller: PartyOrAdmin,
    session: SessionDep,
    page: PageParamsDep,
    dispute_status: Annotated[DisputeStatus | None, Query(alias="status")] = None,
    reason: DisputeReason | None = None,
    license_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[DisputePublic]:
    found = disputes.list_disputes(
        session=session,
        caller=caller,
        params=page,
        status=dispute_status,
        reason=reason,
        license_id=license_id,
    )
    return page_of(found, page, disputes.to_public)


@router.get(
    "/disputes/{dispute_id}",
    response_model=DisputePublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="One dispute (the license's parties and platform admins)",
)
def get_dispute(dispute: VisibleDispute) -> DisputePublic:
    return disputes.to_public(dispute)


@router.post(
    "/disputes/{dispute_id}/mediation",
    response_model=DisputePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Take an open dispute into mediation; the calling platform admin mediates",
)
def start_mediation(
    caller: PlatformAdmin, dispute: VisibleDispute, session: SessionDep
) -> DisputePublic:
    mediated = disputes.start_mediation(
        session=session, dispute=dispute, mediator_user_id=_user_id(caller)
    )
    return disputes.to_public(mediated)


@router.post(
    "/disputes/{dispute_id}/resolve",
    response_model=DisputePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Close a dispute with an outcome (platform admin)",
    description="From mediation, or straight from open when the parties settled before "
    "mediation (then no mediator is recorded). The license no longer shows disputed.",
    openapi_extra=response_example(200, "resolved_dispute"),
)
def resolve_dispute(
    body: DisputeResolution,
    caller: PlatformAdmin,
    dispute: VisibleDispute,
    session: SessionDep,
) -> DisputePublic:
    resolved = disputes.resolve_dispute(
        session=session,
        dispute=dispute,
        admin_user_id=_user_id(caller),
        outcome=body.outcome,
        text=body.text,
    )
    return disputes.to_public(resolved)


@router.post(
    "/disputes/{dispute_id}/withdraw",
    response_model=DisputePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Withdraw a dispute (the party that opened it)",
)
def withdraw_dispute(
    caller: LicensesScope, dispute: VisibleDispute, session: SessionDep
) -> DisputePublic:
    withdrawn = disputes.withdraw_dispute(
        session=session,
        dispute=dispute,
        organization_id=caller.organization_id,
        user_id=_user_id(caller),
    )
    return disputes.to_public(withdrawn)


@router.post(
    "/disputes/{dispute_id}/statements",
    status_code=status.HTTP_201_CREATED,
    response_model=DisputeStatementPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Add a statement to a dispute (either party or the mediator)",
    openapi_extra=response_example(201, "dispute_statement"),
)
def add_statement(
    body: DisputeStatementCreate,
    caller: PartyOrAdmin,
    dispute: VisibleDispute,
    session: SessionDep,
) -> DisputeStatementPublic:
    added = disputes.add_statement(
        session=session,
        dispute=dispute,
        caller=caller,
        text=body.text,
    )
    return disputes.statement_to_public(added)


@router.get(
    "/disputes/{dispute_id}/statements",
    response_model=Page[DisputeStatementPublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="A dispute's statements, newest first",
)
def list_statements(
    dispute: VisibleDispute, session: SessionDep, page: PageParamsDep
) -> Page[DisputeStatementPublic]:
    found = disputes.list_statements(session=session, dispute=dispute, params=page)
    return page_of(found, page, disputes.statement_to_public)
