"""Royalty reports: the licensee reports a period's sales, the royalty is computed from the
frozen terms and becomes an obligation; corrections carry the difference. Licensors see the
periods whose report is overdue."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import User
from marketplace.config import get_royalty_settings
from marketplace.events import service as events
from marketplace.events.models import EventType
from marketplace.licensing import royalties
from marketplace.licensing.errors import (
    AmountTooLarge,
    CorrectionPeriodMismatch,
    CurrencyMismatch,
    LicenseNotInForce,
    LicenseNotRoyaltyBearing,
    OnlyLicenseeReports,
    PeriodCrossesLicenseYear,
    PeriodNotEnded,
    PeriodOutsideTerm,
    ProfitRequired,
    ReportAlreadyCorrected,
    ReportPeriodOverlaps,
    RoyaltyReportNotFound,
    UnitsRequired,
)
from marketplace.licensing.models.licenses import TOOK_EFFECT_STATUSES, License
from marketplace.licensing.models.obligations import MinimumRoyaltyYear, Obligation, ObligationKind
from marketplace.licensing.models.royalty_reports import (
    OverdueReport,
    RoyaltyReport,
    RoyaltyReportCreate,
    RoyaltyReportPublic,
)
from marketplace.licensing.obligations import (
    license_end,
    lock_license,
    new_obligation,
    of_a_party,
    payment_due,
    reconcile_minimum,
    report_due_date,
    terms_of,
)
from marketplace.pagination import (
    InvalidCursor,
    PageParams,
    decode_cursor,
    encode_cursor,
    paginate_by_id,
)
from marketplace.params import MAX_ID

# Licenses looked at per page of the overdue-reports list, at most.
OVERDUE_SCAN_LICENSES = 1000


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
    if license_.status not in TOOK_EFFECT_STATUSES:
        raise LicenseNotInForce(
            f"License {license_.id} is {license_.status}: it has not taken effect.",
            license_status=str(license_.status),
        )
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
    if terms.needs_profit and data.profit is None:
        raise ProfitRequired("The license takes a share of profit: report the period's profit.")
    today = clock.today()
    year = _validate_period(license_, data, today)
    try:
        due = royalties.royalty_due(
            terms, net_sales=data.net_sales, units=data.units, profit=data.profit
        )
    except royalties.AmountTooLarge as exc:
        raise AmountTooLarge(str(exc)) from None

    lock_license(session, license_.id)
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
        profit=data.profit,
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
        obligation = new_obligation(
            license_,
            kind=ObligationKind.royalty if previous is None else ObligationKind.correction,
            amount=amount,
            currency=terms.currency,
            # A correction that raises the royalty is payable within the payment days.
            due_date=deadline if previous is None else max(deadline, payment_due(today)),
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
        reconcile_minimum(session, license_, settled_year)

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


def get_report(*, session: Session, report_id: int, organization_id: int) -> RoyaltyReport:
    report = of_a_party(session, RoyaltyReport, report_id, organization_id)
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
            .where(col(License.status).in_(TOOK_EFFECT_STATUSES))
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
