from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from marketplace.accounts.deps import Principal, require_scope, require_verified_scope
from marketplace.db import SessionDep
from marketplace.errors import problem_responses
from marketplace.licensing import service as licensing
from marketplace.licensing.models import LicensePublic, LicenseStatus, LicenseTermination
from marketplace.licensing.service import LicenseRole
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import MAX_ID, ObjectId

router = APIRouter(prefix="/api/v1", tags=["licenses"])

LicensesScope = Annotated[Principal, Depends(require_scope("licenses"))]
VerifiedLicensee = Annotated[Principal, Depends(require_verified_scope("licenses:accept"))]
# Ending a license is an act of the licensee, like accepting: a read-only token may not do it.
LicenseeScope = Annotated[Principal, Depends(require_scope("licenses:accept"))]

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per intended license, e.g. a UUID. Replaying it returns the same "
        "license; using it for another offer is refused.",
        examples=["5d2c7f4e-8a51-4a3b-9f0e-1c2d3e4f5a6b"],
    ),
]


@router.post(
    "/offers/{offer_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=LicensePublic,
    responses={
        200: {"model": LicensePublic, "description": "Replay: the license this key created"},
        **problem_responses(401, 403, 404, 409, 422),
    },
    summary="Accept an offer: written notice to the patentee, and a non-exclusive license",
)
def accept_offer(
    offer_id: ObjectId,
    principal: VerifiedLicensee,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    response: Response,
) -> LicensePublic:
    license_, created = licensing.accept_offer(
        session=session,
        offer_id=offer_id,
        licensee=principal.organization,
        user=principal.user,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return licensing.to_public(license_)


@router.get(
    "/licenses",
    response_model=Page[LicensePublic],
    responses=problem_responses(401, 403, 422),
    summary="Licenses the caller's organization grants or holds",
)
def list_licenses(
    principal: LicensesScope,
    session: SessionDep,
    page: PageParamsDep,
    role: Annotated[
        LicenseRole | None, Query(description="Only as licensor or only as licensee.")
    ] = None,
    license_status: Annotated[LicenseStatus | None, Query(alias="status")] = None,
    listing_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[LicensePublic]:
    found = licensing.list_licenses(
        session=session,
        organization_id=principal.organization_id,
        params=page,
        role=role,
        status=license_status,
        listing_id=listing_id,
        offer_id=offer_id,
    )
    return page_of(found, page, licensing.to_public)


@router.get(
    "/licenses/{license_id}",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_license(
    license_id: ObjectId, principal: LicensesScope, session: SessionDep
) -> LicensePublic:
    license_ = licensing.get_license(
        session=session, license_id=license_id, organization_id=principal.organization_id
    )
    return licensing.to_public(license_)


@router.post(
    "/licenses/{license_id}/terminate",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensee ends its license",
)
def terminate_license(
    license_id: ObjectId,
    principal: LicenseeScope,
    session: SessionDep,
    body: LicenseTermination | None = None,
) -> LicensePublic:
    license_ = licensing.get_license(
        session=session, license_id=license_id, organization_id=principal.organization_id
    )
    ended = licensing.terminate_license(
        session=session,
        license_=license_,
        organization_id=principal.organization_id,
        reason=body.reason if body else None,
    )
    return licensing.to_public(ended)
