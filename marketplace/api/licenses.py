from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse

from marketplace import clock
from marketplace.accounts.deps import (
    LicenseeScope,
    LicensesScope,
    VerifiedLicenseeScope,
)
from marketplace.api import lawful_sequence
from marketplace.api.examples import response_example
from marketplace.config import get_settings
from marketplace.errors import problem_responses
from marketplace.licensing import certificates, recordation
from marketplace.licensing import service as licensing
from marketplace.licensing.deps import PartyLicense
from marketplace.licensing.models.certificates import (
    CertificateVerdict,
    CertificateVerification,
    LicenseCertificate,
)
from marketplace.licensing.models.licenses import (
    License,
    LicensePublic,
    LicenseRecordationCreate,
    LicenseStatus,
    LicenseTermination,
    PartyRole,
    RecordationDue,
)
from marketplace.pagination import Page, PageParams, PageParamsDep
from marketplace.params import MAX_ID, ObjectId
from marketplace.sessions import SessionDep
from marketplace.workflows import acceptance, license_views

router = APIRouter(prefix="/api/v1", tags=["licenses"])


def license_page(
    session: SessionDep, found: tuple[Sequence[License], str | None], params: PageParams
) -> Page[LicensePublic]:
    """A page of licenses, their pledge links read in one query."""
    items, next_cursor = found
    return Page(
        items=license_views.licenses_public(session, items),
        next_cursor=next_cursor,
        limit=params.limit,
    )


# Served at the site root, where verifiers look for it (RFC 8615).
well_known_router = APIRouter(tags=["certificates"])

# Ending a license is an act of the licensee, like accepting: a read-only token may not do it.

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
    openapi_extra=lawful_sequence.openapi(
        step="2. A licensee accepts: the written notice to the patentee; with money due up "
        "front the license is `pending_payment` until the licensor confirms the payment",
        response=lawful_sequence.ACCEPT_RESPONSE,
        status=201,
    ),
)
def accept_offer(
    offer_id: ObjectId,
    caller: VerifiedLicenseeScope,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    response: Response,
) -> LicensePublic:
    accepted = acceptance.accept_offer(
        session=session,
        offer_id=offer_id,
        licensee=caller.organization,
        user=caller.user,
        idempotency_key=idempotency_key,
    )
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return accepted.public()


@router.get(
    "/licenses",
    response_model=Page[LicensePublic],
    responses=problem_responses(401, 403, 422),
    summary="Licenses the caller's organization grants or holds",
)
def list_licenses(
    caller: LicensesScope,
    session: SessionDep,
    page: PageParamsDep,
    role: Annotated[
        PartyRole | None, Query(description="Only as licensor or only as licensee.")
    ] = None,
    license_status: Annotated[LicenseStatus | None, Query(alias="status")] = None,
    listing_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[LicensePublic]:
    found = licensing.list_licenses(
        session=session,
        organization_id=caller.organization_id,
        params=page,
        role=role,
        status=license_status,
        listing_id=listing_id,
        offer_id=offer_id,
    )
    return license_page(session, found, page)


@router.get(
    "/licenses/recordation-due",
    response_model=Page[RecordationDue],
    responses=problem_responses(401, 403, 422),
    summary="The caller's licenses still to be recorded with the office, soonest deadline first",
    description="Active, unrecorded licenses (as licensor or licensee) whose 3-month "
    "recordation deadline falls within `days` from today; overdue ones are included and flagged.",
)
def list_recordation_due(
    caller: LicensesScope,
    session: SessionDep,
    page: PageParamsDep,
    days: Annotated[
        int,
        Query(
            ge=0,
            le=recordation.MAX_DUE_WITHIN_DAYS,
            description="Deadlines at most this many days away.",
        ),
    ] = 30,
) -> Page[RecordationDue]:
    items, next_cursor = recordation.list_recordation_due(
        session=session,
        organization_id=caller.organization_id,
        within_days=days,
        params=page,
        today=clock.today(),
    )
    return Page(items=list(items), next_cursor=next_cursor, limit=page.limit)


@router.get(
    "/licenses/{license_id}",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_license(license_: PartyLicense, session: SessionDep) -> LicensePublic:
    return license_views.license_public(session, license_)


@router.post(
    "/licenses/{license_id}/terminate",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensee ends its license",
    openapi_extra=response_example(200, "terminated_license"),
)
def terminate_license(
    license_id: ObjectId,
    caller: LicenseeScope,
    session: SessionDep,
    body: LicenseTermination | None = None,
) -> LicensePublic:
    license_ = licensing.get_license(session=session, license_id=license_id, caller=caller)
    ended = licensing.terminate_license(
        session=session,
        license_=license_,
        organization_id=caller.organization_id,
        reason=body.reason if body else None,
    )
    return license_views.license_public(session, ended)


@router.post(
    "/licenses/{license_id}/recordation",
    response_model=LicensePublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Mark the license as recorded with the office (either party, once)",
    openapi_extra=lawful_sequence.openapi(
        step="5. A party records the license in force with the office, within three months "
        "of its effective date",
        request=lawful_sequence.RECORDATION_REQUEST,
        response=lawful_sequence.RECORDATION_RESPONSE,
        status=200,
    ),
)
def record_license(
    license_id: ObjectId,
    body: LicenseRecordationCreate,
    caller: LicensesScope,
    session: SessionDep,
) -> LicensePublic:
    license_ = licensing.get_license(session=session, license_id=license_id, caller=caller)
    recorded = recordation.record_license(
        session=session,
        license_=license_,
        organization_id=caller.organization_id,
        record_number=body.record_number,
        record_date=body.record_date,
    )
    return license_views.license_public(session, recorded)


@router.get(
    "/licenses/{license_id}/certificate",
    response_model=LicenseCertificate,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="A signed certificate of the license (JWS, ES256), for either party",
    description="The claims state the license's status at issue time (`iat`); each call signs a "
    "new certificate with the active key. Verify it with the keys at `/.well-known/jwks.json` or "
    "with `POST /api/v1/certificates/verify`.",
)
def get_certificate(license_: PartyLicense, response: Response) -> LicenseCertificate:
    response.headers["Cache-Control"] = "no-store"
    return certificates.issue_certificate(license_=license_)


@router.post(
    "/certificates/verify",
    response_model=CertificateVerdict,
    responses=problem_responses(422, 503),
    tags=["certificates"],
    summary="Verify a license certificate (public, no token)",
    description="`valid` says whether the signature holds under a key this service published "
    "(retired keys included). A certificate states the status when it was issued; "
    "`license_status_now` and `status_changed` tell whether that is still so. An invalid "
    "certificate is a 200 with `valid: false` and a `reason`.",
    openapi_extra=response_example(200, "certificate_verdict"),
)
def verify_certificate(body: CertificateVerification, session: SessionDep) -> CertificateVerdict:
    return certificates.verify_certificate(session=session, token=body.jws)


@well_known_router.get(
    "/.well-known/jwks.json",
    responses={
        200: {
            "description": "The public keys (JWK set) that license certificates are signed with",
            "content": {
                "application/json": {
                    "example": {
                        "keys": [
                            {
                                "kty": "EC",
                                "crv": "P-256",
                                "x": "u3L-3bRuPpyFc_R3IQmOvNeR72lmiDfe3eLQYOO0ahc",
                                "y": "XWyJqnrJsQjw8mmEadRAXomdwCZaFyDpbtNwNB3IWZM",
                                "kid": "20261125T101500Z-3f9a0c1d",
                                "use": "sig",
                                "alg": "ES256",
                            }
                        ]
                    }
                }
            },
        },
        **problem_responses(503),
    },
    summary="Public keys for verifying license certificates offline",
)
def jwks() -> JSONResponse:
    max_age = get_settings().jwks_max_age_seconds
    return JSONResponse(
        certificates.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"}
    )
