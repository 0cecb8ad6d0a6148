"""What licensees owe under their licenses: the obligations that the terms and the royalty reports
create, the minimum annual royalty, and the lists and calendar of what is due. Royalty reports
live in ``royalty_reports``, payments in ``payments``.

Nothing here is edited after the fact. A correction is a new report whose obligation carries the
difference; a minimum-royalty shortfall that later reports change is adjusted by a new obligation.
``overdue`` is never stored: it is a ``due`` obligation whose due date has passed, derived from
the clock in every query, so that filters are exact whether or not the sweep has run.

Amounts follow ``royalties``: exact arithmetic, each obligation rounded once (half up)."""

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.config import get_royalty_settings
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing import royalties
from marketplace.licensing.errors import (
    InvalidDateRange,
    ObligationNotFound,
)
from marketplace.licensing.models.licenses import License, PartyRole, party_condition
from marketplace.licensing.models.obligations import (
    CalendarMonth,
    MinimumRoyaltyYear,
    Obligation,
    ObligationCalendar,
    ObligationKind,
    ObligationPublic,
    ObligationStatus,
    Payment,
    PaymentStatus,
)
from marketplace.licensing.models.royalty_reports import RoyaltyReport
from marketplace.pagination import (
    PageParams,
    paginate_by_id,
)

ZERO = Decimal("0.00")
# The calendar covers at most this many days per request.
MAX_CALENDAR_DAYS = 731

# Terms and dates -------------------------------------------------------------------------------


def terms_of(license_: License) -> royalties.RoyaltyTerms:
    return royalties.RoyaltyTerms.from_terms(license_.terms)


def license_end(license_: License) -> date:
    """The last day the license ran (or will run): its expiry, or the day it was terminated."""
    if license_.terminated_at is not None:
        return min(license_.expires_on, clock.day_of(license_.terminated_at))
    return license_.expires_on


def report_due_date(period_end: date) -> date:
    """A period's report, and its royalty, are due this day (period end + the deadline)."""
    return period_end + timedelta(days=get_royalty_settings().report_deadline_days)


def payment_due(day: date) -> date:
    return day + timedelta(days=get_royalty_settings().payment_days)


def lock_license(session: Session, license_id: int) -> None:
    """Serialize everything that changes one license's obligations (reports, the sweep)."""
    session.execute(select(License.id).where(col(License.id) == license_id).with_for_update())


def new_obligation(
    license_: License,
    *,
    kind: ObligationKind,
    amount: Decimal,
    currency: str,
    due_date: date,
    report_id: int | None = None,
    minimum_year_id: int | None = None,
) -> Obligation:
    assert license_.id is not None
    return Obligation(
        license_id=license_.id,
        licensor_id=license_.licensor_id,
        licensee_id=license_.licensee_id,
        kind=kind,
        amount=amount,
        currency=currency,
        # A negative amount is a credit to the licensee, settled on the day it arises.
        due_date=due_date if amount > 0 else clock.today(),
        status=ObligationStatus.due if amount > 0 else ObligationStatus.credit,
        report_id=report_id,
        minimum_year_id=minimum_year_id,
    )


class BetweenParties(Protocol):
    licensor_id: int
    licensee_id: int


PartyObject = TypeVar("PartyObject", bound=BetweenParties)


def of_a_party(
    session: Session, model: type[PartyObject], object_id: int, organization_id: int
) -> PartyObject | None:
    """The object if the organization is its licensor or licensee; to anyone else it does not
    exist."""
    found = session.get(model, object_id)
    if found is None or organization_id not in (found.licensor_id, found.licensee_id):
        return None
    return found


def money(total: object) -> Decimal:
    """A SUM over a money column (typed as the column, so SQLite's hundredths are scaled)."""
    return ZERO if total is None else Decimal(str(total)).quantize(royalties.CENT)


# Upfront fee and license years ------------------------------------------------------------------


def upfront_fee(license_: License) -> Decimal | None:
    """The lump sum or entry fee the license's method asks for up front, rounded; None if none."""
    terms = terms_of(license_)
    if terms.upfront_fee is None or terms.upfront_fee <= 0:
        return None
    return royalties.round_amount(terms.upfront_fee, terms.currency)


def open_upfront_fee(*, session: Session, license_: License, due_date: date) -> Obligation:
    """Called when a license starts waiting for its upfront payment: the fee falls due on
    ``due_date``, the day the license lapses unpaid without it."""
    amount = upfront_fee(license_)
    assert amount is not None
    obligation = new_obligation(
        license_,
        kind=ObligationKind.upfront,
        amount=amount,
        currency=terms_of(license_).currency,
        due_date=due_date,
    )
    session.add(obligation)
    session.flush()
    return obligation


def lock_obligation(session: Session, obligation_id: int) -> Obligation:
    """The obligation, locked: payments recorded and decided on it, and the lapse of its
    license, happen one at a time."""
    return session.scalars(
        select(Obligation)
        .where(col(Obligation.id) == obligation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def awaiting_decision(session: Session, obligation_id: int) -> bool:
    """Whether a payment recorded against the obligation waits for the licensor's decision."""
    return (
        session.scalar(
            select(Payment.id)
            .where(col(Payment.obligation_id) == obligation_id)
            .where(col(Payment.status) == PaymentStatus.recorded)
            .limit(1)
        )
        is not None
    )


def upfront_obligation(session: Session, license_id: int) -> Obligation | None:
    return session.scalar(
        select(Obligation)
        .where(col(Obligation.license_id) == license_id)
        .where(col(Obligation.kind) == ObligationKind.upfront)
    )


def void_upfront_fee(*, session: Session, obligation: Obligation) -> None:
    """The license the fee would have paid for lapsed unpaid: nothing is owed any more."""
    obligation.status = ObligationStatus.void
    session.add(obligation)
    session.flush()


def schedule_minimum_years(*, session: Session, license_: License) -> None:
    """Called when a license takes effect: each license year of a license with a minimum annual
    royalty is scheduled for settlement by the sweep."""
    assert license_.id is not None
    terms = terms_of(license_)
    if terms.royalty_bearing and terms.minimum_annual is not None and terms.minimum_annual > 0:
        session.add_all(
            MinimumRoyaltyYear(
                license_id=license_.id,
                year_index=year.index,
                start_date=year.start,
                end_date=year.end,
                full_end_date=year.full_end,
                settles_on=report_due_date(year.end),
            )
            for year in royalties.license_years(license_.effective_date, license_.expires_on)
        )
    session.flush()


# Minimum annual royalty ------------------------------------------------------------------------


def _year_royalties(session: Session, license_id: int, year_index: int) -> Decimal:
    """The royalties charged for one license year: reports' obligations and their corrections
    (which add up to the latest report of each period)."""
    total = session.scalar(
        select(sa.func.coalesce(sa.func.sum(col(Obligation.amount)), 0))
        .join(RoyaltyReport, col(RoyaltyReport.id) == col(Obligation.report_id))
        .where(col(RoyaltyReport.license_id) == license_id)
        .where(col(RoyaltyReport.license_year) == year_index)
    )
    return money(total)


def _charged_shortfall(session: Session, year_id: int) -> Decimal:
    total = session.scalar(
        select(sa.func.coalesce(sa.func.sum(col(Obligation.amount)), 0)).where(
            col(Obligation.minimum_year_id) == year_id
        )
    )
    return money(total)


def reconcile_minimum(
    session: Session, license_: License, year: MinimumRoyaltyYear
) -> Obligation | None:
    """Bring the year's shortfall obligations to exactly what is owed now. The caller holds the
    license lock, so that two reconciliations never both add the same difference."""
    assert year.id is not None
    assert license_.id is not None
    terms = terms_of(license_)
    if terms.minimum_annual is None:
        return None
    minimum = royalties.year_minimum(
        terms.minimum_annual,
        royalties.LicenseYear(year.year_index, year.start_date, year.end_date, year.full_end_date),
        ended_on=license_end(license_),
        currency=terms.currency,
    )
    adjustment = royalties.shortfall_adjustment(
        minimum=minimum,
        royalties=_year_royalties(session, license_.id, year.year_index),
        already_charged=_charged_shortfall(session, year.id),
    )
    if adjustment == 0:
        return None
    obligation = new_obligation(
        license_,
        kind=ObligationKind.minimum_shortfall,
        amount=adjustment,
        currency=terms.currency,
        due_date=max(payment_due(year.settles_on), payment_due(clock.today())),
        minimum_year_id=year.id,
    )
    session.add(obligation)
    session.flush()
    return obligation


def settle_minimum_years(*, session: Session, today: date) -> int:
    """Charge the shortfall of every license year whose reporting deadline has passed (run by
    ``marketplace sweep``); returns how many years were settled. Reports filed for a settled year
    afterwards adjust its shortfall at once."""
    year_ids = session.scalars(
        select(MinimumRoyaltyYear.id)
        .where(col(MinimumRoyaltyYear.settled_at).is_(None))
        .where(col(MinimumRoyaltyYear.settles_on) < today)
        .order_by(col(MinimumRoyaltyYear.id))
    ).all()
    settled = 0
    for year_id in year_ids:
        license_id = session.scalar(
            select(MinimumRoyaltyYear.license_id).where(col(MinimumRoyaltyYear.id) == year_id)
        )
        assert license_id is not None
        lock_license(session, license_id)
        year = session.scalars(
            select(MinimumRoyaltyYear)
            .where(col(MinimumRoyaltyYear.id) == year_id)
            .execution_options(populate_existing=True)
        ).one()
        if year.settled_at is not None:
            continue
        license_ = session.get_one(License, license_id)
        reconcile_minimum(session, license_, year)
        year.settled_at = clock.now()
        session.add(year)
        session.flush()
        settled += 1
    return settled


# Obligations -----------------------------------------------------------------------------------


def _status_condition(status: ObligationStatus, today: date) -> sa.ColumnElement[bool]:
    stored = col(Obligation.status)
    if status is ObligationStatus.overdue:
        return sa.and_(stored == ObligationStatus.due, col(Obligation.due_date) < today)
    if status is ObligationStatus.due:
        return sa.and_(stored == ObligationStatus.due, col(Obligation.due_date) >= today)
    return stored == status


def effective_status(obligation: Obligation, today: date) -> ObligationStatus:
    if obligation.status is ObligationStatus.due and obligation.due_date < today:
        return ObligationStatus.overdue
    return ObligationStatus(obligation.status)


def get_obligation(*, session: Session, obligation_id: int, organization_id: int) -> Obligation:
    obligation = of_a_party(session, Obligation, obligation_id, organization_id)
    if obligation is None:
        raise ObligationNotFound(f"Obligation {obligation_id} does not exist.")
    return obligation


def list_obligations(
    *,
    session: Session,
    organization_id: int,
    params: PageParams,
    role: PartyRole | None = None,
    status: ObligationStatus | None = None,
    license_id: int | None = None,
    kind: ObligationKind | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
) -> tuple[Sequence[Obligation], str | None]:
    """The caller's obligations, newest first. ``due_before``/``due_after`` are inclusive."""
    statement = select(Obligation).where(party_condition(Obligation, organization_id, role))
    if status is not None:
        statement = statement.where(_status_condition(status, clock.today()))
    if license_id is not None:
        statement = statement.where(col(Obligation.license_id) == license_id)
    if kind is not None:
        statement = statement.where(col(Obligation.kind) == kind)
    if due_before is not None:
        statement = statement.where(col(Obligation.due_date) <= due_before)
    if due_after is not None:
        statement = statement.where(col(Obligation.due_date) >= due_after)
    return paginate_by_id(session, statement, id_column=Obligation.id, params=params)


def _confirmed_sums(session: Session, obligation_ids: list[int]) -> dict[int, Decimal]:
    if not obligation_ids:
        return {}
    rows = session.execute(
        select(Payment.obligation_id, sa.func.sum(col(Payment.amount)))
        .where(col(Payment.obligation_id).in_(obligation_ids))
        .where(col(Payment.status) == PaymentStatus.confirmed)
        .group_by(col(Payment.obligation_id))
    ).all()
    return {obligation_id: money(total) for obligation_id, total in rows}


def obligations_public(
    session: Session, obligations: Sequence[Obligation]
) -> list[ObligationPublic]:
    today = clock.today()
    ids = [obligation.id for obligation in obligations if obligation.id is not None]
    paid = _confirmed_sums(session, ids)
    year_ids = {o.minimum_year_id for o in obligations if o.minimum_year_id is not None}
    report_ids = {o.report_id for o in obligations if o.report_id is not None}
    years: dict[int, int] = {}
    if year_ids:
        years = {
            year_id: index
            for year_id, index in session.execute(
                select(MinimumRoyaltyYear.id, MinimumRoyaltyYear.year_index).where(
                    col(MinimumRoyaltyYear.id).in_(year_ids)
                )
            ).all()
            if year_id is not None
        }
    report_years: dict[int, int] = {}
    if report_ids:
        report_years = {
            report_id: index
            for report_id, index in session.execute(
                select(RoyaltyReport.id, RoyaltyReport.license_year).where(
                    col(RoyaltyReport.id).in_(report_ids)
                )
            ).all()
            if report_id is not None
        }
    published = []
    for obligation in obligations:
        paid_amount = paid.get(obligation.id or 0, ZERO)
        outstanding = (
            ZERO
            if obligation.status is not ObligationStatus.due
            else max(obligation.amount - paid_amount, ZERO)
        )
        year = (
            years.get(obligation.minimum_year_id)
            if obligation.minimum_year_id is not None
            else report_years.get(obligation.report_id)
            if obligation.report_id is not None
            else None
        )
        published.append(
            ObligationPublic.model_validate(
                {
                    **obligation.model_dump(),
                    "status": effective_status(obligation, today),
                    "paid_amount": paid_amount,
                    "outstanding": outstanding,
                    "license_year": year,
                }
            )
        )
    return published


def calendar(*, session: Session, licensee_id: int, start: date, end: date) -> ObligationCalendar:
    """What the licensee still owes with a due date in ``[start, end]``, by month."""
    if end < start:
        raise InvalidDateRange("`to` is before `from`.")
    if (end - start).days >= MAX_CALENDAR_DAYS:
        raise InvalidDateRange(f"The calendar covers at most {MAX_CALENDAR_DAYS} days at once.")
    obligations = session.scalars(
        select(Obligation)
        .where(col(Obligation.licensee_id) == licensee_id)
        .where(col(Obligation.status) == ObligationStatus.due)
        .where(col(Obligation.due_date) >= start)
        .where(col(Obligation.due_date) <= end)
        .order_by(col(Obligation.due_date), col(Obligation.id))
    ).all()
    months: dict[str, CalendarMonth] = {}
    for item in obligations_public(session, obligations):
        month = months.setdefault(
            f"{item.due_date:%Y-%m}",
            CalendarMonth(month=f"{item.due_date:%Y-%m}", totals={}, obligations=[]),
        )
        month.obligations.append(item)
        month.totals[item.currency] = month.totals.get(item.currency, ZERO) + item.outstanding
    return ObligationCalendar(start=start, end=end, months=list(months.values()))


def notify_overdue(*, session: Session, today: date) -> int:
    """Tell both parties once about each obligation that has become overdue (sweep)."""
    overdue = session.scalars(
        select(Obligation)
        .where(col(Obligation.status) == ObligationStatus.due)
        .where(col(Obligation.due_date) < today)
        .where(col(Obligation.overdue_notified_at).is_(None))
        .order_by(col(Obligation.id))
    ).all()
    for obligation in overdue:
        events.record(
            session,
            recipients=[obligation.licensee_id, obligation.licensor_id],
            type=EventType.obligation_overdue,
            subject=f"obligation:{obligation.id}",
            payload={
                "obligation_id": obligation.id,
                "license_id": obligation.license_id,
                "kind": str(obligation.kind),
                "amount": str(obligation.amount),
                "currency": obligation.currency,
                "due_date": obligation.due_date.isoformat(),
            },
        )
        obligation.overdue_notified_at = clock.now()
        session.add(obligation)
    session.flush()
    return len(overdue)
