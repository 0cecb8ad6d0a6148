"""Royalty reports, obligations and payments: the services, without HTTP."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from marketplace import clock
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.events.models import Event
from marketplace.licensing import errors, obligations
from marketplace.licensing.models import (
    License,
    MinimumRoyaltyYear,
    Obligation,
    ObligationKind,
    ObligationStatus,
    PartyRole,
    PaymentCreate,
    PaymentStatus,
)
from marketplace.licensing.service import terminate_license
from marketplace.pagination import PageParams
from tests import factories
from tests.licensing.royalty_builders import Q1, Q2, Q3, Q4, file, license_for, report_data

SetToday = Callable[[date], None]
PAGE = PageParams(limit=200)


@pytest.fixture
def licensor_org(session: Session) -> Organization:
    return factories.organization(session, kind=OrganizationKind.university)


@pytest.fixture
def licensee_org(session: Session) -> Organization:
    return factories.organization(session)


@pytest.fixture
def hybrid(session: Session, licensor_org: Organization, licensee_org: Organization) -> License:
    """Hybrid: 50,000 entry fee, 3.5 % of net sales, 20,000 minimum a year, three years."""
    return license_for(session, licensor_org, licensee_org)


@pytest.fixture
def running(session: Session, licensor_org: Organization, licensee_org: Organization) -> License:
    """Running royalty of 5 %, no minimum, no entry fee."""
    return license_for(
        session, licensor_org, licensee_org, royalty_type="running", royalty_rate=Decimal(5)
    )


def obligations_of(session: Session, license_: License) -> list[Obligation]:
    return list(
        session.scalars(
            select(Obligation)
            .where(Obligation.license_id == license_.id)
            .order_by(col(Obligation.id))
        ).all()
    )


def events_of(session: Session, type_: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.type == type_)).all())


def pay(session: Session, obligation: Obligation, amount: str, *, on: date | None = None) -> int:
    assert obligation.id is not None
    payment = obligations.record_payment(
        session=session,
        obligation_id=obligation.id,
        organization_id=obligation.licensee_id,
        user=None,
        data=PaymentCreate(amount=Decimal(amount), paid_on=on or clock.today(), reference="TT-1"),
    )
    assert payment.id is not None
    return payment.id


def confirm(session: Session, payment_id: int, licensor_id: int) -> PaymentStatus:
    return obligations.confirm_payment(
        session=session, payment_id=payment_id, organization_id=licensor_id, user=None
    ).status


# At acceptance -------------------------------------------------------------------------------


def test_acceptance_makes_the_upfront_fee_due_and_schedules_minimum_years(
    session: Session, hybrid: License
) -> None:
    [upfront] = obligations_of(session, hybrid)
    assert upfront.kind is ObligationKind.upfront
    assert upfront.amount == Decimal("50000.00")
    assert upfront.due_date == hybrid.effective_date + timedelta(days=30)
    assert upfront.status is ObligationStatus.due
    assert (upfront.licensor_id, upfront.licensee_id) == (hybrid.licensor_id, hybrid.licensee_id)
    years = session.scalars(
        select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.license_id == hybrid.id)
    ).all()
    assert [(y.year_index, y.start_date, y.end_date) for y in years] == [
        (0, date(2026, 6, 15), date(2027, 6, 14)),
        (1, date(2027, 6, 15), date(2028, 6, 14)),
        (2, date(2028, 6, 15), date(2029, 6, 14)),
    ]
    assert years[0].settles_on == date(2027, 7, 14)


def test_lump_sum_owes_its_fee_once_and_no_royalty_years(
    session: Session, licensor_org: Organization, licensee_org: Organization
) -> None:
    license_ = license_for(
        session, licensor_org, licensee_org, royalty_type="lump_sum", upfront_fee="300000"
    )
    assert [(o.kind, o.amount) for o in obligations_of(session, license_)] == [
        (ObligationKind.upfront, Decimal("300000.00"))
    ]
    assert (
        session.scalars(
            select(MinimumRoyaltyYear).where(MinimumRoyaltyYear.license_id == license_.id)
        ).all()
        == []
    )


def test_running_without_minimum_owes_nothing_at_acceptance(
    session: Session, running: License
) -> None:
    assert obligations_of(session, running) == []


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
        obligations.file_report(
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
    [public] = obligations.reports_public(session, [original])
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
    items, cursor = obligations.list_reports(
        session=session, license_=hybrid, params=PageParams(limit=1)
    )
    assert [r.id for r in items] == [second.id]
    assert cursor is not None
    rest, end = obligations.list_reports(
        session=session, license_=hybrid, params=PageParams(limit=1, cursor=cursor)
    )
    assert [r.id for r in rest] == [first.id]
    assert end is None


# Minimum annual royalty ----------------------------------------------------------------------


def shortfalls(session: Session, license_: License) -> list[Decimal]:
    return [
        o.amount
        for o in obligations_of(session, license_)
        if o.kind is ObligationKind.minimum_shortfall
    ]


def test_the_sweep_charges_the_shortfall_once_the_reporting_deadline_passed(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 1))
    for period, sales in ((Q1, "100000"), (Q2, "100000"), (Q3, "50000"), (Q4, "50000")):
        file(session, hybrid, report_data(period, sales))
    # 3.5 % of 300,000 = 10,500 of royalties against a 20,000 minimum.
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 14)) == 0
    assert shortfalls(session, hybrid) == []
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 15)) == 1
    [charge] = [
        o for o in obligations_of(session, hybrid) if o.kind is ObligationKind.minimum_shortfall
    ]
    assert charge.amount == Decimal("9500.00")
    assert charge.due_date == date(2027, 8, 13)
    # Sweeping again charges nothing twice.
    assert obligations.settle_minimum_years(session=session, today=date(2027, 7, 16)) == 0
    assert shortfalls(session, hybrid) == [Decimal("9500.00")]
    [public] = obligations.obligations_public(session, [charge])
    assert public.license_year == 0


def test_a_year_without_reports_owes_the_whole_minimum(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 15))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    assert shortfalls(session, hybrid) == [Decimal("20000.00")]


def test_royalties_above_the_minimum_leave_no_shortfall(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    file(session, hybrid, report_data(Q1, "1000000"))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    assert shortfalls(session, hybrid) == []


def test_a_late_report_after_settlement_adjusts_the_shortfall(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2027, 7, 15))
    obligations.settle_minimum_years(session=session, today=date(2027, 7, 15))
    set_today(date(2027, 8, 1))
    file(session, hybrid, report_data(Q1, "200000"))  # 7,000 of royalty
    assert shortfalls(session, hybrid) == [Decimal("20000.00"), Decimal("-7000.00")]
    original, _ = file(session, hybrid, report_data(Q2, "800000"))  # 28,000: above the minimum
    assert sum(shortfalls(session, hybrid)) == 0
    file(session, hybrid, report_data(Q2, "100000", corrects=original.id))  # down to 3,500
    # Royalties 10,500 now: the shortfall is back to 9,500, charged exactly once in total.
    assert sum(shortfalls(session, hybrid)) == Decimal("9500.00")


def test_a_terminated_license_owes_the_minimum_pro_rata(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 14))
    terminate_license(
        session=session, license_=hybrid, organization_id=hybrid.licensee_id, reason=None
    )
    obligations.settle_minimum_years(session=session, today=date(2029, 12, 31))
    # 183 of 365 days of 20,000 = 10,027.397... and nothing for the later years.
    assert shortfalls(session, hybrid) == [Decimal("10027.40")]


# Obligations -----------------------------------------------------------------------------------


def statuses(session: Session, org_id: int, status: ObligationStatus) -> list[int]:
    items, _ = obligations.list_obligations(
        session=session, organization_id=org_id, params=PAGE, status=status
    )
    return [o.id for o in items if o.id is not None]


def test_overdue_is_derived_from_the_due_date_exactly(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, hybrid)
    assert upfront.id is not None
    set_today(upfront.due_date)
    assert statuses(session, hybrid.licensee_id, ObligationStatus.due) == [upfront.id]
    assert statuses(session, hybrid.licensee_id, ObligationStatus.overdue) == []
    set_today(upfront.due_date + timedelta(days=1))
    assert statuses(session, hybrid.licensee_id, ObligationStatus.due) == []
    assert statuses(session, hybrid.licensor_id, ObligationStatus.overdue) == [upfront.id]
    [public] = obligations.obligations_public(session, [upfront])
    assert public.status is ObligationStatus.overdue
    assert public.outstanding == Decimal("50000.00")


def test_obligations_filter_by_role_kind_license_and_due_dates(
    session: Session, hybrid: License, running: License, set_today: SetToday
) -> None:
    set_today(date(2026, 9, 20))
    _, royalty = file(session, running, report_data(Q1))
    [upfront] = obligations_of(session, hybrid)
    assert royalty is not None

    def ids(**filters: object) -> list[int | None]:
        items, _ = obligations.list_obligations(
            session=session,
            organization_id=hybrid.licensee_id,
            params=PAGE,
            **filters,  # type: ignore[arg-type]
        )
        return [o.id for o in items]

    assert ids() == [royalty.id, upfront.id]
    assert ids(role=PartyRole.licensor) == []
    assert ids(kind=ObligationKind.royalty) == [royalty.id]
    assert ids(license_id=hybrid.id) == [upfront.id]
    assert ids(due_before=upfront.due_date) == [upfront.id]
    assert ids(due_after=upfront.due_date + timedelta(days=1)) == [royalty.id]
    assert ids(due_after=royalty.due_date, due_before=royalty.due_date) == [royalty.id]
    outsider = factories.organization(session)
    items, _ = obligations.list_obligations(
        session=session, organization_id=outsider.id or 0, params=PAGE
    )
    assert items == []


def test_overdue_obligations_are_announced_once(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, hybrid)
    assert obligations.notify_overdue(session=session, today=upfront.due_date) == 0
    assert (
        obligations.notify_overdue(session=session, today=upfront.due_date + timedelta(days=1)) == 1
    )
    assert (
        obligations.notify_overdue(session=session, today=upfront.due_date + timedelta(days=2)) == 0
    )
    sent = events_of(session, "obligation.overdue")
    assert sorted(e.recipient_id for e in sent) == sorted([hybrid.licensor_id, hybrid.licensee_id])


def test_the_calendar_groups_what_is_owed_by_month(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    set_today(date(2026, 12, 20))
    file(session, hybrid, report_data(Q1, "100000"))  # 3,500 due 2026-10-14
    file(session, hybrid, report_data(Q2, "200000"))  # 7,000 due 2027-01-13
    calendar = obligations.calendar(
        session=session,
        licensee_id=hybrid.licensee_id,
        start=date(2026, 7, 1),
        end=date(2027, 1, 31),
    )
    assert [(m.month, m.totals) for m in calendar.months] == [
        ("2026-07", {"CNY": Decimal("50000.00")}),
        ("2026-10", {"CNY": Decimal("3500.00")}),
        ("2027-01", {"CNY": Decimal("7000.00")}),
    ]
    assert calendar.months[1].obligations[0].status is ObligationStatus.overdue
    with pytest.raises(errors.InvalidDateRange):
        obligations.calendar(
            session=session,
            licensee_id=hybrid.licensee_id,
            start=date(2027, 1, 1),
            end=date(2026, 1, 1),
        )
    with pytest.raises(errors.InvalidDateRange):
        obligations.calendar(
            session=session,
            licensee_id=hybrid.licensee_id,
            start=date(2026, 1, 1),
            end=date(2028, 1, 2),
        )


def test_overdue_reports_are_periods_past_their_deadline_without_a_report(
    session: Session, hybrid: License, running: License, set_today: SetToday
) -> None:
    set_today(date(2027, 1, 20))
    file(session, hybrid, report_data(Q1))
    items, cursor = obligations.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PAGE
    )
    assert cursor is None
    # Q2 of both is due 2027-01-13; Q1 of the running license is missing too.
    assert [(i.license_id, i.period_start, i.days_overdue) for i in items] == [
        (running.id, Q1[0], 98),
        (running.id, Q2[0], 7),
        (hybrid.id, Q2[0], 7),
    ]
    one, _ = obligations.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PAGE, license_id=hybrid.id
    )
    assert [i.period_start for i in one] == [Q2[0]]
    first, cursor = obligations.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PageParams(limit=1)
    )
    assert [i.license_id for i in first] == [running.id, running.id]
    assert cursor is not None
    rest, end = obligations.overdue_reports(
        session=session, licensor_id=hybrid.licensor_id, params=PageParams(limit=1, cursor=cursor)
    )
    assert [i.license_id for i in rest] == [hybrid.id]
    assert end is None
    none, _ = obligations.overdue_reports(
        session=session, licensor_id=hybrid.licensee_id, params=PAGE
    )
    assert none == []


# Payments --------------------------------------------------------------------------------------


def test_partial_payments_settle_the_obligation_once_confirmed(
    session: Session, hybrid: License
) -> None:
    [upfront] = obligations_of(session, hybrid)
    first = pay(session, upfront, "20000")
    second = pay(session, upfront, "30000")
    assert confirm(session, first, hybrid.licensor_id) is PaymentStatus.confirmed
    session.refresh(upfront)
    assert upfront.status is ObligationStatus.due
    [public] = obligations.obligations_public(session, [upfront])
    assert (public.paid_amount, public.outstanding) == (Decimal("20000.00"), Decimal("30000.00"))
    confirm(session, second, hybrid.licensor_id)
    session.refresh(upfront)
    assert upfront.status is ObligationStatus.paid
    assert upfront.paid_at is not None
    assert [e.recipient_id for e in events_of(session, "payment.confirmed")] == [
        hybrid.licensee_id
    ] * 2
    assert [e.recipient_id for e in events_of(session, "payment.recorded")] == [
        hybrid.licensor_id
    ] * 2


def test_payments_beyond_the_amount_are_refused(session: Session, hybrid: License) -> None:
    [upfront] = obligations_of(session, hybrid)
    with pytest.raises(errors.Overpayment):
        pay(session, upfront, "50000.01")
    pay(session, upfront, "40000")
    # A recorded payment, not yet confirmed, already counts against the amount.
    with pytest.raises(errors.Overpayment):
        pay(session, upfront, "10000.01")
    pay(session, upfront, "10000")


def test_a_payment_dated_before_the_license_took_effect_is_refused(
    session: Session, hybrid: License
) -> None:
    [upfront] = obligations_of(session, hybrid)
    with pytest.raises(errors.PaymentBeforeLicense):
        pay(session, upfront, "100", on=hybrid.effective_date - timedelta(days=1))
    pay(session, upfront, "100", on=hybrid.effective_date)


def test_a_rejected_payment_frees_its_amount(session: Session, hybrid: License) -> None:
    [upfront] = obligations_of(session, hybrid)
    payment = pay(session, upfront, "50000")
    rejected = obligations.reject_payment(
        session=session,
        payment_id=payment,
        organization_id=hybrid.licensor_id,
        user=None,
        reason="not received",
    )
    assert rejected.status is PaymentStatus.rejected
    with pytest.raises(errors.PaymentNotRecorded):
        confirm(session, payment, hybrid.licensor_id)
    pay(session, upfront, "50000")


def test_confirming_twice_is_a_conflict(session: Session, hybrid: License) -> None:
    [upfront] = obligations_of(session, hybrid)
    payment = pay(session, upfront, "100")
    confirm(session, payment, hybrid.licensor_id)
    with pytest.raises(errors.PaymentNotRecorded):
        confirm(session, payment, hybrid.licensor_id)


def test_only_the_licensor_confirms_and_strangers_see_nothing(
    session: Session, hybrid: License
) -> None:
    [upfront] = obligations_of(session, hybrid)
    payment = pay(session, upfront, "100")
    with pytest.raises(errors.OnlyLicensorConfirms):
        confirm(session, payment, hybrid.licensee_id)
    stranger = factories.organization(session)
    with pytest.raises(errors.PaymentNotFound):
        confirm(session, payment, stranger.id or 0)
    with pytest.raises(errors.ObligationNotFound):
        obligations.get_obligation(
            session=session, obligation_id=upfront.id or 0, organization_id=stranger.id or 0
        )


def test_only_the_licensee_pays_what_is_due_and_not_in_the_future(
    session: Session, hybrid: License, set_today: SetToday
) -> None:
    [upfront] = obligations_of(session, hybrid)
    with pytest.raises(errors.OnlyLicenseePays):
        obligations.record_payment(
            session=session,
            obligation_id=upfront.id or 0,
            organization_id=hybrid.licensor_id,
            user=None,
            data=PaymentCreate(amount=Decimal(1), paid_on=clock.today(), reference="x"),
        )
    with pytest.raises(errors.PaymentDateInFuture):
        pay(session, upfront, "1", on=clock.today() + timedelta(days=1))
    confirm(session, pay(session, upfront, "50000"), hybrid.licensor_id)
    with pytest.raises(errors.ObligationNotPayable):
        pay(session, upfront, "1")
    set_today(date(2026, 9, 20))
    original, _ = file(session, hybrid, report_data(Q1, "100000"))
    _, credit = file(session, hybrid, report_data(Q1, "0", corrects=original.id))
    assert credit is not None
    with pytest.raises(errors.ObligationNotPayable):
        pay(session, credit, "1")


# The arithmetic through the database, generated ----------------------------------------------

QUARTERS = (Q1, Q2, Q3, Q4)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    filings=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.decimals(min_value=0, max_value=Decimal(1_000_000), places=2),
        ),
        min_size=0,
        max_size=8,
    ),
    settle_after=st.integers(min_value=0, max_value=8),
)
def test_obligations_always_add_up_to_the_latest_reports_and_the_minimum(
    session: Session,
    hybrid: License,
    set_today: SetToday,
    filings: list[tuple[int, Decimal]],
    settle_after: int,
) -> None:
    """Reports, corrections and the year's settlement in any order: the royalty obligations sum
    to the latest report of each period, and the shortfall obligations to exactly the minimum's
    shortfall, never counted twice."""
    set_today(date(2027, 7, 20))
    savepoint = session.begin_nested()
    try:
        latest: dict[int, tuple[int, Decimal]] = {}
        settled = False
        for step, (quarter, net_sales) in enumerate(filings):
            if step == settle_after:
                obligations.settle_minimum_years(session=session, today=clock.today())
                settled = True
            previous = latest.get(quarter)
            report, _ = file(
                session,
                hybrid,
                report_data(
                    QUARTERS[quarter],
                    str(net_sales),
                    corrects=previous[0] if previous else None,
                ),
            )
            assert report.id is not None
            latest[quarter] = (report.id, report.royalty_due)
        if not settled:
            obligations.settle_minimum_years(session=session, today=clock.today())
        owed = obligations_of(session, hybrid)
        reported = sum((due for _, due in latest.values()), Decimal(0))
        charged = sum(
            (
                o.amount
                for o in owed
                if o.kind in (ObligationKind.royalty, ObligationKind.correction)
            ),
            Decimal(0),
        )
        shortfall = sum(
            (o.amount for o in owed if o.kind is ObligationKind.minimum_shortfall), Decimal(0)
        )
        assert charged == reported
        assert shortfall == max(Decimal(20_000) - reported, Decimal(0))
        assert all(
            (o.amount > 0) == (o.status is ObligationStatus.due)
            for o in owed
            if o.kind is not ObligationKind.upfront
        )
    finally:
        savepoint.rollback()
