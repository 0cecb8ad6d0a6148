"""The bank's view of its book: exposure by pledgor, technology and maturity, collateral at risk,
and the licensing income that pledged patents earn."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.caller import Caller
from marketplace.accounts.models import Organization
from marketplace.db import any_of
from marketplace.errors import Unprocessable
from marketplace.licensing.models.licenses import License, LicenseStatus
from marketplace.licensing.models.obligations import (
    Obligation,
    ObligationStatus,
    Payment,
    PaymentStatus,
)
from marketplace.listings.models import ListingPatent
from marketplace.patents.models import Patent
from marketplace.pledges.errors import NotPledgee
from marketplace.pledges.models import (
    ACTIVE_PLEDGE_STATUSES,
    Exposure,
    ExposureByPledgor,
    ExposureBySection,
    ExposureByYear,
    LicenseIncome,
    LicenseIncomeItem,
    LicenseIncomeTotal,
    LicensePledge,
    Pledge,
    PledgePatent,
    StatusChangeSinceRegistration,
)

FEE_WATCH_DAYS = 90
CENT = Decimal("0.01")
ZERO = Decimal(0)


def exposure(*, session: Session, pledgee_id: int, today: date) -> Exposure:
    """One pass over the bank's active pledges and their patents (two queries)."""
    rows = session.execute(
        sa.select(
            col(Pledge.id),
            col(Pledge.pledgor_id),
            col(Pledge.currency),
            col(Pledge.secured_amount),
            col(Pledge.debt_end_date),
            col(Pledge.registered_date),
            col(Patent.id),
            col(Patent.application_number),
            col(Patent.main_ipc),
            col(Patent.fee_paid_until),
            col(Patent.legal_status),
            col(Patent.legal_status_changed_at),
        )
        .join(PledgePatent, col(PledgePatent.pledge_id) == col(Pledge.id))
        .join(Patent, col(Patent.id) == col(PledgePatent.patent_id))
        .where(col(Pledge.pledgee_id) == pledgee_id)
        .where(col(Pledge.status).in_(ACTIVE_PLEDGE_STATUSES))
        .order_by(col(Pledge.id), col(Patent.id))
    ).all()

    patents_per_pledge: dict[int, int] = defaultdict(int)
    for row in rows:
        patents_per_pledge[row[0]] += 1

    pledgor_totals: dict[tuple[int, str], list[Decimal | int]] = {}
    pledgor_pledges: dict[tuple[int, str], set[int]] = defaultdict(set)
    sections: dict[tuple[str, str], list[Decimal | int]] = {}
    years: dict[tuple[int, str], list[Decimal | int]] = {}
    counted_pledges: set[int] = set()
    fee_due = 0
    changes: list[StatusChangeSinceRegistration] = []
    watch_until = today + timedelta(days=FEE_WATCH_DAYS)
    for (
        pledge_id,
        pledgor_id,
        currency,
        amount,
        debt_end,
        registered,
        patent_id,
        number,
        main_ipc,
        fee_paid_until,
        legal_status,
        status_changed_at,
    ) in rows:
        first_of_pledge = pledge_id not in counted_pledges
        counted_pledges.add(pledge_id)
        key = (pledgor_id, currency)
        totals = pledgor_totals.setdefault(key, [Decimal(0), 0])
        pledgor_pledges[key].add(pledge_id)
        totals[1] = int(totals[1]) + 1
        if first_of_pledge:
            totals[0] = Decimal(totals[0]) + amount
            year = years.setdefault((debt_end.year, currency), [Decimal(0), 0])
            year[0] = Decimal(year[0]) + amount
            year[1] = int(year[1]) + 1
        section = (main_ipc or "?")[0]
        share = sections.setdefault((section, currency), [Decimal(0), 0])
        share[0] = Decimal(share[0]) + amount / patents_per_pledge[pledge_id]
        share[1] = int(share[1]) + 1
        if fee_paid_until is not None and fee_paid_until + timedelta(days=1) <= watch_until:
            fee_due += 1
        if (
            status_changed_at is not None
            and registered is not None
            and clock.day_of(status_changed_at) >= registered
        ):
            changes.append(
                StatusChangeSinceRegistration(
                    pledge_id=pledge_id,
                    patent_id=patent_id,
                    application_number=number,
                    legal_status=str(legal_status),
                    changed_at=status_changed_at,
                )
            )

    names = _names(session, {pledgor_id for pledgor_id, _ in pledgor_totals})
    patent_count = len(rows)
    return Exposure(
        as_of=today,
        pledges=len(counted_pledges),
        patents=patent_count,
        by_pledgor=sorted(
            (
                ExposureByPledgor(
                    pledgor_id=pledgor_id,
                    pledgor_name=names.get(pledgor_id, ""),
                    currency=currency,
                    pledges=len(pledgor_pledges[(pledgor_id, currency)]),
                    patents=int(count),
                    secured_amount=Decimal(amount).quantize(CENT),
                )
                for (pledgor_id, currency), (amount, count) in pledgor_totals.items()
            ),
            key=lambda item: (-item.secured_amount, item.pledgor_id),
        ),
        by_ipc_section=[
            ExposureBySection(
                section=section,
                currency=currency,
                patents=int(count),
                secured_amount=Decimal(amount).quantize(CENT),
            )
            for (section, currency), (amount, count) in sorted(sections.items())
        ],
        by_debt_end_year=[
            ExposureByYear(
                debt_end_year=year,
                currency=currency,
                pledges=int(count),
                secured_amount=Decimal(amount).quantize(CENT),
            )
            for (year, currency), (amount, count) in sorted(years.items())
        ],
        patents_fee_due_within_90_days=fee_due,
        fee_due_within_90_days_share=(
            (Decimal(fee_due) / patent_count).quantize(Decimal("0.0001"))
            if patent_count
            else Decimal(0)
        ),
        status_changed_since_registration=changes,
    )


def _names(session: Session, organization_ids: set[int]) -> dict[int, str]:
    if not organization_ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name).where(
            any_of(session, col(Organization.id), organization_ids)
        )
    ).all()
    return dict(rows)


def license_income(
    *,
    session: Session,
    pledge: Pledge,
    caller: Caller,
    period_start: date,
    period_end: date,
    today: date,
) -> LicenseIncome:
    """The pledgee's cash-flow signal (Civil Code art. 444): every license on the pledged
    patents in force at some time in the period, and per license what falls due in it (split
    into due and overdue as of ``today``) and what was paid in it. Three queries."""
    if not (caller.is_platform_admin or caller.organization_id == pledge.pledgee_id):
        raise NotPledgee("Only the pledgee sees the licensing income of a pledge.")
    if period_end < period_start:
        raise Unprocessable("`to` cannot be before `from`.", code="invalid_period")
    assert pledge.id is not None
    licenses = _licenses_on_pledged_patents(session, pledge, period_start, period_end)
    license_ids = [license_.id or 0 for license_, _ in licenses]
    owed = _still_owed(session, license_ids, period_start, period_end, today)
    paid = _confirmed(session, license_ids, period_start, period_end)
    items = [
        LicenseIncomeItem(
            license_id=license_.id or 0,
            license_number=license_.license_number or "",
            licensee_id=license_.licensee_id,
            status=str(license_.status),
            effective_date=license_.effective_date,
            expires_on=license_.expires_on,
            royalty_type=str(license_.terms["offer"]["royalty_type"]),
            currency=str(license_.terms["offer"]["currency"]),
            upfront_fee=_upfront_fee(license_.terms["offer"]),
            granted_under_pledge=linked,
            due=owed.get((license_.id or 0, False), ZERO).quantize(CENT),
            overdue=owed.get((license_.id or 0, True), ZERO).quantize(CENT),
            confirmed=paid.get(license_.id or 0, ZERO).quantize(CENT),
        )
        for license_, linked in licenses
    ]
    totals: dict[str, LicenseIncomeTotal] = {}
    for item in items:
        total = totals.setdefault(
            item.currency,
            LicenseIncomeTotal(
                currency=item.currency,
                licenses=0,
                upfront_fees=ZERO,
                due=ZERO,
                overdue=ZERO,
                confirmed=ZERO,
            ),
        )
        total.licenses += 1
        total.upfront_fees += item.upfront_fee or ZERO
        total.due += item.due
        total.overdue += item.overdue
        total.confirmed += item.confirmed
    for total in totals.values():
        total.upfront_fees = total.upfront_fees.quantize(CENT)
        total.due = total.due.quantize(CENT)
        total.overdue = total.overdue.quantize(CENT)
        total.confirmed = total.confirmed.quantize(CENT)
    return LicenseIncome(
        pledge_id=pledge.id,
        period_start=period_start,
        period_end=period_end,
        as_of=today,
        licenses=items,
        totals=[totals[currency] for currency in sorted(totals)],
    )


def _upfront_fee(offer: dict[str, Any]) -> Decimal | None:
    fee = offer.get("upfront_fee")
    return None if fee is None else Decimal(str(fee))


def _licenses_on_pledged_patents(
    session: Session, pledge: Pledge, period_start: date, period_end: date
) -> list[tuple[License, bool]]:
    """The licenses under declarations covering a pledged patent whose term meets the period,
    each with whether it was granted under this pledge. One waiting for its upfront fee is
    there (its fee is due: income to come, dated from the acceptance until it takes effect);
    those refused at export review or lapsed unpaid never took effect and owe nothing."""
    pledged = select(PledgePatent.patent_id).where(PledgePatent.pledge_id == pledge.id)
    listings = select(ListingPatent.listing_id).where(col(ListingPatent.patent_id).in_(pledged))
    linked = (
        sa.select(col(LicensePledge.license_id))
        .where(col(LicensePledge.pledge_id) == pledge.id)
        .where(col(LicensePledge.license_id) == col(License.id))
        .exists()
    )
    rows = session.execute(
        select(License, linked)
        .where(col(License.listing_id).in_(listings))
        .where(col(License.effective_date) <= period_end)
        .where(col(License.expires_on) >= period_start)
        .where(
            col(License.status).not_in([LicenseStatus.export_refused, LicenseStatus.lapsed_unpaid])
        )
        .order_by(col(License.effective_date), col(License.id))
    ).all()
    return [(license_, bool(is_linked)) for license_, is_linked in rows]


def _still_owed(
    session: Session, license_ids: list[int], period_start: date, period_end: date, today: date
) -> dict[tuple[int, bool], Decimal]:
    """By (license, past due): what is still owed on obligations due in the period, net of the
    payments confirmed against them."""
    if not license_ids:
        return {}
    confirmed = (
        sa.select(sa.func.coalesce(sa.func.sum(col(Payment.amount)), 0))
        .where(col(Payment.obligation_id) == col(Obligation.id))
        .where(col(Payment.status) == PaymentStatus.confirmed)
        .correlate(Obligation)
        .scalar_subquery()
    )
    owed: dict[tuple[int, bool], Decimal] = defaultdict(lambda: ZERO)
    for license_id, due_date, amount, paid in session.execute(
        sa.select(
            col(Obligation.license_id), col(Obligation.due_date), col(Obligation.amount), confirmed
        )
        .where(any_of(session, col(Obligation.license_id), license_ids))
        .where(col(Obligation.status) == ObligationStatus.due)
        .where(col(Obligation.due_date) >= period_start)
        .where(col(Obligation.due_date) <= period_end)
    ):
        outstanding = max(Decimal(amount) - Decimal(paid), ZERO)
        owed[(license_id, due_date < today)] += outstanding
    return owed


def _confirmed(
    session: Session, license_ids: list[int], period_start: date, period_end: date
) -> dict[int, Decimal]:
    if not license_ids:
        return {}
    rows = session.execute(
        sa.select(col(Obligation.license_id), sa.func.sum(col(Payment.amount)))
        .join(Obligation, col(Obligation.id) == col(Payment.obligation_id))
        .where(any_of(session, col(Obligation.license_id), license_ids))
        .where(col(Payment.status) == PaymentStatus.confirmed)
        .where(col(Payment.paid_on) >= period_start)
        .where(col(Payment.paid_on) <= period_end)
        .group_by(col(Obligation.license_id))
    ).all()
    return {license_id: Decimal(total) for license_id, total in rows}
