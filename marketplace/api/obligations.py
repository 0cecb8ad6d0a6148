"""Royalty reports, obligations and payments over HTTP. Thin: each route calls one service."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from marketplace.accounts.deps import LicenseeScope, LicensesScope
from marketplace.api import lawful_sequence
from marketplace.api.examples import response_example
from marketplace.errors import problem_responses
from marketplace.licensing import obligations, payments, royalty_reports
from marketplace.licensing import service as licensing
from marketplace.licensing.deps import PartyLicense
from marketplace.licensing.models.licenses import PartyRole
from marketplace.licensing.models.obligations import (
    ObligationCalendar,
    ObligationKind,
    ObligationPublic,
    ObligationStatus,
    PaymentCreate,
    PaymentPublic,
    PaymentRejection,
)
from marketplace.licensing.models.royalty_reports import (
    OverdueReport,
    RoyaltyReportCreate,
    RoyaltyReportPublic,
)
from marketplace.pagination import Page, PageParamsDep, page_of
from marketplace.params import MAX_ID, ObjectId
from marketplace.sessions import SessionDep
from marketplace.workflows import acceptance

ROUNDING_RULE = (
    "Amounts are computed exactly from the license's frozen terms (running: net sales x rate; "
    "per-unit: units x fee; hybrid: both as its terms define) and each obligation is rounded "
    "once to the currency's minor unit, half up (ROUND_HALF_UP)."
)

router = APIRouter(prefix="/api/v1", tags=["royalties"])

# Parties read with the licenses scope; acts of the licensee need its scope, as accepting does.


@router.post(
    "/licenses/{license_id}/royalty-reports",
    status_code=status.HTTP_201_CREATED,
    response_model=RoyaltyReportPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensee files a royalty report (or a correction of one)",
    description="The period must lie within the license term and one license year, must have "
    "ended, and may not overlap another report (409) unless it `corrects` that report, in which "
    "case the difference becomes a new obligation (a credit if negative). The currency must be "
    "the license's (422). The royalty is due at the period end plus the reporting deadline. "
    + ROUNDING_RULE,
    openapi_extra=response_example(201, "royalty_report"),
)
def file_report(
    license_id: ObjectId,
    body: RoyaltyReportCreate,
    caller: LicenseeScope,
    session: SessionDep,
) -> RoyaltyReportPublic:
    license_ = licensing.get_license(session=session, license_id=license_id, caller=caller)
    report, _ = royalty_reports.file_report(
        session=session,
        license_=license_,
        organization_id=caller.organization_id,
        user=caller.user,
        data=body,
    )
    return royalty_reports.reports_public(session, [report])[0]


@router.get(
    "/licenses/{license_id}/royalty-reports",
    response_model=Page[RoyaltyReportPublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="A license's royalty reports, newest first (both parties)",
)
def list_reports(
    license_: PartyLicense, session: SessionDep, page: PageParamsDep
) -> Page[RoyaltyReportPublic]:
    reports, cursor = royalty_reports.list_reports(session=session, license_=license_, params=page)
    return Page(
        items=royalty_reports.reports_public(session, reports), next_cursor=cursor, limit=page.limit
    )


@router.get(
    "/royalty-reports/overdue",
    response_model=Page[OverdueReport],
    responses=problem_responses(401, 403, 422),
    summary="Reports the caller's licensees have not filed by their deadline (licensors)",
    description="Reporting periods run from the effective date in steps of the configured "
    "period; a period is overdue when its deadline has passed and no report covers all of it. "
    "Paged by license, newest license first.",
)
def overdue_reports(
    caller: LicensesScope,
    session: SessionDep,
    page: PageParamsDep,
    license_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[OverdueReport]:
    items, cursor = royalty_reports.overdue_reports(
        session=session,
        licensor_id=caller.organization_id,
        params=page,
        license_id=license_id,
    )
    return Page(items=items, next_cursor=cursor, limit=page.limit)


@router.get(
    "/royalty-reports/{report_id}",
    response_model=RoyaltyReportPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="One royalty report (both parties)",
)
def get_report(
    report_id: ObjectId, caller: LicensesScope, session: SessionDep
) -> RoyaltyReportPublic:
    report = royalty_reports.get_report(
        session=session, report_id=report_id, organization_id=caller.organization_id
    )
    return royalty_reports.reports_public(session, [report])[0]


@router.get(
    "/obligations",
    response_model=Page[ObligationPublic],
    responses=problem_responses(401, 403, 422),
    summary="What the caller owes or is owed: due, overdue, paid, credits",
    description="`overdue` is a `due` obligation whose due date has passed (derived from "
    "today's date, exact at any time). `due_before`/`due_after` are inclusive. " + ROUNDING_RULE,
)
def list_obligations(
    caller: LicensesScope,
    session: SessionDep,
    page: PageParamsDep,
    role: Annotated[
        PartyRole | None, Query(description="Only as licensor or only as licensee.")
    ] = None,
    obligation_status: Annotated[ObligationStatus | None, Query(alias="status")] = None,
    license_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: ObligationKind | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
) -> Page[ObligationPublic]:
    found = obligations.list_obligations(
        session=session,
        organization_id=caller.organization_id,
        params=page,
        role=role,
        status=obligation_status,
        license_id=license_id,
        kind=kind,
        due_before=due_before,
        due_after=due_after,
    )
    items, cursor = found
    return Page(
        items=obligations.obligations_public(session, items), next_cursor=cursor, limit=page.limit
    )


@router.get(
    "/obligations/calendar",
    response_model=ObligationCalendar,
    responses=problem_responses(401, 403, 422),
    summary="The licensee's calendar: what it still owes, by month of the due date",
    description="Outstanding (due or overdue) obligations with a due date from `from` to `to` "
    "inclusive, at most 731 days; totals per currency.",
)
def obligation_calendar(
    caller: LicenseeScope,
    session: SessionDep,
    start: Annotated[date, Query(alias="from", examples=["2026-07-01"])],
    end: Annotated[date, Query(alias="to", examples=["2026-12-31"])],
) -> ObligationCalendar:
    return obligations.calendar(
        session=session, licensee_id=caller.organization_id, start=start, end=end
    )


@router.get(
    "/obligations/{obligation_id}",
    response_model=ObligationPublic,
    responses=problem_responses(401, 403, 404, 422),
    summary="One obligation (both parties)",
)
def get_obligation(
    obligation_id: ObjectId, caller: LicensesScope, session: SessionDep
) -> ObligationPublic:
    obligation = obligations.get_obligation(
        session=session, obligation_id=obligation_id, organization_id=caller.organization_id
    )
    return obligations.obligations_public(session, [obligation])[0]


@router.post(
    "/obligations/{obligation_id}/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensee records a payment against an obligation",
    description="Partial payments are allowed; recorded and confirmed payments together may not "
    "exceed the obligation (422 `overpayment`). The payment counts once the licensor confirms.",
    openapi_extra=lawful_sequence.openapi(
        step="3. The licensee pays the upfront fee (the obligation of `kind` `upfront`)",
        request=lawful_sequence.RECORD_PAYMENT_REQUEST,
        response=lawful_sequence.RECORD_PAYMENT_RESPONSE,
        status=201,
    ),
)
def record_payment(
    obligation_id: ObjectId, body: PaymentCreate, caller: LicenseeScope, session: SessionDep
) -> PaymentPublic:
    payment = payments.record_payment(
        session=session,
        obligation_id=obligation_id,
        organization_id=caller.organization_id,
        user=caller.user,
        data=body,
    )
    return PaymentPublic.model_validate(payment.model_dump())


@router.get(
    "/obligations/{obligation_id}/payments",
    response_model=Page[PaymentPublic],
    responses=problem_responses(401, 403, 404, 422),
    summary="Payments recorded against an obligation (both parties)",
)
def list_payments(
    obligation_id: ObjectId, caller: LicensesScope, session: SessionDep, page: PageParamsDep
) -> Page[PaymentPublic]:
    obligation = obligations.get_obligation(
        session=session, obligation_id=obligation_id, organization_id=caller.organization_id
    )
    found = payments.list_payments(session=session, obligation=obligation, params=page)
    return page_of(found, page, lambda p: PaymentPublic.model_validate(p.model_dump()))


@router.post(
    "/payments/{payment_id}/confirm",
    response_model=PaymentPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensor confirms receipt of a payment",
    description="Once confirmed payments cover the obligation, it is `paid`. Confirming twice "
    "is a 409. When the obligation is the upfront fee of a `pending_payment` license, the "
    "license takes effect today (`license.in_force`), resting on this payment. An upfront fee "
    "whose license lapsed unpaid takes no confirmation (409 `license_lapsed_unpaid`).",
    openapi_extra=lawful_sequence.openapi(
        step="4. The licensor confirms the payment: the license is `active` from that day, "
        "its term and recordation deadline counted from it",
        response=lawful_sequence.CONFIRM_PAYMENT_RESPONSE,
        status=200,
    ),
)
def confirm_payment(
    payment_id: ObjectId, caller: LicensesScope, session: SessionDep
) -> PaymentPublic:
    payment = acceptance.confirm_payment(
        session=session,
        payment_id=payment_id,
        organization_id=caller.organization_id,
        user=caller.user,
    )
    return PaymentPublic.model_validate(payment.model_dump())


@router.post(
    "/payments/{payment_id}/reject",
    response_model=PaymentPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="The licensor rejects a payment it has not received",
    openapi_extra=response_example(200, "rejected_payment"),
)
def reject_payment(
    payment_id: ObjectId, body: PaymentRejection, caller: LicensesScope, session: SessionDep
) -> PaymentPublic:
    payment = payments.reject_payment(
        session=session,
        payment_id=payment_id,
        organization_id=caller.organization_id,
        user=caller.user,
        reason=body.reason,
    )
    return PaymentPublic.model_validate(payment.model_dump())
