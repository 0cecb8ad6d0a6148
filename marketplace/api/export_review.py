"""Technology-export review, for platform admins: the flagged categories, and the licenses of
foreign licensees waiting for a decision."""

from fastapi import APIRouter, Response, status

from marketplace.accounts.deps import PlatformAdmin
from marketplace.api.examples import response_example
from marketplace.api.licenses import license_page
from marketplace.errors import problem_responses
from marketplace.licensing import export_review
from marketplace.licensing.models.export_review import (
    ExportControlCreate,
    ExportControlPublic,
    ExportDecision,
)
from marketplace.licensing.models.licenses import LicensePublic
from marketplace.pagination import Page, PageParamsDep
from marketplace.params import ObjectId
from marketplace.sessions import SessionDep
from marketplace.workflows import acceptance, license_views

router = APIRouter(prefix="/api/v1", tags=["export review"])


@router.post(
    "/export-controls",
    status_code=status.HTTP_201_CREATED,
    response_model=ExportControlPublic,
    responses=problem_responses(401, 403, 409, 422),
    summary="Flag a technology category (an IPC prefix) for export review",
    openapi_extra=response_example(201, "export_control"),
)
def add_export_control(
    body: ExportControlCreate, caller: PlatformAdmin, session: SessionDep
) -> ExportControlPublic:
    control = export_review.add_control(session=session, data=body, user=caller.user)
    return ExportControlPublic.model_validate(control, from_attributes=True)


@router.get(
    "/export-controls",
    response_model=list[ExportControlPublic],
    responses=problem_responses(401, 403),
    summary="The flagged categories",
)
def list_export_controls(caller: PlatformAdmin, session: SessionDep) -> list[ExportControlPublic]:
    return [
        ExportControlPublic.model_validate(control, from_attributes=True)
        for control in export_review.list_controls(session=session)
    ]


@router.delete(
    "/export-controls/{control_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404, 422),
    summary="Unflag a category (licenses already pending stay pending)",
)
def remove_export_control(
    control_id: ObjectId, caller: PlatformAdmin, session: SessionDep
) -> Response:
    export_review.remove_control(session=session, control_id=control_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/export-reviews",
    response_model=Page[LicensePublic],
    responses=problem_responses(401, 403, 422),
    summary="Licenses waiting for export review, newest first",
)
def list_export_reviews(
    caller: PlatformAdmin, session: SessionDep, page: PageParamsDep
) -> Page[LicensePublic]:
    return license_page(session, export_review.list_pending(session=session, page=page), page)


@router.post(
    "/licenses/{license_id}/export-review/approve",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Approve: the license takes effect today",
    openapi_extra=response_example(200, "export_approved_license"),
)
def approve_export(
    license_id: ObjectId,
    caller: PlatformAdmin,
    session: SessionDep,
    body: ExportDecision | None = None,
) -> LicensePublic:
    decided = acceptance.approve_export(
        session=session,
        license_id=license_id,
        admin=caller.user,
        note=body.note if body else None,
    )
    return license_views.license_public(session, decided)


@router.post(
    "/licenses/{license_id}/export-review/refuse",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Refuse: the license ends as `export_refused`",
    openapi_extra=response_example(200, "export_refused_license"),
)
def refuse_export(
    license_id: ObjectId,
    caller: PlatformAdmin,
    session: SessionDep,
    body: ExportDecision | None = None,
) -> LicensePublic:
    decided = export_review.refuse(
        session=session,
        license_id=license_id,
        admin=caller.user,
        note=body.note if body else None,
    )
    return license_views.license_public(session, decided)
