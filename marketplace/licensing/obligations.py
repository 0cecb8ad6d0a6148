"""What licensees owe under their licenses: royalty reports, the obligations they and the terms
create, and payments that settle them once the licensor confirms.

Nothing here is edited after the fact. A correction is a new report whose obligation carries the
difference; a minimum-royalty shortfall that later reports change is adjusted by a new obligation.
``overdue`` is never stored: it is a ``due`` obligation whose due date has passed, derived from
the clock in every query, so that filters are exact whether or not the sweep has run.

Amounts follow ``royalties``: exact arithmetic, each obligation rounded once (half up)."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.config import get_royalty_settings
from marketplace.db import transition
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing import royalties
from marketplace.licensing.errors import (
    AmountTooLarge,
    CorrectionPeriodMismatch,
    CurrencyMismatch,
    InvalidDateRange,
    LicenseNotRoyaltyBearing,
    ObligationNotFound,
    ObligationNotPayable,
    OnlyLicenseePays,
    OnlyLicenseeReports,
    OnlyLicensorConfirms,
    Overpayment,
    PaymentBeforeLicense,
    PaymentDateInFuture,
    PaymentNotFound,
    PaymentNotRecorded,
    PeriodCrossesLicenseYear,
    PeriodNotEnded,
    PeriodOutsideTerm,
    ReportAlreadyCorrected,
    ReportPeriodOverlaps,
    RoyaltyReportNotFound,
    UnitsRequired,
)
from marketplace.licensing.models import (
    CalendarMonth,
    License,
    MinimumRoyaltyYear,
    Obligation,
    ObligationCalendar,
    ObligationKind,
    ObligationPublic,
    ObligationStatus,
    OverdueReport,
    PartyRole,
    Payment,
    PaymentCreate,
    PaymentStatus,
    RoyaltyReport,
    RoyaltyReportCreate,
    RoyaltyReportPublic,
    party_condition,
)
from marketplace.pagination import (
    InvalidCursor,
    PageParams,
    decode_cursor,
    encode_cursor,
    paginate_by_id,
)
from marketplace.params import MAX_ID

ZERO = Decimal("0.00")
# The calendar covers at most this many days per request.
MAX_CALENDAR_DAYS = 731
# Licenses looked at per page of the overdue-reports list, at most.
OVERDUE_SCAN_LICENSES = 1000


# Terms and dates -------------------------------------------------------------------------------


def terms_of(license_: License) -> royalties.RoyaltyTerms:
    return royalties.RoyaltyTerms.from_terms(license_.terms)


def license_end(license_: License) -> date:
    """The last day the license ran (or will run): its expiry, or the day it was terminated."""
    if license_.terminated_at is not None:
        return min(license_.expires_on, license_.terminated_at.date())
    return license_.expires_on


def report_due_date(period_end: date) -> date:
    """A period's report, and its royalty, are due this day (period end + the deadline)."""
    return period_end + timedelta(days=get_royalty_settings().report_deadline_days)


def _payment_due(day: date) -> date:
    return day + timedelta(days=get_royalty_settings().payment_days)


def _lock_license(session: Session, license_id: int) -> None:
    """Serialize everything that changes one license's obligations (reports, the sweep)."""
    session.execute(select(License.id).where(col(License.id) == license_id).with_for_update())


def _obligation(
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


# At acceptance ---------------------------------------------------------------------------------


def open_license_account(*, session: Session, license_: License) -> None:
    """Called in the acceptance transaction: the upfront fee (lump sum or entry fee) falls due
    ``payment_days`` after the effective date, and each license year of a license with a minimum
    annual royalty is scheduled for settlement by the sweep."""
    assert license_.id is not None
    terms = terms_of(license_)
    if terms.upfront_fee is not None and terms.upfront_fee > 0:
        session.add(
            _obligation(
                license_,
                kind=ObligationKind.upfront,
                amount=royalties.round_amount(terms.upfront_fee, terms.currency),
                currency=terms.currency,
                due_date=_payment_due(license_.effective_date),
            )
        )
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
    return _money(total)


def _charged_shortfall(session: Session, year_id: int) -> Decimal:
    total = session.scalar(
        select(sa.func.coalesce(sa.func.sum(col(Obligation.amount)), 0)).where(
            col(Obligation.minimum_year_id) == year_id
        )
    )
    return _money(total)


def _reconcile_minimum(
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
    obligation = _obligation(
        license_,
        kind=ObligationKind.minimum_shortfall,
        amount=adjustment,
        currency=terms.currency,
        due_date=max(_payment_due(year.settles_on), _payment_due(clock.today())),
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
        _lock_license(session, license_id)
        year = session.scalars(
            select(MinimumRoyaltyYear)
            .where(col(MinimumRoyaltyYear.id) == year_id)
            .execution_options(populate_existing=True)
        ).one()
        if year.settled_at is not None:
            continue
        license_ = session.get_one(License, license_id)
        _reconcile_minimum(session, license_, year)
        year.settled_at = clock.now()
        session.add(year)
        session.flush()
        settled += 1
    return settled


# Reports ---------------------------------------------------------------------------------------


def _validate_period(license_: License, data: RoyaltyReportCreate, today: date) -> int:
    """The license year the period lies in."""
    if data.period_start < license_.effective_date or data.period_end > license_end(license_):
        raise PeriodOutsideTerm(
            f"The license ran from {license_.effective_date} to {license_end(license_)}.",
            effective_date=license_.effective_date.isoformat(),
            ends_on=license_end(license_).isoformat(),
        )
    if data.period_end >= today:
        raise PeriodNotEnded(f"The period ends on {data.period_end}; report it after that day.")
    year = royalties.license_year_of(license_.effective_date, data.period_start)
    if royalties.license_year_of(license_.effective_date, data.period_end) != year:
        boundary = royalties.license_years(license_.effective_date, license_.expires_on)[year].end
        raise PeriodCrossesLicenseYear(
            f"License year {year} ends on {boundary}; split the report there.",
            license_year_end=boundary.isoformat(),
        )
    return year


def file_report(
    *,
    session: Session,
    license_: License,
    organization_id: int,
    user: User | None,
    data: RoyaltyReportCreate,
) -> tuple[RoyaltyReport, Obligation | None]:
    """The licensee reports one period's sales; the royalty is computed from the frozen terms
    and becomes an obligation due at the reporting deadline. A correction (``data.corrects``)
    covers the same period and creates an obligation for the difference (a credit if lower)."""
    assert license_.id is not None
    if license_.licensee_id != organization_id:
        raise OnlyLicenseeReports("Only the licensee files royalty reports for this license.")
    terms = terms_of(license_)
    if not terms.royalty_bearing:
        raise LicenseNotRoyaltyBearing(
            f"License {license_.id} is {terms.royalty_type}: it owes no periodic royalty."
        )
    if data.currency != terms.currency:
        raise CurrencyMismatch(
            f"License {license_.id} is in {terms.currency}; report in {terms.currency}.",
            license_currency=terms.currency,
        )
    if terms.needs_units and data.units is None:
        raise UnitsRequired("The license charges a fee per unit: report the units sold.")
    today = clock.today()
    year = _validate_period(license_, data, today)
    try:
        due = royalties.royalty_due(terms, net_sales=data.net_sales, units=data.units)
    except royalties.AmountTooLarge as exc:
        raise AmountTooLarge(str(exc)) from None

    _lock_license(session, license_.id)
    previous: RoyaltyReport | None = None
    if data.corrects is not None:
        previous = session.get(RoyaltyReport, data.corrects)
        if previous is None or previous.license_id != license_.id:
            raise RoyaltyReportNotFound(
                f"Report {data.corrects} does not exist for license {license_.id}."
            )
        if (previous.period_start, previous.period_end) != (data.period_start, data.period_end):
            raise CorrectionPeriodMismatch(
                f"Report {previous.id} covers {previous.period_start} to {previous.period_end}."
            )
        successor = session.scalar(
            select(RoyaltyReport.id).where(col(RoyaltyReport.corrects_id) == previous.id)
        )
        if successor is not None:
            raise ReportAlreadyCorrected(
                f"Report {previous.id} was corrected by report {successor}; correct that one.",
                superseded_by=successor,
            )
    else:
        # Corrections share their original's period, so any overlap is with a live report.
        overlapping = session.scalar(
            select(RoyaltyReport.id)
            .where(col(RoyaltyReport.license_id) == license_.id)
            .where(col(RoyaltyReport.period_start) <= data.period_end)
            .where(col(RoyaltyReport.period_end) >= data.period_start)
            .limit(1)
        )
        if overlapping is not None:
            raise ReportPeriodOverlaps(
                f"Report {overlapping} covers part of this period; file a correction of it "
                "instead.",
                report_id=overlapping,
            )

    report = RoyaltyReport(
        license_id=license_.id,
        licensor_id=license_.licensor_id,
        licensee_id=license_.licensee_id,
        period_start=data.period_start,
        period_end=data.period_end,
        license_year=year,
        net_sales=data.net_sales,
        units=data.units,
        currency=data.currency,
        royalty_due=due,
        corrects_id=previous.id if previous else None,
        note=data.note,
        filed_by_user_id=user.id if user else None,
    )
    session.add(report)
    session.flush()
    assert report.id is not None

    amount = (
        due
        if previous is None
        else royalties.correction_amount(previous_due=previous.royalty_due, corrected_due=due)
    )
    obligation: Obligation | None = None
    if amount != 0:
        deadline = report_due_date(data.period_end)
        obligation = _obligation(
            license_,
            kind=ObligationKind.royalty if previous is None else ObligationKind.correction,
            amount=amount,
            currency=terms.currency,
            # A correction that raises the royalty is payable within the payment days.
            due_date=deadline if previous is None else max(deadline, _payment_due(today)),
            report_id=report.id,
        )
        session.add(obligation)
        session.flush()

    settled_year = session.scalar(
        select(MinimumRoyaltyYear)
        .where(col(MinimumRoyaltyYear.license_id) == license_.id)
        .where(col(MinimumRoyaltyYear.year_index) == year)
        .where(col(MinimumRoyaltyYear.settled_at).is_not(None))
    )
    if settled_year is not None:
        _reconcile_minimum(session, license_, settled_year)

    events.record(
        session,
        recipients=[license_.licensor_id],
        type=EventType.royalty_report_filed,
        subject=f"royalty_report:{report.id}",
        payload={
            "report_id": report.id,
            "license_id": license_.id,
            "license_number": license_.license_number,
            "period_start": data.period_start.isoformat(),
            "period_end": data.period_end.isoformat(),
            "royalty_due": str(due),
            "currency": terms.currency,
            "corrects": report.corrects_id,
        },
    )
    return report, obligation


class _BetweenParties(Protocol):
    licensor_id: int
    licensee_id: int


PartyObject = TypeVar("PartyObject", bound=_BetweenParties)


def _of_a_party(
    session: Session, model: type[PartyObject], object_id: int, organization_id: int
) -> PartyObject | None:
    """The object if the organization is its licensor or licensee; to anyone else it does not
    exist."""
    found = session.get(model, object_id)
    if found is None or organization_id not in (found.licensor_id, found.licensee_id):
        return None
    return found


def get_report(*, session: Session, report_id: int, organization_id: int) -> RoyaltyReport:
    report = _of_a_party(session, RoyaltyReport, report_id, organization_id)
    if report is None:
        raise RoyaltyReportNotFound(f"Royalty report {report_id} does not exist.")
    return report


def list_reports(
    *, session: Session, license_: License, params: PageParams
) -> tuple[Sequence[RoyaltyReport], str | None]:
    statement = select(RoyaltyReport).where(col(RoyaltyReport.license_id) == license_.id)
    return paginate_by_id(session, statement, id_column=RoyaltyReport.id, params=params)


def reports_public(session: Session, reports: Sequence[RoyaltyReport]) -> list[RoyaltyReportPublic]:
    ids = [report.id for report in reports if report.id is not None]
    successors: dict[int, int] = {}
    obligations: dict[int, int] = {}
    if ids:
        for corrects_id, report_id in session.execute(
            select(RoyaltyReport.corrects_id, RoyaltyReport.id).where(
                col(RoyaltyReport.corrects_id).in_(ids)
            )
        ).all():
            assert corrects_id is not None
            assert report_id is not None
            successors[corrects_id] = report_id
        for report_id, obligation_id in session.execute(
            select(Obligation.report_id, Obligation.id).where(col(Obligation.report_id).in_(ids))
        ).all():
            assert report_id is not None
            assert obligation_id is not None
            obligations[report_id] = obligation_id
    return [
        RoyaltyReportPublic.model_validate(
            {
                **report.model_dump(),
                "corrects": report.corrects_id,
                "superseded_by": successors.get(report.id or 0),
                "obligation_id": obligations.get(report.id or 0),
            }
        )
        for report in reports
    ]


def _missing_reports(
    license_: License, covered: list[tuple[date, date]], months: int, today: date
) -> list[OverdueReport]:
    assert license_.id is not None
    missing = []
    for start, end in royalties.reporting_periods(
        license_.effective_date, license_end(license_), months=months, until=today
    ):
        deadline = report_due_date(end)
        if deadline < today and royalties.uncovered((start, end), covered):
            missing.append(
                OverdueReport(
                    license_id=license_.id,
                    license_number=license_.license_number,
                    licensee_id=license_.licensee_id,
                    period_start=start,
                    period_end=end,
                    report_due_date=deadline,
                    days_overdue=(today - deadline).days,
                )
            )
    return missing


def overdue_reports(
    *,
    session: Session,
    licensor_id: int,
    params: PageParams,
    license_id: int | None = None,
) -> tuple[list[OverdueReport], str | None]:
    """Reporting periods of the licensor's royalty-bearing licenses whose report deadline has
    passed and that no report covers (entirely), newest license first. Pages by license: a page
    holds every missing period of the licenses it reached, and the cursor continues after them."""
    today = clock.today()
    months = get_royalty_settings().reporting_period_months
    after: int | None = None
    if params.cursor is not None:
        position = decode_cursor(params.cursor).get("license_id")
        if not isinstance(position, int) or isinstance(position, bool):
            raise InvalidCursor("The cursor is not one this API issued.")
        if not 1 <= position <= MAX_ID:
            raise InvalidCursor("The cursor is not one this API issued.")
        after = position
    items: list[OverdueReport] = []
    scanned = 0
    batch = max(params.limit, 50)
    while len(items) < params.limit and scanned < OVERDUE_SCAN_LICENSES:
        statement = (
            select(License)
            .where(col(License.licensor_id) == licensor_id)
            .where(col(License.effective_date) < today)
            .order_by(col(License.id).desc())
            .limit(batch)
        )
        if after is not None:
            statement = statement.where(col(License.id) < after)
        if license_id is not None:
            statement = statement.where(col(License.id) == license_id)
        licenses = session.scalars(statement).all()
        if not licenses:
            return items, None
        covered: dict[int, list[tuple[date, date]]] = defaultdict(list)
        for report_license, start, end in session.execute(
            select(
                col(RoyaltyReport.license_id),
                col(RoyaltyReport.period_start),
                col(RoyaltyReport.period_end),
            ).where(col(RoyaltyReport.license_id).in_([lic.id for lic in licenses]))
        ).all():
            covered[report_license].append((start, end))
        exhausted = len(licenses) < batch
        for license_ in licenses:
            assert license_.id is not None
            after = license_.id
            scanned += 1
            if terms_of(license_).royalty_bearing:
                items.extend(_missing_reports(license_, covered[license_.id], months, today))
            if len(items) >= params.limit:
                break
        if exhausted and after == licenses[-1].id:
            return items, None
    return items, encode_cursor({"license_id": after})


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
    obligation = _of_a_party(session, Obligation, obligation_id, organization_id)
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
    return {obligation_id: _money(total) for obligation_id, total in rows}


def _money(total: object) -> Decimal:
    """A SUM over a money column (typed as the column, so SQLite's hundredths are scaled)."""
    return ZERO if total is None else Decimal(str(total)).quantize(royalties.CENT)


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


# Payments --------------------------------------------------------------------------------------


def _lock_obligation(session: Session, obligation_id: int) -> Obligation:
    return session.scalars(
        select(Obligation)
        .where(col(Obligation.id) == obligation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _payment_sum(
    session: Session, obligation_id: int, statuses: Sequence[PaymentStatus]
) -> Decimal:
    total = session.scalar(
        select(sa.func.sum(col(Payment.amount)))
        .where(col(Payment.obligation_id) == obligation_id)
        .where(col(Payment.status).in_(list(statuses)))
    )
    return _money(total)


def record_payment(
    *,
    session: Session,
    obligation_id: int,
    organization_id: int,
    user: User | None,
    data: PaymentCreate,
) -> Payment:
    """The licensee records a payment it made; it counts once the licensor confirms it. Partial
    payments are allowed; recorded and confirmed payments together may not exceed the amount."""
    obligation = get_obligation(
        session=session, obligation_id=obligation_id, organization_id=organization_id
    )
    if obligation.licensee_id != organization_id:
        raise OnlyLicenseePays("Only the licensee records payments against this obligation.")
    if data.paid_on > clock.today():
        raise PaymentDateInFuture(f"{data.paid_on} is in the future.")
    license_ = session.get(License, obligation.license_id)
    assert license_ is not None
    if data.paid_on < license_.effective_date:
        raise PaymentBeforeLicense(
            f"{data.paid_on} is before the license took effect ({license_.effective_date}).",
            effective_date=license_.effective_date.isoformat(),
        )
    obligation = _lock_obligation(session, obligation_id)
    if obligation.status is not ObligationStatus.due:
        raise ObligationNotPayable(f"Obligation {obligation_id} is {obligation.status}.")
    pending = _payment_sum(
        session, obligation_id, (PaymentStatus.recorded, PaymentStatus.confirmed)
    )
    open_amount = obligation.amount - pending
    if data.amount > open_amount:
        raise Overpayment(
            f"At most {open_amount} {obligation.currency} is still open "
            "(recorded but unconfirmed payments count).",
            open_amount=str(open_amount),
        )
    payment = Payment(
        obligation_id=obligation_id,
        licensor_id=obligation.licensor_id,
        licensee_id=obligation.licensee_id,
        amount=data.amount,
        currency=obligation.currency,
        paid_on=data.paid_on,
        reference=data.reference,
        recorded_by_user_id=user.id if user else None,
    )
    session.add(payment)
    session.flush()
    events.record(
        session,
        recipients=[obligation.licensor_id],
        type=EventType.payment_recorded,
        subject=f"payment:{payment.id}",
        payload={
            "payment_id": payment.id,
            "obligation_id": obligation_id,
            "license_id": obligation.license_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "paid_on": payment.paid_on.isoformat(),
            "reference": payment.reference,
        },
    )
    return payment


def get_payment(*, session: Session, payment_id: int, organization_id: int) -> Payment:
    payment = _of_a_party(session, Payment, payment_id, organization_id)
    if payment is None:
        raise PaymentNotFound(f"Payment {payment_id} does not exist.")
    return payment


def list_payments(
    *, session: Session, obligation: Obligation, params: PageParams
) -> tuple[Sequence[Payment], str | None]:
    statement = select(Payment).where(col(Payment.obligation_id) == obligation.id)
    return paginate_by_id(session, statement, id_column=Payment.id, params=params)


@dataclass(frozen=True, slots=True)
class _Decision:
    payment: Payment
    obligation: Obligation


def _decide(
    session: Session,
    *,
    payment_id: int,
    organization_id: int,
    user: User | None,
    outcome: PaymentStatus,
    reason: str | None = None,
) -> _Decision:
    payment = get_payment(session=session, payment_id=payment_id, organization_id=organization_id)
    if payment.licensor_id != organization_id:
        raise OnlyLicensorConfirms("Only the licensor confirms or rejects this payment.")
    # The obligation's row lock orders decisions on its payments: each one sees the others'.
    obligation = _lock_obligation(session, payment.obligation_id)
    now = clock.now()
    if not transition(
        session,
        sa.update(Payment)
        .where(col(Payment.id) == payment_id)
        .where(col(Payment.status) == PaymentStatus.recorded)
        .values(
            status=outcome,
            decided_at=now,
            decided_by_user_id=user.id if user else None,
            rejection_reason=reason,
        ),
    ):
        session.refresh(payment)
        raise PaymentNotRecorded(f"Payment {payment_id} is {payment.status} already.")
    session.refresh(payment)
    return _Decision(payment, obligation)


def confirm_payment(
    *, session: Session, payment_id: int, organization_id: int, user: User | None
) -> Payment:
    """The licensor confirms receipt. When confirmed payments cover the obligation, it is paid."""
    decision = _decide(
        session,
        payment_id=payment_id,
        organization_id=organization_id,
        user=user,
        outcome=PaymentStatus.confirmed,
    )
    obligation, payment = decision.obligation, decision.payment
    assert obligation.id is not None
    confirmed = _payment_sum(session, obligation.id, (PaymentStatus.confirmed,))
    if confirmed >= obligation.amount and obligation.status is ObligationStatus.due:
        obligation.status = ObligationStatus.paid
        obligation.paid_at = clock.now()
        session.add(obligation)
        session.flush()
    events.record(
        session,
        recipients=[payment.licensee_id],
        type=EventType.payment_confirmed,
        subject=f"payment:{payment.id}",
        payload={
            "payment_id": payment.id,
            "obligation_id": obligation.id,
            "license_id": obligation.license_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "obligation_status": str(obligation.status),
        },
    )
    return payment


def reject_payment(
    *,
    session: Session,
    payment_id: int,
    organization_id: int,
    user: User | None,
    reason: str,
) -> Payment:
    """The licensor has not received it: the payment no longer counts, the amount is open again."""
    decision = _decide(
        session,
        payment_id=payment_id,
        organization_id=organization_id,
        user=user,
        outcome=PaymentStatus.rejected,
        reason=reason,
    )
    payment = decision.payment
    events.record(
        session,
        recipients=[payment.licensee_id],
        type=EventType.payment_rejected,
        subject=f"payment:{payment.id}",
        payload={
            "payment_id": payment.id,
            "obligation_id": payment.obligation_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "reason": reason,
        },
    )
    return payment
