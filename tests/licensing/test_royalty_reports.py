"""Royalty reports: filing, corrections, lists and overdue periods; the services, without HTTP."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from marketplace.accounts.models import Organization
from marketplace.licensing import errors, royalty_reports
from marketplace.licensing.models.licenses import License
from marketplace.licensing.models.obligations import (
    ObligationKind,
    ObligationStatus,
)
from marketplace.licensing.service import terminate_license
from marketplace.pagination import PageParams
from tests.licensing.royalty_builders import (
    Q1,
    Q2,
    events_of,
    file,
    license_for,
    report_data,
)

SetToday = Callable[[date], None]
PAGE = PageParams(limit=200)


# Reports ---------------------------------------------------------------------------------------


def test_a_report_computes_the_royalty_due_at_the_reporting_deadline(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    report, obligation = file(session, hybrid, report_data(Q1, "1234567.89"))

    assert report.royalty_due == Decimal("43209.88")
    assert report.license_year == 0
    assert obligation is not None
    assert obligation.kind is ObligationKind.royalty
    assert obligation.amount == Decimal("43209.88")
    assert obligation.report_id == report.id
    assert obligation.due_date == date(2026, 10, 14)
    [event] = events_of(session, "royalty_report.filed")
    assert event.recipient_id == hybrid.licensor_id
    assert event.payload["royalty_due"] == "43209.88"


def test_a_report_of_no_sales_creates_no_obligation(
    session: Session, running: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    report, obligation = file(session, running, report_data(Q1, "0"))
    assert report.royalty_due == 0
    assert obligation is None


def test_only_the_licensee_files_reports(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.OnlyLicenseeReports):
        royalty_reports.file_report(
            session=session,
            license_=hybrid,
            organization_id=hybrid.licensor_id,
            user=None,
            data=report_data(),
        )


def test_a_lump_sum_license_takes_no_reports(
    session: Session, licensor_org: Organization, licensee_org: Organization, set_today: SetToday
) -> None:
    license_ = license_for(
        session, licensor_org, licensee_org, royalty_type="lump_sum", upfront_fee="300000"
    )
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.LicenseNotRoyaltyBearing):
        file(session, license_, report_data())


def test_the_report_currency_must_be_the_license_currency(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.CurrencyMismatch):
        file(session, hybrid, report_data(currency="USD"))


def test_a_per_unit_license_needs_units(
    session: Session, licensor_org: Organization, licensee_org: Organization, set_today: SetToday
) -> None:
    license_ = license_for(
        session, licensor_org, licensee_org, royalty_type="per_unit", per_unit_fee="1.25"
    )
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.UnitsRequired):
        file(session, license_, report_data())
    report, obligation = file(session, license_, report_data(units=4200))
    assert report.royalty_due == Decimal("5250.00")
    assert obligation is not None
    assert obligation.amount == Decimal("5250.00")


@pytest.mark.parametrize(
    ("period", "today", "error"),
    [
        ((date(2026, 6, 1), date(2026, 9, 14)), date(2026, 9, 20), errors.PeriodOutsideTerm),
        ((date(2029, 4, 1), date(2029, 6, 30)), date(2029, 7, 20), errors.PeriodOutsideTerm),
        (Q1, date(2026, 9, 14), errors.PeriodNotEnded),
        ((date(2027, 5, 1), date(2027, 7, 31)), date(2027, 8, 5), errors.PeriodCrossesLicenseYear),
    ],
)
def test_periods_must_have_ended_within_the_term_and_one_license_year(
    session: Session,
    hybrid: License,
    set_today: SetToday,
    period: tuple[date, date],
    today: date,
    error: type[Exception],
) -> None:
    set_today(today)
    with pytest.raises(error):
        file(session, hybrid, report_data(period))


def test_a_terminated_license_takes_reports_up_to_its_end_only(
    session: Session, running: License, set_today: SetToday
) -> None:
    set_today(date(2026, 8, 1))
    terminate_license(
        session=session, license_=running, organization_id=running.licensee_id, reason=None
    )
    set_today(date(2026, 9, 20))
    with pytest.raises(errors.PeriodOutsideTerm):
        file(session, running, report_data(Q1))
    report, _ = file(session, running, report_data((date(2026, 6, 15), date(2026, 8, 1))))
    assert report.royalty_due == Decimal("5000.00")


def test_overlapping_periods_are_refused_adjacent_ones_accepted(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    file(session, hybrid, report_data(Q1))
    with pytest.raises(errors.ReportPeriodOverlaps):
        file(session, hybrid, report_data((date(2026, 9, 1), date(2026, 10, 31))))
    report, _ = file(session, hybrid, report_data(Q2))
    assert report.period_start == Q1[1] + timedelta(days=1)


def test_a_higher_correction_owes_the_difference_and_supersedes(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    original, royalty = file(session, hybrid, report_data(Q1, "100000"))
    set_today(date(2026, 11, 1))
    correction, difference = file(session, hybrid, report_data(Q1, "120000", corrects=original.id))

    assert correction.corrects_id == original.id
    assert correction.royalty_due == Decimal("4200.00")
    assert difference is not None
    assert difference.kind is ObligationKind.correction
    assert difference.amount == Decimal("700.00")
    # Due within the payment days of the correction, the original deadline having passed.
    assert difference.due_date == date(2026, 12, 1)
    assert royalty is not None
    assert royalty.amount == Decimal("3500.00")  # untouched
    [public] = royalty_reports.reports_public(session, [original])
    assert public.superseded_by == correction.id
    assert public.obligation_id == royalty.id


def test_a_lower_correction_is_a_credit_and_an_equal_one_changes_nothing(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    original, _ = file(session, hybrid, report_data(Q1, "100000"))
    lower, credit = file(session, hybrid, report_data(Q1, "90000", corrects=original.id))
    assert credit is not None
    assert (credit.amount, credit.status) == (Decimal("-350.00"), ObligationStatus.credit)
    same, nothing = file(session, hybrid, report_data(Q1, "90000", corrects=lower.id))
    assert nothing is None
    assert same.royalty_due == lower.royalty_due


def test_a_report_is_corrected_once_and_only_for_its_own_period(
    session: Session, hybrid: License, running: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    original, _ = file(session, hybrid, report_data(Q1))
    file(session, hybrid, report_data(Q1, "1", corrects=original.id))
    with pytest.raises(errors.ReportAlreadyCorrected):
        file(session, hybrid, report_data(Q1, "2", corrects=original.id))
    with pytest.raises(errors.CorrectionPeriodMismatch):
        file(session, hybrid, report_data(Q2, corrects=original.id))
    with pytest.raises(errors.RoyaltyReportNotFound):
        file(session, running, report_data(Q1, corrects=original.id))


def test_reports_are_listed_with_their_state(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    first, _ = file(session, hybrid, report_data(Q1))
    second, _ = file(session, hybrid, report_data(Q2))
    items, cursor = royalty_reports.list_reports(
        session=session, license_=hybrid, params=PageParams(limit=1)
    )
    assert [r.id for r in items] == [second.id]
    assert cursor is not None
    rest, end = royalty_reports.list_reports(
        session=session, license_=hybrid, params=PageParams(limit=1, cursor=cursor)
    )
    assert [r.id for r in rest] == [first.id]
    assert end is None


def test_overdue_reports_are_periods_past_their_deadline_without_a_report(
    session: Session, hybrid: License, running: License, set_today: SetToday
) -> None:
    set_today(date(2027, 1, 20))
    file(session, hybrid, report_data(Q1))
    items, cursor = royalty_reports.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PAGE
    )
    assert cursor is None
    # Q2 of both is due 2027-01-13; Q1 of the running license is missing too.
    assert [(i.license_id, i.period_start, i.days_overdue) for i in items] == [
        (running.id, Q1[0], 98),
        (running.id, Q2[0], 7),
        (hybrid.id, Q2[0], 7),
    ]
    one, _ = royalty_reports.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PAGE, license_id=hybrid.id
    )
    assert [i.period_start for i in one] == [Q2[0]]
    first, cursor = royalty_reports.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PageParams(limit=1)
    )
    assert [i.license_id for i in first] == [running.id, running.id]
    assert cursor is not None
    rest, end = royalty_reports.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PageParams(limit=1, cursor=cursor)
    )
    assert [i.license_id for i in rest] == [hybrid.id]
    assert end is None
    none, _ = royalty_reports.overdue_reports(
        session=session, licensor_id=hybrid.licensee_id, params=PAGE
    )
    assert none == []
