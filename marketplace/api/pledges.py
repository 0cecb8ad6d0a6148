from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from marketplace import clock
from marketplace.accounts.deps import (
    EncumbrancesScope,
    PatentsScope,
    PlatformAdmin,
    PledgeReader,
    PledgesScope,
    VerifiedPledgesScope,
)
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import MAX_ID, ObjectId
from marketplace.patents.models import ApplicationNumber
from marketplace.pledges import encumbrances, lifecycle, views
from marketplace.pledges import exposure as exposure_report
from marketplace.pledges import service as pledges
from marketplace.pledges.models import (
    EncumbranceCheckRequest,
    EncumbranceCheckResponse,
    Exposure,
    LicenseIncome,
    Pledge,
    PledgeCancellation,
    PledgeConfirmation,
    PledgeConsentCreate,
    PledgeConsentPublic,
    PledgeCreate,
    PledgeRefusal,
    PledgeRegistrationCreate,
    PledgeStatus,
    PledgeUpdate,
    PledgeView,
)
from marketplace.sessions import SessionDep
from marketplace.workflows import pledges as pledge_workflows

router = APIRouter(prefix="/api/v1", tags=["pledges"])


def _visible_pledge(pledge_id: ObjectId, caller: PledgeReader, session: SessionDep) -> Pledge:
    return views.get_visible_pledge(session=session, pledge_id=pledge_id, caller=caller)


VisiblePledge = Annotated[Pledge, Depends(_visible_pledge)]


@router.post(
    "/pledges",
    status_code=status.HTTP_201_CREATED,
    response_model=PledgeView,
    responses=problem_responses(401, 403, 409, 422),
    summary="Apply for a pledge registration (the bank's side of the joint application)",
    openapi_extra=response_example(201, "pledge", "Applied for, awaiting the pledgor"),
)
def apply_for_pledge(
    body: PledgeCreate, bank: VerifiedPledgesScope, session: SessionDep
) -> PledgeView:
    pledge = lifecycle.apply_for_pledge(session=session, pledgee=bank.organization, data=body)
    return views.to_view(pledge, full=True)


@router.get(
    "/pledges",
    response_model=Page[PledgeView],
    responses=problem_responses(401, 403, 422),
    summary="Pledges: a bank's own in full, and other registered ones as the register shows them",
)
def list_pledges(
    caller: PledgeReader,
    session: SessionDep,
    page: PageParamsDep,
    patent_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    application_number: Annotated[ApplicationNumber | None, Query()] = None,
    pledgor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    pledgee_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    pledge_status: Annotated[PledgeStatus | None, Query(alias="status")] = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
) -> Page[PledgeView]:
    found = views.list_pledges(
        session=session,
        params=page,
        caller=caller,
        patent_id=patent_id,
        application_number=application_number,
        pledgor_id=pledgor_id,
        pledgee_id=pledgee_id,
        status=pledge_status,
        registered_from=registered_from,
        registered_to=registered_to,
    )
    return page_of(found, page, lambda pledge: views.view_for(pledge, caller))


@router.get(
    "/pledges/exposure",
    response_model=Exposure,
    responses=problem_responses(401, 403),
    summary="The calling bank's registered book: by pledgor, technology, maturity; risks",
)
def exposure(bank: PledgesScope, session: SessionDep) -> Exposure:
    return exposure_report.exposure(
        session=session, pledgee_id=bank.organization_id, today=clock.today()
    )


@router.get(
    "/pledges/{pledge_id}",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 422),
)
def get_pledge(pledge: VisiblePledge, caller: PledgeReader) -> PledgeView:
    return views.view_for(pledge, caller)


@router.post(
    "/pledges/{pledge_id}/confirm",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The pledgor joins the application",
    openapi_extra=response_example(200, "confirmed_pledge"),
)
def confirm_pledge(
    pledge: VisiblePledge,
    owner: PatentsScope,
    session: SessionDep,
    body: PledgeConfirmation | None = None,
) -> PledgeView:
    confirmed = lifecycle.confirm_pledge(
        session=session, pledge=pledge, pledgor=owner.organization, confirmation=body
    )
    return views.to_view(confirmed, full=True)


@router.post(
    "/pledges/{pledge_id}/registration",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record the office's registration of the pledge (the pledgee or a platform admin)",
    description="The office registers a pledge, and the pledge takes effect on registration; "
    "the platform records the office's registration number and date, as the pledgee received "
    "them, and never assigns one. Every registration rule is checked again. A declaration in "
    "force on a pledged patent is suspended (its offers refuse acceptance with 409 "
    "`declaration_suspended_by_pledge`) unless the application carried the pledgee's consent "
    "to it, until the pledgee consents (`POST /pledges/{id}/consents`) or the pledge ends.",
    openapi_extra=response_example(200, "registered_pledge"),
)
def record_registration(
    pledge: VisiblePledge,
    body: PledgeRegistrationCreate,
    caller: PledgeReader,
    session: SessionDep,
) -> PledgeView:
    registered = pledge_workflows.record_registration(
        session=session, pledge=pledge, caller=caller, registration=body
    )
    return views.to_view(registered, full=True)


@router.post(
    "/pledges/{pledge_id}/refuse",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Refuse the application with reason codes (platform admins)",
    openapi_extra=response_example(200, "refused_pledge"),
)
def refuse_pledge(
    pledge: VisiblePledge, body: PledgeRefusal, admin: PlatformAdmin, session: SessionDep
) -> PledgeView:
    refused = lifecycle.refuse_pledge(
        session=session, pledge=pledge, admin=admin.organization, refusal=body
    )
    return views.to_view(refused, full=True)


@router.patch(
    "/pledges/{pledge_id}",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Amend the secured amount or the debt term (the pledgee); history is kept",
    openapi_extra=response_example(200, "changed_pledge"),
)
def amend_pledge(
    pledge: VisiblePledge, body: PledgeUpdate, bank: PledgesScope, session: SessionDep
) -> PledgeView:
    amended = lifecycle.amend_pledge(
        session=session, pledge=pledge, pledgee=bank.organization, changes=body
    )
    return views.to_view(amended, full=True)


@router.post(
    "/pledges/{pledge_id}/cancel",
    response_model=PledgeView,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Cancel the pledge (the pledgee or a platform admin)",
    openapi_extra=response_example(200, "cancelled_pledge"),
)
def cancel_pledge(
    pledge: VisiblePledge,
    body: PledgeCancellation,
    caller: PledgeReader,
    session: SessionDep,
) -> PledgeView:
    cancelled = lifecycle.cancel_pledge(
        session=session, pledge=pledge, caller=caller, cancellation=body
    )
    return views.to_view(cancelled, full=True)


@router.post(
    "/pledges/{pledge_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=PledgeConsentPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Consent to an open license on the pledged patents (Civil Code art. 444)",
    openapi_extra=response_example(201, "pledge_consent"),
)
def consent_to_listing(
    pledge: VisiblePledge, body: PledgeConsentCreate, bank: PledgesScope, session: SessionDep
) -> PledgeConsentPublic:
    consent = pledges.consent_to_listing(
        session=session, pledge=pledge, pledgee=bank.organization, listing_id=body.listing_id
    )
    return PledgeConsentPublic.model_validate(consent, from_attributes=True)


@router.post(
    "/encumbrances/check",
    response_model=EncumbranceCheckResponse,
    responses=problem_responses(401, 403, 422),
    summary="Is each patent pledgeable today, and what encumbers it? Up to 1,000 numbers",
    openapi_extra=response_example(200, "encumbrance_check"),
)
def check_encumbrances(
    body: EncumbranceCheckRequest, _reader: EncumbrancesScope, session: SessionDep
) -> Response:
    today = clock.today()
    results = encumbrances.check_encumbrances(
        session=session, application_numbers=body.application_numbers, today=today
    )
    checked = EncumbranceCheckResponse.model_construct(checked_on=today, results=results)
    # Sent as ready JSON: returned as a model, a thousand results would be dumped, validated
    # again and only then serialized (the schema above still documents the response).
    return Response(content=checked.model_dump_json(), media_type="application/json")


@router.get(
    "/pledges/{pledge_id}/license-income",
    response_model=LicenseIncome,
    responses=problem_responses(401, 403, 404, 422),
    summary="Licensing income of the pledged patents in a period: due, overdue, confirmed",
)
def license_income(
    pledge: VisiblePledge,
    caller: PledgeReader,
    session: SessionDep,
    period_start: Annotated[date, Query(alias="from")],
    period_end: Annotated[date, Query(alias="to")],
) -> LicenseIncome:
    return exposure_report.license_income(
        session=session,
        pledge=pledge,
        caller=caller,
        period_start=period_start,
        period_end=period_end,
        today=clock.today(),
    )
